"""A small demo book (two dozen loans in several branches) with one user per role, on
SQLite and on the test PostgreSQL server, shared by the web tests of one module."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from web_helpers import Book, seed

from huifang.store.db import make_engine, upgrade


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def book(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Book]:
    tmp = tmp_path_factory.mktemp("web")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'huifang.db'}"
        engine = make_engine(url)
        upgrade(engine)
        yield seed(engine, url, tmp)
        engine.dispose()
        return
    server = request.getfixturevalue("pg_server")
    name = f"w_{uuid.uuid4().hex[:12]}"
    with server.janitor(name, template="huifang_template"):
        url = server.url(name)
        engine = make_engine(url)
        yield seed(engine, url, tmp)
        engine.dispose()
