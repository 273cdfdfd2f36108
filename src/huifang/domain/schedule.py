"""Repayment schedules: 等额本息, 等额本金, 先息后本 and balloon (尾款), to the fen.

A schedule is a pure function of the loan terms (and, when due dates shift off holidays, of
a business calendar). Every choice a lender may make differently is a field of
`ScheduleConventions`, so that two products with different settings can live side by side
and the setting used is visible on the terms themselves.

Formulas (r = annual rate / 12, n = term in months, P = principal):

* equal installment  A = P·r·(1+r)^n / ((1+r)^n − 1)          (r = 0: A = P / n)
* equal principal    principal_k = P / n, interest_k = B_{k−1}·r
* interest first     interest_k = P·r, the whole principal with the last installment
* balloon            A = (P·(1+r)^n − F)·r / ((1+r)^n − 1), F = P·balloon_pct paid with the last
                     installment on top of A                  (r = 0: A = (P − F) / n)

Rounding: by default (`InterestRounding.PER_PERIOD`) the installment is rounded to the fen,
each period's interest is the rounded balance times r rounded to the fen, principal is the
installment less interest, and the last installment absorbs the residue so that principal
sums exactly to the loan amount. This reproduces what Chinese bank statements print
(1,000,000 at 4.9 % for 360 months: 5,307.27 a month, last 5,305.19, interest 910,615.12).
`InterestRounding.CUMULATIVE` computes the schedule exactly and rounds running totals, so
that the totals equal the published unrounded figures (910,616.19) and each row is within
a fen of the exact one; installments then differ by a fen here and there.

A broken (irregular) first period — first due date not exactly one calendar month after
disbursement — earns interest on actual days (`DayCount`, default actual/360) instead of
one month at r; its principal portion stays what a regular period would repay, so every
later installment is unchanged by the odd first period.

Shifting a due date off a holiday (`HolidayShift`) moves only the date the borrower has to
pay by; interest is still computed on the contractual dates, as Chinese lenders do
(节假日顺延不计息).
"""

from __future__ import annotations

import calendar as _gregorian
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal, localcontext
from enum import StrEnum
from typing import Protocol

from huifang.domain.money import FEN, ZERO, Rounding, fen

# Exact intermediate arithmetic: (1+r)^360 needs far more than the default 28 digits to
# keep the installment right to the fen for every realistic loan.
_PRECISION = 50


class RepaymentMethod(StrEnum):
    """How principal is repaid over the term."""

    EQUAL_INSTALLMENT = "equal-installment"  # 等额本息
    EQUAL_PRINCIPAL = "equal-principal"  # 等额本金
    INTEREST_FIRST = "interest-first"  # 先息后本
    BALLOON = "balloon"  # 尾款 / 弹性贷


class InterestRounding(StrEnum):
    """Where the schedule rounds to the fen (a product setting, see the module docstring)."""

    PER_PERIOD = "per-period"  # installment and each period's interest rounded; default
    CUMULATIVE = "cumulative"  # exact schedule, running totals rounded (published totals)


class DayCount(StrEnum):
    """Day count for broken periods and for interest accrued between due dates."""

    ACT_360 = "actual/360"
    ACT_365 = "actual/365"
    THIRTY_360 = "30/360"


class HolidayShift(StrEnum):
    """What happens to a due date that falls on a non-working day."""

    NONE = "none"
    FOLLOWING = "following"  # next working day (顺延)
    PRECEDING = "preceding"  # previous working day (提前)
    MODIFIED_FOLLOWING = "modified-following"  # next, unless that leaves the month: previous


class MonthEnd(StrEnum):
    """How a repayment day that a month lacks (29–31) is handled."""

    CLAMP = "clamp"  # the last day of shorter months, back to the day when the month has it
    STICKY = "sticky"  # anchored on a month end (e.g. 28 Feb): always the last day of the month


class BusinessCalendar(Protocol):
    """Tells working days from non-working days; an adapter supplies the real calendar."""

    def is_working_day(self, d: date, /) -> bool: ...


