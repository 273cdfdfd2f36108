"""The delinquency tracker's shortcuts give the domain fold's answer on every day (both DBs)."""

from __future__ import annotations

from datetime import date, timedelta

from followup_book import make_book
from sqlalchemy import Engine, select

from huifang.services.followup import DelinquencyTracker
from huifang.store.db import transaction
from huifang.store.models import Loan, Payment


def test_walking_tracker_agrees_with_a_fresh_fold_every_day(engine: Engine) -> None:
    make_book(engine)
    with transaction(engine) as s:
        loans = list(s.scalars(select(Loan).where(Loan.status == "active").order_by(Loan.id)))
        payments = {
            loan.id: list(
                s.scalars(
                    select(Payment).where(Payment.loan_id == loan.id).order_by(Payment.paid_on)
                )
            )
            for loan in loans
        }
        walking = DelinquencyTracker()
        day, seen = date(2025, 11, 1), set()
        while day <= date(2026, 7, 31):
            for loan in loans:
                got = walking.oldest_overdue(loan, payments[loan.id], day)
                fresh = DelinquencyTracker().oldest_overdue(loan, payments[loan.id], day)
                assert got == fresh, (loan.contract_no, day)
                seen.add((loan.contract_no, got is None))
            day += timedelta(days=3)
    # the walk covered loans both current and overdue
    assert ("L-LATE", False) in seen and ("L-LOW", True) in seen and ("L-LOW", False) in seen
