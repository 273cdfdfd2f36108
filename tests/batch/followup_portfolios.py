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