class WeekendsOnlyCalendar:
    """Saturdays and Sundays off, nothing else; for tests and for years without holiday data."""

    def is_working_day(self, d: date, /) -> bool:
        return d.weekday() < 5


@dataclass(frozen=True)
class ScheduleConventions:
    """A product's schedule settings. Defaults follow BRIEF.md "Numbers and rules".

    rounding:           how amounts are rounded to the fen (四舍五入 by default).
    interest_rounding:  per-period rounding (bank statements) or cumulative (published totals).
    day_count:          broken-period and accrual day count; actual/360 by default.
    holiday_shift:      off by default; needs a `BusinessCalendar` when on.
    month_end:          clamp repayment days 29–31 to shorter months' ends by default.
    """

    rounding: Rounding = Rounding.HALF_UP
    interest_rounding: InterestRounding = InterestRounding.PER_PERIOD
    day_count: DayCount = DayCount.ACT_360
    holiday_shift: HolidayShift = HolidayShift.NONE
    month_end: MonthEnd = MonthEnd.CLAMP


@dataclass(frozen=True)
class LoanTerms:
    """What a loan contract says about repayment.

    `annual_rate` is a fraction (Decimal("0.049") is 4.9 % a year). `repayment_day` defaults
    to the day of `first_due_date` when that is given, else to the disbursement day; days
    29–31 follow `conventions.month_end`. `first_due_date` defaults to the repayment day in
    the month after disbursement. `balloon_pct` is the fraction of principal due with the
    last installment and only applies to `RepaymentMethod.BALLOON`.
    """

    principal: Decimal
    annual_rate: Decimal
    term_months: int
    method: RepaymentMethod
    disbursement_date: date
    repayment_day: int | None = None
    balloon_pct: Decimal = Decimal(0)
    first_due_date: date | None = None
    conventions: ScheduleConventions = field(default_factory=ScheduleConventions)

    def __post_init__(self) -> None:
        if not self.principal > 0:
            raise ValueError(f"本金必须大于零: {self.principal}")
        if fen(self.principal) != self.principal:
            raise ValueError(f"本金最多两位小数: {self.principal}")
        if self.annual_rate < 0:
            raise ValueError(f"年利率不能为负: {self.annual_rate}")
        if self.term_months < 1:
            raise ValueError(f"期数至少为 1: {self.term_months}")
        if self.repayment_day is not None and not 1 <= self.repayment_day <= 31:
            raise ValueError(f"还款日必须在 1–31 之间: {self.repayment_day}")
        if not Decimal(0) <= self.balloon_pct < 1:
            raise ValueError(f"尾款比例必须在 [0, 1) 之间: {self.balloon_pct}")
        if self.balloon_pct and self.method is not RepaymentMethod.BALLOON:
            raise ValueError("只有尾款 (balloon) 还款方式可以设置尾款比例")
        if self.first_due_date is not None and self.first_due_date <= self.disbursement_date:
            raise ValueError("首期还款日必须晚于放款日")

    @property
    def monthly_rate(self) -> Decimal:
        """The regular period rate, annual / 12 (not rounded)."""
        with localcontext() as ctx:
            ctx.prec = _PRECISION
            return self.annual_rate / 12

    @property
    def effective_repayment_day(self) -> int:
        if self.repayment_day is not None:
            return self.repayment_day
        if self.first_due_date is not None:
            return self.first_due_date.day
        return self.disbursement_date.day

    @property
    def balloon_amount(self) -> Decimal:
        """The balloon (尾款) due with the last installment, rounded to the fen."""
        return fen(self.principal * self.balloon_pct, self.conventions.rounding)


@dataclass(frozen=True)
class Installment:
    """One row of a schedule; `balance` is the principal outstanding after it is paid."""

    period: int
    due_date: date
    payment: Decimal
    principal: Decimal
    interest: Decimal
    balance: Decimal


