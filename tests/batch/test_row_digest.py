"""The row digest behind the input fingerprint: order-blind, value-sensitive."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal

import pyarrow as pa
from batch_portfolios import random_book

from huifang.batch import row_digest
from huifang.batch.runner import fingerprint

AS_OF = date(2025, 6, 30)


def _table() -> pa.Table:
    return pa.table(
        {
            "id": pa.array([1, 2, 3, 4], pa.int64()),
            "n": pa.array([12, None, 36, 12], pa.int32()),
            "day": pa.array([date(2024, 1, 31), date(2024, 2, 29), None, date(2025, 1, 1)]),
            "amount": pa.array(
                [Decimal("1.00"), Decimal("-2.50"), None, Decimal("99999999.99")],
                pa.decimal128(18, 2),
            ),
            "kind": pa.array(["repayment", "", None, "还款"]),
            "flag": pa.array([True, False, None, True]),
        }
    )


def _shuffled(table: pa.Table, seed: int) -> pa.Table:
    order = list(range(table.num_rows))
    random.Random(seed).shuffle(order)
    shuffled = table.take(pa.array(order))
    # in batches of 1 to 3 rows, some sliced (non-zero offsets)
    return pa.concat_tables([shuffled.slice(s, 3) for s in range(0, shuffled.num_rows, 3)])


def test_same_rows_any_order_or_batching_same_digest() -> None:
    table = _table()
    want = row_digest.digest(table)
    assert want[0] == 4
    for seed in range(5):
        assert row_digest.digest(_shuffled(table, seed)) == want
    assert row_digest.digest(_shuffled(table, 9), threads=2) == want


def test_any_change_changes_the_digest() -> None:
    table = _table()
    want = row_digest.digest(table)
    seen = {want}
    for c, name in enumerate(table.column_names):
        values = table.column(name).to_pylist()
        # a value changed, a value set to null, two rows' values swapped
        changed = values.copy()
        changed[0] = values[1] if values[1] is not None else values[3]
        nulled = values.copy()
        nulled[0] = None
        swapped = values.copy()
        swapped[0], swapped[3] = values[3], values[0]
        for new in (changed, nulled, swapped):
            if new == values:
                continue
            other = table.set_column(c, name, pa.array(new, table.schema.field(name).type))
            got = row_digest.digest(other)
            assert got not in seen, (name, new)
            seen.add(got)
    # a row more or less
    assert row_digest.digest(table.slice(0, 3)) not in seen
    assert row_digest.digest(pa.concat_tables([table, table.slice(0, 1)])) not in seen


def test_fingerprint_of_a_book_is_independent_of_row_order() -> None:
    book = random_book(80, 31, AS_OF)
    want = fingerprint(book, AS_OF, "duckdb")
    from huifang.batch.inputs import BookInputs

    other = BookInputs(_shuffled(book.loans, 1), _shuffled(book.payments, 2))
    assert fingerprint(other, AS_OF, "duckdb") == want
    assert fingerprint(book, date(2025, 7, 1), "duckdb") != want
    payments = book.payments.slice(1)
    assert fingerprint(BookInputs(book.loans, payments), AS_OF, "duckdb") != want
