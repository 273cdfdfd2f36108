"""batch_followup: the nightly run's new alerts, due tasks and tier changes per loan

Revision ID: 0020
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0001"
branch_labels = ("batch_followup",)
depends_on = ("0016",)

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _run_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["run_id"], ["batch_runs.id"], name=op.f(f"fk_{table}_run_id_batch_runs")
    )


def upgrade() -> None:
    op.create_table(
        "batch_loan_alerts",
        sa.Column("run_id", Id, nullable=False),
        sa.Column("loan_id", Id, nullable=False),
        sa.Column("rule_id", sa.String(length=60), nullable=False),
        sa.Column("contract_no", sa.String(length=40), nullable=False),
        sa.Column("rule_version", sa.String(length=40), nullable=False),
        sa.Column("episode", sa.String(length=120), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("title_zh", sa.Text(), nullable=False),
        sa.Column("title_en", sa.Text(), nullable=False),
        sa.Column("facts", sa.Text(), nullable=False),
        _run_fk("batch_loan_alerts"),
        sa.PrimaryKeyConstraint("run_id", "loan_id", "rule_id", name=op.f("pk_batch_loan_alerts")),
    )
    op.create_table(
        "batch_loan_tasks",
        sa.Column("run_id", Id, nullable=False),
        sa.Column("loan_id", Id, nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("branch_id", Id, nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("tier", sa.String(length=8), nullable=False),
        sa.Column("required_skills", sa.Text(), nullable=False),
        sa.Column("script", sa.String(length=60), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("trigger_ref", sa.String(length=120), nullable=True),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        _run_fk("batch_loan_tasks"),
        sa.PrimaryKeyConstraint("run_id", "loan_id", "purpose", name=op.f("pk_batch_loan_tasks")),
    )
    op.create_table(
        "batch_loan_tier_changes",
        sa.Column("run_id", Id, nullable=False),
        sa.Column("loan_id", Id, nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("previous_tier", sa.String(length=8), nullable=True),
        sa.Column("tier", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        _run_fk("batch_loan_tier_changes"),
        sa.PrimaryKeyConstraint(
            "run_id", "loan_id", "kind", name=op.f("pk_batch_loan_tier_changes")
        ),
    )


def downgrade() -> None:
    op.drop_table("batch_loan_tier_changes")
    op.drop_table("batch_loan_tasks")
    op.drop_table("batch_loan_alerts")
