"""qa: auditors' quality reviews of contact attempts

Revision ID: 0013
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0001"
branch_labels = ("qa",)
depends_on = ("0002",)

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "qa_reviews",
        sa.Column("id", Id, nullable=False),
        sa.Column("attempt_id", Id, nullable=False),
        sa.Column("reviewer", sa.String(length=60), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("max_total", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["followup_attempts.id"],
            name=op.f("fk_qa_reviews_attempt_id_followup_attempts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qa_reviews")),
        sa.UniqueConstraint("attempt_id", "reviewer", name="uq_qa_reviews_attempt_reviewer"),
    )


def downgrade() -> None:
    op.drop_table("qa_reviews")
