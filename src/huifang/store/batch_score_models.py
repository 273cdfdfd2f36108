"""The nightly run's behaviour scores (`huifang.batch.behaviour_stage`); migration
``0019_batch_scores``.

- `batch_loan_scores`: per loan per run - scorecard points, probability of default (90+ DPD
  within 12 months, six decimals), the score band and the top four reason codes (feature
  names, `huifang.model.reasons.FEATURE_LABELS` gives their words).

Rows follow the `batch_runs` protocol like the other run tables: written while the run is
`running`, made visible by the run's swap, deleted with the run when it is superseded.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import ForeignKey, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from huifang.store.batch_models import LoanId
from huifang.store.models import Base


class BatchLoanScore(Base):
    """A loan's behaviour score as one run computed it."""

    __tablename__ = "batch_loan_scores"
    run_id: Mapped[int] = mapped_column(ForeignKey("batch_runs.id"), primary_key=True)
    loan_id: Mapped[int] = mapped_column(LoanId, primary_key=True)
    points: Mapped[int] = mapped_column(Integer)
    pd: Mapped[Decimal] = mapped_column(Numeric(precision=9, scale=6))
    score_band: Mapped[str] = mapped_column(String(16))
    reason_1: Mapped[str | None] = mapped_column(String(40))
    reason_2: Mapped[str | None] = mapped_column(String(40))
    reason_3: Mapped[str | None] = mapped_column(String(40))
    reason_4: Mapped[str | None] = mapped_column(String(40))
