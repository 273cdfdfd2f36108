"""The compiled fold (`fold_kernel`) gives the NumPy fold's states, extreme loans included."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from batch_portfolios import random_book

from huifang.batch import engine, fold, reference
from huifang.batch.fold_kernel import KERNEL
from huifang.batch.templates import TemplateCache

AS_OF = date(2025, 6, 30)


def _states(loans: pa.Table, payments: pa.Table, compiled: bool, monkeypatch) -> list[dict]:  # type: ignore[no-untyped-def]
    cache = TemplateCache()
    engine.ensure_templates(loans, cache, AS_OF)
    real = fold.fold
    monkeypatch.setattr(fold, "fold", lambda tp, ln, e: real(tp, ln, e, compiled=compiled))
    try:
        return engine.compute_partition(loans, payments, cache.table(), AS_OF).to_pylist()
    finally:
        monkeypatch.setattr(fold, "fold", real)


def test_numba_is_installed() -> None:
    assert KERNEL is not None  # a main dependency: the run would be many times slower


@pytest.mark.parametrize("seed", [41, 42])
def test_compiled_fold_equals_numpy_fold(seed: int, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    book = random_book(400, seed, AS_OF)
    compiled = _states(book.loans, book.payments, True, monkeypatch)
    assert compiled == _states(book.loans, book.payments, False, monkeypatch)


def test_penalty_beyond_int64_falls_back_to_exact_integers(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Loans of ten billion yuan, years overdue: `w × rate` leaves int64; the kernel hands
    them to the NumPy step (Python integers), which agrees with the domain."""
    book = random_book(30, 43, AS_OF)
    loans = book.loans
    huge = pa.array(
        [Decimal("9876543210.99")] * loans.num_rows, loans.schema.field("principal").type
    )
    rate = pa.array([Decimal("0.123457")] * loans.num_rows, loans.schema.field("annual_rate").type)
    loans = loans.set_column(loans.schema.get_field_index("principal"), "principal", huge)
    loans = loans.set_column(loans.schema.get_field_index("annual_rate"), "annual_rate", rate)
    old = pc.less(loans.column("disbursement_date"), pa.scalar(date(2022, 1, 1), pa.date32()))
    assert pc.any(old).as_py()
    exact: list[int] = []
    numpy_fold = fold._fold_numpy
    monkeypatch.setattr(
        fold,
        "_fold_numpy",
        lambda tp, ln, e, steps, st, sel: (
            exact.append(len(sel)) or numpy_fold(tp, ln, e, steps, st, sel)
        ),
    )
    got = _states(loans, book.payments, True, monkeypatch)
    assert exact and exact[0] > 0  # some loans did go the exact way
    monkeypatch.setattr(fold, "_fold_numpy", numpy_fold)
    assert got == _states(loans, book.payments, False, monkeypatch)
    assert got == reference.compute(loans, book.payments, AS_OF).to_pylist()
