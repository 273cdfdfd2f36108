"""batch_scores: the nightly run's behaviour score per loan

Revision ID: 0019
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0001"
branch_labels = ("batch_scores",)
depends_on = "0005"

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "batch_loan_scores",
        sa.Column("run_id", Id, nullable=False),
        sa.Column("loan_id", Id, nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("pd", sa.Numeric(precision=9, scale=6), nullable=False),
        sa.Column("score_band", sa.String(length=16), nullable=False),
        sa.Column("reason_1", sa.String(length=40), nullable=True),
        sa.Column("reason_2", sa.String(length=40), nullable=True),
        sa.Column("reason_3", sa.String(length=40), nullable=True),
        sa.Column("reason_4", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["batch_runs.id"], name=op.f("fk_batch_loan_scores_run_id_batch_runs")
        ),
        sa.PrimaryKeyConstraint("run_id", "loan_id", name=op.f("pk_batch_loan_scores")),
    )


def downgrade() -> None:
    op.drop_table("batch_loan_scores")
