"""Money: CNY amounts as `Decimal` to the fen, rounded half-up (四舍五入).

Every amount that leaves a computation in the domain core goes through `fen()`. Chinese
lenders expect half-up rounding; banker's rounding (half-even, Fineract's default) is kept
available only as an explicit product setting.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from enum import Enum

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
# Amounts above this cannot be represented exactly by every backend we store to (an IEEE
# double keeps 15 significant digits); no auto loan comes near it.
MAX_AMOUNT = Decimal("999999999999.99")


class Rounding(str, Enum):
    """How an amount is rounded to the fen. A product setting; half-up is the default."""

    HALF_UP = "half-up"
    HALF_EVEN = "half-even"

    @property
    def decimal_mode(self) -> str:
        return ROUND_HALF_UP if self is Rounding.HALF_UP else ROUND_HALF_EVEN


def fen(amount: Decimal | int | str, rounding: Rounding = Rounding.HALF_UP) -> Decimal:
    """Round `amount` to the fen (0.01) with the given rounding, half-up by default."""
    return Decimal(amount).quantize(FEN, rounding=rounding.decimal_mode)


def parse_amount(text: str) -> Decimal:
    """Parse an amount as written in bank exports: '12,345.67', '¥12345.6', '１２３' etc.

    Raises ValueError with a Chinese message when the text is not an amount or has more
    than two decimals (an export that carries sub-fen digits is a data error, not something
    to round silently).
    """
    cleaned = (
        text.strip()
        .replace(",", "")
        .replace("，", "")
        .replace("¥", "")
        .replace("￥", "")
        .replace("元", "")
        .strip()
    )
    cleaned = cleaned.translate(_FULLWIDTH_DIGITS)
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"不是有效金额: {text!r}") from None
    if not value.is_finite():
        raise ValueError(f"不是有效金额: {text!r}")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise ValueError(f"金额最多两位小数: {text!r}")
    if abs(value) > MAX_AMOUNT:
        raise ValueError(f"金额超出范围: {text!r}")
    return value.quantize(FEN)


def format_cny(amount: Decimal, symbol: bool = True) -> str:
    """Format as Chinese users expect: ¥12,345.67 (negative: -¥12,345.67)."""
    value = fen(amount)
    sign = "-" if value < 0 else ""
    body = f"{abs(value):,.2f}"
    return f"{sign}{'¥' if symbol else ''}{body}"


_FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９．－", "0123456789.-")
