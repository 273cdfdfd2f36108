"""Import files written by `huifang.files.writer` read back to the same typed values."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from huifang.demo.generator import generate
from huifang.files.layout import BRANCHES, LOANS, PAYMENTS
from huifang.files.reader import open_table
from huifang.files.values import parse_cell
from huifang.files.writer import TableWriter, format_value, header, write_table

AS_OF = date(2026, 11, 23)


def read_back(path: Path) -> list[dict[str, object]]:
    table = open_table(path)
    out = []
    for _, text in table.rows():
        out.append(
            {col.name: parse_cell(col, text.get(col.name, "")) for col in table.columns.values()}
        )
    return out


def typed(layout, row: dict[str, object]) -> dict[str, object]:
    """The row as the importer would type it: every column present, blanks as None."""
    return {
        col.name: row.get(col.name) if row.get(col.name) != "" else None for col in layout.columns
    }


@pytest.mark.parametrize(
    ("suffix", "language", "typed_cells"),
    [(".csv", "zh", False), (".csv", "en", False), (".xlsx", "zh", False), (".xlsx", "zh", True)],
)
def test_demo_rows_round_trip(tmp_path: Path, suffix: str, language, typed_cells: bool) -> None:
    portfolio = generate(60, 3, AS_OF)
    loans = [row for row, _ in portfolio.loans()]
    payments = [p for _, ps in portfolio.loans() for p in ps][:300]
    loan_path = tmp_path / f"loans{suffix}"
    pay_path = tmp_path / f"payments{suffix}"
    kw = {"language": language, "typed_cells": typed_cells}
    assert write_table(LOANS, loans, loan_path, **kw) == len(loans)
    assert write_table(PAYMENTS, payments, pay_path, **kw) == len(payments)
    assert read_back(loan_path) == [typed(LOANS, r) for r in loans]
    assert read_back(pay_path) == [typed(PAYMENTS, p) for p in payments]


def test_formats_as_the_importer_expects() -> None:
    by_name = {c.name: c for c in LOANS.columns}
    assert format_value(by_name["principal"], Decimal("180000")) == "180000.00"
    assert format_value(by_name["annual_rate"], Decimal("0.045")) == "4.5"
    assert format_value(by_name["disbursement_date"], date(2023, 7, 15)) == "2023-07-15"
    assert format_value(by_name["self_employed"], True) == "是"
    assert format_value(by_name["self_employed"], True, "en") == "Y"
    assert format_value(by_name["borrower_type"], "business") == "企业"
    assert format_value(by_name["principal"], None) == ""
    assert format_value(by_name["principal"], Decimal("-0")) == "0.00"


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("principal", Decimal("1.005")),
        ("principal", "abc"),
        ("borrower_type", "alien"),
        ("disbursement_date", 20230715),
        ("self_employed", "maybe"),
        ("term_months", Decimal("1.5")),
    ],
)
def test_unwritable_values_are_refused(column: str, value: object) -> None:
    col = next(c for c in LOANS.columns if c.name == column)
    with pytest.raises(ValueError):
        format_value(col, value)


def test_unknown_column_is_refused_and_no_file_is_left(tmp_path: Path) -> None:
    path = tmp_path / "branches.csv"
    with pytest.raises(ValueError, match="没有这些列"):
        write_table(BRANCHES, [{"branch_code": "X1", "colour": "red"}], path)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_no_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "branches.xlsx"
    with pytest.raises(RuntimeError), TableWriter(BRANCHES, path) as out:
        out.write({"branch_code": "X1", "branch_name": "一"})
        raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


def test_formula_like_text_stays_text_in_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "branches.xlsx"
    write_table(BRANCHES, [{"branch_code": "X1", "branch_name": "=1+1"}], path)
    assert read_back(path)[0]["branch_name"] == "=1+1"


def test_header_languages() -> None:
    assert header(BRANCHES)[0] == "机构代码"
    assert header(BRANCHES, "en")[0] == BRANCHES.columns[0].en
    with pytest.raises(ValueError):
        header(BRANCHES, "fr")  # type: ignore[arg-type]


def test_unsupported_suffix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="不支持"):
        TableWriter(BRANCHES, tmp_path / "x.json")
