"""Borrower self-service storage: contact changes the borrower submits through the link, and
the online follow-up questionnaire's script run in progress.

`contact_changes` keeps each change of phone or address a borrower submits (变更申请): the
value before and the value asked for, both sealed at rest (`security.pii.SealedText`,
associated data ``contact_changes.old_value`` / ``new_value``) with a blind index of the new
value (so a number can be found without decrypting), and its status — pending until an
agent confirms it with the borrower (then applied to the loan book) or rejects it; a newer
request for the same field supersedes a pending one.

`selfservice_runs` keeps the runner state (`domain.scripts.state_to_dict`) of the follow-up
questionnaire a borrower fills in on the link, one per open follow-up task, so every HTMX or
API answer is applied on the server to the state it left and a reload resumes; it names the
attempt and the visit its completion recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from huifang.security.pii import SealedText
from huifang.store.models import Base, Id

TZ = DateTime(timezone=True)


class ContactChange(Base):
    """A change of the borrower's mobile or address asked through self-service (联系方式变更)."""

    __tablename__ = "contact_changes"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"))
    loan_id: Mapped[int | None] = mapped_column(ForeignKey("loans.id"))
    field: Mapped[str] = mapped_column(String(16))  # mobile | address
    old_value: Mapped[str | None] = mapped_column(
        "old_value_enc", SealedText("contact_changes", "old_value")
    )
    new_value: Mapped[str] = mapped_column(
        "new_value_enc", SealedText("contact_changes", "new_value")
    )
    new_value_hash: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(12))  # pending|confirmed|rejected|superseded
    source: Mapped[str] = mapped_column(String(20))
    requested_at: Mapped[datetime] = mapped_column(TZ)
    reviewed_by: Mapped[str | None] = mapped_column(String(60))
    reviewed_at: Mapped[datetime | None] = mapped_column(TZ)
    review_note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_contact_changes_borrower_status", "borrower_id", "status"),)


class SelfServiceRun(Base):
    """The online follow-up questionnaire of one task, as far as the borrower got (在线回访)."""

    __tablename__ = "selfservice_runs"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    task_id: Mapped[int] = mapped_column(ForeignKey("followup_tasks.id"), index=True)
    script_id: Mapped[str] = mapped_column(String(64))
    script_version: Mapped[int] = mapped_column(Integer)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(TZ)
    updated_at: Mapped[datetime] = mapped_column(TZ)
    closed_at: Mapped[datetime | None] = mapped_column(TZ)
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("followup_attempts.id"))
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("followup_visits.id"))
