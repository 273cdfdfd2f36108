"""Restructuring (贷款重组): term extension, rate reduction, payment holiday; maker-checker.

A restructuring never edits a schedule. It produces a new `ScheduleVersion` that replaces
the old schedule from the running period on and links back to the version it replaces, so
the history of what the borrower was told to pay stays readable.

How the new schedule is made, as of the effective date:

* The running period is the first installment due after the effective date; the new
  schedule starts at that period's contractual start and keeps the period numbers.
* Everything unpaid by the effective date — principal of installments already due, and,
  when `capitalize_arrears` (default), their interest and the penalty — becomes principal
  of the new schedule. Without capitalization, unpaid interest or penalty must be settled
  first and the request is refused.
* Money already paid toward installments the new schedule replaces, and held credit, open
  the new version's ledger as credit.
* Changes (any combination, applied together):
  `TermExtension(months)` (展期) adds months to the remaining term;
  `RateReduction(new_annual_rate)` (减息) re-prices the rest of the loan;
  `PaymentHoliday(months, capitalize_interest)` (延期还款) puts that many months in front
  of the amortization: with capitalized interest nothing is paid and each month's interest
  is added to principal (the row carries the interest as negative principal, so the
  balance rises); without, the borrower pays interest only. The amortizing part keeps its
  remaining term.
* Maker-checker: `apply_restructuring` needs an `Approval` by someone other than the
  requester, dated on or after the request. `preview_restructuring` shows the maker the
  result without one.

For classification, a restructured loan stays at least 关注 through an observation period
from the effective date (see `delinquency.classify`, `restructured_on`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from huifang.domain.money import ZERO, fen
from huifang.domain.posting import LedgerEvent, PostingRules, Reversal, position_as_of
from huifang.domain.schedule import (
    BusinessCalendar,
    HolidayShift,
    Installment,
    Schedule,
    build_schedule,
    contractual_due_dates,
    day_fraction,
    is_regular_first_period,
    period_bounds,
    renumber,
    shift_due_date,
)


@dataclass(frozen=True)
class TermExtension:
    """展期: add `months` to the remaining term."""

    months: int

    def __post_init__(self) -> None:
        if self.months < 1:
            raise ValueError("展期月数至少为 1")


@dataclass(frozen=True)
class RateReduction:
    """减息: the annual rate (a fraction) from the running period on."""

    new_annual_rate: Decimal

    def __post_init__(self) -> None:
        if self.new_annual_rate < 0:
            raise ValueError("利率不能为负")


@dataclass(frozen=True)
class PaymentHoliday:
    """延期还款: `months` without principal; interest capitalized or paid."""

    months: int
    capitalize_interest: bool = True

    def __post_init__(self) -> None:
        if self.months < 1:
            raise ValueError("延期还款月数至少为 1")


Change = TermExtension | RateReduction | PaymentHoliday


@dataclass(frozen=True)
class RestructuringRequest:
    """What the maker asks for, for which loan, from when, and why."""

    request_id: str
    loan_id: str
    requested_by: str
    requested_on: date
    effective_on: date
    changes: tuple[Change, ...]
    reason: str
    capitalize_arrears: bool = True

    def __post_init__(self) -> None:
        if not self.changes:
            raise ValueError("重组申请至少包含一项变更")
        if not self.reason.strip():
            raise ValueError("重组申请必须说明原因")
        if not self.requested_by.strip():
            raise ValueError("重组申请必须有申请人")
        kinds = [type(c) for c in self.changes]
        if len(set(kinds)) != len(kinds):
            raise ValueError("同一类变更只能出现一次")


class MakerCheckerViolation(ValueError):
    """The approval does not satisfy maker-checker (same person, or dated before request)."""


@dataclass(frozen=True)
class Approval:
    """The checker's approval of a request."""

    request_id: str
    approved_by: str
    approved_on: date
    note: str = ""


