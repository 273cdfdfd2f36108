"""The risk stages per loan with the domain functions: what `risk_stage` must equal.

For each loan of the states: `collateral.value_vehicle` with the latest inspection on or
before as-of (`latest_inspection`, inspections in id order), `ltv` and `ltv_band` on the
exposure (outstanding principal less credit), then `tiering.origination_tier` and
`risk_tier`. A loan the domain refuses (ValueError) gets None, as the services report
it failed. Slow on purpose (one Python loop per loan): the agreement tests and the
benchmark's per-loan comparison use it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

import pyarrow as pa

from huifang.batch.risk_inputs import RiskBook
from huifang.domain.collateral import (
    Inspection,
    ValuationParameters,
    VehicleCondition,
    VehicleFacts,
    latest_inspection,
    ltv,
    ltv_band,
    months_between,
    value_vehicle,
)
from huifang.domain.tiering import (
    BehaviourScore,
    RiskInputs,
    RiskTierRules,
    TierThresholds,
    down_payment_ratio,
    origination_tier,
    risk_tier,
)


def collateral_rows(
    states: pa.Table, loans: pa.Table, risk: RiskBook, as_of: date, params: ValuationParameters
) -> dict[int, dict[str, Any] | None]:
    """loan id → {vehicle_value, exposure, ltv, ltv_band} (None: no car or refused)."""
    d0 = dict(
        zip(*(loans.column(c).to_pylist() for c in ("loan_id", "disbursement_date")), strict=True)
    )
    facts = {r["loan_id"]: r for r in risk.facts.to_pylist()}
    found: dict[int, list[Inspection]] = defaultdict(list)
    for r in sorted(risk.inspections.to_pylist(), key=lambda r: r["inspection_id"]):
        try:
            found[r["loan_id"]].append(
                Inspection(
                    r["inspected_on"], "batch", VehicleCondition(r["condition"]), r["mileage_km"]
                )
            )
        except ValueError:
            found[r["loan_id"]].append(None)  # type: ignore[arg-type]
    out: dict[int, dict[str, Any] | None] = {}
    for s in states.select(["loan_id", "outstanding_principal", "credit"]).to_pylist():
        loan_id = s["loan_id"]
        f = facts.get(loan_id)
        exposure = max(Decimal(0), s["outstanding_principal"] - s["credit"])
        if f is None:
            out[loan_id] = None
            continue
        try:
            inspections = found[loan_id]
            if any(i is None for i in inspections):
                raise ValueError("bad inspection")
            car = VehicleFacts(
                price=f["vehicle_price"],
                purchased_on=d0[loan_id],
                fuel_type=f["fuel_type"],
                brand=f["brand"] or "",
                segment=f["segment"],
                used=bool(f["used"]),
                first_registration=f["first_registration"],
                model_year=f["model_year"],
                mileage_km=f["mileage_km"],
            )
            valuation = value_vehicle(car, as_of, params, latest_inspection(inspections, as_of))
        except ValueError:
            out[loan_id] = {"vehicle_value": None, "exposure": exposure, "ltv": None}
            continue
        ratio = ltv(exposure, valuation) if valuation.value > 0 else None
        out[loan_id] = {
            "vehicle_value": valuation.value,
            "exposure": exposure,
            "ltv": ratio,
            "ltv_band": ltv_band(ratio, params.ltv_bands).code if ratio is not None else None,
            "base_retention": valuation.base_retention,
            "mileage_factor": valuation.mileage_factor,
            "condition_factor": valuation.condition_factor,
        }
    return out


def tier_rows(
    states: pa.Table,
    loans: pa.Table,
    risk: RiskBook,
    ltvs: dict[int, Decimal | None],
    as_of: date,
    origination: TierThresholds,
    rules: RiskTierRules,
    behaviour: dict[int, BehaviourScore] | None = None,
) -> dict[int, dict[str, Any] | None]:
    """loan id → {origination_tier, risk_tier, risk_reason} (None: refused or no facts)."""
    d0 = dict(
        zip(*(loans.column(c).to_pylist() for c in ("loan_id", "disbursement_date")), strict=True)
    )
    facts = {r["loan_id"]: r for r in risk.facts.to_pylist()}
    severities: dict[int, list[str]] = defaultdict(list)
    for a in risk.open_alerts.to_pylist():
        if a["first_seen_on"] <= as_of:
            severities[a["loan_id"]].append(a["severity"])
    out: dict[int, dict[str, Any] | None] = {}
    for s in states.select(["loan_id", "dpd"]).to_pylist():
        loan_id = s["loan_id"]
        f = facts.get(loan_id)
        if f is None:
            out[loan_id] = None
            continue
        try:
            o = origination_tier(
                f["credit_score"],
                down_payment_ratio(f["down_payment"], f["vehicle_price"]),
                origination,
            )
            mob = int(months_between(d0[loan_id], as_of))
            a = risk_tier(
                RiskInputs(
                    origination=o.tier,
                    months_on_book=mob,
                    dpd=s["dpd"],
                    behaviour=(behaviour or {}).get(loan_id),
                    ltv=ltvs.get(loan_id),
                    open_alert_severities=tuple(severities[loan_id]),
                ),
                rules,
            )
        except ValueError:
            out[loan_id] = None
            continue
        out[loan_id] = {
            "origination_tier": o.tier.value,
            "risk_tier": a.tier.value,
            "risk_reason": a.reasons[0].code,
            "months_on_book": mob,
            "open_alerts": len(severities[loan_id]),
        }
    return out
