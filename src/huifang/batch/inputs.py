"""Inputs of the nightly run: the loan book as two Arrow tables, from Parquet or the database.

The run needs only the columns the loan arithmetic reads, with the product's conventions
already joined onto each loan, so every stage works on plain columns:

* `loans`: one row per loan (terms, status, conventions, branch and product for the summary);
* `payments`: one row per ledger movement (`repayment`, `prepayment`, `reversal`).

A Parquet input directory holds `loans.parquet` and `payments.parquet` with these schemas
(`write_parquet_inputs` writes them, e.g. from the database or the demo generator).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine, select

MONEY = pa.decimal128(18, 2)
RATE = pa.decimal128(9, 6)

LOAN_SCHEMA = pa.schema(
    [
        ("loan_id", pa.int64()),
        ("contract_no", pa.string()),
        ("branch_id", pa.int64()),
        ("product_id", pa.int64()),
        ("principal", MONEY),
        ("annual_rate", RATE),
        ("term_months", pa.int32()),
        ("repayment_method", pa.string()),
        ("balloon_pct", RATE),
        ("disbursement_date", pa.date32()),
        ("repayment_day", pa.int32()),
        ("status", pa.string()),
        ("penalty_multiplier", RATE),
        ("rounding", pa.string()),
        ("interest_rounding", pa.string()),
        ("day_count", pa.string()),
        ("holiday_shift", pa.bool_()),
    ]
)

PAYMENT_SCHEMA = pa.schema(
    [
        ("payment_id", pa.int64()),
        ("loan_id", pa.int64()),
        ("paid_on", pa.date32()),
        ("amount", MONEY),
        ("payment_type", pa.string()),
        ("reverses_id", pa.int64()),
    ]
)


@dataclass(frozen=True)
class BookInputs:
    """The loan book as the run reads it."""

    loans: pa.Table
    payments: pa.Table

    def __post_init__(self) -> None:
        _check_schema("loans", self.loans, LOAN_SCHEMA)
        _check_schema("payments", self.payments, PAYMENT_SCHEMA)


def _check_schema(name: str, table: pa.Table, schema: pa.Schema) -> None:
    missing = [f.name for f in schema if f.name not in table.column_names]
    if missing:
        raise ValueError(f"输入表 {name} 缺少列: {', '.join(missing)}")


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with exactly the schema's columns, in order, cast to the schema's types."""
    return pa.table([table.column(f.name).cast(f.type) for f in schema], schema=schema)


def read_parquet_inputs(directory: Path) -> BookInputs:
    """Read `loans.parquet` and `payments.parquet` from `directory`."""
    paths = {name: directory / f"{name}.parquet" for name in ("loans", "payments")}
    for name, path in paths.items():
        if not path.exists():
            raise FileNotFoundError(f"找不到输入文件 {path} ({name})")
    loans = pq.read_table(paths["loans"], columns=LOAN_SCHEMA.names)
    payments = pq.read_table(paths["payments"], columns=PAYMENT_SCHEMA.names)
    return BookInputs(conform(loans, LOAN_SCHEMA), conform(payments, PAYMENT_SCHEMA))


def write_parquet_tables(tables: Mapping[str, pa.Table], directory: Path, prefix: str = "") -> None:
    """Write named tables into a Parquet input directory as `{prefix}{name}.parquet`, each
    file atomically (written aside, then renamed over the old one)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        tmp = directory / f".{prefix}{name}.parquet.tmp"
        pq.write_table(table, tmp, row_group_size=256_000)
        tmp.replace(directory / f"{prefix}{name}.parquet")


def write_parquet_inputs(inputs: BookInputs, directory: Path) -> None:
    """Write the inputs as a Parquet input directory (atomically per file)."""
    write_parquet_tables({"loans": inputs.loans, "payments": inputs.payments}, directory)


def read_database_inputs(engine: Engine, batch_rows: int = 200_000) -> BookInputs:
    """Bulk-read the book from the database (SQLAlchemy Core, streamed in batches)."""
    from huifang.store.models import Loan, Payment, Product

    loan_query = (
        select(
            Loan.id.label("loan_id"),
            Loan.contract_no,
            Loan.branch_id,
            Loan.product_id,
            Loan.principal,
            Loan.annual_rate,
            Loan.term_months,
            Loan.repayment_method,
            Loan.balloon_pct,
            Loan.disbursement_date,
            Loan.repayment_day,
            Loan.status,
            Product.penalty_rate_multiplier.label("penalty_multiplier"),
            Product.rounding,
            Product.interest_rounding,
            Product.broken_period_day_count.label("day_count"),
            Product.holiday_shift,
        )
        .join(Product, Product.id == Loan.product_id)
        .order_by(Loan.id)
    )
    payment_query = select(
        Payment.id.label("payment_id"),
        Payment.loan_id,
        Payment.paid_on,
        Payment.amount,
        Payment.payment_type,
        Payment.reverses_id,
    ).order_by(Payment.id)
    with engine.connect() as conn:
        loans = _fetch(conn, loan_query, LOAN_SCHEMA, batch_rows)
        payments = _fetch(conn, payment_query, PAYMENT_SCHEMA, batch_rows)
    return BookInputs(loans, payments)


def _fetch(conn, query, schema: pa.Schema, batch_rows: int) -> pa.Table:  # type: ignore[no-untyped-def]
    result = conn.execution_options(stream_results=True, yield_per=batch_rows).execute(query)
    batches = []
    for rows in result.partitions(batch_rows):
        columns = list(zip(*rows, strict=True)) if rows else [[] for _ in schema]
        batches.append(
            pa.record_batch(
                [pa.array(col, type=f.type) for col, f in zip(columns, schema, strict=True)],
                schema=schema,
            )
        )
    return pa.Table.from_batches(batches, schema=schema)
