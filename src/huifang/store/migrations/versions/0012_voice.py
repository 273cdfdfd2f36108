"""voice: the voice agent's call recordings and per-turn transcripts

Revision ID: 0012
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0001"
branch_labels = ("voice",)
depends_on = ("0002",)

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "call_recordings",
        sa.Column("id", Id, nullable=False),
        sa.Column("attempt_id", Id, nullable=False),
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("channels", sa.Integer(), nullable=False),
        sa.Column("sample_rate", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("codec", sa.String(length=10), nullable=True),
        sa.Column("ended_by", sa.String(length=10), nullable=True),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("handover_reason", sa.String(length=40), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["followup_attempts.id"],
            name=op.f("fk_call_recordings_attempt_id_followup_attempts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_recordings")),
        sa.UniqueConstraint("attempt_id", name=op.f("uq_call_recordings_attempt_id")),
    )
    op.create_table(
        "call_transcript_turns",
        sa.Column("id", Id, nullable=False),
        sa.Column("attempt_id", Id, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("speaker", sa.String(length=10), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("step_id", sa.String(length=60), nullable=True),
        sa.Column("start_s", sa.Float(), nullable=True),
        sa.Column("end_s", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["followup_attempts.id"],
            name=op.f("fk_call_transcript_turns_attempt_id_followup_attempts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_transcript_turns")),
        sa.UniqueConstraint("attempt_id", "seq", name=op.f("uq_call_transcript_turns_attempt_id")),
    )


def downgrade() -> None:
    op.drop_table("call_transcript_turns")
    op.drop_table("call_recordings")
