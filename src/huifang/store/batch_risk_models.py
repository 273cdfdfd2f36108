"""The nightly run's risk results (`huifang.batch.risk_stage`); migration ``0016_batch_risk``.

- `batch_loan_collateral`: per loan per run - the car's value, exposure, LTV and band,
  and the three valuation factors (docs/nightly-run.md).
- `batch_loan_tiers`: per loan per run - origination and risk tier, the deciding reason.

Rows belong to a `batch_runs` row and follow its protocol: written while the run is
`running` (invisible), made visible by the same swap transaction as its loan states, and
deleted with the run they belong to when it is superseded.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import ForeignKey, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from huifang.store.batch_models import LoanId
from huifang.store.models import Base, Money

Ratio = Numeric(precision=9, scale=4)
Ltv = Numeric(precision=18, scale=4)  # a car worth a fen makes any LTV possible


class BatchLoanCollateral(Base):
    """A loan's collateral value and LTV as one run computed them."""

    __tablename__ = "batch_loan_collateral"
    run_id: Mapped[int] = mapped_column(ForeignKey("batch_runs.id"), primary_key=True)
    loan_id: Mapped[int] = mapped_column(LoanId, primary_key=True)
    vehicle_value: Mapped[Decimal | None] = mapped_column(Money)
    exposure: Mapped[Decimal] = mapped_column(Money)
    ltv: Mapped[Decimal | None] = mapped_column(Ltv)
    ltv_band: Mapped[str | None] = mapped_column(String(12))
    base_retention: Mapped[Decimal | None] = mapped_column(Ratio)
    mileage_factor: Mapped[Decimal | None] = mapped_column(Ratio)
    condition_factor: Mapped[Decimal | None] = mapped_column(Ratio)


class BatchLoanTier(Base):
    """A loan's origination and risk tier as one run computed them."""

    __tablename__ = "batch_loan_tiers"
    run_id: Mapped[int] = mapped_column(ForeignKey("batch_runs.id"), primary_key=True)
    loan_id: Mapped[int] = mapped_column(LoanId, primary_key=True)
    origination_tier: Mapped[str] = mapped_column(String(8))
    risk_tier: Mapped[str] = mapped_column(String(8))
    risk_reason: Mapped[str] = mapped_column(String(40))
    months_on_book: Mapped[int] = mapped_column(Integer)
    open_alerts: Mapped[int] = mapped_column(Integer)
