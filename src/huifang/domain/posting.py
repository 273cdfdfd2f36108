"""Payment posting: what a loan's payments paid, as of a date, and what is still owed.

A loan's position is never stored and edited; it is folded from the schedule and the list
of ledger events (payments, payoffs, reversals) as of a date. Reversing a payment therefore
re-posts everything after it as if it had never been received, which is how core banking
systems (Fineract's "reprocessing") keep allocations consistent.

Rules, all product settings (`PostingRules`):

* Allocation order, default 罚息 → 逾期利息 → 逾期本金 → 当期利息 → 当期本金 (penalty, overdue
  interest, overdue principal, current interest, current principal). "Overdue" is an
  installment whose due date is before the payment date; "current" is the earliest unpaid
  installment due on or after it, so a payment on the due date is on time and a payment
  one day later pays an overdue installment.
* What is left after the current installment is held as credit (溢缴款), never lost; credit
  pays each later installment on its due date, before it can become overdue.
* Penalty interest (罚息) accrues daily on overdue principal at the contract rate × 1.5
  (or a fixed penalty rate), days / 360. It is accrued exactly and rounded on the running
  total, so the penalty charged never depends on how often the position is looked at.
  Overdue principal bears penalty instead of contract interest: the schedule's later
  interest is computed on the scheduled balance, which already excludes it.
* A payoff (提前结清) pays everything owed on its date: penalty, overdue amounts, the fee,
  interest accrued in the running period pro rata by days, and all remaining principal;
  the rest of the schedule's interest is waived and the loan is closed.

Conservation: received + opening credit = principal paid + interest paid + penalty paid +
fees paid + credit, always.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, localcontext
from enum import StrEnum

from huifang.domain.money import ZERO, Rounding, fen
from huifang.domain.schedule import Schedule, period_bounds


class Component(StrEnum):
    """What part of the debt an allocated amount paid."""

    PENALTY = "penalty"  # 罚息
    OVERDUE_INTEREST = "overdue-interest"  # 逾期利息
    OVERDUE_PRINCIPAL = "overdue-principal"  # 逾期本金
    CURRENT_INTEREST = "current-interest"  # 当期利息
    CURRENT_PRINCIPAL = "current-principal"  # 当期本金
    # Only a payoff allocates to these:
    FEE = "fee"  # 提前还款手续费
    ACCRUED_INTEREST = "accrued-interest"  # interest of the running period to the payoff date
    PRINCIPAL = "principal"  # principal not yet due, repaid early
    # The remainder of a payment, held for later installments or refunded:
    CREDIT = "credit"


ALLOCATABLE = (
    Component.PENALTY,
    Component.OVERDUE_INTEREST,
    Component.OVERDUE_PRINCIPAL,
    Component.CURRENT_INTEREST,
    Component.CURRENT_PRINCIPAL,
)
DEFAULT_ALLOCATION_ORDER = ALLOCATABLE

_INTEREST_COMPONENTS = (
    Component.OVERDUE_INTEREST,
    Component.CURRENT_INTEREST,
    Component.ACCRUED_INTEREST,
)
_PRINCIPAL_COMPONENTS = (
    Component.OVERDUE_PRINCIPAL,
    Component.CURRENT_PRINCIPAL,
    Component.PRINCIPAL,
)


@dataclass(frozen=True)
class PostingRules:
    """A product's posting settings.

    allocation_order:    a permutation of the five `ALLOCATABLE` components.
    penalty_multiplier:  penalty rate = contract rate × this (default 1.5, i.e. +50 %).
    penalty_annual_rate: a fixed penalty rate instead, when the product has one.
    penalty_day_basis:   days in the year for the daily penalty rate (360 by default).
    rounding:            how the penalty is rounded to the fen.
    """

    allocation_order: tuple[Component, ...] = DEFAULT_ALLOCATION_ORDER
    penalty_multiplier: Decimal = Decimal("1.5")
    penalty_annual_rate: Decimal | None = None
    penalty_day_basis: int = 360
    rounding: Rounding = Rounding.HALF_UP

    def __post_init__(self) -> None:
        if sorted(self.allocation_order) != sorted(ALLOCATABLE):
            raise ValueError(f"还款顺序必须恰好包含 {[c.value for c in ALLOCATABLE]}")
        if self.penalty_multiplier < 0:
            raise ValueError("罚息倍数不能为负")
        if self.penalty_annual_rate is not None and self.penalty_annual_rate < 0:
            raise ValueError("罚息利率不能为负")
        if self.penalty_day_basis not in (360, 365):
            raise ValueError("罚息计息基础只能是 360 或 365 天")

    def penalty_rate(self, contract_rate: Decimal) -> Decimal:
        """The annual penalty rate for a loan at `contract_rate`."""
        if self.penalty_annual_rate is not None:
            return self.penalty_annual_rate
        return contract_rate * self.penalty_multiplier


@dataclass(frozen=True)
class Payment:
    """Money received from the borrower on a date, allocated by the product's order."""

    payment_id: str
    received_on: date
    amount: Decimal

    def __post_init__(self) -> None:
        _check_amount(self.amount)


