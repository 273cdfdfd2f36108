"""The nightly run's follow-up results (`huifang.batch.followup_stage`); migration
``0020_batch_followup``.

- `batch_loan_alerts`: per run, the early-warning alerts the run found *new* (no unresolved
  alert of the loan and rule, key not resolved before), with the rule, episode and words;
- `batch_loan_tasks`: per run, the follow-up tasks that became due and are not there yet;
- `batch_loan_tier_changes`: per run, the tiers that differ from the latest recorded.

Rows belong to a `batch_runs` row and follow its protocol (written while `running`, made
visible by the swap, deleted with a superseded run). `batch.follow_through` copies them into
the workspace tables (`risk_alerts`, `followup_tasks`, `risk_tier_history`).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from huifang.store.batch_models import LoanId
from huifang.store.models import Base


class BatchLoanAlert(Base):
    """A new early-warning alert as one run found it."""

    __tablename__ = "batch_loan_alerts"
    run_id: Mapped[int] = mapped_column(ForeignKey("batch_runs.id"), primary_key=True)
    loan_id: Mapped[int] = mapped_column(LoanId, primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(60), primary_key=True)
    contract_no: Mapped[str] = mapped_column(String(40))
    rule_version: Mapped[str] = mapped_column(String(40))
    episode: Mapped[str] = mapped_column(String(120))
    key: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(10))
    title_zh: Mapped[str] = mapped_column(Text)
    title_en: Mapped[str] = mapped_column(Text)
    facts: Mapped[str] = mapped_column(Text)  # JSON object


class BatchLoanTask(Base):
    """A follow-up task that became due, as one run found it."""

    __tablename__ = "batch_loan_tasks"
    run_id: Mapped[int] = mapped_column(ForeignKey("batch_runs.id"), primary_key=True)
    loan_id: Mapped[int] = mapped_column(LoanId, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32), primary_key=True)
    branch_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    stage: Mapped[str] = mapped_column(String(16))
    due_on: Mapped[date] = mapped_column(Date)
    deadline: Mapped[date] = mapped_column(Date)
    priority: Mapped[int] = mapped_column(Integer)
    tier: Mapped[str] = mapped_column(String(8))
    required_skills: Mapped[str] = mapped_column(Text)  # JSON list
    script: Mapped[str] = mapped_column(String(60))
    reason: Mapped[str] = mapped_column(Text)
    trigger_ref: Mapped[str | None] = mapped_column(String(120))
    policy_version: Mapped[int] = mapped_column(Integer)


class BatchLoanTierChange(Base):
    """A loan's tier that differs from the latest recorded, as one run found it."""

    __tablename__ = "batch_loan_tier_changes"
    run_id: Mapped[int] = mapped_column(ForeignKey("batch_runs.id"), primary_key=True)
    loan_id: Mapped[int] = mapped_column(LoanId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(12), primary_key=True)  # origination | risk
    previous_tier: Mapped[str | None] = mapped_column(String(8))
    tier: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(40))
