"""Numbers and money in a reply: Arabic digits, Chinese numerals (via cn2an: 三千五, 两万,
一万二, 5千), units (块/元/毛/角/分, k/w), English number words, and the hedges people use
(大概, 左右, about) that lower confidence. Money is a Decimal rounded half-up to the fen."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import cn2an
from pypinyin import lazy_pinyin

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


# A recognizer that keeps a numeral's sound but not its character (以万八 for 一万八, 三千务 for
# 三千五, 五迁 for 五千): the numerals by their toneless pinyin.
_DIGIT_SOUNDS = {
    "yi": "一", "er": "二", "liang": "两", "san": "三", "si": "四", "wu": "五", "liu": "六",
    "qi": "七", "ba": "八", "jiu": "九",
}  # fmt: skip
_UNIT_SOUNDS = {"bai": "百", "qian": "千", "wan": "万"}
_UNITS = "十百千万亿"
_DIGITS = "零一二两三四五六七八九"
_NOT_NUMERALS = "吧啊呀了的吗呢么嘛块元钱毛角分"  # particles and money units


def _sound(ch: str) -> str:
    return lazy_pinyin(ch)[0] if "\u4e00" <= ch <= "\u9fff" else ""


def numeral_homophones(text: str) -> tuple[str, int]:
    """`text` with the characters that sound like a numeral where a numeral belongs made that
    numeral — a digit before a unit (以万 → 一万) or ending an amount after one (三千务 → 三千五),
    a unit after a digit (五迁 → 五千) — and how many were changed."""
    original = text
    chars = list(text)
    changed = 0
    for i, ch in enumerate(original):
        if ch in _CN_DIGITS or ch in _NOT_NUMERALS:
            continue
        sound = _sound(ch)
        if not sound:
            continue
        # Only next to a numeral said as such: 以前 stays "before", not 一千.
        prev = original[i - 1] if i else ""
        nxt = original[i + 1] if i + 1 < len(original) else ""
        if ch + nxt in ("以上", "以下", "以内", "以外"):
            continue
        before_unit = bool(nxt) and nxt in _UNITS
        ends_amount = bool(prev) and prev in "百千万" and (not nxt or nxt in "块元")
        if sound in _DIGIT_SOUNDS and (before_unit or ends_amount):
            chars[i] = _DIGIT_SOUNDS[sound]
            changed += 1
        elif sound in _UNIT_SOUNDS and bool(prev) and prev in _DIGITS:
            chars[i] = _UNIT_SOUNDS[sound]
            changed += 1
    return "".join(chars), changed


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
    # "twenty five hundred" is written 25 100 by the recognizer, "fifteen hundred" 15 hundred.
    t = re.sub(r"\b([1-9][0-9]?) 100\b", lambda m: str(int(m.group(1)) * 100), t)
    if re.search(r"[0-9] (hundred|thousand|million)\b", t):
        v = _english_words(t)
        return [v] if v is not None else []
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
    t, guessed = numeral_homophones(normalize(text))
    values = read_numbers(t)
    if not values:
        return None
    conf = 0.95 if not guessed else 0.75  # a numeral read from its sound is confirmed
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
    # 10.000: a thousands separator (no amount of yuan has three decimal places).
    t = re.sub(r"(?<![0-9.])([0-9]{1,3})\.([0-9]{3})(?![0-9])", r"\1\2", normalize(text))
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
