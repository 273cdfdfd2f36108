"""Runtime settings, read from the environment (12-factor): one place, no hidden defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    timezone: str = "Asia/Shanghai"
    language: str = "zh"


def load_settings() -> Settings:
    """HUIFANG_HOME (default ./huifang-data) holds the embedded SQLite database and run output;
    HUIFANG_DATABASE_URL overrides the database (e.g. postgresql+psycopg://user@host/huifang)."""
    home = Path(os.environ.get("HUIFANG_HOME", "huifang-data")).resolve()
    url = os.environ.get("HUIFANG_DATABASE_URL") or f"sqlite:///{home / 'huifang.db'}"
    return Settings(
        home=home,
        database_url=url,
        timezone=os.environ.get("HUIFANG_TIMEZONE", "Asia/Shanghai"),
        language=os.environ.get("HUIFANG_LANG", "zh"),
    )


def business_today(timezone: str | None = None) -> date:
    """Today's date where the lender keeps its books: `timezone`, else HUIFANG_TIMEZONE
    (Asia/Shanghai by default).

    Never `date.today()`, which is the server's zone: a server on UTC is still on yesterday for
    the first eight hours of a Beijing day, so a payment dated today would be refused as
    future-dated and the day's tasks would be generated for the wrong day.
    """
    zone = timezone or os.environ.get("HUIFANG_TIMEZONE", "Asia/Shanghai")
    return datetime.now(ZoneInfo(zone)).date()
