"""Early repayment (提前还款): eligibility, fees, payoff and partial-prepayment quotes.

Everything is computed from the loan's schedule and its ledger events as of a date (see
`posting.position_as_of`), so a quote is reproducible: the same loan, events and date give
the same figures.

* Eligibility (`PrepaymentPolicy`): a lock-in period in months from disbursement, a maximum
  number of prepayments per calendar year, and a minimum amount for a partial prepayment.
  A refusal names the date from which it would be allowed when waiting helps.
* Fee (`FeeRule`): a percentage of the prepaid principal, of the loan amount or of the
  remaining principal, tiered by whole months elapsed since disbursement (e.g. 3 %/2 %/1 %
  by year of the term, or 5 % of remaining principal within 3 years), or a number of
  months of interest on the prepaid principal; waivable in full or in part with a reason.
* Full payoff quote: outstanding principal, overdue interest and interest accrued in the
  running period (pro rata by days), penalty, fee, less held credit; itemized, with the
  date up to which it is valid.
* Partial prepayment: the amount is principal (提前还本金额). Whatever is due by the date
  (overdue amounts, penalty, an installment due that day) is paid with it, plus interest
  on the prepaid principal from the start of the running period to the date. The rest of
  the loan is re-amortized from the running period on, with the borrower's choice of a
  shorter term (same installment) or a lower installment (same term).
* Interest saved: the interest the current schedule would still charge less the interest
  the prepayment route charges; never negative (a cap on the running period makes sure
  fen rounding cannot make a prepayment cost interest).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal, localcontext
from enum import StrEnum

from huifang.domain.money import ZERO, Rounding, fen
from huifang.domain.posting import (
    LedgerEvent,
    LoanPosition,
    PostingRules,
    Reversal,
    payoff_amounts,
    position_as_of,
)
from huifang.domain.schedule import (
    LoanTerms,
    RepaymentMethod,
    Schedule,
    add_months,
    annuity_payment,
    build_schedule,
    elapsed_months,
    period_bounds,
    renumber,
)


class PrepaymentMode(StrEnum):
    """What a partial prepayment changes in the rest of the schedule."""

    SHORTEN_TERM = "shorten-term"  # 缩短期限, installment about the same
    LOWER_INSTALLMENT = "lower-installment"  # 减少月供, same term


class FeeBase(StrEnum):
    """What a prepayment fee percentage is applied to."""

    PREPAID_PRINCIPAL = "prepaid-principal"
    LOAN_AMOUNT = "loan-amount"
    REMAINING_PRINCIPAL = "remaining-principal"
    MONTHS_OF_INTEREST = "months-of-interest"  # N months of interest on prepaid principal


@dataclass(frozen=True)
class FeeTier:
    """A fee rate applying while fewer than `before_month` whole months have elapsed.

    `before_month=None` is the open-ended last tier.
    """

    before_month: int | None
    rate: Decimal


@dataclass(frozen=True)
class FeeRule:
    """How a product charges for prepayment. The default charges nothing.

    Examples: 3 %/2 %/1 % of the prepaid principal by year of the term is
    `FeeRule(FeeBase.PREPAID_PRINCIPAL, (FeeTier(12, Decimal("0.03")), FeeTier(24,
    Decimal("0.02")), FeeTier(None, Decimal("0.01"))))`; 5 % of remaining principal within
    3 years is `FeeRule(FeeBase.REMAINING_PRINCIPAL, (FeeTier(36, Decimal("0.05")),))`.
    """

    base: FeeBase = FeeBase.PREPAID_PRINCIPAL
    tiers: tuple[FeeTier, ...] = ()
    months_of_interest: int = 0
    minimum: Decimal = ZERO

    def __post_init__(self) -> None:
        bounds = [t.before_month for t in self.tiers]
        if None in bounds[:-1]:
            raise ValueError("只有最后一档可以不设上限")
        finite = [b for b in bounds if b is not None]
        if finite != sorted(finite) or len(set(finite)) != len(finite):
            raise ValueError("手续费分档必须按月数递增")
        if any(t.rate < 0 for t in self.tiers) or self.months_of_interest < 0:
            raise ValueError("手续费率不能为负")

    def rate_at(self, months_elapsed: int) -> Decimal:
        """The tier's rate after `months_elapsed` whole months (0 past the last tier)."""
        for tier in self.tiers:
            if tier.before_month is None or months_elapsed < tier.before_month:
                return tier.rate
        return Decimal(0)


