"""An early repayment requested on the self-service link: quoted first (refused inside the
lock-in period), recorded once per date as the policy's early-repayment-request event, which
opens the early-repayment confirmation task."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from selfservice_book import AS_OF, book_engine, clean_loan  # noqa: F401
from sqlalchemy import Engine, select

from huifang.security import audit
from huifang.services import followup, loan_views
from huifang.services import self_service as ss
from huifang.store.db import transaction
from huifang.store.followup_models import FollowupTask, RiskEvent
from huifang.store.models import Loan

BORROWER = audit.Actor(None, None, "127.0.0.1")


def test_request_opens_the_confirmation_task(book_engine: Engine) -> None:  # noqa: F811
    loan_id = clean_loan(book_engine)
    claims = ss.LinkClaims(ss.loan_borrower(book_engine, loan_id), loan_id, datetime.now(UTC))
    on = AS_OF + timedelta(days=5)
    made = ss.request_prepayment(book_engine, claims, on, AS_OF, BORROWER)
    assert made.quote_total == loan_views.loan_payoff_quote(book_engine, loan_id, on).quote.total
    again = ss.request_prepayment(book_engine, claims, on, AS_OF, BORROWER)
    assert again.event_id == made.event_id  # one request per date
    with pytest.raises(ValueError):
        ss.request_prepayment(book_engine, claims, AS_OF - timedelta(days=1), AS_OF, BORROWER)
    with transaction(book_engine) as s:
        event = s.get(RiskEvent, made.event_id)
        assert event is not None and event.kind == "early-repayment-request"
        assert event.details["requested_date"] == on.isoformat()
    followup.generate_tasks(book_engine, AS_OF)
    with transaction(book_engine) as s:
        scripts = set(
            s.scalars(
                select(FollowupTask.script).where(
                    FollowupTask.loan_id == loan_id, FollowupTask.closed_at.is_(None)
                )
            )
        )
    assert "early_repayment_confirmation" in scripts
    assert audit.search(book_engine, action="selfservice.prepayment_request", limit=1)


def test_request_in_the_lock_in_period_is_refused(book_engine: Engine) -> None:  # noqa: F811
    with transaction(book_engine) as s:
        ids = list(s.scalars(select(Loan.id).where(Loan.status == "active").order_by(Loan.id)))
    for loan_id in ids:
        try:
            loan_views.loan_payoff_quote(book_engine, loan_id, AS_OF)
        except ValueError:
            break
    else:
        pytest.skip("every loan is past its lock-in")
    claims = ss.LinkClaims(ss.loan_borrower(book_engine, loan_id), loan_id, datetime.now(UTC))
    with pytest.raises(ValueError):
        ss.request_prepayment(book_engine, claims, AS_OF, AS_OF, BORROWER)
