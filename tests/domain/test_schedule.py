"""Schedules: the BRIEF.md oracles, a numpy-financial cross-check, properties and edge cases."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal
from typing import Any

import numpy_financial as npf  # type: ignore[import-untyped]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from huifang.calendars import ChineseBusinessCalendar
from huifang.domain.money import ZERO, Rounding, fen
from huifang.domain.schedule import (
    DayCount,
    HolidayShift,
    InterestRounding,
    LoanTerms,
    MonthEnd,
    RepaymentMethod,
    ScheduleConventions,
    WeekendsOnlyCalendar,
    add_months,
    annuity_payment,
    build_schedule,
    day_fraction,
)

EI = RepaymentMethod.EQUAL_INSTALLMENT
EP = RepaymentMethod.EQUAL_PRINCIPAL
IF = RepaymentMethod.INTEREST_FIRST
BL = RepaymentMethod.BALLOON
CUMULATIVE = ScheduleConventions(interest_rounding=InterestRounding.CUMULATIVE)


def terms(
    principal: str | int | Decimal,
    rate: str,
    months: int,
    method: RepaymentMethod = EI,
    start: date = date(2024, 1, 15),
    **kw: object,
) -> LoanTerms:
    return LoanTerms(Decimal(principal), Decimal(rate), months, method, start, **kw)  # type: ignore[arg-type]


# --- public oracles (BRIEF.md) --------------------------------------------------------------


def test_oracle_equal_installment_1m_49_360_per_period() -> None:
    s = build_schedule(terms(1_000_000, "0.049", 360))
    first, last = s.installments[0], s.installments[-1]
    assert first.payment == Decimal("5307.27")
    assert first.interest == Decimal("4083.33")
    assert all(i.payment == Decimal("5307.27") for i in s.installments[:-1])
    assert last.payment == Decimal("5305.19")
    assert s.total_interest == Decimal("910615.12")
    assert s.total_principal == Decimal("1000000.00")
    assert last.balance == ZERO


def test_oracle_equal_installment_unrounded_total_is_a_setting() -> None:
    s = build_schedule(terms(1_000_000, "0.049", 360, conventions=CUMULATIVE))
    assert s.total_interest == Decimal("910616.19")
    assert s.total_principal == Decimal("1000000.00")
    assert s.installments[0].interest == Decimal("4083.33")


def test_oracle_equal_principal() -> None:
    s = build_schedule(terms(1_000_000, "0.049", 360, EP))
    first = s.installments[0]
    assert (first.payment, first.principal, first.interest) == (
        Decimal("6861.11"),
        Decimal("2777.78"),
        Decimal("4083.33"),
    )
    assert s.total_principal == Decimal("1000000.00")
    unrounded = build_schedule(terms(1_000_000, "0.049", 360, EP, conventions=CUMULATIVE))
    # P·r·(n+1)/2 = 737,041.67
    assert unrounded.total_interest == Decimal("737041.67")
    assert unrounded.installments[0].payment == Decimal("6861.11")


@pytest.mark.parametrize(
    ("principal", "rate", "months", "payment"),
    [
        (100_000, "0.0999", 36, "3226.25"),
        (130, "0.20", 12, "12.04"),
        (100_000, "0.045", 36, "2974.69"),
        (1_000_000, "0.049", 360, "5307.27"),
    ],
)
def test_oracle_installments(principal: int, rate: str, months: int, payment: str) -> None:
    assert build_schedule(terms(principal, rate, months)).regular_payment == Decimal(payment)


# --- numpy-financial cross-check ------------------------------------------------------------


def _near_half_fen(x: float) -> bool:
    # A float pmt within a hair of x.xx5 may round either way; the conventions then do not
    # coincide (float vs decimal), so such draws are skipped.
    return abs((abs(x) * 100) % 1 - 0.5) < 1e-6


def test_installment_matches_numpy_financial_on_random_loans() -> None:
    rng = random.Random(20240715)
    checked = 0
    for _ in range(4000):
        principal = Decimal(rng.randint(100_00, 3_000_000_00)) / 100
        rate = Decimal(rng.randint(1, 3600)) / 10000  # 0.01 % .. 36 %
        months = rng.randint(1, 360)
        expected = float(-npf.pmt(float(rate) / 12, months, float(principal)))
        if _near_half_fen(expected):
            continue
        ours = fen(annuity_payment(principal, rate / 12, months))
        assert ours == fen(Decimal(repr(expected))), (principal, rate, months)
        checked += 1
    assert checked > 3900


def test_full_schedules_match_numpy_financial_interest() -> None:
    rng = random.Random(7)
    for _ in range(200):
        principal = Decimal(rng.randint(1000_00, 1_000_000_00)) / 100
        rate = Decimal(rng.randint(100, 2400)) / 10000
        months = rng.randint(1, 120)
        t = terms(principal, str(rate), months, conventions=CUMULATIVE)
        s = build_schedule(t)
        periods = list(range(1, months + 1))
        ipmt = -npf.ipmt(float(rate) / 12, periods, months, float(principal))
        running = 0.0
        ours = ZERO
        for inst, exact in zip(s.installments, ipmt, strict=True):
            running += float(exact)
            ours += inst.interest
            # cumulative rounding keeps every running total within half a fen of the exact one
            assert abs(float(ours) - running) <= 0.005 + 1e-6 * max(1.0, running)
        per_period = build_schedule(terms(principal, str(rate), months))
        assert abs(float(per_period.total_interest) - running) <= 0.01 * months


def test_equal_principal_matches_closed_form() -> None:
    rng = random.Random(11)
    for _ in range(200):
        principal = Decimal(rng.randint(1000_00, 1_000_000_00)) / 100
        rate = Decimal(rng.randint(0, 2400)) / 10000
        months = rng.randint(1, 120)
        s = build_schedule(terms(principal, str(rate), months, EP, conventions=CUMULATIVE))
        closed = principal * rate / 12 * (months + 1) / 2
        assert s.total_interest == fen(closed)


# --- properties -------------------------------------------------------------------------------

loan_terms = st.builds(
    LoanTerms,
    principal=st.integers(min_value=1, max_value=500_000_000).map(lambda c: Decimal(c) / 100),
    annual_rate=st.integers(min_value=0, max_value=3600).map(lambda b: Decimal(b) / 10000),
    term_months=st.integers(min_value=1, max_value=120),
    method=st.sampled_from([EI, EP, IF]),
    disbursement_date=st.dates(min_value=date(2015, 1, 1), max_value=date(2035, 12, 31)),
    repayment_day=st.one_of(st.none(), st.integers(min_value=1, max_value=31)),
    conventions=st.builds(
        ScheduleConventions,
        rounding=st.sampled_from(list(Rounding)),
        interest_rounding=st.sampled_from(list(InterestRounding)),
        day_count=st.sampled_from(list(DayCount)),
        month_end=st.sampled_from(list(MonthEnd)),
    ),
)

balloon_terms = st.builds(
    LoanTerms,
    principal=st.integers(min_value=1, max_value=500_000_000).map(lambda c: Decimal(c) / 100),
    annual_rate=st.integers(min_value=0, max_value=3600).map(lambda b: Decimal(b) / 10000),
    term_months=st.integers(min_value=1, max_value=60),
    method=st.just(BL),
    disbursement_date=st.dates(min_value=date(2015, 1, 1), max_value=date(2035, 12, 31)),
    balloon_pct=st.integers(min_value=0, max_value=90).map(lambda p: Decimal(p) / 100),
)


@settings(max_examples=150, deadline=None)
@given(st.one_of(loan_terms, balloon_terms))
def test_schedule_invariants(t: LoanTerms) -> None:
    s = build_schedule(t)
    assert len(s) == t.term_months
    assert s.total_principal == t.principal
    previous_balance = t.principal
    previous_due = t.disbursement_date
    for k, inst in enumerate(s, 1):
        assert inst.period == k
        assert inst.due_date > previous_due
        assert inst.payment == inst.principal + inst.interest
        assert inst.principal >= 0 and inst.interest >= 0
        assert ZERO <= inst.balance <= previous_balance
        assert inst.balance == previous_balance - inst.principal
        for amount in (inst.payment, inst.principal, inst.interest, inst.balance):
            assert amount == fen(amount)
        previous_balance, previous_due = inst.balance, inst.due_date
    assert s.installments[-1].balance == ZERO


@settings(max_examples=60, deadline=None)
@given(loan_terms)
def test_level_installment_is_level(t: LoanTerms) -> None:
    if t.method is not EI or t.conventions.interest_rounding is InterestRounding.CUMULATIVE:
        return
    if t.principal < t.term_months:  # under a fen a month: the "level" payment rounds to 0.00
        return
    s = build_schedule(t)
    body = {i.payment for i in s.installments[1:-1]}
    assert len(body) <= 1


# --- methods and edge cases -------------------------------------------------------------------


def test_interest_first() -> None:
    s = build_schedule(terms(120_000, "0.06", 12, IF))
    assert all(i.interest == Decimal("600.00") for i in s)
    assert all(i.principal == ZERO for i in s.installments[:-1])
    assert s.installments[-1].payment == Decimal("120600.00")
    assert s.total_interest == Decimal("7200.00")


def test_balloon_leaves_share_for_last_installment() -> None:
    t = terms(180_000, "0.045", 60, BL, balloon_pct=Decimal("0.3"))
    s = build_schedule(t)
    assert t.balloon_amount == Decimal("54000.00")
    # the balance before the last installment is the balloon plus one regular principal share
    last = s.installments[-1]
    assert last.principal > Decimal("54000.00")
    assert last.payment - s.regular_payment == pytest.approx(54000, abs=1)
    assert s.regular_payment == fen(
        annuity_payment(Decimal(180000), Decimal("0.00375"), 60, Decimal(54000))
    )
    assert s.total_principal == Decimal("180000.00")


def test_balloon_zero_pct_equals_equal_installment() -> None:
    a = build_schedule(terms(50_000, "0.07", 24, BL))
    b = build_schedule(terms(50_000, "0.07", 24, EI))
    assert [i.payment for i in a] == [i.payment for i in b]


@pytest.mark.parametrize("method", [EI, EP, IF, BL])
def test_zero_rate(method: RepaymentMethod) -> None:
    kw: dict[str, Any] = {"balloon_pct": Decimal("0.2")} if method is BL else {}
    s = build_schedule(terms(10_000, "0", 3, method, **kw))
    assert s.total_interest == ZERO
    assert s.total_principal == Decimal("10000.00")
    if method is EI:
        assert [i.payment for i in s] == [
            Decimal("3333.33"),
            Decimal("3333.33"),
            Decimal("3333.34"),
        ]


@pytest.mark.parametrize("method", [EI, EP, IF, BL])
def test_one_month_term(method: RepaymentMethod) -> None:
    kw: dict[str, Any] = {"balloon_pct": Decimal("0.5")} if method is BL else {}
    s = build_schedule(terms(10_000, "0.12", 1, method, **kw))
    (only,) = s.installments
    assert only.principal == Decimal("10000.00")
    assert only.interest == Decimal("100.00")
    assert only.due_date == date(2024, 2, 15)


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (date(2024, 1, 29), [date(2024, 2, 29), date(2024, 3, 29), date(2024, 4, 29)]),
        (date(2023, 1, 29), [date(2023, 2, 28), date(2023, 3, 29), date(2023, 4, 29)]),
        (date(2024, 1, 30), [date(2024, 2, 29), date(2024, 3, 30), date(2024, 4, 30)]),
        (date(2024, 1, 31), [date(2024, 2, 29), date(2024, 3, 31), date(2024, 4, 30)]),
        (date(2023, 12, 31), [date(2024, 1, 31), date(2024, 2, 29), date(2024, 3, 31)]),
    ],
)
def test_disbursement_on_29th_to_31st_clamps_and_returns(start: date, expected: list[date]) -> None:
    s = build_schedule(terms(30_000, "0.06", 3, start=start))
    assert [i.due_date for i in s] == expected
    # one calendar month even when clamped: no broken-period interest
    assert s.installments[0].interest == Decimal("150.00")


def test_sticky_month_end() -> None:
    sticky = ScheduleConventions(month_end=MonthEnd.STICKY)
    s = build_schedule(terms(30_000, "0.06", 3, start=date(2023, 2, 28), conventions=sticky))
    assert [i.due_date for i in s] == [date(2023, 3, 31), date(2023, 4, 30), date(2023, 5, 31)]
    clamp = build_schedule(terms(30_000, "0.06", 3, start=date(2023, 2, 28)))
    assert [i.due_date for i in clamp] == [date(2023, 3, 28), date(2023, 4, 28), date(2023, 5, 28)]


def test_broken_first_period_actual_360() -> None:
    # disbursed 15 Jan, repays on the 5th: first period 15 Jan → 5 Feb is 21 days
    t = terms(36_000, "0.072", 12, start=date(2024, 1, 15), repayment_day=5)
    s = build_schedule(t)
    first = s.installments[0]
    assert first.due_date == date(2024, 2, 5)
    assert first.interest == fen(Decimal(36000) * Decimal("0.072") * 21 / 360)  # 151.20
    regular = build_schedule(terms(36_000, "0.072", 12, start=date(2024, 1, 5)))
    # later installments are exactly those of a regular schedule
    assert first.principal == regular.installments[0].principal
    assert [i.payment for i in s.installments[1:]] == [i.payment for i in regular.installments[1:]]
    assert s.total_principal == Decimal("36000.00")


def test_explicit_first_due_date_long_period() -> None:
    t = terms(10_000, "0.0365", 2, start=date(2024, 1, 10), first_due_date=date(2024, 3, 1))
    s = build_schedule(t)
    assert [i.due_date for i in s] == [date(2024, 3, 1), date(2024, 4, 1)]
    assert s.installments[0].interest == fen(Decimal(10000) * Decimal("0.0365") * 51 / 360)


def test_day_fraction_conventions() -> None:
    a, b = date(2024, 1, 31), date(2024, 3, 1)
    assert day_fraction(a, b, DayCount.ACT_360) == Decimal(30) / 360
    assert day_fraction(a, b, DayCount.ACT_365) == Decimal(30) / 365
    assert day_fraction(a, b, DayCount.THIRTY_360) == Decimal(31) / 360


def test_add_months() -> None:
    assert add_months(date(2024, 1, 31), 1, 31) == date(2024, 2, 29)
    assert add_months(date(2024, 11, 15), 3, 15) == date(2025, 2, 15)
    assert add_months(date(2024, 2, 29), 12, 29, MonthEnd.STICKY) == date(2025, 2, 28)
    assert add_months(date(2023, 2, 28), 1, 28, MonthEnd.STICKY) == date(2023, 3, 31)


def test_holiday_shift_following_with_chinese_calendar() -> None:
    shifted = ScheduleConventions(holiday_shift=HolidayShift.FOLLOWING)
    # 1 Oct 2024 is National Day; the holiday runs to 7 Oct
    t = terms(12_000, "0.06", 3, start=date(2024, 9, 1), conventions=shifted)
    s = build_schedule(t, ChineseBusinessCalendar())
    assert s.installments[0].due_date == date(2024, 10, 8)
    # interest is still counted on the contractual dates
    plain = build_schedule(terms(12_000, "0.06", 3, start=date(2024, 9, 1)))
    assert [i.interest for i in s] == [i.interest for i in plain]
    assert s.installments[0].due_date != plain.installments[0].due_date


def test_holiday_shift_preceding_and_modified_following() -> None:
    cal = WeekendsOnlyCalendar()
    # 30 Nov 2024 is a Saturday
    pre = ScheduleConventions(holiday_shift=HolidayShift.PRECEDING)
    mod = ScheduleConventions(holiday_shift=HolidayShift.MODIFIED_FOLLOWING)
    fol = ScheduleConventions(holiday_shift=HolidayShift.FOLLOWING)
    start = date(2024, 10, 30)
    assert build_schedule(terms(1000, "0.06", 1, start=start, conventions=pre), cal).installments[
        0
    ].due_date == date(2024, 11, 29)
    assert build_schedule(terms(1000, "0.06", 1, start=start, conventions=mod), cal).installments[
        0
    ].due_date == date(2024, 11, 29)
    assert build_schedule(terms(1000, "0.06", 1, start=start, conventions=fol), cal).installments[
        0
    ].due_date == date(2024, 12, 2)


def test_holiday_shift_needs_a_calendar() -> None:
    t = terms(
        1000, "0.06", 1, conventions=ScheduleConventions(holiday_shift=HolidayShift.FOLLOWING)
    )
    with pytest.raises(ValueError, match="日历"):
        build_schedule(t)


def test_chinese_calendar_falls_back_to_weekends_for_unknown_years() -> None:
    cal = ChineseBusinessCalendar()
    assert not cal.has_holiday_data(2099)
    assert cal.is_working_day(date(2099, 1, 1))  # a Thursday, no holiday data
    assert not cal.is_working_day(date(2099, 1, 3))  # Saturday


def test_half_even_is_a_setting() -> None:
    # 130 at 20 % for 12 months: interest 2.1666.. → both modes 2.17; use a tie instead
    t_up = terms("100.50", "0.12", 1, conventions=ScheduleConventions())
    t_even = terms(
        "100.50", "0.12", 1, conventions=ScheduleConventions(rounding=Rounding.HALF_EVEN)
    )
    assert build_schedule(t_up).installments[0].interest == Decimal("1.01")  # 1.005 → 1.01
    assert build_schedule(t_even).installments[0].interest == Decimal("1.00")  # 1.005 → 1.00


def test_lookups() -> None:
    s = build_schedule(terms(12_000, "0.06", 12))
    assert s.installment_for(3).due_date == date(2024, 4, 15)
    with pytest.raises(KeyError):
        s.installment_for(13)
    assert [i.period for i in s.due_on_or_before(date(2024, 4, 14))] == [1, 2]
    assert [i.period for i in s.due_on_or_before(date(2024, 4, 15))] == [1, 2, 3]
    assert s.due_on_or_before(date(2024, 1, 31)) == ()
    assert s.total_payment == s.total_principal + s.total_interest
    assert s.balance_before(1) == Decimal("12000.00")


@pytest.mark.parametrize(
    "kw",
    [
        {"principal": Decimal(0)},
        {"principal": Decimal("1.001")},
        {"annual_rate": Decimal("-0.01")},
        {"term_months": 0},
        {"repayment_day": 32},
        {"balloon_pct": Decimal("0.3")},  # not a balloon loan
        {"first_due_date": date(2024, 1, 15)},
    ],
)
def test_invalid_terms(kw: dict[str, object]) -> None:
    base: dict[str, object] = {
        "principal": Decimal(1000),
        "annual_rate": Decimal("0.05"),
        "term_months": 12,
        "method": EI,
        "disbursement_date": date(2024, 1, 15),
    }
    with pytest.raises(ValueError):
        LoanTerms(**{**base, **kw})  # type: ignore[arg-type]
