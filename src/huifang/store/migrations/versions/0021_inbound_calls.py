"""inbound_calls: calls the borrower makes to the voice assistant, stored as attempts

An inbound FAQ call (`huifang sip answer --faq`) is kept like an outbound voice-agent call:
an attempt with its recording and transcript, so it shows in the borrower 360 and in QA.
`followup_attempts.direction` says who called (``outbound``: we did, every existing row;
``inbound``: the borrower), and `task_id` may be empty (an inbound call belongs to no task).
The downgrade removes the inbound calls (recording rows, transcripts, QA reviews) first.

Revision ID: 0021
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from huifang.store.migration_support import sqlite_foreign_keys_off

revision = "0021"
down_revision = "0001"
branch_labels = ("inbound_calls",)
depends_on = ("0018", "0012", "0013")

TABLE = "followup_attempts"
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with sqlite_foreign_keys_off(), op.batch_alter_table(TABLE) as batch_op:
        batch_op.add_column(
            sa.Column("direction", sa.String(length=10), server_default="outbound", nullable=False)
        )
        batch_op.alter_column("task_id", existing_type=_ID, nullable=True)


def downgrade() -> None:
    inbound = sa.select(sa.column("id")).select_from(sa.table(TABLE, sa.column("direction")))
    inbound = inbound.where(sa.column("direction") == "inbound")
    for dependent in ("call_transcript_turns", "call_recordings", "qa_reviews"):
        op.execute(
            sa.table(dependent, sa.column("attempt_id"))
            .delete()
            .where(sa.column("attempt_id").in_(inbound))
        )
    op.execute(
        sa.table(TABLE, sa.column("direction")).delete().where(sa.column("direction") == "inbound")
    )
    with sqlite_foreign_keys_off(), op.batch_alter_table(TABLE) as batch_op:
        batch_op.alter_column("task_id", existing_type=_ID, nullable=False)
        batch_op.drop_column("direction")