def approve(
    request: RestructuringRequest, approved_by: str, approved_on: date, note: str = ""
) -> Approval:
    """The checker approves `request`; refused when the checker is the maker."""
    if not approved_by.strip():
        raise MakerCheckerViolation("审批人不能为空")
    if approved_by.strip() == request.requested_by.strip():
        raise MakerCheckerViolation("审批人不能与申请人相同 (双人复核)")
    if approved_on < request.requested_on:
        raise MakerCheckerViolation("审批日期不能早于申请日期")
    return Approval(request.request_id, approved_by, approved_on, note)


@dataclass(frozen=True)
class ScheduleVersion:
    """One version of a loan's schedule, linked to the version it replaced.

    `first_period` is the first period this version governs (1 for the original);
    earlier periods stay governed by `previous`. `opening_credit` opens its ledger.
    """

    loan_id: str
    version: int
    schedule: Schedule
    effective_from: date
    first_period: int = 1
    previous: ScheduleVersion | None = None
    request: RestructuringRequest | None = None
    approval: Approval | None = None
    opening_credit: Decimal = ZERO

    @property
    def history(self) -> tuple[ScheduleVersion, ...]:
        """All versions, oldest first, ending with this one."""
        chain: list[ScheduleVersion] = []
        node: ScheduleVersion | None = self
        while node is not None:
            chain.append(node)
            node = node.previous
        return tuple(reversed(chain))

    @property
    def restructured_on(self) -> date | None:
        """The effective date of the latest restructuring, for the observation rule."""
        for v in reversed(self.history):
            if v.request is not None:
                return v.effective_from
        return None


def initial_version(loan_id: str, schedule: Schedule) -> ScheduleVersion:
    """Version 1: the schedule the loan was disbursed with."""
    return ScheduleVersion(loan_id, 1, schedule, schedule.terms.disbursement_date)


@dataclass(frozen=True)
class RestructuringResult:
    """A proposed or applied restructuring with the figures a checker looks at."""

    version: ScheduleVersion
    new_principal: Decimal
    capitalized_arrears: Decimal
    old_remaining_interest: Decimal
    new_total_interest: Decimal

    @property
    def interest_change(self) -> Decimal:
        """New interest less the interest the old schedule still had (positive: costs more)."""
        return self.new_total_interest - self.old_remaining_interest


def preview_restructuring(
    current: ScheduleVersion,
    events: Iterable[LedgerEvent],
    request: RestructuringRequest,
    rules: PostingRules | None = None,
    calendar: BusinessCalendar | None = None,
) -> RestructuringResult:
    """What `request` would do to the loan (no approval needed to look)."""
    if request.loan_id != current.loan_id:
        raise ValueError("重组申请与贷款不符")
    schedule = current.schedule
    on = request.effective_on
    event_list = [
        e for e in events if (e.reversed_on if isinstance(e, Reversal) else e.received_on) <= on
    ]
    position = position_as_of(schedule, event_list, on, rules, current.opening_credit)
    if position.is_closed:
        raise ValueError("贷款已结清, 不能重组")
    future = [i for i, inst in enumerate(schedule.installments) if inst.due_date > on]
    if not future:
        raise ValueError("贷款已全部到期, 请按逾期处理或展期前先确定新的到期安排")
    k = future[0]
    due_now = [i for i in position.installments[:k] if not i.is_settled]
    arrears = sum((i.interest_outstanding for i in due_now), ZERO) + position.penalty_outstanding
    if arrears and not request.capitalize_arrears:
        raise ValueError(f"尚有逾期利息和罚息 {arrears}, 请先结清或选择资本化")
    principal = position.outstanding_principal + (arrears if request.capitalize_arrears else ZERO)
    paid_ahead = sum((i.principal_paid + i.interest_paid for i in position.installments[k:]), ZERO)
    # Principal paid ahead is returned as credit, so it must not also reduce the principal.
    principal += sum((i.principal_paid for i in position.installments[k:]), ZERO)

    new_schedule = _new_schedule(schedule, k, principal, request.changes, calendar)
    old_remaining = sum((inst.interest for inst in schedule.installments[k:]), ZERO)
    first_period = schedule.installments[k].period
    version = ScheduleVersion(
        loan_id=current.loan_id,
        version=current.version + 1,
        schedule=new_schedule,
        effective_from=on,
        first_period=first_period,
        previous=current,
        request=request,
        opening_credit=position.credit + paid_ahead,
    )
    return RestructuringResult(
        version=version,
        new_principal=principal,
        capitalized_arrears=arrears if request.capitalize_arrears else ZERO,
        old_remaining_interest=old_remaining,
        new_total_interest=new_schedule.total_interest,
    )


