"""campaigns: voice-agent campaigns, their runs and their calls

Revision ID: 0015
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0001"
branch_labels = ("campaigns",)
depends_on = ("0002",)

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TZ = sa.DateTime(timezone=True)
Price = sa.Numeric(10, 4, asdecimal=True)


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", Id, nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("purposes", sa.JSON(), nullable=False),
        sa.Column("branches", sa.JSON(), nullable=False),
        sa.Column("tiers", sa.JSON(), nullable=False),
        sa.Column("script", sa.String(length=60), nullable=True),
        sa.Column("window_start", sa.String(length=5), nullable=False),
        sa.Column("window_end", sa.String(length=5), nullable=False),
        sa.Column("max_concurrent", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("retry_minutes", sa.Integer(), nullable=False),
        sa.Column("cost_per_call", Price, nullable=False),
        sa.Column("cost_per_minute", Price, nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("agent_id", Id, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("created_by", sa.String(length=60), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["followup_agents.id"], name=op.f("fk_campaigns_agent_id_followup_agents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("name", name=op.f("uq_campaigns_name")),
    )
    op.create_table(
        "campaign_runs",
        sa.Column("id", Id, nullable=False),
        sa.Column("campaign_id", Id, nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("ended_at", TZ, nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("dialer", sa.String(length=40), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_campaign_runs_campaign_id_campaigns")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_runs")),
    )
    op.create_index(
        op.f("ix_campaign_runs_campaign_id"), "campaign_runs", ["campaign_id"], unique=False
    )
    op.create_table(
        "campaign_calls",
        sa.Column("id", Id, nullable=False),
        sa.Column("campaign_id", Id, nullable=False),
        sa.Column("run_id", Id, nullable=False),
        sa.Column("task_id", Id, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("dialed_at", TZ, nullable=False),
        sa.Column("ended_at", TZ, nullable=True),
        sa.Column("attempt_id", Id, nullable=True),
        sa.Column("outcome", sa.String(length=24), nullable=True),
        sa.Column("connected", sa.Boolean(), nullable=False),
        sa.Column("handover_reason", sa.String(length=24), nullable=True),
        sa.Column("duration_s", sa.Integer(), nullable=True),
        sa.Column("cost", sa.Numeric(18, 2, asdecimal=True), nullable=True),
        sa.Column("transcript", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_campaign_calls_campaign_id_campaigns")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["campaign_runs.id"], name=op.f("fk_campaign_calls_run_id_campaign_runs")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["followup_tasks.id"],
            name=op.f("fk_campaign_calls_task_id_followup_tasks"),
        ),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["followup_attempts.id"],
            name=op.f("fk_campaign_calls_attempt_id_followup_attempts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_calls")),
        sa.UniqueConstraint("task_id", "seq", name="uq_campaign_calls_task_seq"),
    )
    op.create_index(
        "ix_campaign_calls_campaign_status", "campaign_calls", ["campaign_id", "status"]
    )


def downgrade() -> None:
    op.drop_index("ix_campaign_calls_campaign_status", table_name="campaign_calls")
    op.drop_table("campaign_calls")
    op.drop_index(op.f("ix_campaign_runs_campaign_id"), table_name="campaign_runs")
    op.drop_table("campaign_runs")
    op.drop_table("campaigns")
