"""Quality assurance of contacts (质检): an auditor's scores for one contact attempt.

`qa_reviews` holds one review per auditor and attempt (unique), editable by that auditor:
a score per criterion (`domain/qa.py` defines the criteria and their ranges), the total,
a comment, when it was first made and last changed. Every save is also written to the
audit log with the scores before and after.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from huifang.store.models import Base, Id

TZ = DateTime(timezone=True)


class QaReview(Base):
    """An auditor's quality review of one contact attempt (回访质检评分)."""

    __tablename__ = "qa_reviews"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("followup_attempts.id"))
    reviewer: Mapped[str] = mapped_column(String(60))
    scores: Mapped[dict[str, int]] = mapped_column(JSON)
    total: Mapped[int] = mapped_column(Integer)
    max_total: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TZ)
    updated_at: Mapped[datetime] = mapped_column(TZ)

    __table_args__ = (
        UniqueConstraint("attempt_id", "reviewer", name="uq_qa_reviews_attempt_reviewer"),
    )
