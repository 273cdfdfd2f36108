"""The PostgreSQL pool without pre-ping: a connection that died while it sat in the pool is
found out (pinged after an idle spell) and replaced, so the next transaction still works."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from huifang.store import db
from huifang.store.db import make_engine, transaction


def _backend(engine: Engine) -> int:
    with transaction(engine) as s:
        return int(s.scalar(text("SELECT pg_backend_pid()")))


@pytest.mark.postgres
def test_a_connection_killed_while_idle_is_replaced(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(pg_url)
    killer = make_engine(pg_url)
    try:
        first = _backend(engine)
        with killer.connect() as conn:
            assert conn.scalar(text("SELECT pg_terminate_backend(:p)"), {"p": first})
        monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.0)  # every checkout counts as idle
        second = _backend(engine)
        assert second != first
    finally:
        engine.dispose()
        killer.dispose()


@pytest.mark.postgres
def test_a_busy_connection_is_not_pinged(pg_url: str) -> None:
    engine = make_engine(pg_url)
    statements: list[str] = []
    from sqlalchemy import event

    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    try:
        _backend(engine)
        _backend(engine)  # straight back out of the pool: no SELECT 1 first
        assert statements == ["SELECT pg_backend_pid()"] * 2
    finally:
        engine.dispose()
