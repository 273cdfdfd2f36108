"""Voice-agent campaigns' storage (智能外呼任务).

- `campaigns`: a campaign's settings — name, task filter (purposes, branches, tiers), script,
  calling window (borrower's local time), lines (max concurrent calls), attempts and retry
  spacing, the cost of a call, status, and the voice-agent line (a `followup_agents` row
  with the ``voice`` skill) whose lease it takes on tasks, so an agent and the bot never
  hold one task.
- `campaign_runs`: one `huifang campaign run`: when, dry or not, what it did.
- `campaign_calls`: every dial of a campaign, written *before* the call is placed (status
  ``dialing``) and completed with the attempt it recorded (``recorded``). The pair
  (task_id, seq) is unique, so two runners cannot both dial the same task's next call, and
  a run that crashed mid-call leaves a ``dialing`` row that the next run settles instead of
  dialing again.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from huifang.store.models import Base, Id, Money

TZ = DateTime(timezone=True)
Price = Numeric(10, 4, asdecimal=True)


class Campaign(Base):
    """A voice-agent campaign's settings (外呼活动)."""

    __tablename__ = "campaigns"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    purposes: Mapped[list[str]] = mapped_column(JSON, default=list)
    branches: Mapped[list[str]] = mapped_column(JSON, default=list)
    tiers: Mapped[list[str]] = mapped_column(JSON, default=list)
    script: Mapped[str | None] = mapped_column(String(60))
    window_start: Mapped[str] = mapped_column(String(5))  # "HH:MM", borrower's local time
    window_end: Mapped[str] = mapped_column(String(5))
    max_concurrent: Mapped[int] = mapped_column(Integer)
    max_attempts: Mapped[int] = mapped_column(Integer)
    retry_minutes: Mapped[int] = mapped_column(Integer)
    cost_per_call: Mapped[Decimal] = mapped_column(Price)
    cost_per_minute: Mapped[Decimal] = mapped_column(Price)
    status: Mapped[str] = mapped_column(String(12))  # active | paused | finished
    agent_id: Mapped[int] = mapped_column(ForeignKey("followup_agents.id"))
    created_at: Mapped[datetime] = mapped_column(TZ)
    created_by: Mapped[str | None] = mapped_column(String(60))


class CampaignRun(Base):
    """One run of a campaign (one calling window, or part of one)."""

    __tablename__ = "campaign_runs"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(TZ)
    ended_at: Mapped[datetime | None] = mapped_column(TZ)
    status: Mapped[str] = mapped_column(String(12))  # running | finished
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    dialer: Mapped[str] = mapped_column(String(40))
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CampaignCall(Base):
    """One dial of a campaign: written before dialing, completed with its attempt."""

    __tablename__ = "campaign_calls"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    run_id: Mapped[int] = mapped_column(ForeignKey("campaign_runs.id"))
    task_id: Mapped[int] = mapped_column(ForeignKey("followup_tasks.id"))
    seq: Mapped[int] = mapped_column(Integer)  # the task's n-th voice-agent dial
    status: Mapped[str] = mapped_column(String(12))  # dialing | recorded | interrupted
    dialed_at: Mapped[datetime] = mapped_column(TZ)
    ended_at: Mapped[datetime | None] = mapped_column(TZ)
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("followup_attempts.id"))
    outcome: Mapped[str | None] = mapped_column(String(24))
    connected: Mapped[bool] = mapped_column(Boolean, default=False)
    handover_reason: Mapped[str | None] = mapped_column(String(24))
    duration_s: Mapped[int | None] = mapped_column(Integer)
    cost: Mapped[Decimal | None] = mapped_column(Money)
    transcript: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    __table_args__ = (
        UniqueConstraint("task_id", "seq", name="uq_campaign_calls_task_seq"),
        Index("ix_campaign_calls_campaign_status", "campaign_id", "status"),
    )
