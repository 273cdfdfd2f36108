"""The audit log is append-only (the database refuses edits) and tamper-evident (the hash
chain names the first altered, inserted or deleted entry)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, exc, text

from huifang.security import audit
from huifang.store.db import transaction

WHO = audit.Actor("agent1", "agent", "10.0.0.7")


def _fill(engine: Engine, n: int = 5) -> None:
    for i in range(n):
        audit.record_now(
            engine,
            WHO,
            "read.borrower",
            target_type="borrower",
            target_id=i,
            branch_code="SZ01",
            detail={"i": i, "名": "张三"},
        )


def test_chain_verifies_and_search_filters(engine: Engine) -> None:
    _fill(engine)
    report = audit.verify_chain(engine)
    assert report.ok and report.entries == 5
    rows = audit.search(engine, actor="agent1", action="read.", branches={"SZ01"})
    assert [r.target_id for r in rows] == ["4", "3", "2", "1", "0"]
    assert rows[0].ip == "10.0.0.7" and rows[0].detail == {"i": 4, "名": "张三"}
    assert audit.search(engine, branches={"GZ01"}) == []


def test_database_refuses_update_and_delete(engine: Engine) -> None:
    _fill(engine, 2)
    for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(exc.DBAPIError), transaction(engine) as s:
            s.execute(text(statement))
    assert audit.verify_chain(engine).entries == 2


def _without_guard(engine: Engine, statement: str) -> None:
    """What a privileged attacker could do: switch the trigger off, edit, switch it on."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
            conn.execute(text(statement))
            conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
            conn.execute(text("DROP TRIGGER audit_log_no_delete"))
            conn.execute(text(statement))


@pytest.mark.parametrize(
    ("statement", "bad"),
    [
        ("UPDATE audit_log SET target_id = '99' WHERE id = 3", 3),
        ("UPDATE audit_log SET ip = '1.2.3.4' WHERE id = 2", 2),
        ("DELETE FROM audit_log WHERE id = 3", 4),
    ],
)
def test_verify_names_the_first_tampered_entry(engine: Engine, statement: str, bad: int) -> None:
    _fill(engine)
    _without_guard(engine, statement)
    report = audit.verify_chain(engine)
    assert not report.ok and report.first_bad_id == bad
