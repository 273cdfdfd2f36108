"""Inputs of the nightly run's alert and task stages: what the workspace already knows.

The early-warning rules and the follow-up policy read, besides the loan states, what
happened around each loan and what the workspace holds already (so that only *new* alerts
and tasks come out). All in plain tables (`FollowupBook`), optional as a whole: a book
without them gets no alert and task stages (the summary says they were skipped).

* `borrowers`: one row per loan - borrower kind, self-employed, industry, and the
  origination figures the follow-up tier reads (credit score, down payment, car price);
* `events`: risk events (follow-up findings and event triggers: ``source = 'risk'``, the
  `risk_events` rows not superseded) and contact attempts made (``source = 'attempt'``,
  kind ``contact-succeeded`` / ``contact-failed``), each with its date;
* `contacts`: completed follow-up contacts (visits) by task purpose and local date;
* `stored_alerts`: every stored alert's key, rule and status (resolved ones too);
* `stored_tasks`: every follow-up task's loan, purpose, due date and whether it is open;
* `tier_history`: the recorded tier changes (`risk_tier_history`);
* `ltv_history`: the stored valuations' LTV by date.

A Parquet input directory may hold them as ``followup_<name>.parquet``; the database
reader bulk-reads them (the dates of contacts and attempts are converted as the services
convert them: `services.followup.local_date` for visits, `services.risk` for attempts).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine, select

from huifang.batch.inputs import MONEY, _fetch, conform, write_parquet_tables

LTV = pa.decimal128(18, 4)

SCHEMAS: dict[str, pa.Schema] = {
    "borrowers": pa.schema(
        [
            ("loan_id", pa.int64()),
            ("borrower_kind", pa.string()),
            ("self_employed", pa.bool_()),
            ("industry", pa.string()),
            ("credit_score", pa.int32()),
            ("down_payment", MONEY),
            ("vehicle_price", MONEY),
        ]
    ),
    "events": pa.schema(
        [
            ("loan_id", pa.int64()),
            ("source", pa.string()),  # risk | attempt
            ("event_id", pa.int64()),
            ("kind", pa.string()),
            ("occurred_on", pa.date32()),
        ]
    ),
    "contacts": pa.schema(
        [("loan_id", pa.int64()), ("purpose", pa.string()), ("completed_on", pa.date32())]
    ),
    "stored_alerts": pa.schema(
        [
            ("loan_id", pa.int64()),
            ("key", pa.string()),
            ("rule_id", pa.string()),
            ("status", pa.string()),
        ]
    ),
    "stored_tasks": pa.schema(
        [
            ("loan_id", pa.int64()),
            ("purpose", pa.string()),
            ("due_on", pa.date32()),
            ("open", pa.bool_()),
        ]
    ),
    "tier_history": pa.schema(
        [
            ("change_id", pa.int64()),
            ("loan_id", pa.int64()),
            ("kind", pa.string()),
            ("as_of", pa.date32()),
            ("tier", pa.string()),
        ]
    ),
    "ltv_history": pa.schema(
        [
            ("valuation_id", pa.int64()),
            ("loan_id", pa.int64()),
            ("valued_on", pa.date32()),
            ("ltv", LTV),
        ]
    ),
}


@dataclass(frozen=True)
class FollowupBook:
    """The alert and task stages' inputs (see the module docstring)."""

    borrowers: pa.Table
    events: pa.Table
    contacts: pa.Table
    stored_alerts: pa.Table
    stored_tasks: pa.Table
    tier_history: pa.Table
    ltv_history: pa.Table

    def tables(self) -> dict[str, pa.Table]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def of(cls, **tables: pa.Table) -> FollowupBook:
        """A book from some tables (the others empty), each conformed to its schema."""
        unknown = sorted(set(tables) - set(SCHEMAS))
        if unknown:
            raise ValueError(f"未知的输入表 / unknown input tables: {unknown}")
        return cls(
            **{
                name: conform(tables[name], schema) if name in tables else schema.empty_table()
                for name, schema in SCHEMAS.items()
            }
        )


def read_parquet_followup(directory: Path) -> FollowupBook | None:
    """The tables of a Parquet input directory; None when it has no `followup_borrowers`."""
    if not (directory / "followup_borrowers.parquet").exists():
        return None
    tables = {}
    for name, schema in SCHEMAS.items():
        path = directory / f"followup_{name}.parquet"
        if path.exists():
            tables[name] = pq.read_table(path, columns=schema.names)
    return FollowupBook.of(**tables)


def write_parquet_followup(book: FollowupBook, directory: Path) -> None:
    """Write the tables into a Parquet input directory (atomically per file)."""
    write_parquet_tables(book.tables(), directory, prefix="followup_")


