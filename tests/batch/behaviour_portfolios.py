"""Random behaviour inputs for the batch tests (borrowers, attempts, visits, risk events,
valuations), seeded, with the edges of `book_features`: loans with no follow-up history,
rows exactly on the window edges (90 days, 12 months), rows after as-of, superseded events,
same-day valuations, unknown bands, missing incomes; and a random scorecard over every
feature of the model, with splits exactly on observed values and empty bins."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa

from huifang.batch.behaviour_inputs import (
    ATTEMPT_SCHEMA,
    BORROWER_SCHEMA,
    EVENT_SCHEMA,
    VALUATION_SCHEMA,
    VISIT_SCHEMA,
    BehaviourBook,
)
from huifang.model import book_features as bf
from huifang.model.binning import CATEGORICAL, NUMERIC, FeatureBins
from huifang.model.scorecard import CardFeature, Scaling, Scorecard

KINDS = [k for group in bf.EVENT_GROUPS.values() for k in group] + ["other-kind"]
BANDS = ("low", "medium", "high", "over", "nonsense", None)


def random_behaviour(loans: pa.Table, seed: int, as_of: date) -> BehaviourBook:
    rng = random.Random(seed)
    borrowers, attempts, visits, events, valuations = [], [], [], [], []
    vid = 1
    edges = (0, 1, bf.CONTACT_WINDOW_DAYS - 1, bf.CONTACT_WINDOW_DAYS, bf.EVENT_WINDOW_DAYS)
    for loan_id in loans.column("loan_id").to_pylist():
        if rng.random() < 0.03:
            continue  # no borrower row: every borrower feature missing

        def day() -> date:
            if rng.random() < 0.3:
                return as_of - timedelta(days=rng.choice(edges) + rng.choice((-1, 0, 1)))
            return as_of - timedelta(days=rng.randint(-30, 500))

        income = None
        if rng.random() < 0.9:
            income = Decimal(rng.choice((0, 3000, rng.randint(100_00, 80000_00) / 100)))
        borrowers.append(
            {
                "loan_id": loan_id,
                "monthly_income": income.quantize(Decimal("0.01")) if income is not None else None,
                "self_employed": rng.random() < 0.3,
                "industry": rng.choice((None, "", " 制造业 ", "餐饮", "运输", "IT", "农业")),
                "borrower_kind": rng.choice(("individual", "business")),
                "purpose": rng.choice(("self-use", "commercial", "ride-hailing")),
                "vehicle_condition": rng.choice(("new", "used")),
            }
        )
        if rng.random() < 0.4:
            continue  # no follow-up history
        for _ in range(rng.randint(0, 6)):
            talked = rng.random() < 0.4
            attempts.append(
                {
                    "loan_id": loan_id,
                    "attempted_on": day(),
                    "conversation": talked,
                    "right_party": talked and rng.random() < 0.7,
                }
            )
        for _ in range(rng.randint(0, 2)):
            visits.append({"loan_id": loan_id, "completed_on": day()})
        for _ in range(rng.randint(0, 3)):
            occurred = day()
            gone = None
            if rng.random() < 0.3:
                gone = occurred + timedelta(days=rng.randint(0, 200))
            events.append(
                {
                    "loan_id": loan_id,
                    "kind": rng.choice(KINDS),
                    "occurred_on": occurred,
                    "superseded_on": gone,
                }
            )
        on = day()
        for _ in range(rng.randint(0, 3)):
            if rng.random() < 0.5:
                on = day()  # else the same day as the previous one
            ltv = None if rng.random() < 0.1 else Decimal(rng.randint(0, 15000)) / 10000
            valuations.append(
                {
                    "valuation_id": vid,
                    "loan_id": loan_id,
                    "valued_on": on,
                    "ltv": ltv,
                    "ltv_band": rng.choice(BANDS),
                }
            )
            vid += 1
    rng.shuffle(attempts)  # no order is assumed
    return BehaviourBook(
        pa.Table.from_pylist(borrowers, schema=BORROWER_SCHEMA),
        pa.Table.from_pylist(attempts, schema=ATTEMPT_SCHEMA),
        pa.Table.from_pylist(visits, schema=VISIT_SCHEMA),
        pa.Table.from_pylist(events, schema=EVENT_SCHEMA),
        pa.Table.from_pylist(valuations, schema=VALUATION_SCHEMA),
    )


def random_card(frame: pd.DataFrame, seed: int) -> Scorecard:
    """A scorecard over every model feature: splits drawn from the observed values (so
    values fall exactly on them), random points, some bins with no training rows."""
    rng = random.Random(seed)
    features = []
    for name in bf.FEATURES:
        column = frame[name]
        if name in bf.CATEGORICAL_FEATURES:
            seen = sorted({str(v).strip() for v in column if isinstance(v, str) and v.strip()})
            rng.shuffle(seen)
            cut = rng.randint(0, len(seen))  # the rest fall in OTHER
            kept = seen[:cut]
            k = max(1, min(3, len(kept)))
            groups = tuple(tuple(sorted(kept[g::k])) for g in range(k) if kept[g::k])
            bins = FeatureBins(name=name, kind=CATEGORICAL, groups=groups)
        else:
            values = np.unique(column.dropna().to_numpy(dtype=float))
            count = min(len(values), rng.randint(1, 6))
            splits = tuple(sorted(rng.sample(list(values), count))) if count else (0.0,)
            bins = FeatureBins(name=name, kind=NUMERIC, splits=splits)
        n_bins = bins.n_regular + 2
        goods = tuple(0 if rng.random() < 0.15 else rng.randint(1, 50) for _ in range(n_bins))
        bads = tuple(0 if g == 0 else rng.randint(0, 9) for g in goods)
        bins = FeatureBins(
            name=bins.name,
            kind=bins.kind,
            splits=bins.splits,
            groups=bins.groups,
            woe=tuple(0.0 for _ in range(n_bins)),
            goods=goods,
            bads=bads,
            iv=0.1,
        )
        points = tuple(rng.randint(-15, 40) for _ in range(n_bins))
        features.append(CardFeature(bins=bins, coefficient=1.0, points=points))
    return Scorecard(tuple(features), -3.0, Scaling())