def apply_restructuring(
    current: ScheduleVersion,
    events: Iterable[LedgerEvent],
    request: RestructuringRequest,
    approval: Approval,
    rules: PostingRules | None = None,
    calendar: BusinessCalendar | None = None,
) -> RestructuringResult:
    """Apply an approved restructuring; the approval must pass maker-checker."""
    if approval.request_id != request.request_id:
        raise MakerCheckerViolation("审批与申请不符")
    # Re-check: an Approval may have been built by hand rather than by `approve`.
    approve(request, approval.approved_by, approval.approved_on, approval.note)
    result = preview_restructuring(current, events, request, rules, calendar)
    return replace(result, version=replace(result.version, approval=approval))


def _new_schedule(
    schedule: Schedule,
    k: int,
    principal: Decimal,
    changes: tuple[Change, ...],
    calendar: BusinessCalendar | None,
) -> Schedule:
    old = schedule.terms
    start, end = period_bounds(schedule)[k]
    remaining = len(schedule.installments) - k
    rate = old.annual_rate
    holiday: PaymentHoliday | None = None
    for change in changes:
        if isinstance(change, TermExtension):
            remaining += change.months
        elif isinstance(change, RateReduction):
            rate = change.new_annual_rate
        else:
            holiday = change
    holiday_months = holiday.months if holiday else 0
    whole = replace(
        old,
        principal=principal,
        annual_rate=rate,
        term_months=holiday_months + remaining,
        disbursement_date=start,
        first_due_date=end,
        repayment_day=old.effective_repayment_day,
    )
    dates = contractual_due_dates(whole)
    rows: list[Installment] = []
    balance = principal
    if holiday is not None:
        rounding = old.conventions.rounding
        for j in range(holiday.months):
            if j == 0 and not is_regular_first_period(whole, end):
                factor = rate * day_fraction(start, end, old.conventions.day_count)
            else:
                factor = whole.monthly_rate
            interest = fen(balance * factor, rounding)
            if holiday.capitalize_interest:
                # Capitalized: nothing to pay; the interest becomes principal.
                rows.append(
                    Installment(j + 1, dates[j], ZERO, -interest, interest, balance + interest)
                )
                balance += interest
            else:
                rows.append(Installment(j + 1, dates[j], interest, ZERO, interest, balance))
    amort_start = dates[holiday_months - 1] if holiday_months else start
    amort_terms = replace(
        whole,
        principal=balance,
        term_months=remaining,
        disbursement_date=amort_start,
        first_due_date=dates[holiday_months],
    )
    amort = build_schedule(amort_terms, calendar)
    if (
        holiday_months
        and calendar is not None
        and old.conventions.holiday_shift is not HolidayShift.NONE
    ):
        rows = [
            replace(r, due_date=shift_due_date(r.due_date, old.conventions.holiday_shift, calendar))
            for r in rows
        ]
    rows.extend(replace(inst, period=inst.period + holiday_months) for inst in amort.installments)
    combined = Schedule(terms=whole, installments=tuple(rows))
    return renumber(combined, schedule.installments[k].period)