def _attempt_day(started: datetime) -> date:
    """An attempt's day in the lender's zone, as `services.risk` reads it (a naive instant
    is UTC: that is how SQLite hands stored instants back)."""
    from huifang.services.followup import local_date
    from huifang.services.risk import TZ

    return local_date(started, TZ)


def read_database_followup(engine: Engine, batch_rows: int = 200_000) -> FollowupBook:
    """Bulk-read the tables from the database (SQLAlchemy Core, streamed)."""
    from huifang.services.followup import local_date
    from huifang.store.followup_models import ContactAttempt, FollowupTask, RiskEvent, Visit
    from huifang.store.models import Borrower, Loan
    from huifang.store.risk_models import CollateralValuation, RiskAlert, RiskTierChange

    borrowers = (
        select(
            Loan.id.label("loan_id"),
            Borrower.kind.label("borrower_kind"),
            Borrower.self_employed,
            Borrower.industry,
            Loan.credit_score,
            Loan.down_payment,
            Loan.vehicle_price,
        )
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .order_by(Loan.id)
    )
    risk_events = (
        select(
            RiskEvent.loan_id, RiskEvent.id.label("event_id"), RiskEvent.kind, RiskEvent.occurred_on
        )
        .where(RiskEvent.status != "superseded")
        .order_by(RiskEvent.id)
    )
    attempts = (
        select(
            ContactAttempt.loan_id,
            ContactAttempt.id,
            ContactAttempt.was_conversation,
            ContactAttempt.started_at,
        )
        .where(ContactAttempt.status == "made")
        .order_by(ContactAttempt.id)
    )
    visits = (
        select(Visit.loan_id, FollowupTask.purpose, Visit.completed_at)
        .join(FollowupTask, FollowupTask.id == Visit.task_id)
        .order_by(Visit.id)
    )
    alerts = select(RiskAlert.loan_id, RiskAlert.key, RiskAlert.rule_id, RiskAlert.status).order_by(
        RiskAlert.id
    )
    tasks = select(
        FollowupTask.loan_id,
        FollowupTask.purpose,
        FollowupTask.due_on,
        FollowupTask.closed_at.is_(None).label("open"),
    ).order_by(FollowupTask.id)
    tiers = select(
        RiskTierChange.id.label("change_id"),
        RiskTierChange.loan_id,
        RiskTierChange.kind,
        RiskTierChange.as_of,
        RiskTierChange.tier,
    ).order_by(RiskTierChange.id)
    ltvs = (
        select(
            CollateralValuation.id.label("valuation_id"),
            CollateralValuation.loan_id,
            CollateralValuation.as_of.label("valued_on"),
            CollateralValuation.ltv,
        )
        .where(CollateralValuation.ltv.is_not(None))
        .order_by(CollateralValuation.id)
    )
    with engine.connect() as conn:
        events = _fetch(
            conn,
            risk_events,
            pa.schema([f for f in SCHEMAS["events"] if f.name != "source"]),
            batch_rows,
        )
        events = events.add_column(1, "source", pa.array(["risk"] * events.num_rows, pa.string()))
        made = conn.execute(attempts).all()
        contact_rows = conn.execute(visits).all()
        tables = {
            "borrowers": _fetch(conn, borrowers, SCHEMAS["borrowers"], batch_rows),
            "stored_alerts": _fetch(conn, alerts, SCHEMAS["stored_alerts"], batch_rows),
            "stored_tasks": _fetch(conn, tasks, SCHEMAS["stored_tasks"], batch_rows),
            "tier_history": _fetch(conn, tiers, SCHEMAS["tier_history"], batch_rows),
            "ltv_history": _fetch(conn, ltvs, SCHEMAS["ltv_history"], batch_rows),
        }
    attempt_table = pa.table(
        {
            "loan_id": pa.array([r[0] for r in made], pa.int64()),
            "source": pa.array(["attempt"] * len(made), pa.string()),
            "event_id": pa.array([r[1] for r in made], pa.int64()),
            "kind": pa.array(
                ["contact-succeeded" if r[2] else "contact-failed" for r in made], pa.string()
            ),
            "occurred_on": pa.array([_attempt_day(r[3]) for r in made], pa.date32()),
        }
    )
    tables["events"] = pa.concat_tables([events.select(SCHEMAS["events"].names), attempt_table])
    tables["contacts"] = pa.table(
        {
            "loan_id": pa.array([r[0] for r in contact_rows], pa.int64()),
            "purpose": pa.array([r[1] for r in contact_rows], pa.string()),
            "completed_on": pa.array([local_date(r[2]) for r in contact_rows], pa.date32()),
        }
    )
    return FollowupBook.of(**tables)