@dataclass(frozen=True)
class Schedule:
    """The installments of a loan, in period order, with the terms that produced them."""

    terms: LoanTerms
    installments: tuple[Installment, ...]

    @property
    def total_interest(self) -> Decimal:
        return sum((i.interest for i in self.installments), ZERO)

    @property
    def total_principal(self) -> Decimal:
        return sum((i.principal for i in self.installments), ZERO)

    @property
    def total_payment(self) -> Decimal:
        return sum((i.payment for i in self.installments), ZERO)

    @property
    def regular_payment(self) -> Decimal:
        """The first installment's payment (the level installment for 等额本息)."""
        return self.installments[0].payment

    def installment_for(self, period: int) -> Installment:
        """The installment of a period (1-based); KeyError when the schedule has none."""
        if 1 <= period <= len(self.installments):
            found = self.installments[period - 1]
            if found.period == period:
                return found
        for inst in self.installments:
            if inst.period == period:
                return inst
        raise KeyError(period)

    def due_on_or_before(self, d: date) -> tuple[Installment, ...]:
        """Installments whose due date is on or before `d`."""
        return tuple(i for i in self.installments if i.due_date <= d)

    def balance_before(self, period: int) -> Decimal:
        """Scheduled principal outstanding before the installment of `period` is paid."""
        inst = self.installment_for(period)
        return inst.balance + inst.principal

    def __iter__(self) -> Iterator[Installment]:
        return iter(self.installments)

    def __len__(self) -> int:
        return len(self.installments)


# --- dates -------------------------------------------------------------------------------


