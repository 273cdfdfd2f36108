"""Early repayment: eligibility, fees, payoff quotes, partial prepayment, interest saved."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from huifang.domain.money import ZERO, fen
from huifang.domain.posting import LedgerEvent, Payment, Payoff, position_as_of
from huifang.domain.prepayment import (
    FeeBase,
    FeeRule,
    FeeTier,
    FeeWaiver,
    PrepaymentMode,
    PrepaymentPolicy,
    PrepaymentRefused,
    check_eligibility,
    partial_prepayment_quote,
    payoff_quote,
    prepayment_fee,
)
from huifang.domain.schedule import LoanTerms, RepaymentMethod, Schedule, build_schedule

D = Decimal
EI = RepaymentMethod.EQUAL_INSTALLMENT
TERMS = LoanTerms(D(180000), D("0.045"), 60, EI, date(2023, 7, 15))
SCHED = build_schedule(TERMS)
BY_YEAR = FeeRule(
    FeeBase.PREPAID_PRINCIPAL,
    (FeeTier(12, D("0.03")), FeeTier(24, D("0.02")), FeeTier(None, D("0.01"))),
)


def on_time(schedule: Schedule, before: date) -> list[LedgerEvent]:
    """Every installment due before `before`, paid on its due date."""
    return [
        Payment(f"p{i.period}", i.due_date, i.payment)
        for i in schedule.installments
        if i.due_date < before
    ]


# --- eligibility ------------------------------------------------------------------------------


def test_lock_in_refusal_names_the_date() -> None:
    policy = PrepaymentPolicy(lock_in_months=6)
    verdict = check_eligibility(TERMS, policy, date(2023, 9, 1))
    assert not verdict.allowed
    assert verdict.allowed_from == date(2024, 1, 15)
    assert "2024-01-15" in verdict.reasons[0]
    assert check_eligibility(TERMS, policy, date(2024, 1, 14)).allowed_from == date(2024, 1, 15)
    assert check_eligibility(TERMS, policy, date(2024, 1, 15)).allowed
    with pytest.raises(PrepaymentRefused) as refused:
        payoff_quote(SCHED, on_time(SCHED, date(2023, 9, 1)), date(2023, 9, 1), policy)
    assert refused.value.eligibility.allowed_from == date(2024, 1, 15)
    with pytest.raises(PrepaymentRefused, match="锁定期"):
        partial_prepayment_quote(
            SCHED, [], date(2023, 8, 1), D(10000), PrepaymentMode.SHORTEN_TERM, policy
        )


def test_lock_in_for_a_loan_disbursed_on_the_31st() -> None:
    terms = LoanTerms(D(10000), D("0.05"), 24, EI, date(2024, 1, 31))
    verdict = check_eligibility(terms, PrepaymentPolicy(lock_in_months=1), date(2024, 2, 28))
    assert verdict.allowed_from == date(2024, 2, 29)


def test_max_per_year() -> None:
    policy = PrepaymentPolicy(max_per_year=2)
    previous = [date(2024, 3, 1), date(2024, 6, 1), date(2023, 12, 1)]
    verdict = check_eligibility(TERMS, policy, date(2024, 7, 1), D(1000), None, previous)
    assert not verdict.allowed and verdict.allowed_from == date(2025, 1, 1)
    assert check_eligibility(TERMS, policy, date(2025, 1, 1), D(1000), None, previous).allowed
    # lock-in and yearly limit together: the later date
    both = PrepaymentPolicy(lock_in_months=24, max_per_year=0)
    assert check_eligibility(TERMS, both, date(2024, 7, 1)).allowed_from == date(2025, 7, 15)


def test_minimum_amount_has_no_date() -> None:
    policy = PrepaymentPolicy(minimum_amount=D(10000))
    verdict = check_eligibility(TERMS, policy, date(2024, 7, 1), D(5000))
    assert not verdict.allowed and verdict.allowed_from is None
    assert check_eligibility(TERMS, policy, date(2024, 7, 1), D(10000)).allowed
    mixed = PrepaymentPolicy(minimum_amount=D(10000), lock_in_months=24)
    assert check_eligibility(TERMS, mixed, date(2024, 7, 1), D(5000)).allowed_from is None


def test_partial_amount_must_leave_principal() -> None:
    with pytest.raises(PrepaymentRefused, match="全部结清"):
        partial_prepayment_quote(
            SCHED, [], date(2023, 8, 1), D(180000), PrepaymentMode.LOWER_INSTALLMENT
        )


# --- fees ---------------------------------------------------------------------------------------


def test_fee_tiers_by_year_of_term() -> None:
    def fee(on: date) -> Decimal:
        return prepayment_fee(BY_YEAR, TERMS, on, D(10000), D(100000)).gross

    assert fee(date(2024, 7, 14)) == D("300.00")  # 11 whole months
    assert fee(date(2024, 7, 15)) == D("200.00")  # 12
    assert fee(date(2025, 7, 15)) == D("100.00")  # 24 and beyond
    assert fee(date(2028, 1, 1)) == D("100.00")


def test_fee_on_loan_amount_and_remaining_principal() -> None:
    loan = FeeRule(FeeBase.LOAN_AMOUNT, (FeeTier(12, D("0.01")),))
    assert prepayment_fee(loan, TERMS, date(2023, 8, 1), D(1), D(2)).gross == D("1800.00")
    assert prepayment_fee(loan, TERMS, date(2024, 8, 1), D(1), D(2)).gross == ZERO
    five = FeeRule(FeeBase.REMAINING_PRINCIPAL, (FeeTier(36, D("0.05")),))
    assert prepayment_fee(five, TERMS, date(2026, 7, 14), D(1), D(50000)).gross == D("2500.00")
    assert prepayment_fee(five, TERMS, date(2026, 7, 15), D(1), D(50000)).gross == ZERO


def test_fee_months_of_interest_and_minimum() -> None:
    rule = FeeRule(FeeBase.MONTHS_OF_INTEREST, months_of_interest=2)
    fee = prepayment_fee(rule, TERMS, date(2024, 1, 1), D(10000), D(100000))
    assert fee.gross == fen(D(10000) * D("0.045") / 12 * 2) == D("75.00")
    floor = FeeRule(FeeBase.PREPAID_PRINCIPAL, (FeeTier(None, D("0.01")),), minimum=D(200))
    assert prepayment_fee(floor, TERMS, date(2024, 1, 1), D(1000), D(1)).gross == D(200)


def test_fee_waiver() -> None:
    full = prepayment_fee(BY_YEAR, TERMS, date(2024, 1, 1), D(10000), D(1), FeeWaiver("客户投诉"))
    assert (full.gross, full.waived, full.net) == (D("300.00"), D("300.00"), ZERO)
    half = FeeWaiver("分行特批", approved_by="王经理", share=D("0.5"))
    part = prepayment_fee(BY_YEAR, TERMS, date(2024, 1, 1), D(10000), D(1), half)
    assert part.net == D("150.00") and part.waiver is half
    with pytest.raises(ValueError, match="原因"):
        FeeWaiver("")
    with pytest.raises(ValueError):
        FeeWaiver("x", share=D(0))


def test_fee_rule_validation() -> None:
    with pytest.raises(ValueError):
        FeeRule(tiers=(FeeTier(None, D("0.01")), FeeTier(12, D("0.02"))))
    with pytest.raises(ValueError):
        FeeRule(tiers=(FeeTier(24, D("0.01")), FeeTier(12, D("0.02"))))
    with pytest.raises(ValueError):
        FeeRule(tiers=(FeeTier(12, D("-0.01")),))


# --- full payoff ------------------------------------------------------------------------------


def test_payoff_quote_itemized_and_closes_on_its_date() -> None:
    on = date(2024, 7, 20)
    events = on_time(SCHED, on)
    quote = payoff_quote(SCHED, events, on, PrepaymentPolicy(fee=BY_YEAR))
    after_12 = SCHED.installments[11].balance
    assert quote.principal == after_12
    # 5 of 31 days of period 13's interest
    assert quote.interest == fen(SCHED.installments[12].interest * 5 / 31)
    assert quote.penalty == ZERO
    assert quote.fee.gross == fen(after_12 * D("0.02"))
    assert quote.total == quote.principal + quote.interest + quote.fee.net
    assert quote.lines[-1].amount == quote.total
    assert sum((ln.amount for ln in quote.lines[:-1]), ZERO) == quote.total
    assert quote.valid_until == on
    remaining_interest = sum((i.interest for i in SCHED.installments[12:]), ZERO)
    assert quote.interest_saved == remaining_interest - quote.interest
    closed = position_as_of(SCHED, [*events, Payoff("x", on, quote.total, quote.fee.net)], on)
    assert closed.is_closed and closed.outstanding_principal == ZERO and closed.credit == ZERO


def test_payoff_in_the_first_month() -> None:
    on = date(2023, 7, 25)
    quote = payoff_quote(SCHED, [], on)
    assert quote.principal == D("180000.00")
    assert quote.interest == fen(D("675.00") * 10 / 31)
    assert quote.interest_saved == SCHED.total_interest - quote.interest


def test_payoff_on_the_disbursement_day_costs_the_principal() -> None:
    quote = payoff_quote(SCHED, [], TERMS.disbursement_date)
    assert quote.total == D("180000.00") and quote.interest == ZERO


def test_payoff_on_a_due_date_with_the_installment_unpaid() -> None:
    due = SCHED.installments[12].due_date
    quote = payoff_quote(SCHED, on_time(SCHED, due), due)
    assert quote.interest == SCHED.installments[12].interest
    assert quote.principal == SCHED.installments[11].balance
    assert quote.penalty == ZERO


def test_payoff_on_the_last_installment() -> None:
    last = SCHED.installments[-1]
    during = last.due_date - timedelta(days=10)
    quote = payoff_quote(SCHED, on_time(SCHED, during), during)
    assert quote.principal == last.principal
    assert quote.interest < last.interest
    on_due = payoff_quote(SCHED, on_time(SCHED, last.due_date), last.due_date)
    assert on_due.total == last.payment and on_due.interest_saved == ZERO


def test_payoff_with_arrears_includes_penalty() -> None:
    on = date(2024, 3, 1)
    events = on_time(SCHED, date(2024, 1, 1))  # paid up to December, then stopped
    quote = payoff_quote(SCHED, events, on)
    assert quote.penalty > 0
    overdue = [i for i in SCHED.installments if date(2024, 1, 1) <= i.due_date < on]
    assert quote.interest > sum((i.interest for i in overdue), ZERO)
    closed = position_as_of(SCHED, [*events, Payoff("x", on, quote.total)], on)
    assert closed.is_closed and closed.credit == ZERO


def test_quote_validity_days_and_credit() -> None:
    on = date(2024, 7, 20)
    events = on_time(SCHED, on)
    quote = payoff_quote(SCHED, events, on, PrepaymentPolicy(quote_valid_days=60))
    # never past the day before the next due date
    assert quote.valid_until == date(2024, 8, 14)
    exact = payoff_quote(SCHED, events, on)
    assert quote.total > exact.total
    for day in (on, quote.valid_until):
        closed = position_as_of(SCHED, [*events, Payoff("x", day, quote.total)], day)
        assert closed.is_closed
    early = position_as_of(SCHED, [*events, Payoff("x", on, quote.total)], on)
    assert early.credit == quote.total - exact.total  # refundable


def test_credit_reduces_the_quote() -> None:
    on = date(2024, 7, 20)
    events = [*on_time(SCHED, on), Payment("extra", date(2024, 7, 16), D("5000"))]
    quote = payoff_quote(SCHED, events, on)
    assert quote.credit > 0
    closed = position_as_of(SCHED, [*events, Payoff("x", on, quote.total)], on)
    assert closed.is_closed and closed.credit == ZERO


def test_closed_loan_cannot_be_quoted() -> None:
    on = date(2024, 7, 20)
    events = on_time(SCHED, on)
    quote = payoff_quote(SCHED, events, on)
    events.append(Payoff("x", on, quote.total))
    with pytest.raises(PrepaymentRefused, match="已结清"):
        payoff_quote(SCHED, events, date(2024, 7, 21))


# --- partial prepayment ---------------------------------------------------------------------


def test_partial_prepayment_shorten_term_vs_lower_installment() -> None:
    on = date(2024, 7, 20)
    events = on_time(SCHED, on)
    shorter = partial_prepayment_quote(SCHED, events, on, D(50000), PrepaymentMode.SHORTEN_TERM)
    lower = partial_prepayment_quote(SCHED, events, on, D(50000), PrepaymentMode.LOWER_INSTALLMENT)
    balance = SCHED.installments[11].balance
    for q in (shorter, lower):
        assert q.new_schedule.total_principal == balance - D(50000)
        assert q.first_new_period == 13
        assert q.new_schedule.installments[0].period == 13
        assert q.new_schedule.installments[0].due_date == SCHED.installments[12].due_date
        assert q.interest == fen(SCHED.installments[12].interest * D(50000) / balance * 5 / 31)
        assert q.total == D(50000) + q.interest
        assert q.interest_saved > 0
    level = SCHED.regular_payment
    assert lower.new_schedule.installments[-1].period == 60
    assert lower.new_schedule.regular_payment < level
    assert shorter.new_schedule.regular_payment <= level
    assert len(shorter.new_schedule) < len(lower.new_schedule)
    assert shorter.interest_saved > lower.interest_saved
    # one month fewer would need a larger installment
    assert len(shorter.new_schedule) == 31


def test_partial_prepayment_in_the_first_month() -> None:
    on = date(2023, 7, 25)
    q = partial_prepayment_quote(SCHED, [], on, D(30000), PrepaymentMode.LOWER_INSTALLMENT)
    assert q.first_new_period == 1
    assert q.new_schedule.terms.principal == D(150000)
    assert len(q.new_schedule) == 60
    assert q.interest == fen(D("675.00") * D(30000) / D(180000) * 10 / 31)


def test_partial_prepayment_on_the_last_installment() -> None:
    last = SCHED.installments[-1]
    on = last.due_date - timedelta(days=15)
    q = partial_prepayment_quote(
        SCHED, on_time(SCHED, on), on, D(1000), PrepaymentMode.SHORTEN_TERM
    )
    (only,) = q.new_schedule.installments
    assert only.period == 60 and only.principal == last.principal - D(1000)
    assert q.interest_saved >= 0
    with pytest.raises(PrepaymentRefused, match="没有未到期本金"):
        partial_prepayment_quote(
            SCHED, on_time(SCHED, last.due_date), last.due_date, D(1), PrepaymentMode.SHORTEN_TERM
        )


def test_partial_prepayment_with_arrears_pays_them_too() -> None:
    on = date(2024, 3, 1)
    events = on_time(SCHED, date(2024, 1, 15))
    q = partial_prepayment_quote(SCHED, events, on, D(10000), PrepaymentMode.LOWER_INSTALLMENT)
    assert q.due_principal > 0 and q.penalty > 0
    assert q.total == q.principal + q.due_principal + q.interest + q.penalty + q.fee.net


def test_interest_first_cannot_shorten() -> None:
    terms = LoanTerms(D(100000), D("0.06"), 12, RepaymentMethod.INTEREST_FIRST, date(2024, 1, 15))
    schedule = build_schedule(terms)
    with pytest.raises(ValueError, match="先息后本"):
        partial_prepayment_quote(
            schedule, [], date(2024, 2, 1), D(1000), PrepaymentMode.SHORTEN_TERM
        )
    q = partial_prepayment_quote(
        schedule, [], date(2024, 2, 1), D(40000), PrepaymentMode.LOWER_INSTALLMENT
    )
    assert q.new_schedule.installments[-1].principal == D(60000)
    assert q.interest_saved > 0


# --- properties -------------------------------------------------------------------------------


@st.composite
def loans(draw: st.DrawFn) -> tuple[Schedule, list[LedgerEvent], date]:
    method = draw(st.sampled_from(list(RepaymentMethod)))
    terms = LoanTerms(
        principal=D(draw(st.integers(min_value=1000_00, max_value=500_000_00))) / 100,
        annual_rate=D(draw(st.integers(min_value=0, max_value=2400))) / 10000,
        term_months=draw(st.integers(min_value=1, max_value=36)),
        method=method,
        disbursement_date=draw(st.dates(min_value=date(2020, 1, 1), max_value=date(2026, 1, 1))),
        repayment_day=draw(st.one_of(st.none(), st.integers(min_value=1, max_value=31))),
        balloon_pct=D("0.25") if method is RepaymentMethod.BALLOON else D(0),
    )
    schedule = build_schedule(terms)
    start = terms.disbursement_date
    last_due = schedule.installments[-1].due_date
    as_of = start + timedelta(days=draw(st.integers(0, (last_due - start).days + 40)))
    events: list[LedgerEvent] = []
    for inst in schedule.installments:
        if inst.due_date >= as_of:
            break
        late = draw(st.sampled_from([0, 0, 0, 1, 5, 40]))
        paid_on = min(as_of, inst.due_date + timedelta(days=late))
        share = draw(st.sampled_from([D(1), D(1), D("0.5"), D(0), D("1.2")]))
        amount = fen(inst.payment * share)
        if amount > 0:
            events.append(Payment(f"p{inst.period}", paid_on, amount))
    return schedule, events, as_of


@settings(max_examples=120, deadline=None)
@given(loans(), st.integers(min_value=0, max_value=40))
def test_payoff_quote_paid_on_its_date_closes_at_zero(
    case: tuple[Schedule, list[LedgerEvent], date], valid_days: int
) -> None:
    schedule, events, as_of = case
    before = position_as_of(schedule, events, as_of)
    if before.is_closed:
        return
    policy = PrepaymentPolicy(fee=BY_YEAR, quote_valid_days=valid_days)
    quote = payoff_quote(schedule, events, as_of, policy)
    assert quote.interest_saved >= 0
    assert quote.total >= 0
    closed = position_as_of(
        schedule, [*events, Payoff("x", as_of, quote.total, quote.fee.net)], as_of
    )
    assert closed.is_closed
    assert closed.outstanding_principal == ZERO
    assert closed.overdue_amount == ZERO
    assert all(i.is_settled for i in closed.installments)
    assert closed.received + closed.opening_credit == closed.total_applied + closed.credit
    if valid_days == 0:
        assert closed.credit == ZERO


@settings(max_examples=120, deadline=None)
@given(loans(), st.integers(min_value=1, max_value=99), st.sampled_from(list(PrepaymentMode)))
def test_partial_prepayment_never_increases_total_interest(
    case: tuple[Schedule, list[LedgerEvent], date], pct: int, mode: PrepaymentMode
) -> None:
    schedule, events, as_of = case
    future = [i for i in schedule.installments if i.due_date > as_of]
    if not future:
        return
    if (
        mode is PrepaymentMode.SHORTEN_TERM
        and schedule.terms.method is RepaymentMethod.INTEREST_FIRST
    ):
        return
    balance = schedule.balance_before(future[0].period)
    amount = max(D("0.01"), fen(balance * pct / 100))
    if amount >= balance:
        return
    q = partial_prepayment_quote(schedule, events, as_of, amount, mode)
    assert q.interest_saved >= 0
    old_interest = schedule.total_interest
    kept = sum((i.interest for i in schedule.installments if i.due_date <= as_of), ZERO)
    accrued = q.interest - sum(
        (
            i.interest_outstanding
            for i in position_as_of(schedule, events, as_of).installments
            if i.due_date <= as_of
        ),
        ZERO,
    )
    assert kept + accrued + q.new_schedule.total_interest <= old_interest
    assert q.new_schedule.total_principal == balance - amount
    balances = [q.new_schedule.terms.principal] + [i.balance for i in q.new_schedule]
    assert all(a >= b >= 0 for a, b in pairwise(balances))
