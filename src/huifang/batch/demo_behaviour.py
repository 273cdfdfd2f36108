"""Behaviour inputs for a demo book that exists only as Parquet loans (the benchmark's books).

Like `demo_risk`, drawn from the loan rows with NumPy, seeded, instead of the per-loan demo
generator: incomes log-normal around 9,000 a month (5 % unknown), a quarter self-employed,
real industry names, one borrower in ten a business; the car's new/used condition from the
risk facts; about 1.5 contact attempts per loan in the 120 days before as-of (40 % reach a
conversation, most of those the borrower), completed visits for 5 % of loans, an open or
superseded risk event for 4 %, and one or two stored valuations for 30 %.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa

from huifang.batch.behaviour_inputs import (
    ATTEMPT_SCHEMA,
    BORROWER_SCHEMA,
    EVENT_SCHEMA,
    VALUATION_SCHEMA,
    VISIT_SCHEMA,
    BehaviourBook,
)
from huifang.batch.risk_inputs import RiskBook
from huifang.model.book_features import EVENT_GROUPS

INDUSTRIES = ("制造业", "批发零售", "交通运输", "餐饮住宿", "建筑业", "信息技术", "农业", "教育")
PURPOSES = ("self-use", "self-use", "self-use", "commercial", "ride-hailing")
KINDS = tuple(k for group in EVENT_GROUPS.values() for k in group)
BANDS = ("low", "normal", "watch", "high", "critical")


def _dates(days: np.ndarray) -> pa.Array:
    return pa.array(days.astype(np.int32)).cast(pa.date32())


def demo_behaviour(loans: pa.Table, risk: RiskBook, seed: int, as_of: date) -> BehaviourBook:
    """Behaviour tables for every loan of `loans` (see the module docstring)."""
    rng = np.random.default_rng(seed + 7)
    n = loans.num_rows
    ids = np.asarray(loans.column("loan_id").to_numpy(), np.int64)
    ta = (as_of - date(1970, 1, 1)).days
    income = np.round(np.exp(rng.normal(np.log(9000), 0.5, n)), 0).astype(np.int64) * 100
    used = dict(
        zip(
            risk.facts.column("loan_id").to_pylist(),
            risk.facts.column("used").to_pylist(),
            strict=True,
        )
    )
    condition = np.array(["used" if used.get(i) else "new" for i in ids.tolist()], dtype=object)
    from huifang.batch.risk_stage import MONEY, _unscaled

    borrowers = pa.table(
        [
            pa.array(ids),
            _unscaled(income, MONEY, rng.random(n) >= 0.05),
            pa.array(rng.random(n) < 0.25),
            pa.array(np.array(INDUSTRIES)[rng.integers(0, len(INDUSTRIES), n)]),
            pa.array(np.where(rng.random(n) < 0.1, "business", "individual")),
            pa.array(np.array(PURPOSES)[rng.integers(0, len(PURPOSES), n)]),
            pa.array(condition, pa.string()),
        ],
        schema=BORROWER_SCHEMA,
    )
    per_loan = rng.poisson(1.5, n)
    owner = np.repeat(ids, per_loan)
    m = len(owner)
    talked = rng.random(m) < 0.4
    attempts = pa.table(
        [
            pa.array(owner),
            _dates(ta - rng.integers(0, 120, m)),
            pa.array(talked),
            pa.array(talked & (rng.random(m) < 0.8)),
        ],
        schema=ATTEMPT_SCHEMA,
    )
    visited = ids[rng.random(n) < 0.05]
    visits = pa.table(
        [pa.array(visited), _dates(ta - rng.integers(0, 365, len(visited)))], schema=VISIT_SCHEMA
    )
    flagged = ids[rng.random(n) < 0.04]
    k = len(flagged)
    occurred = ta - rng.integers(0, 400, k)
    gone = occurred + rng.integers(1, 120, k)
    events = pa.table(
        [
            pa.array(flagged),
            pa.array(np.array(KINDS)[rng.integers(0, len(KINDS), k)]),
            _dates(occurred),
            pa.array(gone.astype(np.int32), mask=rng.random(k) >= 0.2).cast(pa.date32()),
        ],
        schema=EVENT_SCHEMA,
    )
    valued = ids[rng.random(n) < 0.3]
    twice = np.repeat(valued, rng.integers(1, 3, len(valued)))
    v = len(twice)
    ltv = rng.integers(2000, 12000, v)
    valuations = pa.table(
        [
            pa.array(np.arange(1, v + 1, dtype=np.int64)),
            pa.array(twice),
            _dates(ta - rng.integers(0, 540, v)),
            _unscaled(ltv, pa.decimal128(18, 4), np.ones(v, bool)),
            pa.array(np.array(BANDS)[np.minimum(ltv // 2500, 4)]),
        ],
        schema=VALUATION_SCHEMA,
    )
    return BehaviourBook(borrowers, attempts, visits, events, valuations)
