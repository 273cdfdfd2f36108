"""selfservice: contact changes submitted by borrowers, the online questionnaire's runs

Revision ID: 0014
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0001"
branch_labels = ("selfservice",)
depends_on = ("0002",)

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "contact_changes",
        sa.Column("id", Id, nullable=False),
        sa.Column("borrower_id", Id, nullable=False),
        sa.Column("loan_id", Id, nullable=True),
        sa.Column("field", sa.String(length=16), nullable=False),
        sa.Column("old_value_enc", sa.Text(), nullable=True),
        sa.Column("new_value_enc", sa.Text(), nullable=False),
        sa.Column("new_value_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("requested_at", TZ, nullable=False),
        sa.Column("reviewed_by", sa.String(length=60), nullable=True),
        sa.Column("reviewed_at", TZ, nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["borrower_id"], ["borrowers.id"], name=op.f("fk_contact_changes_borrower_id_borrowers")
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.id"], name=op.f("fk_contact_changes_loan_id_loans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_changes")),
    )
    op.create_index(
        "ix_contact_changes_borrower_status", "contact_changes", ["borrower_id", "status"]
    )
    op.create_index(
        op.f("ix_contact_changes_new_value_hash"), "contact_changes", ["new_value_hash"]
    )
    op.create_table(
        "selfservice_runs",
        sa.Column("id", Id, nullable=False),
        sa.Column("loan_id", Id, nullable=False),
        sa.Column("task_id", Id, nullable=False),
        sa.Column("script_id", sa.String(length=64), nullable=False),
        sa.Column("script_version", sa.Integer(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("closed_at", TZ, nullable=True),
        sa.Column("attempt_id", Id, nullable=True),
        sa.Column("visit_id", Id, nullable=True),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.id"], name=op.f("fk_selfservice_runs_loan_id_loans")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["followup_tasks.id"],
            name=op.f("fk_selfservice_runs_task_id_followup_tasks"),
        ),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["followup_attempts.id"],
            name=op.f("fk_selfservice_runs_attempt_id_followup_attempts"),
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["followup_visits.id"],
            name=op.f("fk_selfservice_runs_visit_id_followup_visits"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_selfservice_runs")),
    )
    op.create_index(op.f("ix_selfservice_runs_task_id"), "selfservice_runs", ["task_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_selfservice_runs_task_id"), table_name="selfservice_runs")
    op.drop_table("selfservice_runs")
    op.drop_index(op.f("ix_contact_changes_new_value_hash"), table_name="contact_changes")
    op.drop_index("ix_contact_changes_borrower_status", table_name="contact_changes")
    op.drop_table("contact_changes")
