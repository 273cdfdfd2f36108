"""Workspace inputs for a demo book that exists only as Parquet loans (the benchmark's books).

Drawn with NumPy, seeded, from the loan rows and their risk facts, in shares a lender's
workspace might hold after months of follow-up: 8 % business borrowers; 10 % in an
industry on the watch list or the flagged list; 85 % of loans past their first visit (a
completed first-visit contact 3-25 days after disbursement), half of those with a routine
contact since; 6 % with a follow-up finding or an event trigger in the last 120 days; 4 %
with a run of contact attempts (one in three unreachable six times or more); open tasks for
20 % of loans; a recorded risk tier for 60 %; a stored valuation for 10 %; 6 % of loans
with stored alerts (half of them resolved).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa

from huifang.batch.followup_inputs import LTV, FollowupBook
from huifang.batch.risk_inputs import RiskBook
from huifang.batch.risk_stage import _unscaled

INDUSTRIES = (
    "制造业",
    "批发零售",
    "交通运输",
    "信息技术",
    "教育",
    "医疗",
    "农业",
    "餐饮服务业",
    "房地产",
    "建筑业",
    "旅游",
    "网约车司机",
)
WATCHED_FROM = 7  # INDUSTRIES[7:] are watched or flagged
FINDINGS = (
    "income-drop",
    "job-loss",
    "vehicle-sold",
    "vehicle-damaged",
    "health-event",
    "risk-finding",
    "ltv-breach",
    "contact-changed",
)
TIERS = ("low", "low", "medium", "high")
PURPOSES = ("first-visit", "routine", "missed-payment", "risk-finding")


def _dates(days: np.ndarray) -> pa.Array:
    return pa.array(days.astype(np.int32)).cast(pa.date32())


def demo_followup(loans: pa.Table, risk: RiskBook | None, seed: int, as_of: date) -> FollowupBook:
    """Workspace tables for every loan of `loans` (see the module docstring)."""
    rng = np.random.default_rng(seed + 7)
    n = loans.num_rows
    ids = loans.column("loan_id").to_numpy().astype(np.int64)
    d0 = loans.column("disbursement_date").cast(pa.int32()).to_numpy().astype(np.int64)
    ta = (as_of - date(1970, 1, 1)).days
    watched = rng.random(n) < 0.10
    industry = np.where(
        watched,
        rng.integers(WATCHED_FROM, len(INDUSTRIES), n),
        rng.integers(0, WATCHED_FROM, n),
    )
    if risk is not None and risk.facts.num_rows == n:
        facts = risk.facts
        score, dp, price = (
            facts.column("credit_score"),
            facts.column("down_payment"),
            facts.column("vehicle_price"),
        )
    else:
        score = pa.array(rng.integers(450, 851, n), pa.int32())
        price = pa.array(np.full(n, 20_000_000), pa.int64()).cast(pa.decimal128(18, 2))
        dp = pa.array(np.full(n, 6_000_000), pa.int64()).cast(pa.decimal128(18, 2))
    borrowers = pa.table(
        {
            "loan_id": pa.array(ids, pa.int64()),
            "borrower_kind": pa.array(np.where(rng.random(n) < 0.08, "business", "individual")),
            "self_employed": pa.array(rng.random(n) < 0.15),
            "industry": pa.array(np.array(INDUSTRIES)[industry]),
            "credit_score": score,
            "down_payment": dp,
            "vehicle_price": price,
        }
    )
    # contacts: first visits and routine contacts since
    visited = np.flatnonzero((rng.random(n) < 0.85) & (d0 + 25 < ta))
    first_on = d0[visited] + rng.integers(3, 26, len(visited))
    again = visited[rng.random(len(visited)) < 0.5]
    again_on = np.minimum(ta, d0[again] + 30 + rng.integers(0, 300, len(again)))
    contacts = pa.table(
        {
            "loan_id": pa.array(np.concatenate([ids[visited], ids[again]]), pa.int64()),
            "purpose": pa.array(["first-visit"] * len(visited) + ["routine"] * len(again)),
            "completed_on": _dates(np.concatenate([first_on, again_on])),
        }
    )
    # findings and triggers, then runs of contact attempts
    hit = np.flatnonzero(rng.random(n) < 0.06)
    hit_on = np.maximum(d0[hit], ta - rng.integers(0, 120, len(hit)))
    called = np.flatnonzero(rng.random(n) < 0.04)
    runs = np.where(rng.random(len(called)) < 0.33, rng.integers(6, 10, len(called)), 3)
    att_loan = np.repeat(ids[called], runs)
    att_on = np.repeat(ta - rng.integers(10, 60, len(called)), runs) + np.concatenate(
        [np.arange(k) for k in runs]
    )
    ok = rng.random(len(att_loan)) < 0.1
    m = len(hit)
    events = pa.table(
        {
            "loan_id": pa.array(np.concatenate([ids[hit], att_loan]), pa.int64()),
            "source": pa.array(["risk"] * m + ["attempt"] * len(att_loan)),
            "event_id": pa.array(np.arange(1, m + len(att_loan) + 1), pa.int64()),
            "kind": pa.array(
                list(np.array(FINDINGS)[rng.integers(0, len(FINDINGS), m)])
                + list(np.where(ok, "contact-succeeded", "contact-failed"))
            ),
            "occurred_on": _dates(np.concatenate([hit_on, att_on])),
        }
    )
    tasked = np.flatnonzero(rng.random(n) < 0.20)
    stored_tasks = pa.table(
        {
            "loan_id": pa.array(ids[tasked], pa.int64()),
            "purpose": pa.array(np.array(PURPOSES)[rng.integers(0, len(PURPOSES), len(tasked))]),
            "due_on": _dates(ta - rng.integers(0, 60, len(tasked))),
            "open": pa.array(rng.random(len(tasked)) < 0.7),
        }
    )
    tiered = np.flatnonzero(rng.random(n) < 0.6)
    tier_history = pa.table(
        {
            "change_id": pa.array(np.arange(1, len(tiered) + 1), pa.int64()),
            "loan_id": pa.array(ids[tiered], pa.int64()),
            "kind": pa.array(np.where(rng.random(len(tiered)) < 0.5, "risk", "origination")),
            "as_of": _dates(ta - rng.integers(1, 200, len(tiered))),
            "tier": pa.array(np.array(TIERS)[rng.integers(0, len(TIERS), len(tiered))]),
        }
    )
    valued = np.flatnonzero(rng.random(n) < 0.10)
    ltv_history = pa.table(
        {
            "valuation_id": pa.array(np.arange(1, len(valued) + 1), pa.int64()),
            "loan_id": pa.array(ids[valued], pa.int64()),
            "valued_on": _dates(ta - rng.integers(1, 180, len(valued))),
            "ltv": _unscaled(
                rng.integers(3000, 13000, len(valued)), LTV, np.ones(len(valued), bool)
            ),
        }
    )
    alerted = np.flatnonzero(rng.random(n) < 0.06)
    contract = loans.column("contract_no").to_numpy(zero_copy_only=False)
    stored_alerts = pa.table(
        {
            "loan_id": pa.array(ids[alerted], pa.int64()),
            "key": pa.array([f"{contract[k]}|any-dpd|older" for k in alerted]),
            "rule_id": pa.array(["any-dpd"] * len(alerted)),
            "status": pa.array(np.where(rng.random(len(alerted)) < 0.5, "resolved", "open")),
        }
    )
    return FollowupBook.of(
        borrowers=borrowers,
        events=events,
        contacts=contacts,
        stored_alerts=stored_alerts,
        stored_tasks=stored_tasks,
        tier_history=tier_history,
        ltv_history=ltv_history,
    )
