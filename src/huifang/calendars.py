"""Business calendars for the domain's `BusinessCalendar` protocol, backed by real data.

The domain core only knows the protocol (`huifang.domain.schedule.BusinessCalendar`); this
adapter lives outside it because it depends on the third-party `chinesecalendar` package,
whose data is published by the State Council a year at a time.
"""

from __future__ import annotations

from datetime import date

import chinese_calendar  # type: ignore[import-untyped]


class ChineseBusinessCalendar:
    """Mainland China working days: statutory holidays off, make-up working days (调休) on.

    `chinesecalendar` only knows the years the State Council has published; for any other
    year it raises NotImplementedError. Rather than fail a schedule that runs into 2040, we
    fall back to weekends-only for such years (Saturday and Sunday off, no holidays) — the
    shifted dates of far-future installments are then provisional and a schedule rebuilt
    once the year's data is published may move them.
    """

    def is_working_day(self, d: date, /) -> bool:
        try:
            return bool(chinese_calendar.is_workday(d))
        except NotImplementedError:
            return d.weekday() < 5

    def has_holiday_data(self, year: int) -> bool:
        """Whether the package has the official calendar for `year` (else weekends only)."""
        try:
            chinese_calendar.is_workday(date(year, 6, 1))
        except NotImplementedError:
            return False
        return True


# Fixed-date statutory holidays (《全国年节及纪念日放假办法》, 2025 revision): 元旦 1 Jan,
# 劳动节 1–2 May, 国庆节 1–3 Oct. The lunar and solar-term holidays need the published data.
_FIXED_DATE_HOLIDAYS = frozenset({(1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3)})


class ChineseHolidayCalendar:
    """Statutory public holidays (法定节假日) for the compliance guard's `HolidayCalendar`.

    A holiday is any day of an official holiday period, including the weekend days inside
    it (2025-10-01 … 10-08); ordinary weekends are not holidays, and make-up working days
    (调休) are not either. For a year `chinesecalendar` does not know yet, only the
    fixed-date holidays are known, so those are the ones returned.
    """

    def is_holiday(self, d: date, /) -> bool:
        try:
            on_holiday, name = chinese_calendar.get_holiday_detail(d)
        except NotImplementedError:
            return (d.month, d.day) in _FIXED_DATE_HOLIDAYS
        return bool(on_holiday) and name is not None
