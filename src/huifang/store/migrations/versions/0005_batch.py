"""batch: nightly portfolio runs and per-loan states

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0001"
branch_labels = ("batch",)
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TZ = sa.DateTime(timezone=True)
Money = sa.Numeric(precision=18, scale=2)


def upgrade() -> None:
    op.create_table(
        "batch_runs",
        sa.Column("id", Id, nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("engine", sa.String(length=12), nullable=False),
        sa.Column("inputs_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("finished_at", TZ, nullable=True),
        sa.Column("loans", sa.Integer(), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_runs")),
    )
    op.create_index("ix_batch_runs_as_of_status", "batch_runs", ["as_of", "status"])
    money = (
        "amount_due",
        "principal_paid",
        "interest_paid",
        "overdue_principal",
        "overdue_interest",
        "penalty_charged",
        "penalty_outstanding",
        "overdue_amount",
    )
    op.create_table(
        "batch_loan_states",
        sa.Column("run_id", Id, nullable=False),
        sa.Column("loan_id", Id, nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("installments_due", sa.Integer(), nullable=False),
        sa.Column("installments_paid", sa.Integer(), nullable=False),
        *(sa.Column(name, Money, nullable=False) for name in money),
        sa.Column("dpd", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.String(length=4), nullable=False),
        sa.Column("loan_class", sa.String(length=4), nullable=False),
        sa.Column("accrued_interest", Money, nullable=False),
        sa.Column("outstanding_principal", Money, nullable=False),
        sa.Column("credit", Money, nullable=False),
        sa.Column("next_due_date", sa.Date(), nullable=True),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["batch_runs.id"], name=op.f("fk_batch_loan_states_run_id_batch_runs")
        ),
        sa.PrimaryKeyConstraint("run_id", "loan_id", name=op.f("pk_batch_loan_states")),
    )


def downgrade() -> None:
    op.drop_table("batch_loan_states")
    op.drop_index("ix_batch_runs_as_of_status", table_name="batch_runs")
    op.drop_table("batch_runs")
