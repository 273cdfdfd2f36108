"""Keypad fallback."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from huifang.voice.dtmf import (
    DtmfError,
    choice_keys,
    date_keys,
    keypad_hint,
    number_keys,
    yes_no_keys,
)


def test_yes_no_keys() -> None:
    assert yes_no_keys("1") is True
    assert yes_no_keys("2#") is False
    with pytest.raises(DtmfError):
        yes_no_keys("3")


def test_choice_number_date_keys() -> None:
    assert choice_keys("2", ["a", "b", "c"]) == "b"
    with pytest.raises(DtmfError):
        choice_keys("4", ["a", "b", "c"])
    assert number_keys("3500#") == Decimal("3500")
    assert number_keys("12*5#") == Decimal("12.5")
    with pytest.raises(DtmfError):
        number_keys("#")
    assert date_keys("1215", date(2026, 11, 23)) == date(2026, 12, 15)
    assert date_keys("0105", date(2026, 11, 23)) == date(2027, 1, 5)
    assert date_keys("20270105#", date(2026, 11, 23)) == date(2027, 1, 5)
    with pytest.raises(DtmfError):
        date_keys("1340", date(2026, 11, 23))


def test_keypad_hints() -> None:
    assert keypad_hint("yes_no") == "是请按1，不是请按2。"
    assert keypad_hint("choice", ["工资", "经营"]) == "工资请按1，经营请按2。"
