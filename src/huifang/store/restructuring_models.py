"""Restructuring requests (贷款重组申请) and their maker-checker decisions.

One row per request: the loan, who asked and when, the effective date, the changes as the
domain names them (`domain/restructuring.py`: term extension, rate reduction, payment
holiday; capitalization of arrears), the reason, and the figures of the proposal computed
when it was asked (new principal, capitalized arrears, interest before and after, the new
schedule's first and last installment) so the checker decides on what the maker saw.
`status` moves requested → approved | rejected once, by a different user (`decided_by`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from huifang.store.models import Base, Id

TZ = DateTime(timezone=True)


class RestructuringRequestRow(Base):
    """A restructuring request and, once decided, the checker's decision."""

    __tablename__ = "restructuring_requests"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    requested_by: Mapped[str] = mapped_column(String(60))
    requested_at: Mapped[datetime] = mapped_column(TZ)
    effective_on: Mapped[date] = mapped_column(Date)
    # [{"kind": "term-extension", "months": 6}, {"kind": "rate-reduction", "new_annual_rate":
    # "0.036"}, {"kind": "payment-holiday", "months": 3, "capitalize_interest": true}]
    changes: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    capitalize_arrears: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text)
    proposal: Mapped[dict[str, Any]] = mapped_column(JSON)  # money as decimal strings
    status: Mapped[str] = mapped_column(String(12))  # requested | approved | rejected
    decided_by: Mapped[str | None] = mapped_column(String(60))
    decided_at: Mapped[datetime | None] = mapped_column(TZ)
    decision_note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_restructuring_requests_loan_status", "loan_id", "status"),)
