"""Dates in a reply, relative to a reference date (the day of the call): 15号, 下个月15号,
月底, 明天, 后天, 下周五, 三天后, 12月15日, 2026-12-15; English "tomorrow", "next Friday",
"the 15th", "end of the month", "in 3 days", "December 15". A bare day of the month means
the next such day on or after the reference date (a promise to pay is in the future)."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from huifang.voice.numbers import read_numbers
from huifang.voice.text import normalize

_WEEKDAYS_ZH = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "末": 5}
_WEEKDAYS_EN = {
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5,
    "sunday": 6,
}  # fmt: skip
_MONTHS_EN = {
    name: i
    for i, name in enumerate(
        [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ],
        start=1,
    )
}
_NUM = r"[0-9零一二两三四五六七八九十]+"


@dataclass(frozen=True, slots=True)
class DateReading:
    """A date found in a reply and how sure the reading is."""

    value: date
    confidence: float


def _n(text: str) -> int | None:
    values = read_numbers(text)
    return int(values[0]) if values else None


def _add_months(d: date, months: int) -> tuple[int, int]:
    m = d.month - 1 + months
    return d.year + m // 12, m % 12 + 1


def _safe(year: int, month: int, day: int) -> date | None:
    last = calendar.monthrange(year, month)[1]
    if not 1 <= day <= 31:
        return None
    return date(year, month, min(day, last))


def read_date(text: str, today: date) -> DateReading | None:
    """The date a reply names, relative to `today`, or None."""
    t = normalize(text).replace(" ", "") if not normalize(text).isascii() else normalize(text)
    return _zh(t, today) or _en(normalize(text), today)


def _zh(t: str, today: date) -> DateReading | None:
    if m := re.search(r"(\d{4})[-/年](\d{1,2})[-/月](\d{1,2})", t):
        d = _safe(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        return DateReading(d, 0.97) if d else None
    for word, days in (("大后天", 3), ("后天", 2), ("明天", 1), ("明日", 1), ("今天", 0)):
        if word in t:
            return DateReading(today + timedelta(days=days), 0.95)
    if m := re.search(rf"({_NUM}|一)(天|日)(以?后|之后)", t):
        n = _n(m.group(1))
        return DateReading(today + timedelta(days=n), 0.9) if n is not None else None
    if m := re.search(rf"({_NUM}|一)(个)?(星期|周|礼拜)(以?后|之后)", t):
        n = _n(m.group(1))
        return DateReading(today + timedelta(weeks=n), 0.85) if n is not None else None
    if m := re.search(r"(下下|下|这|本)?(个)?(星期|周|礼拜)([一二三四五六日天末1-7])", t):
        wd = m.group(4)
        target = int(wd) - 1 if wd.isdigit() else _WEEKDAYS_ZH[wd]
        week_start = today - timedelta(days=today.weekday())
        shift = {"下": 1, "下下": 2}.get(m.group(1) or "", 0)
        d = week_start + timedelta(weeks=shift, days=target)
        if not m.group(1) and d < today:
            d += timedelta(weeks=1)
        return DateReading(d, 0.9)
    months = 0
    explicit = False
    if re.search(r"下下个?月", t):
        months, explicit = 2, True
    elif re.search(r"下个?月", t):
        months, explicit = 1, True
    elif re.search(r"(这|本)个?月", t):
        explicit = True
    if "月底" in t or "月末" in t:
        y, mo = _add_months(today, months)
        return DateReading(date(y, mo, calendar.monthrange(y, mo)[1]), 0.9)
    if "月初" in t:
        y, mo = _add_months(today, months if explicit else 1)
        return DateReading(date(y, mo, 1), 0.6)
    if "月中" in t:
        y, mo = _add_months(today, months)
        return DateReading(date(y, mo, 15), 0.6)
    if m := re.search(rf"({_NUM})月({_NUM})(号|日)?", t):
        mo, day = _n(m.group(1)), _n(m.group(2))
        if mo is None or day is None or not 1 <= mo <= 12:
            return None
        d = _safe(today.year, mo, day)
        if d is not None and d < today:
            d = _safe(today.year + 1, mo, day)
        return DateReading(d, 0.93) if d else None
    if m := re.search(rf"({_NUM})(号|日)", t):
        day = _n(m.group(1))
        if day is None:
            return None
        y, mo = _add_months(today, months)
        d = _safe(y, mo, day)
        if d is not None and not explicit and d < today:
            y, mo = _add_months(today, 1)
            d = _safe(y, mo, day)
        return DateReading(d, 0.93 if explicit else 0.85) if d else None
    return None


_ORDINAL_WORDS = {
    w: i
    for i, w in enumerate(
        [
            "first",
            "second",
            "third",
            "fourth",
            "fifth",
            "sixth",
            "seventh",
            "eighth",
            "ninth",
            "tenth",
            "eleventh",
            "twelfth",
            "thirteenth",
            "fourteenth",
            "fifteenth",
            "sixteenth",
            "seventeenth",
            "eighteenth",
            "nineteenth",
            "twentieth",
        ],
        start=1,
    )
}


def _ordinals_to_digits(t: str) -> str:
    t = re.sub(r"\bthirtieth\b", "30th", t)
    t = re.sub(r"\bthirty ?first\b", "31st", t)
    t = re.sub(
        r"\btwenty ?(" + "|".join(list(_ORDINAL_WORDS)[:9]) + r")\b",
        lambda m: f"{20 + _ORDINAL_WORDS[m.group(1)]}th",
        t,
    )
    return re.sub(
        r"\b(" + "|".join(_ORDINAL_WORDS) + r")\b", lambda m: f"{_ORDINAL_WORDS[m.group(1)]}th", t
    )


def _en(t: str, today: date) -> DateReading | None:
    t = _ordinals_to_digits(t)
    if "day after tomorrow" in t:
        return DateReading(today + timedelta(days=2), 0.95)
    if "tomorrow" in t:
        return DateReading(today + timedelta(days=1), 0.95)
    if re.search(r"\btoday\b", t):
        return DateReading(today, 0.95)
    if m := re.search(r"in (\w+) (day|days|week|weeks)", t):
        n = _n(m.group(1)) if m.group(1) not in ("a", "one") else 1
        if n is None:
            return None
        weeks = m.group(2).startswith("week")
        return DateReading(today + timedelta(days=n * (7 if weeks else 1)), 0.9)
    if m := re.search(r"\b(next|this|coming)?\s*(" + "|".join(_WEEKDAYS_EN) + r")\b", t):
        target = _WEEKDAYS_EN[m.group(2)]
        ahead = (target - today.weekday()) % 7
        if m.group(1) == "next":
            # "next Friday": the Friday of next week.
            week_start = today - timedelta(days=today.weekday()) + timedelta(weeks=1)
            return DateReading(week_start + timedelta(days=target), 0.85)
        return DateReading(today + timedelta(days=ahead), 0.9)
    if "end of" in t and "month" in t:
        months = 1 if "next month" in t else 0
        y, mo = _add_months(today, months)
        return DateReading(date(y, mo, calendar.monthrange(y, mo)[1]), 0.9)
    month_names = "|".join(_MONTHS_EN)
    m = re.search(rf"\b({month_names})\s+(\d{{1,2}})", t) or re.search(
        rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({month_names})", t
    )
    if m:
        a, b = m.group(1), m.group(2)
        mo, day = (_MONTHS_EN[a], int(b)) if a in _MONTHS_EN else (_MONTHS_EN[b], int(a))
        d = _safe(today.year, mo, day)
        if d is not None and d < today:
            d = _safe(today.year + 1, mo, day)
        return DateReading(d, 0.93) if d else None
    if m := re.search(r"\b(\d{1,2})(st|nd|rd|th)\b", t):
        months = 1 if "next month" in t else 0
        y, mo = _add_months(today, months)
        d = _safe(y, mo, int(m.group(1)))
        if d is not None and months == 0 and d < today:
            y, mo = _add_months(today, 1)
            d = _safe(y, mo, int(m.group(1)))
        return DateReading(d, 0.88) if d else None
    return None
