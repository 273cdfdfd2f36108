"""batch_risk: the nightly run's collateral and tier results per loan

Revision ID: 0016
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0001"
branch_labels = ("batch_risk",)
depends_on = "0005"

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Money = sa.Numeric(precision=18, scale=2)
Ratio = sa.Numeric(precision=9, scale=4)


def upgrade() -> None:
    op.create_table(
        "batch_loan_collateral",
        sa.Column("run_id", Id, nullable=False),
        sa.Column("loan_id", Id, nullable=False),
        sa.Column("vehicle_value", Money, nullable=True),
        sa.Column("exposure", Money, nullable=False),
        sa.Column("ltv", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("ltv_band", sa.String(length=12), nullable=True),
        sa.Column("base_retention", Ratio, nullable=True),
        sa.Column("mileage_factor", Ratio, nullable=True),
        sa.Column("condition_factor", Ratio, nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["batch_runs.id"], name=op.f("fk_batch_loan_collateral_run_id_batch_runs")
        ),
        sa.PrimaryKeyConstraint("run_id", "loan_id", name=op.f("pk_batch_loan_collateral")),
    )
    op.create_table(
        "batch_loan_tiers",
        sa.Column("run_id", Id, nullable=False),
        sa.Column("loan_id", Id, nullable=False),
        sa.Column("origination_tier", sa.String(length=8), nullable=False),
        sa.Column("risk_tier", sa.String(length=8), nullable=False),
        sa.Column("risk_reason", sa.String(length=40), nullable=False),
        sa.Column("months_on_book", sa.Integer(), nullable=False),
        sa.Column("open_alerts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["batch_runs.id"], name=op.f("fk_batch_loan_tiers_run_id_batch_runs")
        ),
        sa.PrimaryKeyConstraint("run_id", "loan_id", name=op.f("pk_batch_loan_tiers")),
    )


def downgrade() -> None:
    op.drop_table("batch_loan_tiers")
    op.drop_table("batch_loan_collateral")
