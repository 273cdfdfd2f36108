"""Keypad replies (DTMF, "请按1") as the deterministic fallback on every question: the digits
a borrower keys are read without any speech recognition.

yes/no: 1 yes, 2 no. choice: n → the n-th option. number/money: the digits, `*` as the
decimal point. date: MMDD or YYYYMMDD. On every question 0 asks for a human, and `#` ends input.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

HUMAN_KEY = "0"


class DtmfError(ValueError):
    """Keys that do not answer the question."""


def yes_no_keys(keys: str) -> bool:
    """1 → yes, 2 → no."""
    k = keys.rstrip("#")
    if k == "1":
        return True
    if k == "2":
        return False
    raise DtmfError(f"是请按1, 不是请按2 / press 1 for yes, 2 for no (got {keys!r})")


def choice_keys(keys: str, codes: Sequence[str]) -> str:
    """n → the n-th option's code."""
    k = keys.rstrip("#")
    if k.isdigit() and 1 <= int(k) <= len(codes):
        return codes[int(k) - 1]
    raise DtmfError(f"请按1到{len(codes)} / press 1 to {len(codes)} (got {keys!r})")


def number_keys(keys: str) -> Decimal:
    """Digits, with `*` as the decimal point: 3500# → 3500, 12*5# → 12.5."""
    k = keys.rstrip("#").replace("*", ".")
    if not re.fullmatch(r"\d+(\.\d{1,2})?", k):
        raise DtmfError(f"请输入数字, 以#号结束 / key the number and # (got {keys!r})")
    return Decimal(k)


def date_keys(keys: str, today: date) -> date:
    """MMDD (the next such date) or YYYYMMDD."""
    k = keys.rstrip("#")
    try:
        if re.fullmatch(r"\d{8}", k):
            return date(int(k[:4]), int(k[4:6]), int(k[6:]))
        if re.fullmatch(r"\d{4}", k):
            d = date(today.year, int(k[:2]), int(k[2:]))
            return d if d >= today else date(today.year + 1, d.month, d.day)
    except ValueError:
        pass
    raise DtmfError(f"请按月日四位数字, 如1215 / key MMDD, e.g. 1215 (got {keys!r})")


def keypad_hint(answer_type: str, option_labels: Sequence[str] = (), language: str = "zh") -> str:
    """What the prompt says about the keypad for this question."""
    zh = language == "zh"
    if answer_type == "yes_no":
        return "是请按1，不是请按2。" if zh else "Press 1 for yes, 2 for no."
    if answer_type == "choice":
        parts = [
            (f"{label}请按{i}" if zh else f"for {label} press {i}")
            for i, label in enumerate(option_labels, start=1)
        ]
        return ("，".join(parts) + "。") if zh else ("; ".join(parts) + ".").capitalize()
    return ""
