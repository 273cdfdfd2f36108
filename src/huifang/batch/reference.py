"""The per-loan reference engine: the nightly run's columns from the domain, loan by loan.

This is the definition the vectorized engine (`engine.py`) is tested against to the fen,
and the baseline the benchmark measures it with. Per active loan it builds the schedule
(`schedule.build_schedule`), folds the ledger (`posting.position_as_of`), and reads DPD,
bucket and class (`delinquency`) and the running period's accrued interest
(`posting.payoff_amounts`) from the position.

How ledger rows become domain events: `repayment` is a `Payment`; `reversal` is a
`Reversal` of the row it points at; `prepayment` is a `Payoff` without fee (the book
carries no fee column) when it covers the payoff amount on its date and the loan is still
open - otherwise the domain refuses the payoff and the money is posted as a `Payment`,
which is what a core system does with a short or late payoff transfer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from huifang.batch.engine import STATE_SCHEMA
from huifang.batch.templates import terms_of
from huifang.domain.delinquency import ClassificationRules, bucket_for, classify, days_past_due
from huifang.domain.early_warning import InstallmentRecord
from huifang.domain.money import Rounding
from huifang.domain.posting import (
    LedgerEvent,
    LoanPosition,
    Payment,
    Payoff,
    PostingRules,
    Reversal,
    payoff_amounts,
    position_as_of,
)
from huifang.domain.schedule import build_schedule


def loan_state(
    loan: dict[str, object],
    payments: list[dict[str, object]],
    as_of: date,
    rules: ClassificationRules | None = None,
) -> dict[str, object]:
    """The run's output row for one loan (a dict with STATE_SCHEMA's columns)."""
    position = loan_position(loan, payments, as_of)
    closed = position.closed_on is not None
    dpd = days_past_due(position)
    owed = payoff_amounts(position)
    due = [i for i in position.installments if i.due_date <= as_of]
    upcoming = [i.due_date for i in position.installments if i.due_date > as_of]
    return {
        "loan_id": loan["loan_id"],
        "as_of": as_of,
        "installments_due": len(due),
        "installments_paid": sum(1 for i in due if i.is_settled),
        "amount_due": sum((i.principal_due + i.interest_due for i in due), Decimal("0.00")),
        "principal_paid": position.principal_paid,
        "interest_paid": position.interest_paid,
        "overdue_principal": position.overdue_principal,
        "overdue_interest": position.overdue_interest,
        "penalty_charged": position.penalty_charged,
        "penalty_outstanding": position.penalty_outstanding,
        "overdue_amount": position.overdue_amount,
        "dpd": dpd,
        "bucket": bucket_for(dpd).value,
        "loan_class": classify(dpd, as_of, rules).category.value,
        "accrued_interest": Decimal("0.00") if closed else owed.accrued_interest,
        "outstanding_principal": position.outstanding_principal,
        "credit": position.credit,
        "next_due_date": None if closed or not upcoming else upcoming[0],
        "closed_on": position.closed_on,
    }


def loan_position(
    loan: dict[str, object], payments: list[dict[str, object]], as_of: date
) -> LoanPosition:
    """The domain's position of one loan as of `as_of` (see the module docstring)."""
    terms = terms_of(
        loan["principal"],  # type: ignore[arg-type]
        loan["annual_rate"],  # type: ignore[arg-type]
        loan["term_months"],  # type: ignore[arg-type]
        loan["repayment_method"],  # type: ignore[arg-type]
        loan["balloon_pct"],  # type: ignore[arg-type]
        loan["disbursement_date"],  # type: ignore[arg-type]
        loan["repayment_day"],  # type: ignore[arg-type]
        loan["rounding"],  # type: ignore[arg-type]
        loan["interest_rounding"],  # type: ignore[arg-type]
        loan["day_count"],  # type: ignore[arg-type]
    )
    schedule = build_schedule(terms)
    posting = PostingRules(
        penalty_multiplier=loan["penalty_multiplier"],  # type: ignore[arg-type]
        rounding=Rounding(loan["rounding"]),
    )
    ordered = sorted(payments, key=lambda p: (p["paid_on"], p["payment_id"]))  # type: ignore[arg-type, return-value]
    ids = {p["payment_id"]: str(p["payment_id"]) for p in ordered}
    events: list[LedgerEvent] = []
    for p in ordered:
        if p["payment_type"] == "reversal":
            events.append(Reversal(ids[p["reverses_id"]], p["paid_on"], "冲正"))  # type: ignore[arg-type]
        elif p["payment_type"] == "prepayment":
            events.append(Payoff(ids[p["payment_id"]], p["paid_on"], p["amount"]))  # type: ignore[arg-type]
        else:
            events.append(Payment(ids[p["payment_id"]], p["paid_on"], p["amount"]))  # type: ignore[arg-type]
    while True:
        try:
            position = position_as_of(schedule, events, as_of, posting)
            break
        except ValueError as refused:
            # A payoff the domain refuses (short, or the loan already closed) is a payment.
            message = str(refused)
            if "结清" not in message:
                raise
            first = _first_refused_payoff(schedule, events, as_of, posting)
            p = events[first]
            assert isinstance(p, Payoff)
            events[first] = Payment(p.payment_id, p.received_on, p.amount)
    return position


