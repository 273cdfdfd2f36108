"""The compiled fold (`fold_kernel`) gives the NumPy fold's states, extreme loans included."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from batch_portfolios import random_book

from huifang.batch import engine, fold, fold_kernel, reference
from huifang.batch.inputs import BookInputs
from huifang.batch.templates import TemplateCache

AS_OF = date(2025, 6, 30)


def _states(book: BookInputs, compiled: bool, monkeypatch, threads: int = 2) -> list[dict]:  # type: ignore[no-untyped-def]
    cache = TemplateCache()
    engine.ensure_templates(book.loans, cache, AS_OF)
    if compiled:
        monkeypatch.delenv("HUIFANG_BATCH_FOLD", raising=False)
    else:
        monkeypatch.setenv("HUIFANG_BATCH_FOLD", "numpy")
    assert engine.compiled() is compiled
    try:
        table = engine.compute_partition(
            book.loans, book.payments, cache.table(), AS_OF, threads=threads
        )
        return table.to_pylist()  # type: ignore[no-any-return]
    finally:
        monkeypatch.delenv("HUIFANG_BATCH_FOLD", raising=False)


def _shuffled(book: BookInputs, seed: int, chunks: int = 3) -> BookInputs:
    """The same book with its payments in random order, in several Arrow chunks."""
    order = list(range(book.payments.num_rows))
    random.Random(seed).shuffle(order)
    payments = book.payments.take(pa.array(order))
    step = -(-payments.num_rows // chunks)
    batches = [payments.slice(s, step) for s in range(0, payments.num_rows, step)]
    return BookInputs(book.loans, pa.concat_tables(batches))


def _with_ids(book: BookInputs, factor: int) -> BookInputs:
    """Loan ids multiplied by `factor` (sparse ids: the kernel's binary-search look-up)."""
    loans, payments = book.loans, book.payments
    scaled = pc.multiply(loans.column("loan_id"), factor)
    loans = loans.set_column(loans.schema.get_field_index("loan_id"), "loan_id", scaled)
    scaled = pc.multiply(payments.column("loan_id"), factor)
    payments = payments.set_column(payments.schema.get_field_index("loan_id"), "loan_id", scaled)
    return BookInputs(loans, payments)


def test_numba_is_installed() -> None:
    assert fold_kernel.AVAILABLE  # a main dependency: the run would be many times slower


@pytest.mark.parametrize("seed", [41, 42])
def test_compiled_fold_equals_numpy_fold(seed: int, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    book = random_book(400, seed, AS_OF)
    # small slices, so that the two threads each run several
    monkeypatch.setattr(engine, "SLICE_LOANS", 37)
    want = _states(book, False, monkeypatch)
    assert any(r["closed_on"] is not None for r in want)
    assert _states(book, True, monkeypatch) == want
    # payments in any order and chunking, sparse loan ids, one thread: the same states
    assert _states(_shuffled(book, seed), True, monkeypatch, threads=1) == want
    assert _states(_shuffled(book, seed), False, monkeypatch) == want
    sparse = _states(_with_ids(book, 10**9), True, monkeypatch)
    assert [{**r, "loan_id": r["loan_id"] // 10**9} for r in sparse] == want


def test_payments_of_other_loans_and_after_as_of_are_not_posted(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    book = random_book(60, 44, AS_OF)
    want = _states(book, True, monkeypatch)
    # a stranger's payments (ids below, between and above the book's) change nothing
    stray = pa.Table.from_pylist(
        [
            {
                "payment_id": 10**6 + k,
                "loan_id": loan_id,
                "paid_on": date(2025, 1, 10),
                "amount": Decimal("99999.00"),
                "payment_type": "repayment",
                "reverses_id": None,
            }
            for k, loan_id in enumerate((0, 10**5, -3))
        ],
        schema=book.payments.schema,
    )
    more = BookInputs(book.loans, pa.concat_tables([book.payments, stray]))
    assert _states(more, True, monkeypatch) == want
    assert _states(more, False, monkeypatch) == want


def test_penalty_beyond_int64_falls_back_to_exact_integers(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Loans of ten billion yuan, years overdue: `w × rate` leaves int64; the kernel hands
    them to the NumPy fold (Python integers), which agrees with the domain."""
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
    numpy_fold = fold.fold
    monkeypatch.setattr(
        fold, "fold", lambda tp, ln, e: exact.append(len(ln.n)) or numpy_fold(tp, ln, e)
    )
    heavy = BookInputs(loans, book.payments)
    got = _states(heavy, True, monkeypatch)
    assert exact and 0 < exact[0] < loans.num_rows  # some loans, not all, went the exact way
    monkeypatch.setattr(fold, "fold", numpy_fold)
    assert got == _states(heavy, False, monkeypatch)
    assert got == reference.compute(loans, book.payments, AS_OF).to_pylist()


def test_warm_up_loads_the_kernels_a_run_calls(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The runner loads the kernels while reading; a run must call them with the same
    array kinds, or each night would compile (or load) another specialization."""
    fold_kernel.warm_up()
    kernels = [
        fold_kernel.payment_codes,
        fold_kernel.place_payments,
        fold_kernel.scatter_payments,
        fold_kernel.order_payments,
        fold_kernel.fold_loans,
        fold_kernel.settlement,
    ]
    before = [list(k.signatures) for k in kernels]  # type: ignore[attr-defined]
    book = random_book(50, 45, AS_OF)
    _states(book, True, monkeypatch)
    _states(_shuffled(book, 45), True, monkeypatch)
    assert [list(k.signatures) for k in kernels] == before  # type: ignore[attr-defined]
