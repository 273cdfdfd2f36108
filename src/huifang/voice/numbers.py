"""Numbers and money in a reply: Arabic digits, Chinese numerals (via cn2an: 三千五, 两万,
一万二, 5千), units (块/元/毛/角/分, k/w), English number words, and the hedges people use
(大概, 左右, about) that lower confidence. Money is a Decimal rounded half-up to the fen."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import cn2an

from huifang.voice.text import normalize

_CN_DIGITS = "零〇一二两三四五六七八九十百千万亿壹贰叁肆伍陆柒捌玖拾佰仟"
_SPAN = re.compile(rf"[0-9{_CN_DIGITS}][0-9{_CN_DIGITS}.点]*")
_HEDGES = ("大概", "大约", "左右", "差不多", "估计", "可能", "about", "around", "roughly", "maybe")
_RANGE = re.compile(r"(到|至|或者|或|~|-|to|or)")
_FEN = Decimal("0.01")

_EN_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
_EN_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "k": 1000}


@dataclass(frozen=True, slots=True)
class NumberReading:
    """A number found in a reply and how sure the reading is."""

    value: Decimal
    confidence: float


def _cn_value(span: str) -> Decimal | None:
    span = span.rstrip(".点")
    if not span:
        return None
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", span):
        return Decimal(span)
    try:
        value = cn2an.cn2an(span.replace("〇", "零"), "smart")
    except (ValueError, KeyError, IndexError, TypeError):
        # Digit-by-digit numbers: 一五零零 → 1500.
        if all(c in "零〇一二三四五六七八九" for c in span):
            return Decimal(
                "".join(str("零一二三四五六七八九".index(c.replace("〇", "零"))) for c in span)
            )
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:  # pragma: no cover - cn2an returns int or float
        return None


def _english_words(text: str) -> Decimal | None:
    words = re.findall(r"[a-z]+|\d+(?:\.\d+)?", text)
    total, current, seen = Decimal(0), Decimal(0), False
    for w in words:
        if w in _EN_UNITS:
            current += _EN_UNITS[w]
            seen = True
        elif re.fullmatch(r"\d+(?:\.\d+)?", w):
            current += Decimal(w)
            seen = True
        elif w in _EN_SCALES and seen:
            scale = _EN_SCALES[w]
            if scale == 100:
                current *= 100
            else:
                total += (current or 1) * scale
                current = Decimal(0)
        elif w == "and" and seen:
            continue
        elif seen and w not in ("point",):
            break
    return total + current if seen else None


def read_numbers(text: str) -> list[Decimal]:
    """Every number in the reply, in order (Chinese numerals and units such as 万 included)."""
    t = normalize(text).replace(",", "")
    t = re.sub(r"(\d),(\d{3})", r"\1\2", t)
    t = re.sub(
        r"(\d+(?:\.\d+)?)\s*(k|w)\b",
        lambda m: m.group(1) + ("千" if m.group(2) == "k" else "万"),
        t,
    )
    values = []
    for m in _SPAN.finditer(t):
        v = _cn_value(m.group(0))
        if v is not None:
            values.append(v)
    if not values:
        v = _english_words(t)
        if v is not None:
            values.append(v)
    return values


def read_number(text: str) -> NumberReading | None:
    """The number a reply gives, or None. Two different numbers (a range, a correction) or a
    hedge lower the confidence so that the dialogue confirms."""
    t = normalize(text)
    values = read_numbers(t)
    if not values:
        return None
    conf = 0.95
    if any(h in t for h in _HEDGES):
        conf = 0.7
    if len(set(values)) > 1:
        conf = 0.45 if _RANGE.search(t) else 0.6
        # "不是三千, 是三千五": the last number is the correction.
        return NumberReading(values[-1], conf)
    return NumberReading(values[0], conf)


def read_money(text: str) -> NumberReading | None:
    """An amount of money in CNY: 三千五 → 3500, 两千五百块五毛 → 2500.50, 5千块 → 5000,
    1.2万 → 12000, "three thousand five hundred yuan" → 3500. Rounded half-up to the fen."""
    t = normalize(text)
    m = re.search(
        rf"([0-9{_CN_DIGITS}]+)(块|元)(?:钱)?([0-9{_CN_DIGITS}])(毛|角)?(?:([0-9{_CN_DIGITS}])分)?",
        t,
    )
    if m:
        yuan, jiao = _cn_value(m.group(1)), _cn_value(m.group(3))
        fen = _cn_value(m.group(5)) if m.group(5) else Decimal(0)
        if yuan is not None and jiao is not None and fen is not None and jiao < 10:
            hedge = 0.7 if any(h in t for h in _HEDGES) else 0.95
            value = yuan + jiao / 10 + fen / 100
            return NumberReading(value.quantize(_FEN, ROUND_HALF_UP), hedge)
    reading = read_number(t)
    if reading is None or reading.value.adjusted() > 12:  # no loan reply is a trillion yuan
        return None
    value = reading.value.quantize(_FEN, ROUND_HALF_UP)
    if value < 0:
        return None
    return NumberReading(value, reading.confidence)
