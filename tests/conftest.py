"""Shared test fixtures: a real PostgreSQL server on loopback, and databases on both backends.

The server is Debian's PostgreSQL started from its binaries into a temporary directory for the
test session (as the `postgres` user when the tests run as root, since PostgreSQL refuses to
run as root). Each test that needs PostgreSQL gets a fresh database cloned from a migrated
template, created and dropped by pytest-postgresql's DatabaseJanitor. Set
HUIFANG_TEST_DATABASE_URL to use an existing server instead.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_postgresql.janitor import DatabaseJanitor
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from huifang.security.crypto import ENV_VAR, KeyRing
from huifang.store.db import make_engine, upgrade

TEMPLATE_DB = "huifang_template"

# A fixed data key ring for every test (and the subprocesses they start), so encrypted
# personal data is reproducible and no key file is written under a developer's home.
TEST_KEYRING = KeyRing(
    active="ktest0001", keys={"ktest0001": bytes(range(32))}, index_key=bytes(range(32, 64))
)
os.environ[ENV_VAR] = TEST_KEYRING.to_json()


@dataclass(frozen=True)
class PgServer:
    host: str
    port: int
    user: str
    password: str | None = None

    def url(self, dbname: str) -> str:
        auth = self.user if not self.password else f"{self.user}:{self.password}"
        return f"postgresql+psycopg://{auth}@{self.host}:{self.port}/{dbname}"

    def janitor(self, dbname: str, template: str | None = None) -> DatabaseJanitor:
        return DatabaseJanitor(
            user=self.user,
            password=self.password,
            host=self.host,
            port=self.port,
            dbname=dbname,
            template_dbname=template,
        )


def _pg_bin() -> Path:
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found and shutil.which("pg_ctl"):
        found = [shutil.which("pg_ctl") or ""]
    if not found:
        pytest.fail(
            "PostgreSQL server binaries not found: install Debian's `postgresql` package "
            "(scripts/test.sh does) or set HUIFANG_TEST_DATABASE_URL",
            pytrace=False,
        )
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    external = os.environ.get("HUIFANG_TEST_DATABASE_URL")
    if external:
        url = make_url(external)
        server = PgServer(
            url.host or "127.0.0.1", url.port or 5432, url.username or "postgres", url.password
        )
    else:
        # Not under pytest's tmp dir: that is private to root and the server runs as postgres.
        base = Path(tempfile.mkdtemp(prefix="huifang-pg-"))
        server, stop = _start_local_server(base)
    with server.janitor(TEMPLATE_DB) as _:
        engine = make_engine(server.url(TEMPLATE_DB))
        upgrade(engine)
        engine.dispose()
        yield server
    if not external:
        stop()
        shutil.rmtree(base, ignore_errors=True)


def _start_local_server(base: Path) -> tuple[PgServer, object]:
    bindir = _pg_bin()
    data, sockets = base / "data", base / "sock"
    sockets.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sockets, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]

    def run(*args: str) -> None:
        done = subprocess.run([*prefix, *args], capture_output=True, text=True)
        if done.returncode:
            pytest.fail(f"{args[0]} failed: {done.stderr or done.stdout}", pytrace=False)

    run(
        str(bindir / "initdb"),
        "-D",
        str(data),
        "-U",
        "huifang",
        "-A",
        "trust",
        "-E",
        "UTF8",
        "--locale=C",
    )
    port = _free_port()
    options = (
        f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60"
    )
    run(
        str(bindir / "pg_ctl"),
        "-D",
        str(data),
        "-o",
        options,
        "-l",
        str(base / "log"),
        "-w",
        "start",
    )

    def stop() -> None:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )

    return PgServer("127.0.0.1", port, "huifang"), stop


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with pg_server.janitor(name, template=TEMPLATE_DB):
        yield pg_server.url(name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'huifang.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh, migrated database, once on SQLite and once on PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()
