"""Engine and session factories, and schema upgrades through Alembic.

SQLite is the embedded default (one file, one process); PostgreSQL is production. Both are
brought to the newest schema by the same Alembic migrations, never by `create_all`.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Dialect, Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"

# Amounts are stored in SQLite as doubles and read back as Decimal quantized to the column's
# scale; that is exact for our bounded amounts (store/models.py), so the warning is noise.
warnings.filterwarnings(
    "ignore", message=r".*does \*not\* support Decimal objects natively", category=exc.SAWarning
)


# A server-side database connection dies with a restart, a failover or a firewall's idle
# timeout — which happen to a connection that sat in the pool, not to one in use a moment
# ago. So a PostgreSQL connection is pinged only when it comes out of the pool after
# PING_AFTER_IDLE_S (a dead one is replaced: the pool retries the checkout on
# DisconnectionError), and replaced after POOL_RECYCLE_S whatever its use. Under load a
# connection is back in use within milliseconds, so transactions no longer pay a `SELECT 1`
# round trip each (pool_pre_ping did: five to eight per web request). A connection lost in
# the middle of a transaction fails that transaction as before, and the pool then drops every
# connection older than the failure.
PING_AFTER_IDLE_S = 10.0
POOL_RECYCLE_S = 1800


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine with the settings every Huifang process needs for `url`."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; take it over so a transaction really
        # starts at BEGIN and holds the write lock for the whole import (all or nothing).
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    engine = create_engine(url, echo=echo, pool_recycle=POOL_RECYCLE_S)
    event.listen(engine, "checkin", _note_idle)
    event.listen(engine, "checkout", _ping_after_idle(engine.dialect))
    return engine


def _note_idle(_dbapi_connection: object, record: Any) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_after_idle(dialect: Dialect) -> Callable[[Any, Any, object], None]:
    def checkout(dbapi_connection: Any, record: Any, _proxy: object) -> None:
        if getattr(dbapi_connection, "closed", False):
            raise exc.DisconnectionError("connection closed")
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return
        try:
            dialect.do_ping(dbapi_connection)  # SELECT 1 outside a transaction
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                raise exc.DisconnectionError(str(error)) from error
            raise

    return checkout


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    dbapi_connection.isolation_level = None  # type: ignore[attr-defined]
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back everything on any exception."""
    with session_factory(engine)() as session, session.begin():
        yield session


@contextmanager
def single_statements(engine: Engine) -> Iterator[Connection]:
    """A connection whose statements each commit on their own: no BEGIN and COMMIT round
    trips, for a read that is one statement (consistent by itself) or a write that needs no
    other statement's company. On SQLite (one writer, BEGIN IMMEDIATE) a transaction."""
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    with engine.connect() as conn:
        yield conn.execution_options(isolation_level="AUTOCOMMIT")


@contextmanager
def single_statement_session(engine: Engine) -> Iterator[Session]:
    """An ORM session over `single_statements`: for a read that is one statement."""
    with single_statements(engine) as conn, Session(bind=conn) as session:
        yield session


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Bring the database to `revision` (every branch's newest schema by default).

    Capabilities add their tables as migration branches off the loan book, so "heads"
    rather than "head": each branch is upgraded independently."""
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    """The applied revisions, comma-separated when several branches are present."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    return ",".join(sorted(heads)) or None
