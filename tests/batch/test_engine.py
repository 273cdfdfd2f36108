"""The vectorized engine agrees with the per-loan domain engine, to the fen, per loan."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest
from batch_portfolios import random_book

from huifang.batch import engine, reference
from huifang.batch.inputs import LOAN_SCHEMA, PAYMENT_SCHEMA
from huifang.batch.templates import TemplateCache


def _both(loans: pa.Table, payments: pa.Table, as_of: date) -> tuple[list[dict], list[dict]]:
    cache = TemplateCache()
    engine.ensure_templates(loans, cache, as_of)
    got = engine.compute_partition(loans, payments, cache.table(), as_of)
    want = reference.compute(loans, payments, as_of)
    return got.to_pylist(), want.to_pylist()


def _assert_same(got: list[dict], want: list[dict]) -> None:
    assert [r["loan_id"] for r in got] == [r["loan_id"] for r in want]
    diffs = [
        (g["loan_id"], {k: (g[k], w[k]) for k in g if g[k] != w[k]})
        for g, w in zip(got, want, strict=True)
        if g != w
    ]
    assert not diffs, diffs[:5]


@pytest.mark.parametrize(
    ("seed", "as_of"),
    [(11, date(2025, 6, 30)), (12, date(2024, 2, 29)), (13, date(2026, 1, 31))],
)
def test_random_books_agree_per_loan(seed: int, as_of: date) -> None:
    book = random_book(350, seed, as_of)
    got, want = _both(book.loans, book.payments, as_of)
    assert len(got) > 300
    _assert_same(got, want)
    # the random books really exercise the rules (not a test that cannot fail)
    assert any(r["dpd"] > 90 for r in want)
    assert any(r["penalty_outstanding"] > 0 for r in want)
    assert any(r["credit"] > 0 for r in want)
    assert any(r["closed_on"] is not None for r in want)
    assert any(r["accrued_interest"] > 0 for r in want)


def _loan(loan_id: int, **kw: object) -> dict[str, object]:
    from decimal import Decimal

    row: dict[str, object] = {
        "loan_id": loan_id,
        "contract_no": f"E{loan_id}",
        "branch_id": 1,
        "product_id": 1,
        "principal": Decimal("120000.00"),
        "annual_rate": Decimal("0.06"),
        "term_months": 12,
        "repayment_method": "equal-installment",
        "balloon_pct": None,
        "disbursement_date": date(2024, 1, 15),
        "repayment_day": None,
        "status": "active",
        "penalty_multiplier": Decimal("1.5"),
        "rounding": "half-up",
        "interest_rounding": "per-period",
        "day_count": "actual/360",
        "holiday_shift": False,
    }
    row.update(kw)
    return row


def test_documented_examples_and_edges() -> None:
    """docs/loan-arithmetic.md's examples and the domain tests' edge cases."""
    from decimal import Decimal as D

    loans = [
        _loan(1),  # period 2 unpaid: 24.44 penalty by 25 March (docs §4)
        _loan(2, repayment_method="balloon", balloon_pct=D("0.3")),
        _loan(3, repayment_method="interest-first"),
        _loan(4, repayment_method="equal-principal"),
        _loan(5, principal=D("36000"), annual_rate=D("0.072"), repayment_day=5),  # broken
        _loan(6, disbursement_date=date(2024, 1, 31)),  # month ends
        _loan(7, annual_rate=D("0"), repayment_method="interest-first"),  # zero rows
        _loan(8),  # paid off early
        _loan(9),  # reversal
    ]
    pay = [
        (1, date(2024, 2, 15), "10327.97", "repayment", None),
        (2, date(2024, 2, 15), "7409.58", "repayment", None),
        (3, date(2024, 2, 14), "2500.00", "repayment", None),  # overpayment: credit
        (4, date(2024, 3, 1), "5000.00", "repayment", None),  # partial, late
        (5, date(2024, 2, 5), "3053.48", "repayment", None),
        (6, date(2024, 2, 29), "10327.97", "repayment", None),
        (7, date(2024, 5, 1), "50000.00", "repayment", None),
        (8, date(2024, 2, 15), "10327.97", "repayment", None),
        (8, date(2024, 3, 10), "111000.00", "prepayment", None),
        (9, date(2024, 2, 15), "10327.97", "repayment", None),
        (9, date(2024, 3, 15), "10327.97", "repayment", None),
        (9, date(2024, 3, 18), "10327.97", "reversal", 11),
    ]
    payments = [
        {
            "payment_id": k,
            "loan_id": lid,
            "paid_on": d,
            "amount": D(a),
            "payment_type": t,
            "reverses_id": r,
        }
        for k, (lid, d, a, t, r) in enumerate(pay, 1)
    ]
    as_of = date(2024, 3, 25)
    got, want = _both(
        pa.Table.from_pylist(loans, schema=LOAN_SCHEMA),
        pa.Table.from_pylist(payments, schema=PAYMENT_SCHEMA),
        as_of,
    )
    _assert_same(got, want)
    by_id = {r["loan_id"]: r for r in got}
    assert by_id[1]["penalty_charged"] == D("24.44") and by_id[1]["dpd"] == 10
    assert by_id[8]["closed_on"] == date(2024, 3, 10) and by_id[8]["outstanding_principal"] == 0
    assert by_id[9]["dpd"] == 10 and by_id[9]["bucket"] == "M1"
    assert by_id[3]["credit"] == D("700.00")  # 2,500 less three months of 600