@dataclass(frozen=True)
class Payoff:
    """Money received to close the loan on a date (提前结清), with the fee charged for it.

    The amount must cover everything owed on the date (the payoff quote); any excess is
    held as credit for refund.
    """

    payment_id: str
    received_on: date
    amount: Decimal
    fee: Decimal = ZERO

    def __post_init__(self) -> None:
        _check_amount(self.amount)
        if self.fee < 0 or fen(self.fee) != self.fee:
            raise ValueError(f"手续费必须是非负的分位金额: {self.fee}")


@dataclass(frozen=True)
class Reversal:
    """Undo a payment (bounced transfer, posted to the wrong loan) from a date on."""

    payment_id: str
    reversed_on: date
    reason: str

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise ValueError("冲正必须说明原因")


LedgerEvent = Payment | Payoff | Reversal


def _check_amount(amount: Decimal) -> None:
    if amount <= 0 or fen(amount) != amount:
        raise ValueError(f"金额必须是大于零的分位金额: {amount}")


@dataclass(frozen=True)
class AllocationLine:
    """One part of an allocation: a component, the installment it paid (if any), how much."""

    component: Component
    period: int | None
    amount: Decimal


@dataclass(frozen=True)
class Allocation:
    """How money was applied on a date: a payment's cash, held credit, or both.

    `amount` is the cash received (zero when only held credit is applied, then
    `payment_id` is None); `from_credit` is the held credit used. The lines always add up
    to `amount + from_credit`; a CREDIT line is what went (back) into credit, and a
    negative interest line is interest paid ahead that a payoff gave back.
    """

    payment_id: str | None
    posted_on: date
    amount: Decimal
    lines: tuple[AllocationLine, ...]
    from_credit: Decimal = ZERO

    @property
    def to_credit(self) -> Decimal:
        return self.total(Component.CREDIT)

    def total(self, component: Component) -> Decimal:
        return sum((ln.amount for ln in self.lines if ln.component is component), ZERO)


@dataclass(frozen=True)
class InstallmentPosition:
    """An installment of the schedule and what has been paid (or waived) of it."""

    period: int
    due_date: date
    principal_due: Decimal
    interest_due: Decimal
    principal_paid: Decimal = ZERO
    interest_paid: Decimal = ZERO
    interest_waived: Decimal = ZERO
    settled_on: date | None = None

    @property
    def principal_outstanding(self) -> Decimal:
        return self.principal_due - self.principal_paid

    @property
    def interest_outstanding(self) -> Decimal:
        return self.interest_due - self.interest_paid - self.interest_waived

    @property
    def outstanding(self) -> Decimal:
        return self.principal_outstanding + self.interest_outstanding

    @property
    def is_settled(self) -> bool:
        return self.outstanding == 0


