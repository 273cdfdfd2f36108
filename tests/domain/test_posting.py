"""Payment posting: allocation order, partial payments, credit, reversal, penalty, payoff."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from huifang.domain.money import ZERO, fen
from huifang.domain.posting import (
    Component,
    LedgerEvent,
    LoanPosition,
    Payment,
    Payoff,
    PostingRules,
    Reversal,
    accrued_interest,
    payoff_amounts,
    position_as_of,
)
from huifang.domain.schedule import LoanTerms, RepaymentMethod, Schedule, build_schedule

D = Decimal
# 12,000 at 12 % over 12 months from 15 Jan 2024: 1,066.19 a month, first interest 120.00.
SCHED = build_schedule(
    LoanTerms(D(12000), D("0.12"), 12, RepaymentMethod.EQUAL_INSTALLMENT, date(2024, 1, 15))
)
I1, I2, I3 = SCHED.installments[:3]


def pay(pid: str, on: date, amount: str | Decimal) -> Payment:
    return Payment(pid, on, D(amount))


def conserved(p: LoanPosition) -> bool:
    return p.received + p.opening_credit == p.total_applied + p.credit


def test_fixture_schedule() -> None:
    assert I1.payment == D("1066.19") and I1.interest == D("120.00")
    assert I1.due_date == date(2024, 2, 15)


def test_nothing_paid_before_first_due_date() -> None:
    p = position_as_of(SCHED, [], date(2024, 2, 15))
    assert p.overdue_installments == ()
    assert p.penalty_charged == ZERO
    assert p.outstanding_principal == D("12000.00")


def test_payment_on_due_date_is_on_time() -> None:
    p = position_as_of(SCHED, [pay("a", I1.due_date, I1.payment)], I1.due_date)
    inst = p.installment(1)
    assert inst.is_settled and inst.settled_on == I1.due_date
    assert p.penalty_charged == ZERO
    (alloc,) = p.allocations
    assert [ln.component for ln in alloc.lines] == [
        Component.CURRENT_INTEREST,
        Component.CURRENT_PRINCIPAL,
    ]


def test_payment_one_day_late_pays_one_day_of_penalty() -> None:
    late = I1.due_date + timedelta(days=1)
    p = position_as_of(SCHED, [pay("a", late, I1.payment)], late)
    one_day = fen(I1.principal * D("0.18") / 360)  # 946.19 × 18 % / 360 = 0.47
    assert p.penalty_charged == one_day == D("0.47")
    (alloc,) = p.allocations
    assert alloc.lines[0] == alloc.lines[0].__class__(Component.PENALTY, None, one_day)
    assert alloc.total(Component.OVERDUE_INTEREST) == I1.interest
    # the penalty took 0.47, so 0.47 of principal is still overdue
    assert p.overdue_principal == one_day
    assert conserved(p)


def test_unpaid_installment_overdue_from_the_day_after() -> None:
    on_due = position_as_of(SCHED, [], I1.due_date)
    after = position_as_of(SCHED, [], I1.due_date + timedelta(days=1))
    assert on_due.overdue_installments == ()
    assert [i.period for i in after.overdue_installments] == [1]


def test_penalty_accrues_daily_on_overdue_principal() -> None:
    # nothing paid; as of 20 Apr 2024: period 1 overdue 65 days, 2 overdue 36, 3 overdue 5
    on = date(2024, 4, 20)
    p = position_as_of(SCHED, [], on)
    rate = D("0.18") / 360
    expected = I1.principal * rate * 65 + I2.principal * rate * 36 + I3.principal * rate * 5
    assert p.penalty_charged == fen(expected)
    assert p.overdue_principal == I1.principal + I2.principal + I3.principal
    assert p.overdue_interest == I1.interest + I2.interest + I3.interest


def test_penalty_is_rounded_on_the_running_total() -> None:
    # Extra accrual boundaries (here: small payments toward later periods' dates) must
    # not change the penalty by rounding each segment; only the exact total is rounded.
    one = position_as_of(SCHED, [], date(2024, 3, 10))
    assert one.penalty_charged == fen(I1.principal * D("0.18") / 360 * 24)
    daily = [position_as_of(SCHED, [], date(2024, 2, 15) + timedelta(days=n)) for n in range(25)]
    charged = [p.penalty_charged for p in daily]
    assert charged == sorted(charged)
    assert charged[-1] == one.penalty_charged


def test_penalty_settings() -> None:
    on = I1.due_date + timedelta(days=10)
    double = position_as_of(SCHED, [], on, PostingRules(penalty_multiplier=D(2)))
    assert double.penalty_charged == fen(I1.principal * D("0.24") / 360 * 10)
    fixed = position_as_of(SCHED, [], on, PostingRules(penalty_annual_rate=D("0.0005") * 360))
    assert fixed.penalty_charged == fen(I1.principal * D("0.0005") * 10)
    y365 = position_as_of(SCHED, [], on, PostingRules(penalty_day_basis=365))
    assert y365.penalty_charged == fen(I1.principal * D("0.18") / 365 * 10)


def test_partial_payment_default_order() -> None:
    late = date(2024, 2, 25)  # 10 days late
    p = position_as_of(SCHED, [pay("a", late, "500")], late)
    penalty = fen(I1.principal * D("0.18") / 360 * 10)
    (alloc,) = p.allocations
    assert alloc.total(Component.PENALTY) == penalty
    assert alloc.total(Component.OVERDUE_INTEREST) == D("120.00")
    assert alloc.total(Component.OVERDUE_PRINCIPAL) == D("500") - penalty - D("120.00")
    assert p.overdue_principal == I1.principal - (D("380.00") - penalty)
    assert conserved(p)


def test_custom_allocation_order_principal_first() -> None:
    order = (
        Component.OVERDUE_PRINCIPAL,
        Component.OVERDUE_INTEREST,
        Component.PENALTY,
        Component.CURRENT_PRINCIPAL,
        Component.CURRENT_INTEREST,
    )
    late = date(2024, 2, 25)
    p = position_as_of(SCHED, [pay("a", late, "1000")], late, PostingRules(allocation_order=order))
    (alloc,) = p.allocations
    assert alloc.lines[0].component is Component.OVERDUE_PRINCIPAL
    assert alloc.total(Component.OVERDUE_PRINCIPAL) == I1.principal
    assert alloc.total(Component.OVERDUE_INTEREST) == D("1000") - I1.principal


def test_allocation_order_must_be_complete() -> None:
    with pytest.raises(ValueError):
        PostingRules(allocation_order=(Component.PENALTY,))
    with pytest.raises(ValueError):
        PostingRules(penalty_day_basis=300)


def test_overpayment_held_as_credit_and_applied_on_next_due_date() -> None:
    events = [pay("a", I1.due_date, "1500")]
    p = position_as_of(SCHED, events, I1.due_date)
    # 1,066.19 pays period 1 (the current installment); there is only one current
    # installment, so the rest is held as credit.
    assert p.credit == D("1500") - I1.payment
    assert p.allocations[0].to_credit == p.credit
    # On the next due date the credit pays period 2 before it can become overdue.
    p2 = position_as_of(SCHED, events, I2.due_date)
    inst2 = p2.installment(2)
    assert inst2.interest_paid == I2.interest
    assert inst2.principal_paid == D("1500") - I1.payment - I2.interest
    assert p2.credit == ZERO
    credit_use = p2.allocations[-1]
    assert credit_use.payment_id is None and credit_use.from_credit == D("433.81")
    assert conserved(p2)


def test_payment_ahead_of_due_date_pays_the_next_installment() -> None:
    p = position_as_of(SCHED, [pay("a", date(2024, 2, 1), I1.payment)], date(2024, 2, 1))
    assert p.installment(1).is_settled
    assert p.credit == ZERO


def test_reversal_reposts_later_payments() -> None:
    late = date(2024, 3, 20)
    events: list[LedgerEvent] = [
        pay("a", I1.due_date, I1.payment),
        pay("b", late, "1000"),
    ]
    before = position_as_of(SCHED, events, late)
    assert before.installment(1).is_settled
    events.append(Reversal("a", date(2024, 3, 25), "退票 bounced"))
    # as of a date before the reversal the payment still counts
    assert position_as_of(SCHED, events, date(2024, 3, 24)) == position_as_of(
        SCHED, events[:2], date(2024, 3, 24)
    )
    after = position_as_of(SCHED, events, date(2024, 3, 25))
    assert after.reversed_payments == ("a",)
    assert after.received == D("1000")
    # "b" now pays penalty and period 1 first
    alloc_b = after.allocations[0]
    assert alloc_b.payment_id == "b"
    assert alloc_b.total(Component.PENALTY) > 0
    assert alloc_b.lines[1].period == 1
    assert conserved(after)


def test_reversal_errors() -> None:
    with pytest.raises(ValueError, match="原因"):
        Reversal("a", date(2024, 3, 1), " ")
    with pytest.raises(ValueError, match="不存在"):
        position_as_of(SCHED, [Reversal("zz", date(2024, 3, 1), "x")], date(2024, 3, 1))
    dup: list[LedgerEvent] = [
        pay("a", I1.due_date, "1"),
        Reversal("a", I1.due_date, "x"),
        Reversal("a", I1.due_date, "y"),
    ]
    with pytest.raises(ValueError, match="已冲正"):
        position_as_of(SCHED, dup, I1.due_date)


def test_payment_validation() -> None:
    with pytest.raises(ValueError):
        Payment("a", date(2024, 2, 1), D("0"))
    with pytest.raises(ValueError):
        Payment("a", date(2024, 2, 1), D("1.005"))
    with pytest.raises(ValueError, match="重复"):
        position_as_of(SCHED, [pay("a", I1.due_date, "1"), pay("a", I1.due_date, "2")], I1.due_date)
    with pytest.raises(ValueError, match="早于放款日"):
        position_as_of(SCHED, [pay("a", date(2024, 1, 1), "1")], date(2024, 2, 1))


def test_accrued_interest_pro_rata() -> None:
    # period 1: 15 Jan → 15 Feb, 31 days, 120.00 interest
    assert accrued_interest(SCHED, 0, date(2024, 1, 15)) == ZERO
    assert accrued_interest(SCHED, 0, date(2024, 1, 25)) == fen(D(120) * 10 / 31)
    assert accrued_interest(SCHED, 0, date(2024, 2, 15)) == D("120.00")
    assert accrued_interest(SCHED, 0, date(2024, 3, 1)) == D("120.00")


def test_payoff_closes_the_loan() -> None:
    on = date(2024, 3, 20)
    events: list[LedgerEvent] = [pay("a", I1.due_date, I1.payment)]
    owed = payoff_amounts(position_as_of(SCHED, events, on))
    assert owed.overdue_principal == I2.principal
    assert owed.accrued_interest == fen(I3.interest * 5 / 31)
    events.append(Payoff("x", on, owed.net_due(D("10.00")), fee=D("10.00")))
    p = position_as_of(SCHED, events, on)
    assert p.is_closed and p.closed_on == on
    assert p.outstanding_principal == ZERO and p.credit == ZERO
    assert p.fees_paid == D("10.00")
    assert conserved(p)
    # interest not yet earned is waived, not owed
    assert all(i.is_settled for i in p.installments)
    # a payment after the payoff is all credit (refund due)
    late = position_as_of(SCHED, [*events, pay("z", date(2024, 4, 1), "5")], date(2024, 4, 1))
    assert late.credit == D("5")
    with pytest.raises(ValueError, match="已于"):
        position_as_of(SCHED, [*events, Payoff("y", date(2024, 4, 1), D("1"))], date(2024, 4, 1))


def test_payoff_must_cover_the_amount_due() -> None:
    on = date(2024, 1, 20)
    with pytest.raises(ValueError, match="不足"):
        position_as_of(SCHED, [Payoff("x", on, D("100"))], on)


def test_payoff_gives_back_interest_paid_ahead() -> None:
    # Period 2 paid in full on 20 Feb (ahead); payoff on 25 Feb: only 10 of 29 days earned.
    events: list[LedgerEvent] = [
        pay("a", I1.due_date, I1.payment),
        pay("b", date(2024, 2, 20), I2.payment),
    ]
    on = date(2024, 2, 25)
    owed = payoff_amounts(position_as_of(SCHED, events, on))
    earned = fen(I2.interest * 10 / 29)
    assert owed.interest_refund == I2.interest - earned
    events.append(Payoff("x", on, owed.net_due()))
    p = position_as_of(SCHED, events, on)
    assert p.is_closed and p.credit == ZERO
    assert p.installment(2).interest_paid == earned
    assert conserved(p)


# --- properties -------------------------------------------------------------------------------


@st.composite
def loan_and_events(draw: st.DrawFn) -> tuple[Schedule, list[LedgerEvent], date]:
    months = draw(st.integers(min_value=1, max_value=18))
    method = draw(st.sampled_from(list(RepaymentMethod)))
    terms = LoanTerms(
        principal=D(draw(st.integers(min_value=100_00, max_value=500_000_00))) / 100,
        annual_rate=D(draw(st.integers(min_value=0, max_value=2400))) / 10000,
        term_months=months,
        method=method,
        disbursement_date=draw(st.dates(min_value=date(2020, 1, 1), max_value=date(2026, 1, 1))),
        balloon_pct=D("0.3") if method is RepaymentMethod.BALLOON else D(0),
    )
    schedule = build_schedule(terms)
    start = terms.disbursement_date
    end = schedule.installments[-1].due_date + timedelta(days=120)
    span = (end - start).days
    events: list[LedgerEvent] = []
    for n in range(draw(st.integers(min_value=0, max_value=12))):
        day = start + timedelta(days=draw(st.integers(min_value=0, max_value=span)))
        top = max(100_00, int(schedule.regular_payment * 300))
        cents = draw(st.integers(min_value=1, max_value=top))
        events.append(Payment(f"p{n}", day, D(cents) / 100))
    for e in list(events):
        if draw(st.booleans()) and draw(st.booleans()):
            assert isinstance(e, Payment)
            later = e.received_on + timedelta(days=draw(st.integers(min_value=0, max_value=30)))
            events.append(Reversal(e.payment_id, later, "测试"))
    as_of = start + timedelta(days=draw(st.integers(min_value=0, max_value=span)))
    return schedule, events, as_of


@settings(max_examples=120, deadline=None)
@given(loan_and_events())
def test_posting_conserves_money(case: tuple[Schedule, list[LedgerEvent], date]) -> None:
    schedule, events, as_of = case
    p = position_as_of(schedule, events, as_of)
    assert conserved(p)
    assert p.credit >= 0
    assert ZERO <= p.penalty_paid <= p.penalty_charged
    for inst in p.installments:
        assert ZERO <= inst.principal_paid <= inst.principal_due
        assert ZERO <= inst.interest_paid <= inst.interest_due
    for alloc in p.allocations:
        assert sum((ln.amount for ln in alloc.lines), ZERO) == alloc.amount + alloc.from_credit
        assert all(ln.amount >= 0 for ln in alloc.lines)
    counted = sum(
        (e.amount for e in events if isinstance(e, Payment) and e.received_on <= as_of), ZERO
    )
    reversed_total = sum(
        (
            e.amount
            for e in events
            if isinstance(e, Payment)
            and e.payment_id in p.reversed_payments
            and e.received_on <= as_of
        ),
        ZERO,
    )
    assert p.received == counted - reversed_total


@settings(max_examples=80, deadline=None)
@given(loan_and_events())
def test_penalty_never_decreases_with_time(case: tuple[Schedule, list[LedgerEvent], date]) -> None:
    schedule, events, as_of = case
    events = [e for e in events if not isinstance(e, Reversal)]
    a = position_as_of(schedule, events, as_of)
    b = position_as_of(schedule, events, as_of + timedelta(days=7))
    assert b.penalty_charged >= a.penalty_charged