@dataclass(frozen=True)
class FeeWaiver:
    """A waiver of the prepayment fee (减免), in full or a share of it, always with a reason."""

    reason: str
    approved_by: str = ""
    share: Decimal = Decimal(1)

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise ValueError("减免手续费必须说明原因")
        if not Decimal(0) < self.share <= 1:
            raise ValueError("减免比例必须在 (0, 1] 之间")


@dataclass(frozen=True)
class FeeCharge:
    """The fee as computed, what was waived, and what is charged."""

    gross: Decimal
    waived: Decimal
    basis: str
    waiver: FeeWaiver | None = None

    @property
    def net(self) -> Decimal:
        return self.gross - self.waived


@dataclass(frozen=True)
class PrepaymentPolicy:
    """A product's early-repayment rules.

    lock_in_months:   no prepayment before this many months after disbursement.
    max_per_year:     at most this many prepayments (partial or full) per calendar year.
    minimum_amount:   the least principal a partial prepayment may repay.
    quote_valid_days: a quote is valid through as-of + this many days (never past the day
                      before the next due date); interest and penalty are then counted to
                      that last day, and paying earlier leaves the difference as credit.
    """

    lock_in_months: int = 0
    max_per_year: int | None = None
    minimum_amount: Decimal = ZERO
    fee: FeeRule = FeeRule()
    quote_valid_days: int = 0


@dataclass(frozen=True)
class Eligibility:
    """Whether a prepayment is allowed on a date; when not, why and from when."""

    allowed: bool
    reasons: tuple[str, ...] = ()
    allowed_from: date | None = None


class PrepaymentRefused(ValueError):
    """A prepayment that the policy does not allow; carries the eligibility verdict."""

    def __init__(self, eligibility: Eligibility) -> None:
        self.eligibility = eligibility
        super().__init__("; ".join(eligibility.reasons))


def check_eligibility(
    terms: LoanTerms,
    policy: PrepaymentPolicy,
    on: date,
    principal: Decimal | None = None,
    outstanding_principal: Decimal | None = None,
    previous_prepayments: Sequence[date] = (),
) -> Eligibility:
    """May the borrower prepay on `on`? `principal` None is a full payoff.

    `previous_prepayments` are the dates of earlier prepayments (for the yearly maximum).
    """
    reasons: list[str] = []
    waits: list[date] = []
    unlocked = add_months(
        terms.disbursement_date, policy.lock_in_months, terms.disbursement_date.day
    )
    if on < unlocked:
        reasons.append(f"锁定期 {policy.lock_in_months} 个月内不可提前还款, {unlocked} 起可办理")
        waits.append(unlocked)
    if policy.max_per_year is not None:
        this_year = sum(1 for d in previous_prepayments if d.year == on.year)
        if this_year >= policy.max_per_year:
            next_year = date(on.year + 1, 1, 1)
            reasons.append(
                f"本年已提前还款 {this_year} 次, 每年最多 {policy.max_per_year} 次, "
                f"{next_year} 起可办理"
            )
            waits.append(next_year)
    if principal is not None:
        if principal <= 0:
            reasons.append("提前还本金额必须大于零")
        elif principal < policy.minimum_amount:
            reasons.append(f"提前还本金额 {principal} 低于最低金额 {policy.minimum_amount}")
        if outstanding_principal is not None and principal >= outstanding_principal:
            reasons.append(f"提前还本金额不小于未到期本金 {outstanding_principal}, 请办理全部结清")
    if not reasons:
        return Eligibility(True)
    # Waiting only helps when every reason is a date; an amount problem has no date.
    date_only = len(waits) == len(reasons)
    return Eligibility(False, tuple(reasons), max(waits) if date_only and waits else None)


