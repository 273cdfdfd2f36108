"""Read CSV and XLSX import files as rows of text, recognizing which layout they follow.

Row numbers are the ones a clerk sees in Excel: the header is row 1, the first data row is 2.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from huifang.files.layout import LAYOUTS, Column, FileLayout, normalize_header

CSV_ENCODINGS = ("utf-8-sig", "gb18030")  # core banking exports from Windows are often GBK


class FileProblem(ValueError):
    """The file as a whole cannot be read (unknown layout, missing required column, encoding)."""


@dataclass(frozen=True)
class TableFile:
    path: Path
    layout: FileLayout
    columns: dict[int, Column]  # position in the file -> layout column
    ignored_headers: tuple[str, ...]

    def rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        """(row number, {column name: text}) for each non-empty data row."""
        for number, cells in _cells(self.path, skip_header=True):
            values = {
                col.name: cells[pos].strip() if pos < len(cells) else ""
                for pos, col in self.columns.items()
            }
            if any(values.values()):
                yield number, values


def open_table(path: Path) -> TableFile:
    """Recognize the layout of `path` from its header row."""
    if not path.exists():
        raise FileProblem(f"文件不存在: {path}")
    header = next((cells for _, cells in _cells(path, skip_header=False)), None)
    if not header:
        raise FileProblem(f"{path.name}: 文件为空, 缺少表头")
    normalized = [normalize_header(h) for h in header]
    best: tuple[int, FileLayout] | None = None
    for layout in LAYOUTS:
        known = layout.header_map()
        score = sum(1 for h in normalized if h in known)
        key_present = any(known.get(h) and known[h].name == layout.key for h in normalized)
        if key_present and (best is None or score > best[0]):
            best = (score, layout)
    if best is None:
        raise FileProblem(
            f"{path.name}: 无法识别文件类型 — 表头中没有 合同编号/交易流水号/产品代码/机构代码 "
            "(see docs/import-format.md)"
        )
    layout = best[1]
    known = layout.header_map()
    columns: dict[int, Column] = {}
    ignored: list[str] = []
    for pos, (raw, norm) in enumerate(zip(header, normalized, strict=True)):
        col = known.get(norm)
        if col is None:
            if raw.strip():
                ignored.append(raw.strip())
            continue
        if col in columns.values():
            raise FileProblem(f"{path.name}: 列 {col.zh} ({col.en}) 出现了两次")
        columns[pos] = col
    missing = [c for c in layout.columns if c.required and c not in columns.values()]
    if missing:
        names = ", ".join(f"{c.zh} ({c.en})" for c in missing)
        raise FileProblem(f"{path.name}: 缺少必填列: {names}")
    return TableFile(path, layout, columns, tuple(ignored))


def _cells(path: Path, *, skip_header: bool) -> Iterator[tuple[int, list[str]]]:
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        yield from _xlsx_cells(path, skip_header)
    elif suffix in (".csv", ".txt"):
        yield from _csv_cells(path, skip_header)
    else:
        raise FileProblem(f"{path.name}: 只支持 .csv 和 .xlsx 文件")


def _csv_cells(path: Path, skip_header: bool) -> Iterator[tuple[int, list[str]]]:
    encoding = _detect_encoding(path)
    with path.open(newline="", encoding=encoding) as fh:
        for number, cells in enumerate(csv.reader(fh), start=1):
            if number == 1 and skip_header:
                continue
            yield number, cells


def _detect_encoding(path: Path) -> str:
    with path.open("rb") as fh:
        sample = fh.read(1 << 16)
    for encoding in CSV_ENCODINGS:
        # An incremental decoder with final=False tolerates a character cut by the
        # sample's end, and counts positions the same way with or without a BOM.
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            decoder.decode(sample, final=False)
        except UnicodeDecodeError:
            continue
        return encoding
    raise FileProblem(f"{path.name}: 无法识别文件编码 (应为 UTF-8 或 GB18030)")


def _xlsx_cells(path: Path, skip_header: bool) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            if number == 1 and skip_header:
                continue
            yield number, [_xlsx_text(v) for v in values]
    finally:
        workbook.close()


def _xlsx_text(value: object) -> str:
    """Excel cells come typed; turn them back into the text a CSV export would carry."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        # Excel keeps numbers as doubles; 12345.67 must not come back as 12345.670000000001.
        text = repr(value)
        if "e" in text or "E" in text:
            return format(Decimal(text), "f")
        return text[:-2] if text.endswith(".0") else text
    return str(value)
