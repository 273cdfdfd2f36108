"""Follow-up (回访) storage: agents, tasks, contact attempts, visits, corrections, risk events.

- `followup_agents`: who works the queues — branch, skills (``business``, ``field``,
  ``lang:en`` …), languages, capacity (open tasks at most).
- `followup_tasks`: one contact a loan is due. At most one *open* task per loan and purpose,
  enforced by a unique partial index (``closed_at IS NULL``) on SQLite and PostgreSQL alike,
  so re-running generation can never duplicate. A claim is a lease (`claimed_by_id`,
  `claim_expires_at`) taken under a row lock.
- `followup_attempts`: every attempt by any channel, including the ones the compliance guard
  refused (status ``refused`` with the reason codes and text); never updated afterwards.
- `followup_visits`: a completed contact with the script's answers as recorded — never edited.
- `followup_corrections`: append-only amendments of a visit (回访说错): who, when, why, the
  answers changed (old → new), the reviewer's decision for key answers.
- `risk_events`: typed events raised from findings, corrections or the portfolio run; they
  feed tiers, alerts and event-triggered tasks.
- `followup_party_flags`: do-not-call, withdrawn consent, refusal by a third party… per person.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from huifang.security.pii import SealedText
from huifang.store.models import Base, Id

TZ = DateTime(timezone=True)

# Task statuses; open ones have closed_at IS NULL. A claim is a lease, not a status.
OPEN_STATUSES = ("open", "escalated")
CLOSED_STATUSES = ("done", "cancelled", "unreachable")


class Agent(Base):
    """A follow-up agent (回访专员), or a voice-agent line (skills include ``voice``)."""

    __tablename__ = "followup_agents"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    username: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(60))
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"), index=True)
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    capacity: Mapped[int] = mapped_column(Integer, default=40)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(TZ, server_default=func.current_timestamp())


class FollowupTask(Base):
    """A contact a loan is due (回访任务)."""

    __tablename__ = "followup_tasks"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    purpose: Mapped[str] = mapped_column(String(32))
    stage: Mapped[str] = mapped_column(String(16))
    due_on: Mapped[date] = mapped_column(Date)
    deadline: Mapped[date] = mapped_column(Date)
    priority: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default="open")
    tier: Mapped[str] = mapped_column(String(8))
    required_skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    script: Mapped[str] = mapped_column(String(60))
    reason: Mapped[str] = mapped_column(Text)
    trigger_ref: Mapped[str | None] = mapped_column(String(120))
    policy_version: Mapped[int] = mapped_column(Integer)
    assigned_agent_id: Mapped[int | None] = mapped_column(ForeignKey("followup_agents.id"))
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("followup_agents.id"))
    claim_expires_at: Mapped[datetime | None] = mapped_column(TZ)
    snoozed_until: Mapped[datetime | None] = mapped_column(TZ)
    next_attempt_at: Mapped[datetime | None] = mapped_column(TZ)
    next_role: Mapped[str | None] = mapped_column(String(16))
    escalation: Mapped[str | None] = mapped_column(String(80))
    status_reason: Mapped[str | None] = mapped_column(Text)
    completed_at: Mapped[datetime | None] = mapped_column(TZ)
    closed_at: Mapped[datetime | None] = mapped_column(TZ)
    created_at: Mapped[datetime] = mapped_column(TZ, server_default=func.current_timestamp())
    updated_at: Mapped[datetime] = mapped_column(
        TZ, server_default=func.current_timestamp(), onupdate=func.current_timestamp()
    )
    __table_args__ = (
        Index(
            "uq_followup_tasks_open",
            "loan_id",
            "purpose",
            unique=True,
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
        Index("ix_followup_tasks_queue", "branch_id", "status", "due_on"),
        Index("ix_followup_tasks_loan", "loan_id"),
    )


class ContactAttempt(Base):
    """One attempt to reach someone about a loan, by any channel; refusals included."""

    __tablename__ = "followup_attempts"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # None for a call the borrower made to us (direction inbound): it belongs to no task
    task_id: Mapped[int | None] = mapped_column(ForeignKey("followup_tasks.id"), index=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("followup_agents.id"))
    channel: Mapped[str] = mapped_column(String(20))
    # outbound: we contacted them (what the guard and the contact strategy count);
    # inbound: they called the voice assistant
    direction: Mapped[str] = mapped_column(
        String(10), default="outbound", server_default="outbound"
    )
    contact_role: Mapped[str] = mapped_column(String(16))
    # the number dialled, sealed at rest (column contact_number_enc; security/pii.py)
    contact_number: Mapped[str] = mapped_column(
        "contact_number_enc", SealedText("followup_attempts", "contact_number")
    )
    status: Mapped[str] = mapped_column(String(10))  # made | refused (by the guard)
    outcome: Mapped[str | None] = mapped_column(String(24))
    started_at: Mapped[datetime] = mapped_column(TZ)
    ended_at: Mapped[datetime | None] = mapped_column(TZ)
    duration_s: Mapped[int | None] = mapped_column(Integer)
    recording_ref: Mapped[str | None] = mapped_column(String(200))
    script_id: Mapped[str | None] = mapped_column(String(60))
    script_version: Mapped[int | None] = mapped_column(Integer)
    answers: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    identity_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    was_conversation: Mapped[bool] = mapped_column(Boolean, default=False)
    callback_at: Mapped[datetime | None] = mapped_column(TZ)
    refusal_codes: Mapped[list[str] | None] = mapped_column(JSON)
    refusal_reason: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TZ, server_default=func.current_timestamp())
    __table_args__ = (Index("ix_followup_attempts_loan_started", "loan_id", "started_at"),)


class Visit(Base):
    """A completed follow-up contact (回访记录) with its answers as first recorded."""

    __tablename__ = "followup_visits"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("followup_tasks.id"), unique=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("followup_attempts.id"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("followup_agents.id"))
    channel: Mapped[str] = mapped_column(String(20))
    completed_at: Mapped[datetime] = mapped_column(TZ)
    script_id: Mapped[str | None] = mapped_column(String(60))
    script_version: Mapped[int | None] = mapped_column(Integer)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    outcome: Mapped[str] = mapped_column(String(40))
    summary: Mapped[str | None] = mapped_column(Text)


class Correction(Base):
    """An append-only amendment of a visit's answers (回访更正)."""

    __tablename__ = "followup_corrections"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("followup_visits.id"), index=True)
    maker: Mapped[str] = mapped_column(String(60))
    made_at: Mapped[datetime] = mapped_column(TZ)
    reason: Mapped[str] = mapped_column(Text)
    changes: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    needs_review: Mapped[bool] = mapped_column(Boolean)
    reverify_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(12))  # pending | approved | rejected | applied
    reviewer: Mapped[str | None] = mapped_column(String(60))
    reviewed_at: Mapped[datetime | None] = mapped_column(TZ)
    review_note: Mapped[str | None] = mapped_column(Text)
    reverify_task_id: Mapped[int | None] = mapped_column(ForeignKey("followup_tasks.id"))


class RiskEvent(Base):
    """A typed risk event (风险事件) about a loan; `ref` makes raising it idempotent."""

    __tablename__ = "risk_events"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    occurred_on: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(20))  # visit | correction | system | import
    ref: Mapped[str] = mapped_column(String(160))
    severity: Mapped[str] = mapped_column(String(10), default="medium")
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("followup_visits.id"))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(12), default="open")
    created_at: Mapped[datetime] = mapped_column(TZ, server_default=func.current_timestamp())
    __table_args__ = (UniqueConstraint("loan_id", "ref", name="uq_risk_events_loan_ref"),)


class PartyFlag(Base):
    """What a person told us about contacting them (checked by the compliance guard)."""

    __tablename__ = "followup_party_flags"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    number: Mapped[str | None] = mapped_column(String(120))
    flag: Mapped[str] = mapped_column(String(24))
    set_at: Mapped[datetime] = mapped_column(TZ)
    source: Mapped[str] = mapped_column(String(60))
