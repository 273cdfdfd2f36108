"""calls: the call screen's script runner state

Revision ID: 0011
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0001"
branch_labels = ("calls",)
depends_on = ("0002",)

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "call_runs",
        sa.Column("id", Id, nullable=False),
        sa.Column("task_id", Id, nullable=False),
        sa.Column("agent_id", Id, nullable=False),
        sa.Column("script_id", sa.String(length=64), nullable=False),
        sa.Column("script_version", sa.Integer(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("closed_at", TZ, nullable=True),
        sa.Column("attempt_id", Id, nullable=True),
        sa.ForeignKeyConstraint(
            ["task_id"], ["followup_tasks.id"], name=op.f("fk_call_runs_task_id_followup_tasks")
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["followup_agents.id"],
            name=op.f("fk_call_runs_agent_id_followup_agents"),
        ),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["followup_attempts.id"],
            name=op.f("fk_call_runs_attempt_id_followup_attempts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_runs")),
    )
    op.create_index("ix_call_runs_task_agent", "call_runs", ["task_id", "agent_id"])


def downgrade() -> None:
    op.drop_index("ix_call_runs_task_agent", table_name="call_runs")
    op.drop_table("call_runs")