def prepayment_fee(
    rule: FeeRule,
    terms: LoanTerms,
    on: date,
    prepaid_principal: Decimal,
    remaining_principal: Decimal,
    waiver: FeeWaiver | None = None,
) -> FeeCharge:
    """The fee for prepaying `prepaid_principal` of `remaining_principal` on `on`."""
    rounding = terms.conventions.rounding
    months = elapsed_months(terms.disbursement_date, on)
    if rule.base is FeeBase.MONTHS_OF_INTEREST:
        gross = fen(prepaid_principal * terms.monthly_rate * rule.months_of_interest, rounding)
        basis = f"{rule.months_of_interest} 个月利息 (提前还本 {prepaid_principal})"
    else:
        rate = rule.rate_at(months)
        amount = {
            FeeBase.PREPAID_PRINCIPAL: prepaid_principal,
            FeeBase.LOAN_AMOUNT: terms.principal,
            FeeBase.REMAINING_PRINCIPAL: remaining_principal,
        }[rule.base]
        gross = fen(amount * rate, rounding)
        basis = f"{amount} × {rate * 100:.4g}% (已还款 {months} 个月)"
    if gross > 0:
        gross = max(gross, rule.minimum)
    waived = fen(gross * waiver.share, rounding) if waiver is not None else ZERO
    return FeeCharge(gross=gross, waived=waived, basis=basis, waiver=waiver)


@dataclass(frozen=True)
class QuoteLine:
    """One item of a quote, labelled in Chinese and English."""

    code: str
    label_zh: str
    label_en: str
    amount: Decimal


@dataclass(frozen=True)
class PayoffQuote:
    """Full payoff (提前结清) as of a date, itemized; pay `total` by `valid_until`."""

    as_of: date
    valid_until: date
    principal: Decimal
    interest: Decimal
    penalty: Decimal
    fee: FeeCharge
    credit: Decimal
    total: Decimal
    interest_saved: Decimal
    lines: tuple[QuoteLine, ...]


@dataclass(frozen=True)
class PartialPrepaymentQuote:
    """Partial prepayment as of a date, with the schedule that replaces the rest.

    `principal` is the prepaid principal; `due_principal`/`due_interest` are amounts due
    by the date that are paid with it; `interest` is those due interest plus interest on
    the prepaid principal for the running period. `new_schedule` replaces the installments
    from `first_new_period` on and keeps their numbering; `carried_credit` opens its ledger.
    A partial quote is valid on its date only (`valid_until == as_of`): the interest on the
    prepaid principal runs to that day.
    """

    as_of: date
    valid_until: date
    mode: PrepaymentMode
    principal: Decimal
    due_principal: Decimal
    interest: Decimal
    penalty: Decimal
    fee: FeeCharge
    credit: Decimal
    total: Decimal
    interest_saved: Decimal
    new_schedule: Schedule
    first_new_period: int
    carried_credit: Decimal
    lines: tuple[QuoteLine, ...]


def _valid_until(schedule: Schedule, position: LoanPosition, policy: PrepaymentPolicy) -> date:
    as_of = position.as_of
    last = as_of + timedelta(days=policy.quote_valid_days)
    upcoming = [i.due_date for i in schedule.installments if i.due_date > as_of]
    if upcoming:
        # Past the next due date another installment falls due and the figures change.
        last = min(last, upcoming[0] - timedelta(days=1))
    return max(as_of, last)


