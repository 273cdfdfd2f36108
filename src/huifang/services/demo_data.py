"""Write a reproducible synthetic portfolio as import files, to be imported like a bank's export.

The demo data goes through the same `huifang import` path as real data, so every demo run also
exercises the importer on realistic rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from huifang.demo.generator import generate
from huifang.files.layout import BRANCHES, LOANS, PAYMENTS, PRODUCTS
from huifang.files.writer import TableWriter, write_table

XLSX_MAX_LOANS = 100_000  # Excel's sheet holds 1,048,575 rows; beyond this XLSX is pointless


@dataclass(frozen=True)
class DemoFiles:
    paths: tuple[Path, ...]  # branches, products, loans, payments — the import order
    loans: int
    payments: int


def write_demo_files(
    out_dir: Path,
    *,
    loans: int,
    seed: int,
    as_of: date,
    fmt: str = "csv",
    progress: Callable[[int], None] | None = None,
) -> DemoFiles:
    """Generate `loans` loans with their payment histories into `out_dir` as `fmt` files."""
    if fmt not in ("csv", "xlsx"):
        raise ValueError("format must be csv or xlsx")
    if fmt == "xlsx" and loans > XLSX_MAX_LOANS:
        raise ValueError(f"XLSX 最多 {XLSX_MAX_LOANS:,} 笔贷款, 请用 CSV")
    out_dir.mkdir(parents=True, exist_ok=True)
    portfolio = generate(loans, seed, as_of)
    paths = tuple(
        out_dir / f"{name}.{fmt}" for name in ("branches", "products", "loans", "payments")
    )
    write_table(BRANCHES, portfolio.branches, paths[0])
    write_table(PRODUCTS, portfolio.products, paths[1])
    done = 0
    with TableWriter(LOANS, paths[2]) as loan_out, TableWriter(PAYMENTS, paths[3]) as pay_out:
        for loan, payments in portfolio.loans():
            loan_out.write(loan)
            for payment in payments:
                pay_out.write(payment)
            done += 1
            if progress and done % 1000 == 0:
                progress(done)
    if progress:
        progress(done)
    return DemoFiles(paths, loan_out.count, pay_out.count)