@dataclass(frozen=True)
class LoanPosition:
    """A loan as of a date: each installment's state, penalty, fees, credit, allocations."""

    schedule: Schedule
    as_of: date
    installments: tuple[InstallmentPosition, ...]
    penalty_charged: Decimal
    penalty_paid: Decimal
    fees_paid: Decimal
    credit: Decimal
    received: Decimal
    opening_credit: Decimal
    allocations: tuple[Allocation, ...]
    reversed_payments: tuple[str, ...] = ()
    closed_on: date | None = None

    @property
    def penalty_outstanding(self) -> Decimal:
        return self.penalty_charged - self.penalty_paid

    @property
    def overdue_installments(self) -> tuple[InstallmentPosition, ...]:
        """Installments due before `as_of` and not settled (on the due date nothing is)."""
        return tuple(i for i in self.installments if i.due_date < self.as_of and not i.is_settled)

    @property
    def overdue_principal(self) -> Decimal:
        return sum((i.principal_outstanding for i in self.overdue_installments), ZERO)

    @property
    def overdue_interest(self) -> Decimal:
        return sum((i.interest_outstanding for i in self.overdue_installments), ZERO)

    @property
    def overdue_amount(self) -> Decimal:
        """Overdue principal and interest plus penalty: what is needed to be current."""
        return self.overdue_principal + self.overdue_interest + self.penalty_outstanding

    @property
    def outstanding_principal(self) -> Decimal:
        """Principal still owed. Settled rows already due are left out, so that interest a
        payment holiday capitalized (a negative-principal row) counts once it has accrued."""
        return sum(
            (
                i.principal_outstanding
                for i in self.installments
                if not (i.is_settled and i.due_date <= self.as_of)
            ),
            ZERO,
        )

    @property
    def oldest_overdue_due_date(self) -> date | None:
        overdue = self.overdue_installments
        return overdue[0].due_date if overdue else None

    @property
    def principal_paid(self) -> Decimal:
        return sum((i.principal_paid for i in self.installments), ZERO)

    @property
    def interest_paid(self) -> Decimal:
        return sum((i.interest_paid for i in self.installments), ZERO)

    @property
    def total_applied(self) -> Decimal:
        """Everything paid toward the debt (not credit)."""
        return self.principal_paid + self.interest_paid + self.penalty_paid + self.fees_paid

    @property
    def is_closed(self) -> bool:
        return self.closed_on is not None or (
            self.outstanding_principal == 0
            and all(i.is_settled for i in self.installments)
            and self.penalty_outstanding == 0
        )

    def installment(self, period: int) -> InstallmentPosition:
        for inst in self.installments:
            if inst.period == period:
                return inst
        raise KeyError(period)


# --- interest accrued within a period ------------------------------------------------------


def accrued_interest(schedule: Schedule, index: int, on: date) -> Decimal:
    """Interest of installment `index` (0-based) earned by `on`: pro rata by actual days.

    Pro rata of the scheduled interest rather than balance × rate × days / 360, so that
    the interest earned over a whole period equals what the schedule says and a payoff on
    a due date charges exactly that installment's interest.
    """
    start, end = period_bounds(schedule)[index]
    interest = schedule.installments[index].interest
    if on <= start:
        return ZERO
    if on >= end:
        return interest
    with localcontext() as ctx:
        ctx.prec = 50
        fraction = interest * (on - start).days / (end - start).days
    return fen(fraction, schedule.terms.conventions.rounding)


@dataclass(frozen=True)
class PayoffAmounts:
    """What closing the loan on the position's date costs, before any fee (提前结清明细).

    `interest_refund` is interest paid ahead of the running period beyond what it earned by
    the date; it is given back, like held `credit`, against the amount due.
    """

    on: date
    penalty: Decimal
    overdue_interest: Decimal
    overdue_principal: Decimal
    accrued_interest: Decimal
    principal: Decimal
    interest_refund: Decimal
    credit: Decimal

    @property
    def gross(self) -> Decimal:
        """Everything owed, before fee, credit and refund."""
        return (
            self.penalty
            + self.overdue_interest
            + self.overdue_principal
            + self.accrued_interest
            + self.principal
        )

    @property
    def interest(self) -> Decimal:
        return self.overdue_interest + self.accrued_interest

    @property
    def all_principal(self) -> Decimal:
        return self.overdue_principal + self.principal

    def net_due(self, fee: Decimal = ZERO) -> Decimal:
        """Cash needed to close the loan with `fee`: never below zero."""
        return max(ZERO, self.gross + fee - self.credit - self.interest_refund)


