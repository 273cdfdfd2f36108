"""restructuring: restructuring requests and their maker-checker decisions

Revision ID: 0023
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0001"
branch_labels = ("restructuring",)
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "restructuring_requests",
        sa.Column("id", Id, nullable=False),
        sa.Column("loan_id", Id, nullable=False),
        sa.Column("requested_by", sa.String(length=60), nullable=False),
        sa.Column("requested_at", TZ, nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("capitalize_arrears", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("proposal", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("decided_by", sa.String(length=60), nullable=True),
        sa.Column("decided_at", TZ, nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.id"], name=op.f("fk_restructuring_requests_loan_id_loans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_restructuring_requests")),
    )
    op.create_index(
        "ix_restructuring_requests_loan_status",
        "restructuring_requests",
        ["loan_id", "status"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_restructuring_requests_loan_status", table_name="restructuring_requests")
    op.drop_table("restructuring_requests")