def add_months(anchor: date, months: int, day: int, month_end: MonthEnd = MonthEnd.CLAMP) -> date:
    """The date `months` months after `anchor`'s month, on `day` (clamped to the month end).

    With `MonthEnd.STICKY` and an anchor on the last day of its month, the result is the
    last day of the target month whatever `day` is.
    """
    index = anchor.year * 12 + (anchor.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    last = _gregorian.monthrange(year, month)[1]
    if month_end is MonthEnd.STICKY and anchor.day == _last_day(anchor):
        return date(year, month, last)
    return date(year, month, min(day, last))


def _last_day(d: date) -> int:
    return _gregorian.monthrange(d.year, d.month)[1]


def contractual_due_dates(terms: LoanTerms) -> tuple[date, ...]:
    """Due dates before any holiday shift: the repayment day of consecutive months.

    Counted from the disbursement date (first due one month later) unless a first due
    date is given; counting every date from one anchor keeps day 31 from drifting to 28
    after February.
    """
    day = terms.effective_repayment_day
    rule = terms.conventions.month_end
    if terms.first_due_date is None:
        d0 = terms.disbursement_date
        return tuple(add_months(d0, k, day, rule) for k in range(1, terms.term_months + 1))
    first = terms.first_due_date
    return (first, *(add_months(first, k, day, rule) for k in range(1, terms.term_months)))


def shift_due_date(d: date, rule: HolidayShift, calendar: BusinessCalendar) -> date:
    """Move `d` off a non-working day according to `rule`."""
    if rule is HolidayShift.NONE or calendar.is_working_day(d):
        return d
    if rule is HolidayShift.PRECEDING:
        return _walk(d, -1, calendar)
    later = _walk(d, 1, calendar)
    if rule is HolidayShift.MODIFIED_FOLLOWING and later.month != d.month:
        return _walk(d, -1, calendar)
    return later


def _walk(d: date, step: int, calendar: BusinessCalendar) -> date:
    # Chinese holidays (Spring Festival, National Day) last at most ~9 days in a row; 31 is
    # a generous guard against a calendar that never answers "working".
    for k in range(1, 32):
        candidate = d + timedelta(days=step * k)
        if calendar.is_working_day(candidate):
            return candidate
    raise ValueError(f"{d} 前后 31 天内没有工作日, 请检查日历")


def is_regular_first_period(terms: LoanTerms, first_due: date) -> bool:
    """True when the first period is exactly one calendar month (no broken-period interest).

    One month after disbursement counts (31 Jan → 29 Feb), and so does one month on the
    repayment-day grid when disbursement falls on it (29 Feb → 31 Mar for day 31), which is
    how a re-amortized remainder of a loan starts.
    """
    d0 = terms.disbursement_date
    rule = terms.conventions.month_end
    if first_due == add_months(d0, 1, d0.day, rule):
        return True
    day = terms.effective_repayment_day
    on_grid = d0.day == min(day, _last_day(d0))
    return on_grid and first_due == add_months(d0, 1, day, rule)


def day_fraction(start: date, end: date, day_count: DayCount) -> Decimal:
    """The year fraction between two dates under a day count (exact, not rounded)."""
    if day_count is DayCount.THIRTY_360:
        d1 = min(start.day, 30)
        d2 = min(end.day, 30) if d1 == 30 else end.day
        days = (end.year - start.year) * 360 + (end.month - start.month) * 30 + (d2 - d1)
        return Decimal(days) / Decimal(360)
    basis = 360 if day_count is DayCount.ACT_360 else 365
    return Decimal((end - start).days) / Decimal(basis)


# --- the schedule ------------------------------------------------------------------------


def annuity_payment(
    principal: Decimal, monthly_rate: Decimal, periods: int, final: Decimal = ZERO
) -> Decimal:
    """The exact level payment that repays `principal` over `periods`, leaving `final` due.

    Not rounded; `final` is the balloon that stays outstanding after the last level payment.
    """
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        if monthly_rate == 0:
            return (principal - final) / periods
        growth = (1 + monthly_rate) ** periods
        return (principal * growth - final) * monthly_rate / (growth - 1)


def build_schedule(terms: LoanTerms, calendar: BusinessCalendar | None = None) -> Schedule:
    """The repayment schedule of `terms`.

    `calendar` is needed only when the conventions shift due dates off holidays; a
    ValueError says so when it is missing.
    """
    conv = terms.conventions
    if conv.holiday_shift is not HolidayShift.NONE and calendar is None:
        raise ValueError("节假日顺延需要提供工作日历 (BusinessCalendar)")
    contractual = contractual_due_dates(terms)
    first_interest_factor = _first_period_factor(terms, contractual[0])
    if conv.interest_rounding is InterestRounding.PER_PERIOD:
        rows = _per_period_rows(terms, first_interest_factor)
    else:
        rows = _cumulative_rows(terms, first_interest_factor)
    due_dates = contractual
    if calendar is not None and conv.holiday_shift is not HolidayShift.NONE:
        due_dates = tuple(shift_due_date(d, conv.holiday_shift, calendar) for d in contractual)
    installments = []
    balance = terms.principal
    for k, ((principal, interest), due) in enumerate(zip(rows, due_dates, strict=True), 1):
        balance -= principal
        installments.append(
            Installment(
                period=k,
                due_date=due,
                payment=principal + interest,
                principal=principal,
                interest=interest,
                balance=balance,
            )
        )
    return Schedule(terms=terms, installments=tuple(installments))


def _first_period_factor(terms: LoanTerms, first_due: date) -> Decimal | None:
    """The first period's rate when it is broken (annual × year fraction); None if regular."""
    if is_regular_first_period(terms, first_due):
        return None
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return terms.annual_rate * day_fraction(
            terms.disbursement_date, first_due, terms.conventions.day_count
        )


def _level_payment(terms: LoanTerms) -> Decimal | None:
    """The exact level payment for annuity methods, None for the others."""
    r = terms.monthly_rate
    n = terms.term_months
    if terms.method is RepaymentMethod.EQUAL_INSTALLMENT:
        return annuity_payment(terms.principal, r, n)
    if terms.method is RepaymentMethod.BALLOON:
        return annuity_payment(terms.principal, r, n, terms.balloon_amount)
    return None


def _per_period_rows(
    terms: LoanTerms, first_factor: Decimal | None
) -> list[tuple[Decimal, Decimal]]:
    """(principal, interest) per period with the installment and interest rounded each period."""
    rnd = terms.conventions.rounding
    r = terms.monthly_rate
    n = terms.term_months
    level = _level_payment(terms)
    level_fen = fen(level, rnd) if level is not None else None
    even_principal = fen(terms.principal / n, rnd)
    balance = terms.principal
    rows: list[tuple[Decimal, Decimal]] = []
    for k in range(1, n + 1):
        regular_interest = fen(balance * r, rnd)
        interest = regular_interest
        if k == 1 and first_factor is not None:
            interest = fen(balance * first_factor, rnd)
        if k == n:
            principal = balance
        elif level_fen is not None:
            principal = level_fen - regular_interest
        elif terms.method is RepaymentMethod.EQUAL_PRINCIPAL:
            principal = even_principal
        else:  # interest first
            principal = ZERO
        # Tiny loans over long terms can round a period's share past what is left; never
        # repay more than the balance nor a negative amount.
        principal = max(ZERO, min(principal, balance))
        balance -= principal
        rows.append((principal, interest))
    return rows


def _cumulative_rows(
    terms: LoanTerms, first_factor: Decimal | None
) -> list[tuple[Decimal, Decimal]]:
    """(principal, interest) per period from the exact schedule, rounding running totals."""
    rnd = terms.conventions.rounding
    n = terms.term_months
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        r = terms.monthly_rate
        level = _level_payment(terms)
        balance = terms.principal
        exact: list[tuple[Decimal, Decimal]] = []
        for k in range(1, n + 1):
            regular_interest = balance * r
            interest = regular_interest
            if k == 1 and first_factor is not None:
                interest = balance * first_factor
            if k == n:
                principal = balance
            elif level is not None:
                principal = level - regular_interest
            elif terms.method is RepaymentMethod.EQUAL_PRINCIPAL:
                principal = terms.principal / n
            else:
                principal = Decimal(0)
            principal = max(Decimal(0), min(principal, balance))
            balance -= principal
            exact.append((principal, interest))
        rows: list[tuple[Decimal, Decimal]] = []
        cum_p = cum_i = Decimal(0)
        shown_p = shown_i = ZERO
        for principal, interest in exact:
            cum_p += principal
            cum_i += interest
            next_p = fen(cum_p, rnd)
            next_i = fen(cum_i, rnd)
            rows.append((next_p - shown_p, next_i - shown_i))
            shown_p, shown_i = next_p, next_i
    # The exact principals sum to the loan amount, so the rounded running total ends on it.
    assert shown_p == terms.principal.quantize(FEN)
    return rows


def period_bounds(schedule: Schedule) -> tuple[tuple[date, date], ...]:
    """(start, end) contractual dates of each installment's interest period, in order.

    The first period starts on the disbursement date; each later one on the previous
    contractual due date. Holiday shifts do not move these (interest ignores them).
    """
    ends = contractual_due_dates(schedule.terms)
    starts = (schedule.terms.disbursement_date, *ends[:-1])
    return tuple(zip(starts, ends, strict=True))


def renumber(schedule: Schedule, first_period: int) -> Schedule:
    """The same schedule with periods counted from `first_period`.

    A schedule that replaces the rest of an older one (after a partial prepayment or a
    restructuring) keeps the borrower's period numbers: the old period 8 stays "第 8 期".
    """
    offset = first_period - 1
    return Schedule(
        terms=schedule.terms,
        installments=tuple(
            replace(inst, period=inst.period + offset) for inst in schedule.installments
        ),
    )


def elapsed_months(start: date, on: date) -> int:
    """Whole months from `start` to `on` (a month is reached on the same day, clamped)."""
    if on < start:
        return 0
    months = (on.year - start.year) * 12 + (on.month - start.month)
    while months > 0 and add_months(start, months, start.day) > on:
        months -= 1
    return months
