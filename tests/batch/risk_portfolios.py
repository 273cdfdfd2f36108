"""Random risk inputs for the batch tests (cars, inspections, open alerts), seeded, with the
edge cases of the collateral and tiering domain tests: no car, zero value, used cars with
and without registration, odometer readings young and old, same-day inspections, scores
and down payments exactly at the thresholds."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import pyarrow as pa

from huifang.batch.risk_inputs import FACT_SCHEMA, INSPECTION_SCHEMA, OPEN_ALERT_SCHEMA, RiskBook

BRANDS = ("丰田", "广汽丰田", "比亚迪", "宝马", "五菱", "无名牌", "Tesla", "", "长安福特")
SEGMENTS = (None, "紧凑型SUV", "A级", "compact car", "MPV", "未知级别", "小型车", "中大型SUV")
FUELS = ("petrol", "petrol", "diesel", "hybrid", "phev", "erev", "bev", "fcev", "steam")
CONDITIONS = ("excellent", "good", "fair", "poor", "damaged", "total-loss")
PRICES = ("99999.99", "100000.00", "100000.01", "200000.00", "300000.00", "0.01", "0.00")


def random_risk(loans: pa.Table, seed: int, as_of: date) -> RiskBook:
    rng = random.Random(seed)
    facts: list[dict[str, object]] = []
    inspections: list[dict[str, object]] = []
    alerts: list[dict[str, object]] = []
    next_inspection = 1
    for row in loans.select(["loan_id", "disbursement_date"]).to_pylist():
        loan_id, d0 = row["loan_id"], row["disbursement_date"]
        if rng.random() < 0.05:
            continue  # no car on file: no collateral, no tier
        r = rng.random()
        if r < 0.1:
            price = Decimal(rng.choice(PRICES))
        else:
            price = Decimal(rng.randint(30000_00, 600000_00)) / 100
        used = rng.random() < 0.3
        first_reg = None
        model_year = None
        if used:
            if rng.random() < 0.7:
                first_reg = d0 - timedelta(days=rng.randint(0, 8 * 365))
            if rng.random() < 0.6:
                model_year = d0.year - rng.randint(0, 8)
        elif rng.random() < 0.5:
            first_reg = d0 + timedelta(days=rng.randint(-3, 20))  # after purchase: capped
        mileage = None
        if rng.random() < 0.85:
            mileage = rng.choice((0, 5, 59, rng.randint(0, 200000), -1 if r > 0.98 else 10))
        if price > 0 and rng.random() < 0.8:
            # down payment; exactly at 20 % / 30 % sometimes, above the price rarely
            dp = rng.choice(
                (
                    (price * Decimal("0.2")).quantize(Decimal("0.01")),
                    (price * Decimal("0.3")).quantize(Decimal("0.01")),
                    (price * Decimal(rng.randint(0, 60)) / 100).quantize(Decimal("0.01")),
                )
            )
        else:
            dp = rng.choice((Decimal(0), price + 1, Decimal(5000)))
        facts.append(
            {
                "loan_id": loan_id,
                "vehicle_price": price,
                "down_payment": dp,
                "credit_score": rng.choice((None, 549, 550, 649, 650, 720, -1, 300, 800))
                if rng.random() < 0.6
                else rng.randint(300, 900),
                "fuel_type": rng.choice(FUELS),
                "brand": rng.choice(BRANDS),
                "segment": rng.choice(SEGMENTS),
                "used": used,
                "first_registration": first_reg,
                "model_year": model_year,
                "mileage_km": mileage,
            }
        )
        for _ in range(rng.choice((0, 0, 1, 2, 3))):
            on = d0 + timedelta(days=rng.randint(0, max(1, (as_of - d0).days + 60)))
            inspections.append(
                {
                    "inspection_id": next_inspection,
                    "loan_id": loan_id,
                    "inspected_on": on,
                    "condition": rng.choice(CONDITIONS),
                    "mileage_km": rng.choice((None, rng.randint(0, 250000))),
                }
            )
            next_inspection += 1
            if rng.random() < 0.2:  # a second inspection the same day: the later one counts
                inspections.append(
                    {
                        "inspection_id": next_inspection,
                        "loan_id": loan_id,
                        "inspected_on": on,
                        "condition": rng.choice(CONDITIONS),
                        "mileage_km": rng.choice((None, rng.randint(0, 250000))),
                    }
                )
                next_inspection += 1
        for _ in range(rng.choice((0, 0, 0, 1, 2, 3, 4))):
            alerts.append(
                {
                    "loan_id": loan_id,
                    "severity": rng.choice(("low", "medium", "high", "critical", "low")),
                    "first_seen_on": as_of - timedelta(days=rng.randint(-5, 200)),
                }
            )
    rng.shuffle(inspections)  # listing order is the id, not the row order
    return RiskBook(
        pa.Table.from_pylist(facts, schema=FACT_SCHEMA),
        pa.Table.from_pylist(inspections, schema=INSPECTION_SCHEMA),
        pa.Table.from_pylist(alerts, schema=OPEN_ALERT_SCHEMA),
    )
