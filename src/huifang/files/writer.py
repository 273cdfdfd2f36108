"""Write import files (CSV or XLSX) in the documented layout of `huifang.files.layout`.

Values are typed Python values (Decimal, date, int, bool, str, canonical choice values) and
are rendered exactly as the importer parses them: amounts '12345.67' without thousands
separators, percents '4.5' for the fraction 0.045, dates ISO (YYYY-MM-DD), booleans 是/否
(Y/N in English files), choices as their first Chinese spelling (the canonical value in
English files), None as an empty cell.

Rows are streamed: a file of millions of rows is written without holding them in memory.
CSV is UTF-8 with a byte-order mark so that Excel opens Chinese text correctly; XLSX uses
openpyxl's write-only mode and is limited to Excel's 1,048,576 rows (one of them the header).
A file is written under a temporary name and moved into place only when complete, so a
failed write never leaves a truncated import file behind.
"""

from __future__ import annotations

import contextlib
import csv
import os
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from huifang.domain.money import FEN
from huifang.files.layout import Column, FileLayout, Kind

Language = Literal["zh", "en"]

XLSX_MAX_DATA_ROWS = 1_048_575  # Excel's 1,048,576 rows less the header row
SUFFIXES = (".csv", ".xlsx")

_HUNDRED = Decimal(100)
_ZERO_FEN = Decimal("0.00")


class TooManyRowsError(ValueError):
    """More rows than an XLSX sheet can hold."""


def format_value(column: Column, value: object, language: Language = "zh") -> str:
    """Render one typed value of `column` as text the importer parses back to the same value.

    Raises ValueError (message in Chinese) for a value that cannot be written in the column,
    e.g. an amount with sub-fen digits or a choice the layout does not know.
    """
    return _formatter(column, language)(value)


def header(layout: FileLayout, language: Language = "zh") -> list[str]:
    """The header row of `layout` in Chinese (default) or English."""
    _check_language(language)
    return [col.zh if language == "zh" else col.en for col in layout.columns]


def write_table(
    layout: FileLayout,
    rows: Iterable[Mapping[str, object]],
    path: Path,
    *,
    language: Language = "zh",
    typed_cells: bool = False,
) -> int:
    """Write `rows` (dicts keyed by the layout's column names) to `path`; returns the row count.

    The format follows the suffix: `.csv` or `.xlsx`. Missing keys are written empty; a key
    that is not a column of the layout is an error (checked on the first row). With
    `typed_cells` an XLSX file stores amounts, percents and integers as numbers and dates as
    dates, as core banking exports often do; by default every cell is text, exactly as in CSV.
    """
    with TableWriter(layout, path, language=language, typed_cells=typed_cells) as out:
        for row in rows:
            out.write(row)
    return out.count


class TableWriter:
    """Incremental form of `write_table`, to write several files from one pass over the data.

    Use as a context manager; the file appears at `path` when the block ends without error.
    """

    def __init__(
        self,
        layout: FileLayout,
        path: Path | str,
        *,
        language: Language = "zh",
        typed_cells: bool = False,
    ) -> None:
        _check_language(language)
        self.layout = layout
        self.path = Path(path)
        self.language = language
        self.count = 0
        suffix = self.path.suffix.lower()
        if suffix not in SUFFIXES:
            raise ValueError(f"不支持的文件类型 {self.path.name!r}: 只能写 .csv 或 .xlsx")
        self._xlsx = suffix == ".xlsx"
        self._names = tuple(col.name for col in layout.columns)
        self._known = frozenset(self._names)
        self._formatters = tuple(_formatter(col, language) for col in layout.columns)
        if self._xlsx and typed_cells:
            self._cell_makers = tuple(_typed_cell(col, language) for col in layout.columns)
        elif self._xlsx:
            self._cell_makers = tuple(_xlsx_text(f) for f in self._formatters)
        self._tmp = self.path.with_name(f".{self.path.name}.part")
        self._fh: Any = None
        self._csv: Any = None
        self._wb: Any = None
        self._ws: Any = None
        self._open = False

    def __enter__(self) -> TableWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._xlsx:
            from openpyxl import Workbook

            self._wb = Workbook(write_only=True)
            self._ws = self._wb.create_sheet(title=self.layout.zh[:31])
            self._ws.append(header(self.layout, self.language))
        else:
            self._fh = open(self._tmp, "w", encoding="utf-8-sig", newline="")
            self._csv = csv.writer(self._fh)
            self._csv.writerow(header(self.layout, self.language))
        self._open = True
        return self

    def write(self, row: Mapping[str, object]) -> None:
        """Append one row."""
        if not self._open:
            raise RuntimeError("TableWriter 必须在 with 块中使用")
        if self.count == 0:
            unknown = set(row) - self._known
            if unknown:
                raise ValueError(f"{self.layout.zh}文件没有这些列: {', '.join(sorted(unknown))}")
        get = row.get
        if self._xlsx:
            if self.count >= XLSX_MAX_DATA_ROWS:
                raise TooManyRowsError(
                    f"XLSX 文件最多 {XLSX_MAX_DATA_ROWS:,} 行数据, "
                    f"{self.path.name} 行数超出; 请改用 CSV 或分成多个文件"
                )
            cells = [
                make(get(name)) for make, name in zip(self._cell_makers, self._names, strict=True)
            ]
            self._ws.append(
                [_string_cell(self._ws, c) if type(c) is _LiteralText else c for c in cells]
            )
        else:
            self._csv.writerow(
                [fmt(get(name)) for fmt, name in zip(self._formatters, self._names, strict=True)]
            )
        self.count += 1

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._open = False
        try:
            if self._xlsx:
                if exc_type is None:
                    self._wb.save(self._tmp)
                else:
                    _discard_write_only(self._ws)
            else:
                self._fh.close()
            if exc_type is None:
                os.replace(self._tmp, self.path)
        finally:
            if exc_type is not None or self._tmp.exists():
                self._tmp.unlink(missing_ok=True)


