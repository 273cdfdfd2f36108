"""Turn the text of one import cell into a typed value, or a clear Chinese reason why not."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from huifang.domain import identifiers as ids
from huifang.domain.money import parse_amount
from huifang.files.layout import Column, Kind

_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%Y年%m月%d日")
_TRUE = {"是", "y", "yes", "true", "1", "t"}
_FALSE = {"否", "n", "no", "false", "0", "f"}


def parse_cell(column: Column, text: str) -> object:
    """The typed value of `text` in `column`; None for an empty optional cell.

    Raises ValueError whose message (Chinese) is the reason shown in the import report.
    """
    text = text.strip()
    if not text:
        if column.required:
            raise ValueError("必填项为空")
        return None
    kind = column.kind
    if kind is Kind.TEXT:
        if len(text) > 200:
            raise ValueError("内容过长 (最多200字)")
        return text
    if kind is Kind.CODE:
        code = text.upper()
        if not re.fullmatch(r"[0-9A-Z][0-9A-Z_\-./]{0,63}", code):
            raise ValueError("编码只能包含字母、数字和 - _ . /")
        return code
    if kind is Kind.AMOUNT:
        return parse_amount(text)
    if kind is Kind.PERCENT:
        return parse_percent(text)
    if kind is Kind.INTEGER:
        return parse_integer(text)
    if kind is Kind.DATE:
        return parse_date(text)
    if kind is Kind.BOOL:
        lowered = text.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError("应为 是/否")
    if kind is Kind.CHOICE:
        return parse_choice(column, text)
    if kind is Kind.RESIDENT_ID:
        return ids.parse_resident_id(text).number
    if kind is Kind.RESIDENT_OR_USCC:
        return parse_id_number(text)
    if kind is Kind.MOBILE:
        return ids.validate_mobile(text)
    if kind is Kind.PHONE:
        return ids.validate_phone(text)
    if kind is Kind.VIN:
        return ids.validate_vin(text)
    if kind is Kind.PLATE:
        return ids.parse_plate(text).number
    raise AssertionError(f"unhandled column kind {kind}")


def parse_id_number(text: str) -> str:
    """A resident ID (18 digits, last may be X) or a unified social credit code.

    An all-digit USCC (e.g. 91440101…) has the shape of a resident ID, so shape alone
    cannot decide: the number is accepted when either check passes, and the error
    names the check that the number most resembles.
    """
    cleaned = text.strip().upper()
    try:
        return ids.parse_resident_id(cleaned).number
    except ids.InvalidIdentifier as resident_error:
        try:
            return ids.validate_uscc(cleaned)
        except ids.InvalidIdentifier as uscc_error:
            looks_resident = (
                len(cleaned) == 18 and cleaned[:17].isdigit() and cleaned[0] in "123456"
            )
            raise (resident_error if looks_resident else uscc_error) from None


def resident_id_or_none(number: str) -> ids.ResidentId | None:
    """The parsed resident ID of a number that passed `parse_id_number`, or None when it is
    a unified social credit code."""
    try:
        return ids.parse_resident_id(number)
    except ids.InvalidIdentifier:
        return None


def is_uscc(number: str) -> bool:
    """Whether a number that passed `parse_id_number` is a valid unified social credit code."""
    try:
        ids.validate_uscc(number)
    except ids.InvalidIdentifier:
        return False
    return True


def parse_percent(text: str) -> Decimal:
    """'4.5' or '4.5%' -> Decimal('0.045'): files carry percents, the book keeps fractions."""
    cleaned = text.replace("%", "").replace("％", "").strip()
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError("不是有效的百分比") from None
    if not value.is_finite() or value < 0:
        raise ValueError("不是有效的百分比")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -4:
        raise ValueError("百分比最多四位小数")
    return value / 100


def parse_integer(text: str) -> int:
    cleaned = text.replace(",", "")
    if cleaned.endswith(".0"):  # spreadsheets turn 36 into 36.0
        cleaned = cleaned[:-2]
    if not re.fullmatch(r"-?\d{1,12}", cleaned):
        raise ValueError("应为整数")
    return int(cleaned)


def parse_date(text: str) -> dt.date:
    candidate = text.split(" ")[0].split("T")[0]
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(candidate, fmt).date()
        except ValueError:
            continue
    raise ValueError("日期格式应为 YYYY-MM-DD")


def parse_choice(column: Column, text: str) -> str:
    lowered = text.strip().lower()
    for canonical, spellings in column.choices:
        if lowered == canonical or lowered in (s.lower() for s in spellings):
            return canonical
    allowed = " / ".join(spellings[0] for _, spellings in column.choices)
    raise ValueError(f"取值无效, 应为: {allowed}")
