"""The number dialled on a contact attempt is sealed at rest (SealedText) and migration 0018
encrypts numbers stored in clear before it (its downgrade decrypts them), on both DBs."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from sqlalchemy import Engine, insert, select, table, text
from sqlalchemy import column as col

from huifang.security import pii
from huifang.store.db import alembic_config, transaction, upgrade
from huifang.store.followup_models import ContactAttempt
from huifang.store.models import Loan

sys.path.insert(0, str(Path(__file__).parents[1] / "services"))
from followup_book import make_book, routine_task

NUMBER = "13812345670"
AT = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


def _task(engine: Engine) -> tuple[int, int]:
    ids = make_book(engine)
    with transaction(engine) as s:
        loan = s.get(Loan, ids["L-LOW"])
        assert loan is not None
        task = routine_task(s, loan)
        return task.id, loan.id


def _stored(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(text("SELECT contact_number_enc FROM followup_attempts")).scalars()
        )


def test_attempt_numbers_are_sealed_at_rest_and_read_back(engine: Engine) -> None:
    upgrade(engine)
    task_id, loan_id = _task(engine)
    with transaction(engine) as s:
        s.add(
            ContactAttempt(
                task_id=task_id,
                loan_id=loan_id,
                channel="agent-call",
                contact_role="borrower",
                contact_number=NUMBER,
                status="made",
                started_at=AT,
            )
        )
    [stored] = _stored(engine)
    assert stored.startswith("hf1:") and NUMBER not in stored
    with transaction(engine) as s:
        assert s.scalars(select(ContactAttempt.contact_number)).one() == NUMBER
    assert pii.stale_key_ids(engine, pii.current_ring()) == set()


def test_migration_0018_encrypts_clear_numbers_and_downgrade_restores_them(
    engine: Engine,
) -> None:
    upgrade(engine)
    task_id, loan_id = _task(engine)
    command.downgrade(alembic_config(engine), "attempt_pii@-1")
    names = ("task_id", "loan_id", "channel", "contact_role", "contact_number", "status")
    attempts = table(
        "followup_attempts",
        *(col(c) for c in (*names, "started_at", "identity_verified", "was_conversation")),
    )
    with transaction(engine) as s:
        s.execute(
            insert(attempts),
            {
                "task_id": task_id,
                "loan_id": loan_id,
                "channel": "agent-call",
                "contact_role": "borrower",
                "contact_number": NUMBER,
                "status": "made",
                "started_at": AT,
                "identity_verified": False,
                "was_conversation": False,
            },
        )
    upgrade(engine)
    [stored] = _stored(engine)
    assert stored.startswith("hf1:") and NUMBER not in stored
    with transaction(engine) as s:
        assert s.scalars(select(ContactAttempt.contact_number)).one() == NUMBER
    command.downgrade(alembic_config(engine), "attempt_pii@-1")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT contact_number FROM followup_attempts")).scalar() == NUMBER
    upgrade(engine)
