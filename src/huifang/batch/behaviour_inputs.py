"""Inputs of the nightly run's behaviour-score stage: the borrower and follow-up facts.

The behaviour model's features (`huifang.model.book_features`) read, besides the repayment
history the compute stage folds and the loan facts of `risk_inputs`, who the borrower is
and what the follow-up has found. They travel in their own tables, bulk-read like the
risk inputs and dated the way `book_features` dates them:

* `borrower_facts`: one row per loan - monthly income, self-employed, industry (else the
  occupation), borrower kind, vehicle use (purpose) and new/used condition;
* `contact_attempts`: one row per outbound attempt the guard let through (`made`), on its
  local date (Asia/Shanghai), whether it reached a conversation, whether the right party;
* `visits`: one row per completed visit, on its local completion date;
* `risk_events`: one row per risk event - kind, occurred on, and for a superseded one the
  day it stopped counting (`details.superseded_on`, else the day it occurred);
* `valuations`: one row per stored collateral valuation - id, date, LTV and its band.

A Parquet input directory may hold these files (`write_parquet_behaviour`); without
`borrower_facts.parquet` the stage has no inputs and says so in the run summary. The
other tables may be missing: no follow-up history.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine, select

from huifang.batch.inputs import MONEY, _fetch, conform, write_parquet_tables

BORROWER_SCHEMA = pa.schema(
    [
        ("loan_id", pa.int64()),
        ("monthly_income", MONEY),
        ("self_employed", pa.bool_()),
        ("industry", pa.string()),
        ("borrower_kind", pa.string()),
        ("purpose", pa.string()),
        ("vehicle_condition", pa.string()),
    ]
)
ATTEMPT_SCHEMA = pa.schema(
    [
        ("loan_id", pa.int64()),
        ("attempted_on", pa.date32()),
        ("conversation", pa.bool_()),
        ("right_party", pa.bool_()),
    ]
)
VISIT_SCHEMA = pa.schema([("loan_id", pa.int64()), ("completed_on", pa.date32())])
EVENT_SCHEMA = pa.schema(
    [
        ("loan_id", pa.int64()),
        ("kind", pa.string()),
        ("occurred_on", pa.date32()),
        ("superseded_on", pa.date32()),
    ]
)
VALUATION_SCHEMA = pa.schema(
    [
        ("valuation_id", pa.int64()),
        ("loan_id", pa.int64()),
        ("valued_on", pa.date32()),
        ("ltv", pa.decimal128(18, 4)),
        ("ltv_band", pa.string()),
    ]
)

_FILES = {
    "borrower_facts": BORROWER_SCHEMA,
    "contact_attempts": ATTEMPT_SCHEMA,
    "visits": VISIT_SCHEMA,
    "risk_events": EVENT_SCHEMA,
    "valuations": VALUATION_SCHEMA,
}


@dataclass(frozen=True)
class BehaviourBook:
    """The behaviour stage's inputs (see the module docstring)."""

    borrowers: pa.Table
    attempts: pa.Table
    visits: pa.Table
    events: pa.Table
    valuations: pa.Table

    def tables(self) -> dict[str, pa.Table]:
        return dict(
            zip(
                _FILES,
                (self.borrowers, self.attempts, self.visits, self.events, self.valuations),
                strict=True,
            )
        )


def read_parquet_behaviour(directory: Path) -> BehaviourBook | None:
    """The behaviour tables of a Parquet input directory; None without `borrower_facts`."""
    if not (directory / "borrower_facts.parquet").exists():
        return None
    tables = []
    for name, schema in _FILES.items():
        path = directory / f"{name}.parquet"
        if path.exists():
            tables.append(conform(pq.read_table(path, columns=schema.names), schema))
        else:
            tables.append(schema.empty_table())
    return BehaviourBook(*tables)


def write_parquet_behaviour(book: BehaviourBook, directory: Path) -> None:
    """Write the behaviour tables into a Parquet input directory (atomically per file)."""
    write_parquet_tables(book.tables(), directory)


def read_database_behaviour(engine: Engine, batch_rows: int = 200_000) -> BehaviourBook:
    """Bulk-read the behaviour tables from the database (dated as `book_features` dates)."""
    from huifang.model.book_features import _as_date, _local_date
    from huifang.store import followup_models as fm
    from huifang.store import models as m
    from huifang.store import risk_models as rm

    borrowers = (
        select(
            m.Loan.id.label("loan_id"),
            m.Borrower.monthly_income,
            m.Borrower.self_employed,
            m.Borrower.industry,
            m.Borrower.occupation,
            m.Borrower.kind,
            m.Loan.purpose,
            m.Vehicle.condition,
        )
        .join(m.Borrower, m.Loan.borrower_id == m.Borrower.id)
        .join(m.Vehicle, m.Loan.vehicle_id == m.Vehicle.id)
        .order_by(m.Loan.id)
    )
    a = fm.ContactAttempt
    attempts = (
        select(a.loan_id, a.started_at, a.was_conversation, a.outcome)
        .where(a.status == "made", a.direction == "outbound")  # our contacts, as the model
        .order_by(a.started_at, a.id)
    )
    v = fm.Visit
    visits = select(v.loan_id, v.completed_at).order_by(v.completed_at, v.id)
    e = fm.RiskEvent
    events = select(e.loan_id, e.kind, e.occurred_on, e.status, e.details).order_by(e.id)
    c = rm.CollateralValuation
    valuations = select(c.id, c.loan_id, c.as_of, c.ltv, c.ltv_band).order_by(c.as_of, c.id)

    def rows(conn, query) -> Iterator[tuple]:  # type: ignore[no-untyped-def, type-arg]
        result = conn.execution_options(stream_results=True, yield_per=batch_rows).execute(query)
        for part in result.partitions(batch_rows):
            yield from part

    with engine.connect() as conn:
        b_rows = [
            (loan_id, income, bool(se), industry or occupation, kind, purpose, condition)
            for loan_id, income, se, industry, occupation, kind, purpose, condition in rows(
                conn, borrowers
            )
        ]
        at_rows = [
            (loan_id, _local_date(started), bool(talked), outcome == "right-party-contact")
            for loan_id, started, talked, outcome in rows(conn, attempts)
        ]
        v_rows = [(loan_id, _local_date(done)) for loan_id, done in rows(conn, visits)]
        e_rows = []
        for loan_id, kind, occurred, status, details in rows(conn, events):
            gone = None
            if status == "superseded":
                gone = _as_date((details or {}).get("superseded_on")) or _as_date(occurred)
            e_rows.append((loan_id, kind, _as_date(occurred), gone))
        val = conform(_fetch(conn, valuations, _VALUATION_READ, batch_rows), _VALUATION_READ)
    return BehaviourBook(
        _table(b_rows, BORROWER_SCHEMA),
        _table(at_rows, ATTEMPT_SCHEMA),
        _table(v_rows, VISIT_SCHEMA),
        _table(e_rows, EVENT_SCHEMA),
        val.rename_columns(VALUATION_SCHEMA.names).cast(VALUATION_SCHEMA),
    )


_VALUATION_READ = pa.schema(
    [
        ("id", pa.int64()),
        ("loan_id", pa.int64()),
        ("as_of", pa.date32()),
        ("ltv", pa.decimal128(18, 4)),
        ("ltv_band", pa.string()),
    ]
)


def _table(rows: list[tuple], schema: pa.Schema) -> pa.Table:  # type: ignore[type-arg]
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in schema]
    return pa.table(
        [pa.array(col, type=f.type) for col, f in zip(columns, schema, strict=True)],
        schema=schema,
    )