# --- formatting ---------------------------------------------------------------------------


def _check_language(language: str) -> None:
    if language not in ("zh", "en"):
        raise ValueError(f"language 只能是 'zh' 或 'en': {language!r}")


@cache
def _formatter(column: Column, language: Language) -> Callable[[object], str]:
    """A function rendering values of `column`; built once per column and language."""
    _check_language(language)
    kind = column.kind
    if kind is Kind.AMOUNT:
        return _nullable(_format_amount)
    if kind is Kind.PERCENT:
        return _nullable(_format_percent)
    if kind is Kind.INTEGER:
        return _nullable(_format_integer)
    if kind is Kind.DATE:
        return _nullable(_format_date)
    if kind is Kind.BOOL:
        yes, no = ("是", "否") if language == "zh" else ("Y", "N")
        return _nullable(lambda v: _format_bool(v, yes, no))
    if kind is Kind.CHOICE:
        spelled = {
            canonical: (spellings[0] if language == "zh" and spellings else canonical)
            for canonical, spellings in column.choices
        }
        return _nullable(lambda v: _format_choice(column, spelled, v))
    return _nullable(_format_text)


def _nullable(fmt: Callable[[Any], str]) -> Callable[[object], str]:
    def render(value: object) -> str:
        if value is None:
            return ""
        return fmt(value)

    return render


def _to_decimal(value: object) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"不是数值: {value!r}")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float | str):
        try:
            result = Decimal(repr(value) if isinstance(value, float) else value.strip())
        except InvalidOperation:
            raise ValueError(f"不是数值: {value!r}") from None
        if result.is_finite():
            return result
    raise ValueError(f"不是数值: {value!r}")


def _format_amount(value: object) -> str:
    amount = _to_decimal(value)
    if not amount.is_finite():
        raise ValueError(f"不是有效金额: {value!r}")
    rounded = amount.quantize(FEN)
    if rounded != amount:
        raise ValueError(f"金额最多两位小数: {value!r}")
    if not rounded:
        rounded = _ZERO_FEN  # never '-0.00'
    return f"{rounded:f}"


def _format_percent(value: object) -> str:
    """A fraction as a percent number: 0.045 -> '4.5', 1.5 -> '150', 0 -> '0'."""
    fraction = _to_decimal(value)
    if not fraction.is_finite():
        raise ValueError(f"不是有效百分比: {value!r}")
    pct = (fraction * _HUNDRED).normalize()
    if not pct:
        return "0"
    return f"{pct:f}"


def _format_integer(value: object) -> str:
    if isinstance(value, bool):
        raise ValueError(f"不是整数: {value!r}")
    if isinstance(value, int):
        return str(value)
    number = _to_decimal(value)
    if number != number.to_integral_value():
        raise ValueError(f"不是整数: {value!r}")
    return str(int(number))


def _format_date(value: object) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return date.fromisoformat(value.strip()).isoformat()
    raise ValueError(f"不是日期: {value!r}")


def _format_bool(value: object, yes: str, no: str) -> str:
    if isinstance(value, bool):
        return yes if value else no
    raise ValueError(f"不是是/否值: {value!r}")


def _format_choice(column: Column, spelled: Mapping[str, str], value: object) -> str:
    canonical = value.value if isinstance(value, Enum) else value
    try:
        return spelled[canonical]  # type: ignore[index]
    except (KeyError, TypeError):
        allowed = ", ".join(spelled)
        raise ValueError(f"{column.zh} 不能取值 {value!r}, 可选: {allowed}") from None


def _format_text(value: object) -> str:
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


# --- XLSX cells ---------------------------------------------------------------------------


def _xlsx_text(fmt: Callable[[object], str]) -> Callable[[object], object]:
    """Text cells; None stays an empty cell and text that looks like a formula stays text."""

    def make(value: object) -> object:
        if value is None:
            return None
        text = fmt(value)
        if text.startswith("="):
            return _literal_text_cell(text)
        return text or None

    return make


def _typed_cell(column: Column, language: Language) -> Callable[[object], object]:
    """Native XLSX values for numbers and dates, text for everything else."""
    fmt = _formatter(column, language)
    kind = column.kind
    if kind is Kind.AMOUNT:
        return lambda v: None if v is None else Decimal(fmt(v))
    if kind is Kind.PERCENT:
        return lambda v: None if v is None else Decimal(fmt(v))
    if kind is Kind.INTEGER:
        return lambda v: None if v is None else int(fmt(v))
    if kind is Kind.DATE:
        return lambda v: None if v is None else date.fromisoformat(fmt(v))
    return _xlsx_text(fmt)


class _LiteralText(str):
    """Text that a spreadsheet would take for a formula; written as a plain string cell."""


def _literal_text_cell(text: str) -> object:
    return _LiteralText(text)


def _string_cell(ws: Any, text: str) -> object:
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(ws, value=None)
    cell._value = str(text)
    cell.data_type = "s"
    return cell


def _discard_write_only(ws: Any) -> None:
    """Remove the temporary file a write-only sheet streams to (best effort)."""
    writer = getattr(ws, "_writer", None)
    if writer is None:
        return
    # the sheet may be half written; only its temporary file matters here. The row
    # generator is closed first, or it would try to finish the XML on a closed file
    # when garbage-collected.
    rows = getattr(ws, "_rows", None)
    if rows is not None:
        with contextlib.suppress(Exception):
            rows.close()
    with contextlib.suppress(Exception):
        writer.close()
    with contextlib.suppress(Exception):
        writer.cleanup()
