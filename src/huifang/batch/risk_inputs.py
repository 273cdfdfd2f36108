"""Inputs of the nightly run's risk stages: what the loan arithmetic does not need.

Collateral value, LTV and the risk tier read facts about each loan that the loan-state
engine never looks at, so they travel in their own tables (all optional: a book without
them gets loan states only, and the run summary says the risk stages were skipped):

* `loan_facts`: one row per loan - the financed car as recorded at origination (price,
  fuel type, brand, segment, new/used, first registration, model year, odometer at
  purchase), the down payment and the application credit score;
* `inspections`: one row per vehicle inspection (date, condition, odometer), by loan;
* `open_alerts`: one row per early-warning alert not resolved (severity, first seen).

A Parquet input directory may hold `loan_facts.parquet`, `inspections.parquet` and
`open_alerts.parquet` with these schemas; the database reader bulk-reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine, select

from huifang.batch.inputs import MONEY, _fetch, conform, write_parquet_tables

FACT_SCHEMA = pa.schema(
    [
        ("loan_id", pa.int64()),
        ("vehicle_price", MONEY),
        ("down_payment", MONEY),
        ("credit_score", pa.int32()),
        ("fuel_type", pa.string()),
        ("brand", pa.string()),
        ("segment", pa.string()),
        ("used", pa.bool_()),
        ("first_registration", pa.date32()),
        ("model_year", pa.int32()),
        ("mileage_km", pa.int64()),
    ]
)

INSPECTION_SCHEMA = pa.schema(
    [
        ("inspection_id", pa.int64()),
        ("loan_id", pa.int64()),
        ("inspected_on", pa.date32()),
        ("condition", pa.string()),
        ("mileage_km", pa.int64()),
    ]
)

OPEN_ALERT_SCHEMA = pa.schema(
    [
        ("loan_id", pa.int64()),
        ("severity", pa.string()),
        ("first_seen_on", pa.date32()),
    ]
)

_FILES = {
    "loan_facts": FACT_SCHEMA,
    "inspections": INSPECTION_SCHEMA,
    "open_alerts": OPEN_ALERT_SCHEMA,
}


@dataclass(frozen=True)
class RiskBook:
    """The risk stages' inputs (see the module docstring)."""

    facts: pa.Table
    inspections: pa.Table
    open_alerts: pa.Table

    def tables(self) -> dict[str, pa.Table]:
        return {
            "loan_facts": self.facts,
            "inspections": self.inspections,
            "open_alerts": self.open_alerts,
        }


def empty_like(schema: pa.Schema) -> pa.Table:
    return schema.empty_table()


def read_parquet_risk(directory: Path) -> RiskBook | None:
    """The risk tables of a Parquet input directory; None when it has no `loan_facts`."""
    if not (directory / "loan_facts.parquet").exists():
        return None
    tables = {}
    for name, schema in _FILES.items():
        path = directory / f"{name}.parquet"
        if path.exists():
            tables[name] = conform(pq.read_table(path, columns=schema.names), schema)
        else:
            tables[name] = schema.empty_table()
    return RiskBook(tables["loan_facts"], tables["inspections"], tables["open_alerts"])


def write_parquet_risk(risk: RiskBook, directory: Path) -> None:
    """Write the risk tables into a Parquet input directory (atomically per file)."""
    write_parquet_tables(risk.tables(), directory)


def read_database_risk(engine: Engine, batch_rows: int = 200_000) -> RiskBook:
    """Bulk-read the risk tables from the database (SQLAlchemy Core, streamed)."""
    from huifang.store.models import Loan, Vehicle
    from huifang.store.risk_models import RiskAlert, VehicleInspection

    facts = (
        select(
            Loan.id.label("loan_id"),
            Loan.vehicle_price,
            Loan.down_payment,
            Loan.credit_score,
            Vehicle.fuel_type,
            Vehicle.brand,
            Vehicle.segment,
            (Vehicle.condition == "used").label("used"),
            Vehicle.first_registration_date.label("first_registration"),
            Vehicle.model_year,
            Vehicle.mileage_km,
        )
        .join(Vehicle, Vehicle.id == Loan.vehicle_id)
        .order_by(Loan.id)
    )
    inspections = (
        select(
            VehicleInspection.id.label("inspection_id"),
            Loan.id.label("loan_id"),
            VehicleInspection.inspected_on,
            VehicleInspection.condition,
            VehicleInspection.mileage_km,
        )
        .join(Loan, Loan.vehicle_id == VehicleInspection.vehicle_id)
        .order_by(VehicleInspection.id, Loan.id)
    )
    alerts = (
        select(RiskAlert.loan_id, RiskAlert.severity, RiskAlert.first_seen_on)
        .where(RiskAlert.status != "resolved")
        .order_by(RiskAlert.id)
    )
    with engine.connect() as conn:
        return RiskBook(
            _fetch(conn, facts, FACT_SCHEMA, batch_rows),
            _fetch(conn, inspections, INSPECTION_SCHEMA, batch_rows),
            _fetch(conn, alerts, OPEN_ALERT_SCHEMA, batch_rows),
        )
