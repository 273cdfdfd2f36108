"""A small demo book (two dozen loans in several branches) with one user per role, on
SQLite and on the test PostgreSQL server, shared by the web tests of one module."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from huifang.security.accounts import create_user
from huifang.services.demo_data import write_demo_files
from huifang.services.importing import import_files
from huifang.store.db import make_engine, transaction, upgrade
from huifang.store.models import Borrower, Branch, Loan

HOME = "SZ01"  # every scoped test user works here
OTHER = "GZ01"  # ...and must never see this branch
PASSWORD = "Huifang-test-2026"
ROLES = ("admin", "manager", "agent", "risk", "auditor")


@dataclass(frozen=True)
class Book:
    engine: Engine
    url: str
    home_loan: int
    home_borrower: int
    other_loan: int
    other_borrower: int


def _seed(engine: Engine, url: str, tmp: Path) -> Book:
    files = write_demo_files(tmp / "demo", loans=40, seed=11, as_of=date(2026, 11, 1))
    report = import_files(engine, files.paths)
    assert report.ok, report.errors[:3]
    for role in ROLES:
        create_user(
            engine,
            role,
            PASSWORD,
            role,
            display_name=f"{role} 测试",
            branch_codes=[HOME],
            all_branches=role == "admin",
        )
    create_user(engine, "auditor_all", PASSWORD, "auditor", all_branches=True)

    def first(code: str) -> tuple[int, int]:
        with transaction(engine) as s:
            row = s.execute(
                select(Loan.id, Borrower.id)
                .join(Borrower, Borrower.id == Loan.borrower_id)
                .join(Branch, Branch.id == Loan.branch_id)
                .where(Branch.code == code, Loan.status == "active")
                .order_by(Loan.id)
                .limit(1)
            ).one()
        return int(row[0]), int(row[1])

    home_loan, home_borrower = first(HOME)
    other_loan, other_borrower = first(OTHER)
    return Book(engine, url, home_loan, home_borrower, other_loan, other_borrower)


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
        yield _seed(engine, url, tmp)
        engine.dispose()
        return
    server = request.getfixturevalue("pg_server")
    name = f"w_{uuid.uuid4().hex[:12]}"
    with server.janitor(name, template="huifang_template"):
        url = server.url(name)
        engine = make_engine(url)
        yield _seed(engine, url, tmp)
        engine.dispose()
