"""Template filters: times shown in the reader's zone, whatever the database hands back."""

from __future__ import annotations

from datetime import UTC, datetime

from huifang.web.rendering import TEMPLATES


def test_local_shows_beijing_time_for_aware_and_naive_utc() -> None:
    local = TEMPLATES.env.filters["local"]
    aware = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
    assert local(aware) == "2026-11-23 09:30:00"
    # SQLite returns the stored UTC time without its zone; it is not the machine's local time
    assert local(aware.replace(tzinfo=None)) == "2026-11-23 09:30:00"
    assert local(None) == ""
