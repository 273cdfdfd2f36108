"""Template filters: times shown in the reader's zone, whatever the database hands back; the
language switch keeps the page's filters."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request

from huifang.web.rendering import TEMPLATES, lang_switch_url


def test_local_shows_beijing_time_for_aware_and_naive_utc() -> None:
    local = TEMPLATES.env.filters["local"]
    aware = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
    assert local(aware) == "2026-11-23 09:30:00"
    # SQLite returns the stored UTC time without its zone; it is not the machine's local time
    assert local(aware.replace(tzinfo=None)) == "2026-11-23 09:30:00"
    assert local(None) == ""


def test_the_language_switch_keeps_the_query() -> None:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/qa",
        "query_string": b"start=2026-11-01&branch=SZ01&lang=zh",
        "headers": [],
    }
    url = lang_switch_url(Request(scope), "en")
    assert url == "?start=2026-11-01&branch=SZ01&lang=en"
