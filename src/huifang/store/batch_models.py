"""Nightly run tables (the portfolio run, `huifang.batch`); migration ``0005_batch``.

- `batch_runs`: one nightly run - its business date, engine, the fingerprint of its inputs,
  when it started and finished, its status and its summary (counts per bucket and class,
  totals, deltas from the previous run). `running` runs are staging: their rows are
  written but not visible; one swap transaction makes a run `committed` and the run it
  replaces `superseded` (its rows deleted). At most one committed run per date.
- `batch_loan_states`: one row per loan per run - what the run computed (docs/nightly-run.md).
  Readers only ever look at rows of a committed run (`huifang.batch.output.committed_states`).

Loan ids are not foreign keys: a run may come from Parquet files of a book that lives
elsewhere. Money is NUMERIC(18, 2) as in the loan book.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from huifang.store.models import Base, Id, Money

TZ = DateTime(timezone=True)
LoanId = BigInteger().with_variant(Integer(), "sqlite")


class BatchRun(Base):
    """One nightly portfolio run (as of a business date)."""

    __tablename__ = "batch_runs"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    as_of: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12))  # running | committed | superseded
    engine: Mapped[str] = mapped_column(String(12))  # duckdb | spark
    inputs_fingerprint: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(TZ)
    finished_at: Mapped[datetime | None] = mapped_column(TZ)
    loans: Mapped[int | None] = mapped_column(Integer)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    __table_args__ = (Index("ix_batch_runs_as_of_status", "as_of", "status"),)


class BatchLoanState(Base):
    """A loan's state as one run computed it."""

    __tablename__ = "batch_loan_states"
    run_id: Mapped[int] = mapped_column(ForeignKey("batch_runs.id"), primary_key=True)
    loan_id: Mapped[int] = mapped_column(LoanId, primary_key=True)
    as_of: Mapped[date] = mapped_column(Date)
    installments_due: Mapped[int] = mapped_column(Integer)
    installments_paid: Mapped[int] = mapped_column(Integer)
    amount_due: Mapped[Decimal] = mapped_column(Money)
    principal_paid: Mapped[Decimal] = mapped_column(Money)
    interest_paid: Mapped[Decimal] = mapped_column(Money)
    overdue_principal: Mapped[Decimal] = mapped_column(Money)
    overdue_interest: Mapped[Decimal] = mapped_column(Money)
    penalty_charged: Mapped[Decimal] = mapped_column(Money)
    penalty_outstanding: Mapped[Decimal] = mapped_column(Money)
    overdue_amount: Mapped[Decimal] = mapped_column(Money)
    dpd: Mapped[int] = mapped_column(Integer)
    bucket: Mapped[str] = mapped_column(String(4))
    loan_class: Mapped[str] = mapped_column(String(4))
    accrued_interest: Mapped[Decimal] = mapped_column(Money)
    outstanding_principal: Mapped[Decimal] = mapped_column(Money)
    credit: Mapped[Decimal] = mapped_column(Money)
    next_due_date: Mapped[date | None] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