def payoff_amounts(position: LoanPosition) -> PayoffAmounts:
    """The payoff breakdown of a loan on `position.as_of` (fold the position to that date)."""
    on = position.as_of
    overdue_interest = overdue_principal = accrued = principal = refund = ZERO
    for i, inst in enumerate(position.installments):
        if inst.due_date < on:
            if inst.is_settled:  # incl. a capitalized holiday row: its interest is principal now
                continue
            overdue_interest += inst.interest_outstanding
            overdue_principal += inst.principal_outstanding
            continue
        earned = accrued_interest(position.schedule, i, on)
        if inst.interest_paid > earned:
            refund += inst.interest_paid - earned
        else:
            accrued += earned - inst.interest_paid
        principal += inst.principal_outstanding
    return PayoffAmounts(
        on=on,
        penalty=position.penalty_outstanding,
        overdue_interest=overdue_interest,
        overdue_principal=overdue_principal,
        accrued_interest=accrued,
        principal=principal,
        interest_refund=refund,
        credit=position.credit,
    )


# --- the fold ------------------------------------------------------------------------------


@dataclass
class _Book:
    """Mutable working state of one fold; never escapes `position_as_of`."""

    schedule: Schedule
    rules: PostingRules
    credit: Decimal
    principal_paid: list[Decimal]
    interest_paid: list[Decimal]
    interest_waived: list[Decimal]
    settled_on: list[date | None]
    penalty_exact: Decimal = Decimal(0)
    penalty_paid: Decimal = ZERO
    fees_paid: Decimal = ZERO
    received: Decimal = ZERO
    closed_on: date | None = None
    allocations: list[Allocation] = field(default_factory=list)

    # -- queries

    def principal_left(self, i: int) -> Decimal:
        return self.schedule.installments[i].principal - self.principal_paid[i]

    def interest_left(self, i: int) -> Decimal:
        inst = self.schedule.installments[i]
        return inst.interest - self.interest_paid[i] - self.interest_waived[i]

    def penalty_due(self) -> Decimal:
        return fen(self.penalty_exact, self.rules.rounding) - self.penalty_paid

    def overdue(self, on: date) -> list[int]:
        return [
            i
            for i, inst in enumerate(self.schedule.installments)
            if inst.due_date < on and self.principal_left(i) + self.interest_left(i) > 0
        ]

    def current(self, on: date) -> list[int]:
        for i, inst in enumerate(self.schedule.installments):
            if inst.due_date >= on and self.principal_left(i) + self.interest_left(i) > 0:
                return [i]
        return []

    # -- changes

    def accrue_penalty(self, start: date, end: date) -> None:
        """Penalty for the days (start, end] on the principal overdue throughout them."""
        if self.closed_on is not None or end <= start:
            return
        # Settled rows are skipped: a capitalizing payment holiday's row (restructuring)
        # carries negative principal and must not offset principal that is overdue.
        overdue_principal = sum(
            (
                self.principal_left(i)
                for i, inst in enumerate(self.schedule.installments)
                if inst.due_date <= start and self.principal_left(i) + self.interest_left(i) > 0
            ),
            ZERO,
        )
        if overdue_principal == 0:
            return
        rate = self.rules.penalty_rate(self.schedule.terms.annual_rate)
        with localcontext() as ctx:
            ctx.prec = 50
            self.penalty_exact += (
                overdue_principal * rate * (end - start).days / self.rules.penalty_day_basis
            )

    def pay_interest(self, i: int, amount: Decimal, on: date) -> None:
        self.interest_paid[i] += amount
        self._mark(i, on)

    def pay_principal(self, i: int, amount: Decimal, on: date) -> None:
        self.principal_paid[i] += amount
        self._mark(i, on)

    def _mark(self, i: int, on: date) -> None:
        if self.principal_left(i) + self.interest_left(i) == 0 and self.settled_on[i] is None:
            self.settled_on[i] = on

    def allocate(self, amount: Decimal, on: date) -> list[AllocationLine]:
        """Apply `amount` on `on` in the product's order; returns the lines (no credit line)."""
        lines: list[AllocationLine] = []
        left = amount
        for component in self.rules.allocation_order:
            if left == 0:
                break
            if component is Component.PENALTY:
                take = min(left, self.penalty_due())
                if take > 0:
                    self.penalty_paid += take
                    lines.append(AllocationLine(component, None, take))
                    left -= take
                continue
            targets = (
                self.overdue(on)
                if component in (Component.OVERDUE_INTEREST, Component.OVERDUE_PRINCIPAL)
                else self.current(on)
            )
            interest = component in (Component.OVERDUE_INTEREST, Component.CURRENT_INTEREST)
            for i in targets:
                owed = self.interest_left(i) if interest else self.principal_left(i)
                take = min(left, owed)
                if take <= 0:
                    continue
                if interest:
                    self.pay_interest(i, take, on)
                else:
                    self.pay_principal(i, take, on)
                lines.append(AllocationLine(component, self.schedule.installments[i].period, take))
                left -= take
                if left == 0:
                    break
        return lines

    def apply_credit(self, on: date) -> None:
        """Held credit pays what falls due on `on` before it can become overdue."""
        if self.credit == 0 or self.closed_on is not None:
            return
        lines = self.allocate(self.credit, on)
        used = sum((ln.amount for ln in lines), ZERO)
        if used:
            self.credit -= used
            self.allocations.append(Allocation(None, on, ZERO, tuple(lines), from_credit=used))

    def post_payment(self, payment: Payment) -> None:
        self.received += payment.amount
        on = payment.received_on
        lines = [] if self.closed_on is not None else self.allocate(payment.amount, on)
        rest = payment.amount - sum((ln.amount for ln in lines), ZERO)
        if rest:
            self.credit += rest
            lines.append(AllocationLine(Component.CREDIT, None, rest))
        self.allocations.append(Allocation(payment.payment_id, on, payment.amount, tuple(lines)))

    def post_payoff(self, payoff: Payoff) -> None:
        on = payoff.received_on
        if self.closed_on is not None:
            raise ValueError(f"贷款已于 {self.closed_on} 结清, 不能再次结清")
        owed = payoff_amounts(self.freeze(on, (), ZERO))
        required = owed.net_due(payoff.fee)
        if payoff.amount < required:
            raise ValueError(f"结清金额不足: 应还 {required}, 实收 {payoff.amount}")
        funds = payoff.amount + self.credit
        self.received += payoff.amount
        lines: list[AllocationLine] = []
        if owed.penalty:
            self.penalty_paid += owed.penalty
            lines.append(AllocationLine(Component.PENALTY, None, owed.penalty))
        if payoff.fee:
            self.fees_paid += payoff.fee
            lines.append(AllocationLine(Component.FEE, None, payoff.fee))
        for i, inst in enumerate(self.schedule.installments):
            is_overdue = inst.due_date < on
            if is_overdue and self.principal_left(i) + self.interest_left(i) == 0:
                continue
            if is_overdue:
                earned = inst.interest - self.interest_waived[i]
            else:
                earned = accrued_interest(self.schedule, i, on)
            # Interest paid ahead beyond what was earned by the payoff date is given back.
            excess = self.interest_paid[i] - earned
            if excess > 0:
                self.interest_paid[i] -= excess
                lines.append(AllocationLine(Component.ACCRUED_INTEREST, inst.period, -excess))
            interest = max(ZERO, earned - self.interest_paid[i])
            principal = self.principal_left(i)
            if interest:
                kind = Component.OVERDUE_INTEREST if is_overdue else Component.ACCRUED_INTEREST
                self.interest_paid[i] += interest
                lines.append(AllocationLine(kind, inst.period, interest))
            if principal:
                kind = Component.OVERDUE_PRINCIPAL if is_overdue else Component.PRINCIPAL
                self.principal_paid[i] += principal
                lines.append(AllocationLine(kind, inst.period, principal))
            self.interest_waived[i] = inst.interest - self.interest_paid[i]
            self._mark(i, on)
        # funds >= required was checked above, so what is left is never negative.
        left = funds - sum((ln.amount for ln in lines), ZERO)
        lines.append(AllocationLine(Component.CREDIT, None, left))
        self.allocations.append(
            Allocation(payoff.payment_id, on, payoff.amount, tuple(lines), from_credit=self.credit)
        )
        self.credit = left
        self.closed_on = on

    def freeze(self, as_of: date, reversed_ids: Sequence[str], opening: Decimal) -> LoanPosition:
        installments = tuple(
            InstallmentPosition(
                period=inst.period,
                due_date=inst.due_date,
                principal_due=inst.principal,
                interest_due=inst.interest,
                principal_paid=self.principal_paid[i],
                interest_paid=self.interest_paid[i],
                interest_waived=self.interest_waived[i],
                settled_on=self.settled_on[i],
            )
            for i, inst in enumerate(self.schedule.installments)
        )
        return LoanPosition(
            schedule=self.schedule,
            as_of=as_of,
            installments=installments,
            penalty_charged=fen(self.penalty_exact, self.rules.rounding),
            penalty_paid=self.penalty_paid,
            fees_paid=self.fees_paid,
            credit=self.credit,
            received=self.received,
            opening_credit=opening,
            allocations=tuple(self.allocations),
            reversed_payments=tuple(reversed_ids),
            closed_on=self.closed_on,
        )


