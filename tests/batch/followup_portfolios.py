"""Random workspace inputs for the alert and task stage tests, seeded, with the edge cases of
the early-warning and follow-up policy domain tests: findings on the window's edges, several
on one day, contact streaks exactly at the threshold, LTVs on band edges and two valuations
a day, watched industries by alias and inside a longer name, flagged industries, contacts
before disbursement, scores and down payments on the tier thresholds or refused."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import pyarrow as pa

from huifang.batch.followup_inputs import FollowupBook
from huifang.batch.inputs import PAYMENT_SCHEMA, BookInputs
from huifang.batch.reference import loan_position

INDUSTRIES = (
    None,
    "",
    "餐饮服务业",
    "餐饮",
    "房地产",
    "Real Estate",
    "建筑",
    "网约车司机",
    "it",
    "retail",
    "旅游",
    "娱乐",
    "制造业",
)
FINDINGS = (
    "income-drop",
    "job-loss",
    "vehicle-sold",
    "vehicle-transferred",
    "vehicle-damaged",
    "health-event",
)
TRIGGERS = ("ltv-breach", "contact-changed", "risk-finding", "early-repayment-request")
PURPOSES = (
    "first-visit",
    "first-visit",
    "routine",
    "missed-payment",
    "bucket-change",
    "flagged-industry",
    "risk-finding",
    "ltv-breach",
    "contact-change",
)
LTVS = ("0.5999", "0.8000", "0.8001", "1.0000", "1.0001", "1.2000", "1.2001", "0.9500", "2.5")


def random_followup(loans: pa.Table, seed: int, as_of: date) -> FollowupBook:
    rng = random.Random(seed)
    borrowers, events, contacts, tiers, ltvs = [], [], [], [], []
    event_id = change_id = valuation_id = 1
    for row in loans.select(["loan_id", "disbursement_date"]).to_pylist():
        loan_id, d0 = row["loan_id"], row["disbursement_date"]
        if rng.random() < 0.97:
            price = rng.choice((None, Decimal(0), Decimal("100000.00"), Decimal("250000.00")))
            if rng.random() < 0.7:
                price = Decimal(rng.randint(30000_00, 600000_00)) / 100
            base = price or Decimal("100000.00")
            dp = rng.choice(
                (
                    (base * Decimal("0.2")).quantize(Decimal("0.01")),
                    (base * Decimal("0.3")).quantize(Decimal("0.01")),
                    (base * Decimal("0.19995")).quantize(Decimal("0.01")),
                    (base * Decimal(rng.randint(0, 60)) / 100).quantize(Decimal("0.01")),
                    base + 1 if rng.random() < 0.1 else Decimal(0),
                )
            )
            borrowers.append(
                {
                    "loan_id": loan_id,
                    "borrower_kind": rng.choice(("individual", "individual", "business")),
                    "self_employed": rng.random() < 0.2,
                    "industry": rng.choice(INDUSTRIES),
                    "credit_score": rng.choice(
                        (None, 549, 550, 649, 650, 720, rng.randint(300, 900))
                    )
                    if rng.random() > 0.01
                    else -1,
                    "down_payment": dp,
                    "vehicle_price": price,
                }
            )
        for _ in range(rng.choice((0, 0, 1, 2, 4))):  # findings and policy triggers
            kind = rng.choice(FINDINGS + TRIGGERS)
            on = as_of - timedelta(days=rng.choice((0, 1, 89, 90, 91, rng.randint(-10, 400))))
            events.append((loan_id, "risk", event_id, kind, on))
            event_id += 1
            if rng.random() < 0.2:  # another on the same day
                events.append((loan_id, "risk", event_id, rng.choice(FINDINGS), on))
                event_id += 1
        if rng.random() < 0.4:  # contact attempts: streaks of failures, some successes
            on = as_of - timedelta(days=rng.randint(0, 60))
            for _ in range(rng.choice((1, 5, 6, 7, 9))):
                ok = rng.random() < 0.15
                events.append(
                    (
                        loan_id,
                        "attempt",
                        event_id,
                        "contact-succeeded" if ok else "contact-failed",
                        on,
                    )
                )
                event_id += 1
                on += timedelta(days=rng.choice((0, 0, 1, 3)))
        for _ in range(rng.choice((0, 1, 1, 2, 3))):
            contacts.append(
                {
                    "loan_id": loan_id,
                    "purpose": rng.choice(PURPOSES),
                    "completed_on": d0 + timedelta(days=rng.randint(-10, 500)),
                }
            )
        for _ in range(rng.choice((0, 0, 1, 2))):
            tiers.append(
                {
                    "change_id": change_id,
                    "loan_id": loan_id,
                    "kind": rng.choice(("risk", "origination")),
                    "as_of": as_of - timedelta(days=rng.randint(-5, 300)),
                    "tier": rng.choice(("low", "medium", "high")),
                }
            )
            change_id += 1
        for _ in range(rng.choice((0, 0, 1, 2, 3))):
            on = as_of - timedelta(days=rng.choice((0, 1, 30, 31, rng.randint(-5, 200))))
            for _ in range(rng.choice((1, 1, 2))):  # two parameter versions on one day
                ltvs.append(
                    {
                        "valuation_id": valuation_id,
                        "loan_id": loan_id,
                        "valued_on": on,
                        "ltv": Decimal(rng.choice(LTVS)),
                    }
                )
                valuation_id += 1
    rng.shuffle(events)
    return FollowupBook.of(
        borrowers=pa.Table.from_pylist(borrowers) if borrowers else pa.table({}),
        events=pa.table(
            {
                name: pa.array([e[k] for e in events])
                for k, name in enumerate(("loan_id", "source", "event_id", "kind", "occurred_on"))
            }
        ),
        contacts=pa.Table.from_pylist(contacts),
        tier_history=pa.Table.from_pylist(tiers),
        ltv_history=pa.Table.from_pylist(ltvs),
    )


def partial_payment_book(book: BookInputs, seed: int, as_of: date) -> BookInputs:
    """`book` with about half its loans' payments replaced by installment-by-installment cash
    against the exact amounts due, for the partial-payments rule: exactly due, overpaid,
    nothing, a cent short or a cent, several payments in one period (summing to the amount
    or less), paid after the due date (into the next period), on the due date itself and
    the day after the previous one (the period's edges); runs of partials broken by a full
    payment. The other loans keep `random_book`'s payoffs and reversals."""
    rng = random.Random(seed)
    cent = Decimal("0.01")
    by_loan: dict[int, list[dict[str, object]]] = {}
    for p in book.payments.to_pylist():
        by_loan.setdefault(p["loan_id"], []).append(p)
    next_id = max((p["payment_id"] for p in book.payments.to_pylist()), default=0) + 1
    rows: list[dict[str, object]] = []
    for loan in book.loans.to_pylist():
        loan_id = loan["loan_id"]
        if rng.random() < 0.5:
            rows.extend(by_loan.get(loan_id, []))
            continue
        partial_rate = rng.choice((0.2, 0.5, 0.8))
        previous = loan["disbursement_date"]
        for inst in loan_position(loan, [], as_of).installments:
            if inst.due_date > as_of + timedelta(days=40):
                break
            due = inst.principal_due + inst.interest_due
            gap = max((inst.due_date - previous).days - 1, 0)
            start = previous + timedelta(days=1)
            previous = inst.due_date
            late = False
            if rng.random() < partial_rate:  # paid in part, once or in pieces
                amount = rng.choice(
                    (cent, due - cent, (due * Decimal(rng.uniform(0.05, 0.95))).quantize(cent))
                )
                amounts = [amount] if rng.random() < 0.7 else [amount / 2, amount / 2]
            else:
                r = rng.random()
                if r < 0.4:
                    amounts = [due]
                elif r < 0.55:  # overpaid, by a cent or twice over
                    amounts = [due + cent if rng.random() < 0.5 else due * 2]
                elif r < 0.7:
                    amounts = []  # nothing
                elif r < 0.85:  # in three pieces that make the amount exactly
                    third = (due / 3).quantize(cent)
                    amounts = [third, third, due - 2 * third]
                else:  # in full, but after the due date: the next period's cash
                    amounts, late = [due], True
            for amount in amounts:
                amount = Decimal(amount).quantize(cent)
                if amount <= 0:
                    continue
                if late:
                    day = inst.due_date + timedelta(days=rng.randint(1, 20))
                else:
                    day = rng.choice(
                        (inst.due_date, start, start + timedelta(days=rng.randint(0, gap)))
                    )
                rows.append(
                    {
                        "payment_id": next_id,
                        "loan_id": loan_id,
                        "paid_on": max(day, loan["disbursement_date"]),
                        "amount": amount,
                        "payment_type": "repayment",
                        "reverses_id": None,
                    }
                )
                next_id += 1
    rows.sort(key=lambda p: p["payment_id"])
    return BookInputs(book.loans, pa.Table.from_pylist(rows, schema=PAYMENT_SCHEMA))
