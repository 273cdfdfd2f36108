"""Schedule templates: the amounts of every distinct schedule, computed once by the domain.

A schedule's amounts (principal and interest per period) depend only on the principal,
rate, term, method, balloon share, the rounding conventions and - for a broken first
period - the first period's day count; its dates depend on the disbursement date and
repayment day. Amounts need a sequential, per-period rounded recursion at 50 significant
digits, so rather than re-deriving that arithmetic in SQL (and risking a fen of difference
on a half-fen tie), the run asks `huifang.domain.schedule.build_schedule` for each distinct
*amount key* once and keeps the result: a book of a million loans has a few tens of
thousands of distinct keys, and a cache directory keeps them from one night to the next
(a schedule never changes once the loan exists). Dates are computed in SQL by the engine.

The key is computed in SQL (`KEY_SQL`) by the engine, which hands the distinct keys not in
the cache, each with one representative loan's terms, to `compute_templates`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from huifang.domain.money import Rounding
from huifang.domain.schedule import (
    DayCount,
    InterestRounding,
    LoanTerms,
    RepaymentMethod,
    ScheduleConventions,
    build_schedule,
)

FEN_LIST = pa.list_(pa.int64())
TEMPLATE_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("principal_fen", FEN_LIST),  # per period
        ("interest_fen", FEN_LIST),  # per period
    ]
)

# The amount key of a loan (columns of the engine's prepared loan table).
KEY_SQL = (
    "concat_ws('|', method, principal::VARCHAR, annual_rate::VARCHAR, n::VARCHAR, "
    "balloon_pct::VARCHAR, rounding, interest_rounding, day_count, broken_days::VARCHAR)"
)


def terms_of(
    principal: Decimal,
    annual_rate: Decimal,
    term_months: int,
    method: str,
    balloon_pct: Decimal | None,
    disbursement_date: date,
    repayment_day: int | None,
    rounding: str,
    interest_rounding: str,
    day_count: str,
) -> LoanTerms:
    """The domain's `LoanTerms` for one loan row of the run's input."""
    return LoanTerms(
        principal=principal,
        annual_rate=annual_rate,
        term_months=term_months,
        method=RepaymentMethod(method),
        disbursement_date=disbursement_date,
        repayment_day=repayment_day,
        balloon_pct=balloon_pct if balloon_pct is not None else Decimal(0),
        conventions=ScheduleConventions(
            rounding=Rounding(rounding),
            interest_rounding=InterestRounding(interest_rounding),
            day_count=DayCount(day_count),
        ),
    )


def compute_templates(representatives: pa.Table) -> pa.Table:
    """Templates for the keys of `representatives` (key + one loan's term columns)."""
    rows = representatives.to_pylist()
    keys: list[str] = []
    principals: list[list[int]] = []
    interests: list[list[int]] = []
    for r in rows:
        schedule = build_schedule(
            terms_of(
                r["principal"],
                r["annual_rate"],
                r["n"],
                r["method"],
                r["balloon_pct"],
                r["d0"],
                r["rday"],
                r["rounding"],
                r["interest_rounding"],
                r["day_count"],
            )
        )
        keys.append(r["key"])
        principals.append([int(i.principal * 100) for i in schedule.installments])
        interests.append([int(i.interest * 100) for i in schedule.installments])
    return pa.table([keys, principals, interests], schema=TEMPLATE_SCHEMA)


class TemplateCache:
    """Templates kept in Parquet files under a directory (None: in memory for this run)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self._tables: list[pa.Table] = []
        self._known: set[str] = set()
        if directory is not None and directory.exists():
            for path in sorted(directory.glob("templates-*.parquet")):
                table = pq.read_table(path)
                self._tables.append(table)
                self._known.update(table.column("key").to_pylist())

    def missing(self, keys: Iterable[str]) -> set[str]:
        return {k for k in keys if k not in self._known}

    def add(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self._tables.append(table)
        self._known.update(table.column("key").to_pylist())
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            name = f"templates-{len(list(self.directory.glob('templates-*.parquet'))):05d}"
            tmp = self.directory / f".{name}.{os.getpid()}.tmp"
            pq.write_table(table, tmp)
            tmp.replace(self.directory / f"{name}.parquet")

    def table(self) -> pa.Table:
        if not self._tables:
            return TEMPLATE_SCHEMA.empty_table()
        return pa.concat_tables(self._tables)

    def __len__(self) -> int:
        return len(self._known)