def position_as_of(
    schedule: Schedule,
    events: Iterable[LedgerEvent],
    as_of: date,
    rules: PostingRules | None = None,
    opening_credit: Decimal = ZERO,
) -> LoanPosition:
    """Fold the schedule and the ledger events into the loan's position at the end of `as_of`.

    Events after `as_of` are ignored, as are payments whose reversal is dated on or before
    it. Events on the same day are posted in the order given. `opening_credit` carries held
    credit into a new schedule version (after a partial prepayment or a restructuring).
    """
    rules = rules or PostingRules()
    event_list = list(events)
    known = [e.payment_id for e in event_list if not isinstance(e, Reversal)]
    if len(set(known)) != len(known):
        raise ValueError("还款流水号重复")
    reversed_ids: list[str] = []
    for e in event_list:
        if isinstance(e, Reversal) and e.reversed_on <= as_of:
            if e.payment_id not in known:
                raise ValueError(f"冲正的还款不存在: {e.payment_id}")
            if e.payment_id in reversed_ids:
                raise ValueError(f"还款已冲正: {e.payment_id}")
            reversed_ids.append(e.payment_id)
    postings: list[Payment | Payoff] = [
        e
        for e in event_list
        if not isinstance(e, Reversal)
        and e.received_on <= as_of
        and e.payment_id not in reversed_ids
    ]
    start = schedule.terms.disbursement_date
    for p in postings:
        if p.received_on < start:
            raise ValueError(f"还款日期早于放款日: {p.payment_id} {p.received_on}")
    postings.sort(key=lambda p: p.received_on)  # stable: same-day order is kept

    n = len(schedule.installments)
    book = _Book(
        schedule=schedule,
        rules=rules,
        credit=opening_credit,
        principal_paid=[ZERO] * n,
        interest_paid=[ZERO] * n,
        interest_waived=[ZERO] * n,
        settled_on=[None] * n,
    )
    due_dates = {inst.due_date for inst in schedule.installments if inst.due_date <= as_of}
    points = sorted(due_dates | {p.received_on for p in postings} | {max(as_of, start)})
    cursor = start
    queue = list(postings)
    for t in points:
        book.accrue_penalty(cursor, t)
        if t in due_dates:
            book.apply_credit(t)
        while queue and queue[0].received_on == t:
            event = queue.pop(0)
            if isinstance(event, Payoff):
                book.post_payoff(event)
            else:
                book.post_payment(event)
        cursor = t
    return book.freeze(as_of, reversed_ids, opening_credit)
