"""Risk and collateral tables (capabilities 6–7); migration ``0003_risk``.

- `vehicle_inspections`: one look at a financed car — date, inspector, odometer, condition
  grade, photo paths (references into the photo store, never image bytes). One per vehicle,
  date and inspector, so recording the same inspection twice is a no-op.
- `collateral_valuations`: the car's value as of a date with every component of the model,
  the outstanding principal and the LTV and band; one per loan, date and parameter version,
  so revaluing the same day again replaces rather than duplicates.
- `risk_alerts`: early-warning alerts with their lifecycle (open → acknowledged → resolved
  with a note); `key` (contract | rule | episode) is unique, which is the deduplication.
- `risk_tier_history`: each change of a loan's origination or risk tier with its reasons.

Ratios (retention, factors, LTV) are NUMERIC(9, 4); money is NUMERIC(18, 2) as elsewhere.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from huifang.store.models import Base, Id, Money

Ratio = Numeric(9, 4, asdecimal=True)
TZ = DateTime(timezone=True)


class VehicleInspection(Base):
    """A vehicle inspection (车辆检查) recorded by a field agent or appraiser."""

    __tablename__ = "vehicle_inspections"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id"), index=True)
    loan_id: Mapped[int | None] = mapped_column(ForeignKey("loans.id"))
    inspected_on: Mapped[date] = mapped_column(Date)
    inspector: Mapped[str] = mapped_column(String(60))
    mileage_km: Mapped[int | None] = mapped_column(Integer)
    condition: Mapped[str] = mapped_column(
        String(12)
    )  # excellent|good|fair|poor|damaged|total-loss
    photos: Mapped[list[str]] = mapped_column(JSON, default=list)
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TZ, server_default=func.current_timestamp())
    __table_args__ = (
        UniqueConstraint(
            "vehicle_id", "inspected_on", "inspector", name="uq_vehicle_inspections_visit"
        ),
    )


class CollateralValuation(Base):
    """The financed car's value and the loan's LTV as of a date (抵押物估值)."""

    __tablename__ = "collateral_valuations"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id"))
    as_of: Mapped[date] = mapped_column(Date)
    params_version: Mapped[str] = mapped_column(String(40))
    value: Mapped[Decimal] = mapped_column(Money)
    outstanding_principal: Mapped[Decimal] = mapped_column(Money)
    ltv: Mapped[Decimal | None] = mapped_column(Ratio)
    ltv_band: Mapped[str | None] = mapped_column(String(16))
    curve: Mapped[str] = mapped_column(String(40))
    age_months: Mapped[Decimal] = mapped_column(Numeric(7, 2, asdecimal=True))
    mileage_km: Mapped[int] = mapped_column(Integer)
    mileage_source: Mapped[str] = mapped_column(String(12))
    base_retention: Mapped[Decimal] = mapped_column(Ratio)
    mileage_factor: Mapped[Decimal] = mapped_column(Ratio)
    condition: Mapped[str] = mapped_column(String(12))
    condition_factor: Mapped[Decimal] = mapped_column(Ratio)
    inspection_id: Mapped[int | None] = mapped_column(ForeignKey("vehicle_inspections.id"))
    notes: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(TZ, server_default=func.current_timestamp())
    __table_args__ = (
        UniqueConstraint("loan_id", "as_of", "params_version", name="uq_collateral_valuations_day"),
    )


class RiskAlert(Base):
    """An early-warning alert (风险预警) and its lifecycle."""

    __tablename__ = "risk_alerts"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    contract_no: Mapped[str] = mapped_column(String(40))
    rule_id: Mapped[str] = mapped_column(String(60))
    rule_version: Mapped[str] = mapped_column(String(40))
    episode: Mapped[str] = mapped_column(String(120))
    severity: Mapped[str] = mapped_column(String(10))
    actions: Mapped[list[str]] = mapped_column(JSON, default=list)
    title_zh: Mapped[str] = mapped_column(Text)
    title_en: Mapped[str] = mapped_column(Text)
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(12), default="open")
    first_seen_on: Mapped[date] = mapped_column(Date)
    last_seen_on: Mapped[date] = mapped_column(Date)
    opened_at: Mapped[datetime] = mapped_column(TZ)
    acknowledged_by: Mapped[str | None] = mapped_column(String(60))
    acknowledged_at: Mapped[datetime | None] = mapped_column(TZ)
    resolved_by: Mapped[str | None] = mapped_column(String(60))
    resolved_at: Mapped[datetime | None] = mapped_column(TZ)
    resolution_note: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (
        Index("ix_risk_alerts_loan_rule_status", "loan_id", "rule_id", "status"),
        Index("ix_risk_alerts_status", "status"),
    )


class RiskTierChange(Base):
    """A change of a loan's tier, with the reasons (list of {code, tier, zh, en})."""

    __tablename__ = "risk_tier_history"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    kind: Mapped[str] = mapped_column(String(12))  # origination | risk
    as_of: Mapped[date] = mapped_column(Date)
    previous_tier: Mapped[str | None] = mapped_column(String(8))
    tier: Mapped[str] = mapped_column(String(8))
    reasons: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    settings_version: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(TZ, server_default=func.current_timestamp())
    __table_args__ = (Index("ix_risk_tier_history_loan_kind", "loan_id", "kind", "as_of"),)