def _first_refused_payoff(schedule, events, as_of, posting) -> int:  # type: ignore[no-untyped-def]
    """Index in `events` of the earliest payoff the domain refuses on its own date."""
    reversed_ids = {
        e.payment_id for e in events if isinstance(e, Reversal) and e.reversed_on <= as_of
    }
    postings = [
        (k, e)
        for k, e in enumerate(events)
        if not isinstance(e, Reversal) and e.payment_id not in reversed_ids
    ]
    for n, (k, e) in enumerate(postings):
        if isinstance(e, Payoff) and e.received_on <= as_of:
            try:
                position_as_of(schedule, [x for _, x in postings[: n + 1]], e.received_on, posting)
            except ValueError:
                return k
    raise AssertionError("no refused payoff found")


def _partial_period(
    installments: Iterable[InstallmentRecord], as_of: date, in_a_row: int, lookback_days: int
) -> int:
    """The last period of the latest run `early_warning._partial_payments` finds (0: none)."""
    run: list[InstallmentRecord] = []
    found = 0
    for inst in installments:
        consecutive = run and inst.period == run[-1].period + 1
        run = [*run, inst] if inst.partial and consecutive else ([inst] if inst.partial else [])
        if len(run) >= in_a_row and (as_of - inst.due_date).days <= lookback_days:
            found = inst.period
    return found


def compute(
    loans: pa.Table,
    payments: pa.Table,
    as_of: date,
    rules: ClassificationRules | None = None,
) -> pa.Table:
    """STATE_SCHEMA rows for the active loans of `loans`, loan by loan, in loan order."""
    by_loan: dict[object, list[dict[str, object]]] = defaultdict(list)
    for p in payments.to_pylist():
        by_loan[p["loan_id"]].append(p)
    rows = [
        loan_state(loan, by_loan.get(loan["loan_id"], []), as_of, rules)
        for loan in sorted(loans.to_pylist(), key=lambda r: r["loan_id"])  # type: ignore[arg-type, return-value]
        if loan["status"] == "active"
    ]
    return pa.Table.from_pylist(rows, schema=STATE_SCHEMA)


def settlement_history(
    loans: pa.Table,
    payments: pa.Table,
    loan_ids: Iterable[int],
    as_of: date,
    partial: tuple[int, int] | None = None,
) -> list[list[int]]:
    """Each loan's settlement history (`fold_kernel.H_*`, one row per id) from the domain's
    position: what the compiled fold keeps for the behaviour stage, for the loans it cannot
    (the NumPy fold's), and the definition it is tested against. With `partial` =
    (in_a_row, lookback_days), `H_PARTIAL` is the partial-payments rule's period from the
    installments' own-period cash as the alerts reference counts it."""
    from huifang.batch import fold_kernel as fk
    from huifang.batch.followup_reference import _installments
    from huifang.domain.schedule import add_months

    wanted = set(loan_ids)
    rows = {r["loan_id"]: r for r in loans.to_pylist() if r["loan_id"] in wanted}
    by_loan: dict[object, list[dict[str, object]]] = defaultdict(list)
    for p in payments.filter(
        pc.is_in(payments.column("loan_id"), pa.array(list(wanted)))
    ).to_pylist():
        by_loan[p["loan_id"]].append(p)
    epoch = date(1970, 1, 1)
    ta = (as_of - epoch).days
    w3, w6, w12 = ((add_months(as_of, -k, as_of.day) - epoch).days for k in (3, 6, 12))
    out: list[list[int]] = []
    for loan_id in loan_ids:
        pays = by_loan.get(loan_id, [])
        position = loan_position(rows[loan_id], pays, as_of)
        h = [0] * fk.HISTORY_WIDTH
        h[fk.H_LAST_LATE] = fk.NO_DAY
        for inst in position.installments:
            due = (inst.due_date - epoch).days
            if due >= ta or inst.principal_due + inst.interest_due == 0:
                continue  # not yet overdue, or nothing to pay
            never = inst.settled_on is None
            settled = ta + 1 if never else (inst.settled_on - epoch).days  # type: ignore[operator]
            last = min(ta, settled - 1)
            if last > due:
                if last >= w6:
                    h[fk.H_WORST_6M] = max(h[fk.H_WORST_6M], last - due)
                if last >= w12:
                    h[fk.H_WORST_12M] = max(h[fk.H_WORST_12M], last - due)
            if settled > due:
                h[fk.H_LATE_12M] += due > w12
                h[fk.H_LAST_LATE] = max(h[fk.H_LAST_LATE], due)
        gone = set(position.reversed_payments)
        for p in pays:
            if p["payment_type"] == "reversal" or str(p["payment_id"]) in gone:
                continue
            on = (p["paid_on"] - epoch).days  # type: ignore[operator]
            if on > ta:
                continue
            fen = int(p["amount"] * 100)  # type: ignore[operator]
            for col, w in ((fk.H_PAID_3M, w3), (fk.H_PAID_6M, w6), (fk.H_PAID_12M, w12)):
                h[col] += fen if on > w else 0
            if p["payment_type"] == "prepayment":
                h[fk.H_PREPAYMENTS] += 1
                h[fk.H_PREPAID] += fen
        if partial is not None:
            h[fk.H_PARTIAL] = _partial_period(_installments(position, as_of), as_of, *partial)
        out.append(h)
    return out
