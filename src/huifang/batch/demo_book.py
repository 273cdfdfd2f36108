"""The demo generator's portfolio as the nightly run's input tables (for the benchmark).

`huifang.demo.generator` yields import rows (contract numbers, branch and product codes);
the run reads ids and the product's conventions joined onto each loan. This gives loan
`index + 1` as its id and numbers payments in generation order, the same ids the importer
would give an empty database, so a Parquet book and an imported one line up.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pyarrow as pa

from huifang.batch.inputs import LOAN_SCHEMA, PAYMENT_SCHEMA, BookInputs
from huifang.demo.generator import DemoPortfolio, generate


def demo_inputs(portfolio: DemoPortfolio, start: int = 0, stop: int | None = None) -> BookInputs:
    """Loans `start`..`stop` of a generated portfolio as run inputs.

    Payment ids are `loan_id * 1000 + sequence`, unique and stable for any slice.
    """
    branches = {b["branch_code"]: k for k, b in enumerate(portfolio.branches, 1)}
    products = {p["product_code"]: (k, p) for k, p in enumerate(portfolio.products, 1)}
    loans: dict[str, list[object]] = {f.name: [] for f in LOAN_SCHEMA}
    pays: dict[str, list[object]] = {f.name: [] for f in PAYMENT_SCHEMA}
    for loan in portfolio.records(start, stop):
        row = loan.row
        loan_id = loan.index + 1
        product_id, product = products[row["product_code"]]  # type: ignore[index]
        values = {
            "loan_id": loan_id,
            "contract_no": row["contract_no"],
            "branch_id": branches[row["branch_code"]],  # type: ignore[index]
            "product_id": product_id,
            "principal": row["principal"],
            "annual_rate": row["annual_rate"],
            "term_months": row["term_months"],
            "repayment_method": row["repayment_method"],
            "balloon_pct": row["balloon_pct"],
            "disbursement_date": row["disbursement_date"],
            "repayment_day": row["repayment_day"],
            "status": row["status"],
            "penalty_multiplier": product["penalty_rate_multiplier"] or Decimal("1.5"),
            "rounding": "half-up",
            "interest_rounding": "per-period",
            "day_count": "actual/360",
            "holiday_shift": False,
        }
        for name, value in values.items():
            loans[name].append(value)
        refs: dict[object, int] = {}
        for seq, p in enumerate(loan.payments, 1):
            pid = loan_id * 1000 + seq
            refs[p["txn_ref"]] = pid
            pays["payment_id"].append(pid)
            pays["loan_id"].append(loan_id)
            pays["paid_on"].append(p["paid_on"])
            pays["amount"].append(p["amount"])
            pays["payment_type"].append(p["payment_type"] or "repayment")
            pays["reverses_id"].append(refs.get(p["reverses_txn_ref"]))
    return BookInputs(pa.table(loans, schema=LOAN_SCHEMA), pa.table(pays, schema=PAYMENT_SCHEMA))


def demo_slice(args: tuple[int, int, date, int, int]) -> BookInputs:
    """`demo_inputs` for (n_loans, seed, as_of, start, stop): a picklable unit of work."""
    n_loans, seed, as_of, start, stop = args
    return demo_inputs(generate(n_loans, seed, as_of), start, stop)
