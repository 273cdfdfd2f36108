"""The business date comes from the lender's zone, not the server's."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from huifang.settings import business_today


def test_business_today_follows_the_zone_it_is_given() -> None:
    # UTC+14 and UTC-11 are 25 hours apart: whatever the hour, their dates differ.
    east = business_today("Pacific/Kiritimati")
    west = business_today("Pacific/Pago_Pago")
    assert (east - west).days in (1, 2)


def test_business_today_defaults_to_huifang_timezone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUIFANG_TIMEZONE", "Pacific/Kiritimati")
    assert business_today() == business_today("Pacific/Kiritimati")
    monkeypatch.delenv("HUIFANG_TIMEZONE")
    before = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    assert business_today() in (before, business_today("Asia/Shanghai"))
