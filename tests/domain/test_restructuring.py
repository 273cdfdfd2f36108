"""Restructuring: term extension, rate reduction, payment holiday, versions, maker-checker."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from huifang.domain.delinquency import LoanClass, classify
from huifang.domain.money import ZERO
from huifang.domain.posting import LedgerEvent, Payment, Payoff, position_as_of
from huifang.domain.prepayment import payoff_quote
from huifang.domain.restructuring import (
    Approval,
    MakerCheckerViolation,
    PaymentHoliday,
    RateReduction,
    RestructuringRequest,
    TermExtension,
    apply_restructuring,
    approve,
    initial_version,
    preview_restructuring,
)
from huifang.domain.schedule import LoanTerms, RepaymentMethod, build_schedule

D = Decimal
SCHED = build_schedule(
    LoanTerms(D(120000), D("0.06"), 24, RepaymentMethod.EQUAL_INSTALLMENT, date(2024, 1, 15))
)
V1 = initial_version("L-001", SCHED)
# Periods 1–6 paid on time; restructured on 1 Aug 2024, during period 7 (15 Jul → 15 Aug).
PAID: list[LedgerEvent] = [
    Payment(f"p{i.period}", i.due_date, i.payment) for i in SCHED.installments[:6]
]
ON = date(2024, 8, 1)
BALANCE = SCHED.installments[5].balance


def request(
    *changes: object, capitalize_arrears: bool = True, on: date = ON
) -> RestructuringRequest:
    return RestructuringRequest(
        request_id="R-1",
        loan_id="L-001",
        requested_by="alice",
        requested_on=on,
        effective_on=on,
        changes=changes,  # type: ignore[arg-type]
        reason="借款人收入下降",
        capitalize_arrears=capitalize_arrears,
    )


def test_maker_checker() -> None:
    req = request(TermExtension(6))
    with pytest.raises(MakerCheckerViolation, match="不能与申请人相同"):
        approve(req, "alice", ON)
    with pytest.raises(MakerCheckerViolation, match="早于"):
        approve(req, "bob", date(2024, 7, 31))
    with pytest.raises(MakerCheckerViolation):
        approve(req, " ", ON)
    # a hand-built approval is re-checked when applied
    with pytest.raises(MakerCheckerViolation):
        apply_restructuring(V1, PAID, req, Approval("R-1", "alice", ON))
    with pytest.raises(MakerCheckerViolation, match="不符"):
        apply_restructuring(V1, PAID, req, Approval("R-2", "bob", ON))
    ok = apply_restructuring(V1, PAID, req, approve(req, "bob", ON, "同意"))
    assert ok.version.approval is not None and ok.version.approval.approved_by == "bob"


def test_request_validation() -> None:
    with pytest.raises(ValueError):
        request()
    with pytest.raises(ValueError):
        request(TermExtension(3), TermExtension(3))
    with pytest.raises(ValueError):
        TermExtension(0)
    with pytest.raises(ValueError):
        PaymentHoliday(0)
    with pytest.raises(ValueError):
        RateReduction(D("-0.01"))
    with pytest.raises(ValueError, match="不符"):
        preview_restructuring(initial_version("L-999", SCHED), PAID, request(TermExtension(1)))


def test_term_extension() -> None:
    result = preview_restructuring(V1, PAID, request(TermExtension(12)))
    new = result.version.schedule
    assert len(new) == 18 + 12
    assert new.installments[0].period == 7 and new.installments[-1].period == 36
    assert new.installments[0].due_date == date(2024, 8, 15)
    assert new.installments[-1].due_date == date(2027, 1, 15)
    assert new.total_principal == BALANCE == result.new_principal
    assert new.regular_payment < SCHED.regular_payment
    assert result.interest_change > 0  # longer term, more interest
    assert result.version.version == 2 and result.version.previous is V1
    assert result.version.first_period == 7
    assert [v.version for v in result.version.history] == [1, 2]


def test_rate_reduction() -> None:
    result = preview_restructuring(V1, PAID, request(RateReduction(D("0.03"))))
    new = result.version.schedule
    assert len(new) == 18
    assert new.installments[0].interest == (BALANCE * D("0.0025")).quantize(D("0.01"))
    assert result.interest_change < 0
    assert new.total_principal == BALANCE


def test_payment_holiday_with_capitalized_interest() -> None:
    result = preview_restructuring(V1, PAID, request(PaymentHoliday(3), TermExtension(3)))
    new = result.version.schedule
    holiday = new.installments[:3]
    assert all(i.payment == ZERO for i in holiday)
    assert all(i.principal == -i.interest for i in holiday)
    # the balance rises by the capitalized interest (a restructuring may do that)
    assert holiday[0].balance == BALANCE + holiday[0].interest
    assert holiday[2].balance == BALANCE + sum((i.interest for i in holiday), ZERO)
    assert len(new) == 3 + 18 + 3
    assert new.total_principal == BALANCE  # capitalized interest is repaid later
    assert new.installments[-1].balance == ZERO
    # nothing is due during the holiday: no DPD, no penalty
    on = date(2024, 10, 1)  # in the third holiday month (15 Sep → 15 Oct)
    during = position_as_of(new, [], on)
    assert during.overdue_installments == () and during.penalty_charged == ZERO
    assert during.outstanding_principal == BALANCE + holiday[0].interest + holiday[1].interest
    # payoff during the holiday: principal includes the interest capitalized so far, and
    # the running month's interest is accrued pro rata (16 of 30 days)
    quote = payoff_quote(new, [], on)
    assert quote.principal == BALANCE + holiday[0].interest + holiday[1].interest
    assert quote.interest == (holiday[2].interest * 16 / 30).quantize(D("0.01"))
    closed = position_as_of(new, [Payoff("x", on, quote.total)], on)
    assert closed.is_closed and closed.credit == ZERO
    after = payoff_quote(new, [], date(2024, 10, 20))
    assert after.principal == holiday[2].balance


def test_payment_holiday_interest_only() -> None:
    result = preview_restructuring(V1, PAID, request(PaymentHoliday(2, capitalize_interest=False)))
    new = result.version.schedule
    first, second = new.installments[:2]
    assert first.principal == ZERO and first.payment == first.interest > 0
    assert second.balance == BALANCE
    assert len(new) == 2 + 18
    assert new.total_principal == BALANCE


def test_arrears_are_capitalized_or_must_be_paid() -> None:
    partly: list[LedgerEvent] = PAID[:4]  # periods 5 and 6 unpaid
    result = preview_restructuring(V1, partly, request(TermExtension(6)))
    arrears = result.capitalized_arrears
    owed = SCHED.installments[4].interest + SCHED.installments[5].interest
    assert arrears > owed  # interest of periods 5–6 plus penalty
    assert result.new_principal == SCHED.installments[3].balance + arrears
    assert result.version.schedule.total_principal == result.new_principal
    with pytest.raises(ValueError, match="资本化"):
        preview_restructuring(V1, partly, request(TermExtension(6), capitalize_arrears=False))


def test_money_paid_ahead_opens_the_new_version_as_credit() -> None:
    ahead: list[LedgerEvent] = [*PAID, Payment("p7", date(2024, 7, 20), D("1000"))]
    result = preview_restructuring(V1, ahead, request(TermExtension(6)))
    assert result.version.opening_credit == D("1000")
    assert result.new_principal == BALANCE  # not reduced: the 1,000 is credit
    new = result.version.schedule
    p = position_as_of(new, [], new.installments[0].due_date, opening_credit=D("1000"))
    assert p.installment(7).interest_paid == new.installments[0].interest


def test_closed_or_matured_loans_cannot_be_restructured() -> None:
    late = request(TermExtension(1), on=date(2026, 2, 1))
    with pytest.raises(ValueError, match="全部到期"):
        preview_restructuring(V1, PAID, late)
    q = payoff_quote(SCHED, PAID, ON)
    with pytest.raises(ValueError, match="已结清"):
        preview_restructuring(V1, [*PAID, Payoff("x", ON, q.total)], request(TermExtension(1)))


def test_restructuring_feeds_the_classification_floor() -> None:
    req = request(RateReduction(D("0.04")))
    applied = apply_restructuring(V1, PAID, req, approve(req, "bob", ON))
    assert applied.version.restructured_on == ON
    assert V1.restructured_on is None
    result = classify(0, date(2025, 3, 1), restructured_on=applied.version.restructured_on)
    assert result.category is LoanClass.SPECIAL_MENTION
    assert classify(0, date(2025, 8, 1), restructured_on=ON).category is LoanClass.NORMAL


def test_posting_continues_on_the_new_version() -> None:
    req = request(TermExtension(6))
    version = apply_restructuring(V1, PAID, req, approve(req, "bob", ON)).version
    new = version.schedule
    first = new.installments[0]
    p = position_as_of(new, [Payment("n1", first.due_date, first.payment)], first.due_date)
    assert p.installment(first.period).is_settled
    assert p.outstanding_principal == first.balance