def payoff_quote(
    schedule: Schedule,
    events: Iterable[LedgerEvent],
    as_of: date,
    policy: PrepaymentPolicy | None = None,
    rules: PostingRules | None = None,
    previous_prepayments: Sequence[date] = (),
    waiver: FeeWaiver | None = None,
) -> PayoffQuote:
    """What closing the loan costs on `as_of`; raises PrepaymentRefused when not allowed."""
    policy = policy or PrepaymentPolicy()
    event_list = [e for e in events if _event_date(e) <= as_of]
    today = position_as_of(schedule, event_list, as_of, rules)
    if today.is_closed:
        raise PrepaymentRefused(Eligibility(False, ("贷款已结清",)))
    verdict = check_eligibility(
        schedule.terms, policy, as_of, previous_prepayments=previous_prepayments
    )
    if not verdict.allowed:
        raise PrepaymentRefused(verdict)
    valid_until = _valid_until(schedule, today, policy)
    position = position_as_of(schedule, event_list, valid_until, rules)
    owed = payoff_amounts(position)
    fee = prepayment_fee(
        policy.fee,
        schedule.terms,
        as_of,
        prepaid_principal=owed.principal,
        remaining_principal=owed.principal,
        waiver=waiver,
    )
    credit = owed.credit + owed.interest_refund
    total = owed.net_due(fee.net)
    interest_charged = owed.interest - owed.interest_refund
    still_scheduled = sum((i.interest_outstanding for i in position.installments), ZERO)
    lines = (
        QuoteLine("principal", "剩余本金", "outstanding principal", owed.all_principal),
        QuoteLine("overdue_interest", "逾期利息", "overdue interest", owed.overdue_interest),
        QuoteLine("accrued_interest", "应计利息", "accrued interest", owed.accrued_interest),
        QuoteLine("penalty", "罚息", "penalty interest", owed.penalty),
        QuoteLine("fee", "提前还款手续费", "prepayment fee", fee.gross),
        QuoteLine("fee_waived", "手续费减免", "fee waived", -fee.waived),
        QuoteLine("credit", "溢缴款抵扣", "credit applied", -credit),
        QuoteLine("total", "应还合计", "total", total),
    )
    return PayoffQuote(
        as_of=as_of,
        valid_until=valid_until,
        principal=owed.all_principal,
        interest=owed.interest,
        penalty=owed.penalty,
        fee=fee,
        credit=credit,
        total=total,
        interest_saved=still_scheduled - interest_charged,
        lines=lines,
    )


def _event_date(e: LedgerEvent) -> date:
    return e.reversed_on if isinstance(e, Reversal) else e.received_on


def partial_prepayment_quote(
    schedule: Schedule,
    events: Iterable[LedgerEvent],
    as_of: date,
    principal: Decimal,
    mode: PrepaymentMode,
    policy: PrepaymentPolicy | None = None,
    rules: PostingRules | None = None,
    previous_prepayments: Sequence[date] = (),
    waiver: FeeWaiver | None = None,
) -> PartialPrepaymentQuote:
    """Prepay `principal` on `as_of` and re-amortize the rest by `mode`.

    Raises PrepaymentRefused when the policy does not allow it (lock-in, yearly maximum,
    minimum amount, or an amount that would repay everything: use `payoff_quote`).
    """
    policy = policy or PrepaymentPolicy()
    event_list = [e for e in events if _event_date(e) <= as_of]
    position = position_as_of(schedule, event_list, as_of, rules)
    if position.is_closed:
        raise PrepaymentRefused(Eligibility(False, ("贷款已结清",)))
    future = [i for i, inst in enumerate(schedule.installments) if inst.due_date > as_of]
    if not future:
        raise PrepaymentRefused(Eligibility(False, ("没有未到期本金, 请办理全部结清",)))
    k = future[0]
    balance = schedule.balance_before(schedule.installments[k].period)
    verdict = check_eligibility(
        schedule.terms, policy, as_of, principal, balance, previous_prepayments
    )
    if not verdict.allowed:
        raise PrepaymentRefused(verdict)
    if (
        mode is PrepaymentMode.SHORTEN_TERM
        and schedule.terms.method is RepaymentMethod.INTEREST_FIRST
    ):
        raise ValueError("先息后本贷款提前还本只能减少利息, 请选择减少月供 (lower-installment)")

    rounding = schedule.terms.conventions.rounding
    new_schedule = _reamortize(schedule, k, balance - principal, mode)
    old_running = schedule.installments[k].interest
    start, end = period_bounds(schedule)[k]
    with localcontext() as ctx:
        ctx.prec = 50
        share = principal / balance
        fraction = Decimal((as_of - start).days) / Decimal((end - start).days)
        accrued = fen(old_running * share * fraction, rounding)
    # Rounding must never make the running period dearer than it was.
    accrued = min(accrued, max(ZERO, old_running - new_schedule.installments[0].interest))

    due_now = [i for i in position.installments[:k] if not i.is_settled]
    due_principal = sum((i.principal_outstanding for i in due_now), ZERO)
    due_interest = sum((i.interest_outstanding for i in due_now), ZERO)
    penalty = position.penalty_outstanding
    # Money already paid toward installments that the new schedule replaces goes back to
    # credit, with any credit held; it is used against this quote first.
    paid_ahead = sum((i.principal_paid + i.interest_paid for i in position.installments[k:]), ZERO)
    credit = position.credit + paid_ahead
    fee = prepayment_fee(policy.fee, schedule.terms, as_of, principal, balance, waiver)
    gross = principal + due_principal + due_interest + accrued + penalty + fee.net
    used_credit = min(credit, gross)
    total = gross - used_credit

    old_remaining = sum((inst.interest for inst in schedule.installments[k:]), ZERO)
    interest_saved = old_remaining - accrued - new_schedule.total_interest
    lines = (
        QuoteLine("principal", "提前还本金额", "prepaid principal", principal),
        QuoteLine("due_principal", "到期未还本金", "principal due", due_principal),
        QuoteLine("due_interest", "到期未还利息", "interest due", due_interest),
        QuoteLine("accrued_interest", "提前还本部分应计利息", "accrued interest", accrued),
        QuoteLine("penalty", "罚息", "penalty interest", penalty),
        QuoteLine("fee", "提前还款手续费", "prepayment fee", fee.gross),
        QuoteLine("fee_waived", "手续费减免", "fee waived", -fee.waived),
        QuoteLine("credit", "溢缴款抵扣", "credit applied", -used_credit),
        QuoteLine("total", "应还合计", "total", total),
    )
    return PartialPrepaymentQuote(
        as_of=as_of,
        valid_until=as_of,
        mode=mode,
        principal=principal,
        due_principal=due_principal,
        interest=due_interest + accrued,
        penalty=penalty,
        fee=fee,
        credit=used_credit,
        total=total,
        interest_saved=interest_saved,
        new_schedule=new_schedule,
        first_new_period=schedule.installments[k].period,
        carried_credit=credit - used_credit,
        lines=lines,
    )


