"""The risk stages (collateral/LTV, tiers) agree with the per-loan domain functions."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest
from batch_portfolios import random_book
from risk_portfolios import random_risk

from huifang.batch import risk_reference, risk_stage
from huifang.batch.risk_inputs import RiskBook
from huifang.domain.collateral import months_between
from huifang.domain.tiering import BehaviourScore
from huifang.risk_rules import load_tier_settings
from huifang.valuation_params import load_valuation_params

AS_OF = date(2025, 6, 30)


def _states(loans: pa.Table, seed: int) -> pa.Table:
    """Loan states with the columns the risk stages read (random, edge values included)."""
    rng = random.Random(seed)
    ids = [
        r
        for r, s in zip(*(loans.column(c).to_pylist() for c in ("loan_id", "status")), strict=True)
        if s == "active"
    ]
    money = pa.decimal128(18, 2)
    op = [Decimal(rng.choice((0, 1, rng.randint(0, 50000000)))) / 100 for _ in ids]
    credit = [Decimal(rng.choice((0, 0, 0, rng.randint(0, 2000000)))) / 100 for _ in ids]
    dpd = [rng.choice((0, 0, 0, 1, 30, 31, rng.randint(0, 400))) for _ in ids]
    return pa.table(
        {
            "loan_id": pa.array(ids, pa.int64()),
            "outstanding_principal": pa.array(op, money),
            "credit": pa.array(credit, money),
            "dpd": pa.array(dpd, pa.int32()),
        }
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_collateral_and_ltv_equal_the_domain_per_loan(seed: int) -> None:
    book = random_book(1500, seed, AS_OF)
    risk = random_risk(book.loans, seed, AS_OF)
    states = _states(book.loans, seed)
    params = load_valuation_params()
    result = risk_stage.collateral(states, book.loans, risk, AS_OF, params)
    assert result.fallbacks > 0  # rounding ties occurred and were taken the domain's way
    got = result.table
    want = risk_reference.collateral_rows(states, book.loans, risk, AS_OF, params)
    rows = got.to_pylist()
    assert [r["loan_id"] for r in rows] == states.column("loan_id").to_pylist()
    kinds = {"none": 0, "refused": 0, "zero": 0, "valued": 0}
    for r in rows:
        w = want[r["loan_id"]]
        if w is None or w["vehicle_value"] is None:
            kinds["none" if w is None else "refused"] += 1
            assert r["vehicle_value"] is None and r["ltv"] is None and r["ltv_band"] is None
            continue
        kinds["zero" if w["vehicle_value"] == 0 else "valued"] += 1
        assert r["vehicle_value"] == w["vehicle_value"], r
        assert r["exposure"] == w["exposure"]
        assert r["ltv"] == w["ltv"], r
        assert r["ltv_band"] == w["ltv_band"]
        assert r["base_retention"] == w["base_retention"]
        assert r["mileage_factor"] == w["mileage_factor"]
        assert r["condition_factor"] == w["condition_factor"]
    assert min(kinds.values()) > 0, kinds  # every case occurred


def test_ltv_exactly_on_band_edges() -> None:
    book = random_book(400, 9, AS_OF)
    risk = random_risk(book.loans, 9, AS_OF)
    states = _states(book.loans, 9)
    params = load_valuation_params()
    first = risk_stage.collateral(states, book.loans, risk, AS_OF, params).table
    values = dict(
        zip(*(first.column(c).to_pylist() for c in ("loan_id", "vehicle_value")), strict=True)
    )
    # exposure set to exactly 60 %, 80 %, 100 %, 120 % of the value (± a fen) where exact
    rng = random.Random(9)
    op = []
    for loan_id in states.column("loan_id").to_pylist():
        v = values[loan_id]
        if v:
            op.append(
                (
                    v * Decimal(rng.choice(("0.6", "0.8", "1", "1.2")))
                    + rng.choice((0, 0, Decimal("0.01")))
                ).quantize(Decimal("0.01"))
            )
        else:
            op.append(Decimal(1000))
    edged = states.set_column(1, "outstanding_principal", pa.array(op, pa.decimal128(18, 2)))
    edged = edged.set_column(2, "credit", pa.array([Decimal(0)] * len(op), pa.decimal128(18, 2)))
    got = risk_stage.collateral(edged, book.loans, risk, AS_OF, params).table.to_pylist()
    want = risk_reference.collateral_rows(edged, book.loans, risk, AS_OF, params)
    bands = set()
    for r in got:
        w = want[r["loan_id"]]
        if w is not None and w["ltv"] is not None:
            assert (r["ltv"], r["ltv_band"]) == (w["ltv"], w["ltv_band"])
            bands.add(str(r["ltv"]))
    assert {"0.6000", "0.8000", "1.0000", "1.2000"} <= bands


def test_months_between_matches_the_domain() -> None:
    rng = random.Random(5)
    starts = [date(2020, 1, 31) + timedelta(days=rng.randint(0, 2000)) for _ in range(3000)]
    ends = [s + timedelta(days=rng.randint(-40, 1500)) for s in starts]
    starts += [date(2024, 1, 31), date(2023, 3, 31), date(2024, 2, 29)]
    ends += [date(2024, 2, 29), date(2023, 4, 30), date(2025, 2, 28)]
    days = lambda ds: np.array([(d - risk_stage.EPOCH).days for d in ds], np.int64)  # noqa: E731
    num, den = risk_stage.months_between(days(starts), days(ends))
    for s, e, a, b in zip(starts, ends, num.tolist(), den.tolist(), strict=True):
        # the domain adds the part month to the whole ones: the same fraction
        assert a // b + Decimal(a % b) / b == months_between(s, e), (s, e)


@pytest.mark.parametrize("seed", [4, 5])
def test_tiers_equal_the_domain_per_loan(seed: int) -> None:
    book = random_book(1500, seed, AS_OF)
    # some loans disbursed exactly 12 months before as-of (seasoning boundary)
    risk = random_risk(book.loans, seed, AS_OF)
    states = _states(book.loans, seed)
    params = load_valuation_params()
    settings = load_tier_settings()
    coll = risk_stage.collateral(states, book.loans, risk, AS_OF, params).table
    rng = random.Random(seed)
    ids = states.column("loan_id").to_pylist()
    pd_values = [None, "0.05", "0.049999", "0.15", "0.149999", "0.5", "0"]
    behaviour_rows = []
    scores: dict[int, BehaviourScore] = {}
    for loan_id in ids:
        r = rng.random()
        if r < 0.3:
            continue  # missing behaviour score
        pd = rng.choice(pd_values)
        points = rng.choice((None, 537, 538, 572, 573, 600))
        if pd is None and points is None:
            continue
        behaviour_rows.append(
            {"loan_id": loan_id, "pd": Decimal(pd) if pd else None, "points": points}
        )
        scores[loan_id] = BehaviourScore(Decimal(pd) if pd else None, points)
    behaviour = pa.Table.from_pylist(
        behaviour_rows,
        schema=pa.schema(
            [("loan_id", pa.int64()), ("pd", pa.decimal128(18, 6)), ("points", pa.int32())]
        ),
    )
    got = risk_stage.tiers(
        states, book.loans, risk, coll, AS_OF, settings.origination, settings.risk, behaviour
    )
    ltvs = dict(zip(*(coll.column(c).to_pylist() for c in ("loan_id", "ltv")), strict=True))
    want = risk_reference.tier_rows(
        states, book.loans, risk, ltvs, AS_OF, settings.origination, settings.risk, scores
    )
    rows = {r["loan_id"]: r for r in got.to_pylist()}
    assert set(rows) == {k for k, v in want.items() if v is not None}
    reasons = set()
    for loan_id, w in want.items():
        if w is not None:
            assert rows[loan_id] == {"loan_id": loan_id, **w}
            reasons.add(w["risk_reason"])
    assert len(reasons) >= 8, reasons


def test_unknown_severity_and_no_facts_leave_the_loan_untiered() -> None:
    book = random_book(50, 11, AS_OF)
    risk = random_risk(book.loans, 11, AS_OF)
    states = _states(book.loans, 11)
    loan_id = risk.facts.column("loan_id")[0].as_py()
    alerts = pa.concat_tables(
        [
            risk.open_alerts,
            pa.Table.from_pylist(
                [{"loan_id": loan_id, "severity": "weird", "first_seen_on": AS_OF}],
                schema=risk.open_alerts.schema,
            ),
        ]
    )
    risk2 = RiskBook(risk.facts, risk.inspections, alerts)
    settings = load_tier_settings()
    coll = risk_stage.collateral(states, book.loans, risk2, AS_OF, load_valuation_params()).table
    got = risk_stage.tiers(
        states, book.loans, risk2, coll, AS_OF, settings.origination, settings.risk
    )
    assert loan_id not in got.column("loan_id").to_pylist()


def test_month_tables_equal_the_row_by_row_arithmetic() -> None:
    rng = np.random.default_rng(3)
    start = rng.integers(15000, 20500, 5000)
    end = np.where(rng.random(5000) < 0.7, start, start + rng.integers(-50, 2000, 5000))
    for day in (15000, 19999, 20269, 25000):
        want = risk_stage.months_between(start, np.full(len(start), day, np.int64))
        got = risk_stage.months_until(start, day)
        assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
    want = risk_stage.months_between(start, end)
    got = risk_stage.months_apart(start, end)
    assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
