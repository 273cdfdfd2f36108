"""Risk inputs for a demo book that exists only as Parquet loans (the benchmark's books).

The demo generator (`huifang.demo.generator`) draws each loan's car and application, at
about 2.4 ms per loan - 40 minutes of CPU for a million loans - so the benchmark instead
draws the risk tables from the loan rows with NumPy, seeded, in the generator's shares:
15 % used cars (first registration 0-36 months before purchase, odometer 8,000-22,000 km a
year), 40 % new-energy, real brand and segment names (some unrecognized, some missing),
down payments 20-50 % of the price, credit scores 450-850 with 8 % thin files; one car in
ten inspected once in the year before as-of; 6 % of loans with open alerts.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from huifang.batch.risk_inputs import FACT_SCHEMA, INSPECTION_SCHEMA, OPEN_ALERT_SCHEMA, RiskBook

BRANDS = (
    "丰田",
    "广汽本田",
    "比亚迪",
    "特斯拉",
    "大众",
    "宝马",
    "奔驰",
    "五菱",
    "吉利",
    "理想",
    "蔚来",
    "长安福特",
    "某新品牌",
)
SEGMENTS = ("紧凑型SUV", "中型SUV", "紧凑型车", "中型车", "MPV", "小型车", "大型SUV", "")
FUELS = ("petrol", "petrol", "petrol", "petrol", "petrol", "hybrid", "bev", "bev", "phev", "erev")
CONDITIONS = ("excellent", "good", "good", "good", "fair", "fair", "poor", "damaged")
SEVERITIES = ("low", "medium", "medium", "high", "critical")


def _money(fen: np.ndarray) -> pa.Array:
    from huifang.batch.risk_stage import MONEY, _unscaled

    return _unscaled(fen.astype(np.int64), MONEY, np.ones(len(fen), bool))


def demo_risk(loans: pa.Table, seed: int, as_of: date) -> RiskBook:
    """Risk tables for every loan of `loans` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    n = loans.num_rows
    ids = loans.column("loan_id").to_numpy()
    d0 = loans.column("disbursement_date").cast(pa.int32()).to_numpy().astype(np.int64)
    principal = pc.multiply(loans.column("principal"), 100).cast(pa.int64()).to_numpy()
    dp_share = rng.uniform(0.2, 0.5, n)
    price = (principal / (1 - dp_share)).astype(np.int64) // 100 * 100
    down = price - principal
    used = rng.random(n) < 0.15
    reg_gap = rng.integers(0, 36 * 30, n)
    has_reg = ~used | (rng.random(n) < 0.9)
    first_reg = np.where(used, d0 - reg_gap, d0 + rng.integers(0, 10, n))
    model_year = (first_reg // 365.25 + 1970).astype(np.int64)
    km = np.where(
        used, (reg_gap / 365 * rng.uniform(8000, 22000, n)).astype(np.int64), rng.integers(0, 60, n)
    )
    scores = rng.integers(450, 851, n)
    thin = rng.random(n) < 0.08
    facts = pa.table(
        {
            "loan_id": pa.array(ids, pa.int64()),
            "vehicle_price": _money(price),
            "down_payment": _money(down),
            "credit_score": pa.array(scores, pa.int32(), mask=thin),
            "fuel_type": pa.array(np.array(FUELS)[rng.integers(0, len(FUELS), n)]),
            "brand": pa.array(np.array(BRANDS)[rng.integers(0, len(BRANDS), n)]),
            "segment": pa.array(np.array(SEGMENTS)[rng.integers(0, len(SEGMENTS), n)]),
            "used": pa.array(used),
            "first_registration": pa.array(first_reg.astype(np.int32), mask=~has_reg).cast(
                pa.date32()
            ),
            "model_year": pa.array(model_year, pa.int32()),
            "mileage_km": pa.array(km, pa.int64()),
        },
        schema=FACT_SCHEMA,
    )
    ta = (as_of - date(1970, 1, 1)).days
    chosen = np.flatnonzero(rng.random(n) < 0.1)
    on = np.maximum(d0[chosen], ta - rng.integers(0, 365, len(chosen)))
    age_years = np.maximum(on - first_reg[chosen], 0) / 365
    inspections = pa.table(
        {
            "inspection_id": pa.array(np.arange(1, len(chosen) + 1), pa.int64()),
            "loan_id": pa.array(ids[chosen], pa.int64()),
            "inspected_on": pa.array(on.astype(np.int32)).cast(pa.date32()),
            "condition": pa.array(
                np.array(CONDITIONS)[rng.integers(0, len(CONDITIONS), len(chosen))]
            ),
            "mileage_km": pa.array(
                (age_years * rng.uniform(5000, 30000, len(chosen))).astype(np.int64)
            ),
        },
        schema=INSPECTION_SCHEMA,
    )
    flagged = np.flatnonzero(rng.random(n) < 0.06)
    alerts = pa.table(
        {
            "loan_id": pa.array(ids[flagged], pa.int64()),
            "severity": pa.array(
                np.array(SEVERITIES)[rng.integers(0, len(SEVERITIES), len(flagged))]
            ),
            "first_seen_on": pa.array(
                (ta - rng.integers(0, 300, len(flagged))).astype(np.int32)
            ).cast(pa.date32()),
        },
        schema=OPEN_ALERT_SCHEMA,
    )
    return RiskBook(facts, inspections, alerts)