def _reamortize(schedule: Schedule, k: int, new_balance: Decimal, mode: PrepaymentMode) -> Schedule:
    """The schedule for `new_balance` over the running period (index `k`) and after."""
    old = schedule.terms
    start, end = period_bounds(schedule)[k]
    remaining = len(schedule.installments) - k
    months = remaining
    if mode is PrepaymentMode.SHORTEN_TERM:
        months = _shortened_term(schedule, k, new_balance, remaining)
    terms = replace(
        old,
        principal=new_balance,
        term_months=months,
        disbursement_date=start,
        first_due_date=end,
        repayment_day=old.effective_repayment_day,
    )
    new = build_schedule(terms)
    # Holiday shifts apply to the new dates as to the old: reuse the old due dates, which
    # are the same contractual dates shifted the same way.
    new = Schedule(
        terms=new.terms,
        installments=tuple(
            replace(inst, due_date=schedule.installments[k + j].due_date)
            for j, inst in enumerate(new.installments)
        ),
    )
    return renumber(new, schedule.installments[k].period)


def _shortened_term(schedule: Schedule, k: int, new_balance: Decimal, remaining: int) -> int:
    """The fewest months that repay `new_balance` without raising the installment."""
    terms = schedule.terms
    rounding: Rounding = terms.conventions.rounding
    if terms.method is RepaymentMethod.EQUAL_PRINCIPAL:
        per_month = schedule.installments[0].principal
        with localcontext() as ctx:
            ctx.prec = 50
            months = int((new_balance / per_month).to_integral_value(rounding="ROUND_CEILING"))
        return max(1, min(remaining, months))
    balloon = fen(new_balance * terms.balloon_pct, rounding)
    level = fen(
        annuity_payment(
            terms.principal, terms.monthly_rate, terms.term_months, terms.balloon_amount
        ),
        rounding,
    )
    for months in range(1, remaining + 1):
        if (
            fen(annuity_payment(new_balance, terms.monthly_rate, months, balloon), rounding)
            <= level
        ):
            return months
    return remaining
