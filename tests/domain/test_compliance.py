"""Compliance guard: every contact rule at its boundary, plus properties of the decision."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from huifang.calendars import ChineseHolidayCalendar
from huifang.domain.compliance import (
    CBA_2026,
    CHINA_DEFAULT,
    NIFA_2025,
    NO_FLAGS,
    OBLIGOR_ROLES,
    PROFILES,
    TIME_BASED_CODES,
    US_REG_F,
    Attempt,
    Channel,
    ContactPolicy,
    ContactRequest,
    Decision,
    HolidayCalendar,
    InvalidPolicy,
    NoHolidays,
    Outcome,
    Party,
    PartyFlags,
    PartyRole,
    Purpose,
    RefusalCode,
    check_contact,
    debtor_unreachable,
    disclosure_allowed,
    recording_notice,
    strictest,
)

SH = ZoneInfo("Asia/Shanghai")
URUMQI = ZoneInfo("Asia/Urumqi")
NY = ZoneInfo("America/New_York")
PHONE = "13800138000"
PHONE2 = "13900139000"
SPOUSE_PHONE = "13700137000"
EMERGENCY_PHONE = "13600136000"
BORROWER = Party(PartyRole.BORROWER)
EMERGENCY = Party(PartyRole.EMERGENCY)

R = RefusalCode


class FakeHolidays:
    """A holiday calendar listing its holidays explicitly."""

    def __init__(self, *days: date) -> None:
        self.days = frozenset(days)

    def is_holiday(self, d: date, /) -> bool:
        return d in self.days


def at(
    y: int, m: int, d: int, h: int = 10, mi: int = 0, tz: ZoneInfo = SH, fold: int = 0
) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=tz, fold=fold)


def req(
    when: datetime,
    channel: Channel = Channel.AGENT_CALL,
    role: PartyRole = PartyRole.BORROWER,
    number: str = PHONE,
    **kw: object,
) -> ContactRequest:
    kw.setdefault("timezone", str(when.tzinfo))
    return ContactRequest(when, channel, role, number, **kw)  # type: ignore[arg-type]


def call(
    when: datetime,
    outcome: Outcome = Outcome.NO_ANSWER,
    *,
    number: str = PHONE,
    conversation: bool = False,
    role: PartyRole = PartyRole.BORROWER,
    channel: Channel = Channel.AGENT_CALL,
    party_id: str = "",
) -> Attempt:
    return Attempt(when, channel, role, number, outcome, conversation, party_id)


def talk(when: datetime, **kw: object) -> Attempt:
    return call(when, Outcome.RIGHT_PARTY_CONTACT, conversation=True, **kw)  # type: ignore[arg-type]


def check(
    request: ContactRequest,
    history: Sequence[Attempt] = (),
    flags: PartyFlags = NO_FLAGS,
    policy: ContactPolicy = CHINA_DEFAULT,
    calendar: HolidayCalendar | None = None,
) -> Decision:
    return check_contact(request, history, flags, policy, calendar or NoHolidays())


# --- calling window ------------------------------------------------------------------------


def test_window_opens_at_0800_not_0759() -> None:
    early = check(req(at(2025, 3, 3, 7, 59)))
    assert early.codes == (R.OUTSIDE_HOURS,)
    assert early.next_allowed_at == at(2025, 3, 3, 8, 0)
    assert early.reasons[0].lifts_at == at(2025, 3, 3, 8, 0)
    assert check(req(at(2025, 3, 3, 8, 0))).allowed


def test_window_closes_at_2100_exclusive() -> None:
    assert check(req(at(2025, 3, 3, 20, 59))).allowed
    late = check(req(at(2025, 3, 3, 21, 0)))
    assert late.codes == (R.OUTSIDE_HOURS,)
    assert late.reasons[0].message_zh == "当地时间 21:00 超出允许的呼叫时段 08:00–21:00"
    assert (
        late.reasons[0].message_en == "local time 21:00 is outside the calling window 08:00–21:00"
    )
    assert late.next_allowed_at == at(2025, 3, 4, 8, 0)


def test_window_after_midnight_opens_the_same_morning() -> None:
    assert check(req(at(2025, 3, 3, 0, 10))).next_allowed_at == at(2025, 3, 3, 8, 0)
    assert check(req(at(2025, 3, 3, 23, 30))).next_allowed_at == at(2025, 3, 4, 8, 0)


def test_window_is_the_borrowers_local_time_not_the_callers() -> None:
    # 00:00 UTC is 08:00 in Shanghai.
    utc_request = ContactRequest(
        datetime(2025, 3, 3, 0, 0, tzinfo=UTC), Channel.AGENT_CALL, PartyRole.BORROWER, PHONE
    )
    assert check(utc_request).allowed
    # 09:30 Beijing time is 07:30 in Urumqi (UTC+6): too early for a borrower there.
    beijing_0930 = at(2025, 3, 3, 9, 30)
    urumqi = ContactRequest(
        beijing_0930, Channel.AGENT_CALL, PartyRole.BORROWER, PHONE, timezone="Asia/Urumqi"
    )
    refused = check(urumqi)
    assert refused.codes == (R.OUTSIDE_HOURS,)
    assert "07:30" in refused.reasons[0].message_zh
    assert refused.next_allowed_at == at(2025, 3, 3, 8, 0, tz=URUMQI)
    assert refused.next_allowed_at == at(2025, 3, 3, 10, 0)  # the same instant, Beijing time
    # 22:30 Beijing time is 20:30 in Urumqi: still inside the window there.
    assert check(replace(urumqi, at=at(2025, 3, 3, 22, 30))).allowed


def test_regional_policy_variant_for_urumqi() -> None:
    xinjiang = replace(CHINA_DEFAULT, name="xinjiang", window_start=time(9, 0))
    r = req(at(2025, 3, 3, 8, 30, tz=URUMQI))
    assert check(r).allowed
    assert check(r, policy=xinjiang).next_allowed_at == at(2025, 3, 3, 9, 0, tz=URUMQI)


def test_window_applies_to_sms_and_field_visits_by_default_and_is_a_setting() -> None:
    night = at(2025, 3, 3, 22, 0)
    for channel in (Channel.SMS, Channel.FIELD_VISIT, Channel.EMAIL, Channel.SELF_SERVICE_LINK):
        assert check(req(night, channel)).codes == (R.OUTSIDE_HOURS,)
    calls_only = replace(CHINA_DEFAULT, window_channels=frozenset({Channel.AGENT_CALL}))
    assert check(req(night, Channel.SMS), policy=calls_only).allowed
    assert check(req(night), policy=calls_only).codes == (R.OUTSIDE_HOURS,)


def test_consent_outside_hours_lifts_the_window_for_that_person_only() -> None:
    flags = PartyFlags(consent_outside_hours=frozenset({BORROWER}))
    night = at(2025, 3, 3, 21, 30)
    assert check(req(night), flags=flags).allowed
    guarantor = req(night, role=PartyRole.GUARANTOR, number=PHONE2)
    assert check(guarantor, flags=flags).codes == (R.OUTSIDE_HOURS,)


def test_us_window_follows_daylight_saving() -> None:
    assert check(req(at(2025, 3, 9, 8, 0, tz=NY)), policy=US_REG_F).allowed
    assert not check(req(at(2025, 3, 9, 7, 59, tz=NY)), policy=US_REG_F).allowed
    # Saturday 22:00 EST → Sunday 08:00 EDT, which is 12:00 UTC (not 13:00).
    d = check(req(at(2025, 3, 8, 22, 0, tz=NY)), policy=US_REG_F)
    assert d.next_allowed_at == at(2025, 3, 9, 8, 0, tz=NY)
    assert d.next_allowed_at is not None
    assert d.next_allowed_at.astimezone(UTC) == datetime(2025, 3, 9, 12, 0, tzinfo=UTC)
    # In November the clocks go back: 20:59 EST passes, 21:00 EST does not.
    assert check(req(at(2025, 11, 2, 20, 59, tz=NY)), policy=US_REG_F).allowed
    assert not check(req(at(2025, 11, 2, 21, 0, tz=NY)), policy=US_REG_F).allowed


# --- statutory holidays --------------------------------------------------------------------

GOLDEN_WEEK = FakeHolidays(*(date(2025, 10, d) for d in range(1, 9)))


def test_routine_contact_refused_on_a_holiday_allowed_on_a_working_day() -> None:
    d = check(req(at(2025, 10, 1)), calendar=GOLDEN_WEEK)
    assert d.codes == (R.HOLIDAY,)
    assert d.reasons[0].lifts_at == at(2025, 10, 9, 0, 0)
    assert d.next_allowed_at == at(2025, 10, 9, 8, 0)
    assert check(req(at(2025, 10, 8, 20, 59)), calendar=GOLDEN_WEEK).codes == (R.HOLIDAY,)
    assert check(req(at(2025, 10, 9, 8, 0)), calendar=GOLDEN_WEEK).allowed
    assert check(req(at(2025, 9, 30, 20, 59)), calendar=GOLDEN_WEEK).allowed


def test_holiday_rule_is_set_per_purpose() -> None:
    holiday = at(2025, 10, 2)
    assert check(req(holiday, purpose=Purpose.CALLBACK), calendar=GOLDEN_WEEK).allowed
    assert not check(req(holiday, purpose=Purpose.OVERDUE), calendar=GOLDEN_WEEK).allowed
    collections_on_holidays = replace(
        CHINA_DEFAULT, holiday_purposes=frozenset({Purpose.OVERDUE, Purpose.CALLBACK})
    )
    overdue = req(holiday, purpose=Purpose.OVERDUE)
    assert check(overdue, policy=collections_on_holidays, calendar=GOLDEN_WEEK).allowed
    routine = req(holiday, purpose=Purpose.ROUTINE)
    assert not check(routine, policy=collections_on_holidays, calendar=GOLDEN_WEEK).allowed


def test_real_chinese_calendar_national_day_2025() -> None:
    calendar = ChineseHolidayCalendar()
    d = check(req(at(2025, 10, 1)), calendar=calendar)
    assert d.codes == (R.HOLIDAY,)
    assert d.next_allowed_at == at(2025, 10, 9, 8, 0)
    assert check(req(at(2025, 10, 11)), calendar=calendar).allowed  # make-up working Saturday
    assert check(req(at(2025, 10, 12)), calendar=calendar).allowed  # an ordinary Sunday


def test_real_calendar_falls_back_to_fixed_date_holidays_for_unpublished_years() -> None:
    calendar = ChineseHolidayCalendar()
    assert calendar.is_holiday(date(2040, 10, 2))
    assert calendar.is_holiday(date(2040, 1, 1))
    assert not calendar.is_holiday(date(2040, 10, 9))


def test_us_profile_ignores_holidays() -> None:
    assert check(
        req(at(2025, 10, 1, tz=NY)), policy=US_REG_F, calendar=ChineseHolidayCalendar()
    ).allowed


def test_window_and_holiday_combine_into_one_next_allowed_time() -> None:
    # Friday 21:00 before a long weekend of holidays: next chance is Tuesday 08:00.
    long_weekend = FakeHolidays(date(2025, 5, 31), date(2025, 6, 1), date(2025, 6, 2))
    d = check(req(at(2025, 5, 30, 21, 0)), calendar=long_weekend)
    assert d.codes == (R.OUTSIDE_HOURS,)
    assert d.next_allowed_at == at(2025, 6, 3, 8, 0)


# --- daily unanswered attempts per number ---------------------------------------------------


def _misses(n: int, day: datetime, number: str = PHONE) -> list[Attempt]:
    return [call(day + timedelta(minutes=10 * i), number=number) for i in range(n)]


def test_sixth_unanswered_attempt_allowed_seventh_refused() -> None:
    morning = at(2025, 3, 3, 9, 0)
    now = at(2025, 3, 3, 15, 0)
    assert check(req(now), _misses(5, morning)).allowed
    d = check(req(now), _misses(6, morning))
    assert d.codes == (R.UNANSWERED_CAP,)
    assert "6" in d.reasons[0].message_zh
    assert d.reasons[0].lifts_at == at(2025, 3, 4, 0, 0)
    assert d.next_allowed_at == at(2025, 3, 4, 8, 0)


def test_unanswered_cap_is_per_number_per_local_day_and_counts_only_calls() -> None:
    morning = at(2025, 3, 3, 9, 0)
    six = _misses(6, morning)
    now = at(2025, 3, 3, 15, 0)
    assert check(req(now, number=PHONE2), six).allowed
    assert check(req(now, Channel.SMS), six).allowed
    assert check(req(now, number="+86 138-0013-8000"), six).codes == (R.UNANSWERED_CAP,)
    # The six were yesterday evening local time (the same UTC date as this morning).
    yesterday = _misses(6, at(2025, 3, 2, 19, 0))
    assert check(req(at(2025, 3, 3, 8, 0)), yesterday).allowed
    # Texts and conversations on the number are not unanswered calls.
    texts = [call(morning, channel=Channel.SMS) for _ in range(6)]
    assert check(req(now), texts).allowed


def test_voice_agent_attempts_count_toward_the_unanswered_cap() -> None:
    history = [
        *_misses(3, at(2025, 3, 3, 9)),
        *[call(at(2025, 3, 3, 11, i), channel=Channel.VOICE_AGENT) for i in range(3)],
    ]
    assert check(req(at(2025, 3, 3, 15)), history).codes == (R.UNANSWERED_CAP,)


# --- daily conversations per person ----------------------------------------------------------


def test_third_conversation_allowed_fourth_refused_across_channels() -> None:
    two = [
        talk(at(2025, 3, 3, 9)),
        talk(at(2025, 3, 3, 10), channel=Channel.VOICE_AGENT),
    ]
    three = [*two, talk(at(2025, 3, 3, 11), channel=Channel.FIELD_VISIT, number="addr")]
    now = at(2025, 3, 3, 15)
    assert check(req(now), two).allowed
    d = check(req(now), three)
    assert d.codes == (R.CONVERSATION_CAP,)
    assert d.next_allowed_at == at(2025, 3, 4, 8, 0)
    assert check(req(now, Channel.VOICE_AGENT), three).codes == (R.CONVERSATION_CAP,)
    assert check(req(now, Channel.FIELD_VISIT, number="addr"), three).codes == (R.CONVERSATION_CAP,)
    assert check(req(now, Channel.SMS), three).allowed
    assert check(req(at(2025, 3, 4, 8)), three).allowed


def test_conversation_cap_is_per_person() -> None:
    three = [talk(at(2025, 3, 3, 9 + i)) for i in range(3)]
    guarantor = req(at(2025, 3, 3, 15), role=PartyRole.GUARANTOR, number=PHONE2)
    assert check(guarantor, three).allowed
    two_emergency_contacts = [
        talk(at(2025, 3, 3, 9 + i), role=PartyRole.GUARANTOR, number=PHONE2, party_id="g1")
        for i in range(3)
    ]
    other = req(at(2025, 3, 3, 15), role=PartyRole.GUARANTOR, number=EMERGENCY_PHONE, party_id="g2")
    assert check(other, two_emergency_contacts).allowed
    same = replace(other, party_id="g1")
    assert check(same, two_emergency_contacts).codes == (R.CONVERSATION_CAP,)


# --- rolling 7-day call cap (Regulation F) -----------------------------------------------


def _daily_calls(first: datetime, n: int) -> list[Attempt]:
    return [call(first + timedelta(days=i)) for i in range(n)]


def test_eighth_call_in_seven_days_refused_until_the_oldest_leaves_the_window() -> None:
    seven = _daily_calls(at(2025, 3, 3, 10), 7)  # 3 … 9 March, 10:00 each
    assert check(req(at(2025, 3, 9, 15)), seven[:6]).allowed
    d = check(req(at(2025, 3, 9, 15)), seven)
    assert d.codes == (R.ROLLING_CALL_CAP,)
    assert d.reasons[0].lifts_at == at(2025, 3, 10, 10, 0)
    assert d.next_allowed_at == at(2025, 3, 10, 10, 0)
    assert check(req(at(2025, 3, 10, 9, 59)), seven).codes == (R.ROLLING_CALL_CAP,)
    assert check(req(at(2025, 3, 10, 10, 0)), seven).allowed


def test_rolling_cap_counts_calls_to_every_party_and_not_texts() -> None:
    mixed = [
        call(at(2025, 3, 3 + i, 10), number=PHONE if i % 2 else EMERGENCY_PHONE) for i in range(7)
    ]
    assert check(req(at(2025, 3, 9, 15), number=PHONE2), mixed).codes == (R.ROLLING_CALL_CAP,)
    assert check(req(at(2025, 3, 9, 15), Channel.SMS), mixed).allowed
    texts = [call(at(2025, 3, 3 + i, 10), channel=Channel.SMS) for i in range(7)]
    assert check(req(at(2025, 3, 9, 15)), texts).allowed


def test_rolling_cap_lift_pushed_into_the_window() -> None:
    late = [call(at(2025, 3, 3 + i, 20, 30)) for i in range(7)]
    d = check(req(at(2025, 3, 9, 20, 45)), late)
    assert d.reasons[0].lifts_at == at(2025, 3, 10, 20, 30)
    assert d.next_allowed_at == at(2025, 3, 10, 20, 30)
    # With a window ending at 20:00 the cap lifts after closing: next morning 08:00.
    short = replace(CHINA_DEFAULT, window_end=time(20, 0))
    d = check(req(at(2025, 3, 10, 10, 0)), late, policy=short)
    assert d.codes == (R.ROLLING_CALL_CAP,)
    assert d.reasons[0].lifts_at == at(2025, 3, 10, 20, 30)
    assert d.next_allowed_at == at(2025, 3, 11, 8, 0)


def test_rolling_window_across_dst_is_seven_local_days() -> None:
    # 10:00 EST on 2 … 8 March 2025; the clocks jump forward on 9 March.
    seven = [call(at(2025, 3, 2 + i, 10, tz=NY)) for i in range(7)]
    d = check(req(at(2025, 3, 8, 16, tz=NY)), seven, policy=US_REG_F)
    assert d.codes == (R.ROLLING_CALL_CAP,)
    assert d.next_allowed_at == at(2025, 3, 9, 10, tz=NY)
    assert d.next_allowed_at is not None
    elapsed = d.next_allowed_at - seven[0].at.astimezone(UTC)
    assert elapsed == timedelta(days=7, hours=-1)  # 167 hours: a 23-hour day in between
    assert check(req(at(2025, 3, 9, 9, 59, tz=NY)), seven, policy=US_REG_F).codes == (
        R.ROLLING_CALL_CAP,
    )
    assert check(req(at(2025, 3, 9, 10, tz=NY)), seven, policy=US_REG_F).allowed


# --- quiet period after a conversation ------------------------------------------------------


def test_us_quiet_period_seven_days_after_a_conversation() -> None:
    conversation = [talk(at(2025, 3, 3, 14, tz=NY))]
    d = check(req(at(2025, 3, 4, 10, tz=NY)), conversation, policy=US_REG_F)
    assert d.codes == (R.QUIET_PERIOD,)
    assert d.next_allowed_at == at(2025, 3, 10, 14, tz=NY)  # across the DST change
    assert not check(req(at(2025, 3, 10, 13, 59, tz=NY)), conversation, policy=US_REG_F).allowed
    assert check(req(at(2025, 3, 10, 14, tz=NY)), conversation, policy=US_REG_F).allowed
    # Texts, and calls to someone else, are not restricted by the quiet period.
    assert check(req(at(2025, 3, 4, 10, tz=NY), Channel.SMS), conversation, policy=US_REG_F).allowed
    guarantor = req(at(2025, 3, 4, 10, tz=NY), role=PartyRole.GUARANTOR, number=PHONE2)
    assert check(guarantor, conversation, policy=US_REG_F).allowed


def test_no_quiet_period_by_default_in_china() -> None:
    assert check(req(at(2025, 3, 3, 15)), [talk(at(2025, 3, 3, 14))]).allowed


# --- do-not-call, consent, human instead of automation, recording ---------------------------


def test_do_not_call_refuses_every_channel_to_the_number_for_good() -> None:
    flags = PartyFlags(do_not_call=frozenset({"+86 138 0013 8000"}))
    for channel in (Channel.AGENT_CALL, Channel.VOICE_AGENT, Channel.SMS):
        d = check(req(at(2025, 3, 3), channel), flags=flags)
        assert d.codes == (R.DO_NOT_CALL,)
        assert d.next_allowed_at is None
        assert PHONE not in d.reasons[0].message_zh + d.reasons[0].message_en
    assert check(req(at(2025, 3, 3), number=PHONE2), flags=flags).allowed


def test_consent_withdrawn_refuses_the_person() -> None:
    flags = PartyFlags(consent_withdrawn=frozenset({BORROWER}))
    for channel in Channel:
        assert check(req(at(2025, 3, 3), channel), flags=flags).codes == (R.CONSENT_WITHDRAWN,)


def test_human_requested_refuses_the_voice_agent_but_not_an_agent() -> None:
    flags = PartyFlags(human_requested=frozenset({BORROWER}))
    d = check(req(at(2025, 3, 3), Channel.VOICE_AGENT), flags=flags)
    assert d.codes == (R.HUMAN_REQUESTED,)
    assert "第二十四条" in d.reasons[0].message_zh
    assert check(req(at(2025, 3, 3), Channel.AGENT_CALL), flags=flags).allowed
    guarantor = req(at(2025, 3, 3), Channel.VOICE_AGENT, PartyRole.GUARANTOR, PHONE2)
    assert check(guarantor, flags=flags).allowed


def test_unrecorded_calls_and_visits_are_refused() -> None:
    for channel in (Channel.AGENT_CALL, Channel.VOICE_AGENT, Channel.FIELD_VISIT):
        d = check(req(at(2025, 3, 3), channel, recorded=False))
        assert d.codes == (R.RECORDING_OFF,)
    assert check(req(at(2025, 3, 3), Channel.SMS, recorded=False)).allowed
    assert check(req(at(2025, 3, 3, tz=NY), recorded=False), policy=US_REG_F).allowed


# --- third parties ------------------------------------------------------------------------------


def _unreachable_history() -> list[Attempt]:
    """Three failed calls on the borrower's only number over two days."""
    return [
        call(at(2025, 3, 1, 10)),
        call(at(2025, 3, 1, 16), Outcome.SWITCHED_OFF),
        call(at(2025, 3, 2, 10), Outcome.BUSY),
    ]


def _emergency(when: datetime, number: str = EMERGENCY_PHONE, **kw: object) -> ContactRequest:
    return req(when, role=PartyRole.EMERGENCY, number=number, **kw)


def test_third_party_refused_while_the_debtor_is_reachable() -> None:
    d = check(_emergency(at(2025, 3, 3)))
    assert d.codes == (R.DEBTOR_REACHABLE,)
    assert d.next_allowed_at is None
    # SMS to a third party is a third-party contact too.
    assert check(_emergency(at(2025, 3, 3), channel=Channel.SMS)).codes == (R.DEBTOR_REACHABLE,)


def test_third_party_allowed_once_the_debtor_is_unreachable() -> None:
    history = _unreachable_history()
    assert check(_emergency(at(2025, 3, 3)), history).allowed
    assert check(req(at(2025, 3, 3), role=PartyRole.SPOUSE, number=SPOUSE_PHONE), history).allowed


def test_unreachable_needs_enough_failures_on_enough_days() -> None:
    two = _unreachable_history()[:2]
    assert check(_emergency(at(2025, 3, 3)), two).codes == (R.DEBTOR_REACHABLE,)
    same_day = [call(at(2025, 3, 2, 9 + i)) for i in range(3)]
    assert check(_emergency(at(2025, 3, 3)), same_day).codes == (R.DEBTOR_REACHABLE,)


def test_unreachable_needs_every_known_debtor_number_to_fail() -> None:
    history = _unreachable_history()
    both = _emergency(at(2025, 3, 3), debtor_numbers=frozenset({PHONE, PHONE2}))
    assert check(both, history).codes == (R.DEBTOR_REACHABLE,)
    dead = [*history, call(at(2025, 3, 2, 11), Outcome.INVALID_NUMBER, number=PHONE2)]
    assert check(both, dead).allowed
    guarantor_answers = [
        *history,
        call(at(2025, 3, 2, 11), Outcome.NO_ANSWER, number=PHONE2, role=PartyRole.GUARANTOR),
        talk(at(2025, 3, 2, 12), number=PHONE2, role=PartyRole.GUARANTOR),
    ]
    assert check(_emergency(at(2025, 3, 3)), guarantor_answers).codes == (R.DEBTOR_REACHABLE,)


def test_reaching_the_debtor_resets_unreachability_and_failures_go_stale() -> None:
    answered = [*_unreachable_history(), call(at(2025, 3, 2, 18), Outcome.HUNG_UP)]
    assert check(_emergency(at(2025, 3, 3)), answered).codes == (R.DEBTOR_REACHABLE,)
    assert check(_emergency(at(2025, 3, 8, 9, 59)), _unreachable_history()).allowed
    # Seven days after the first failure it leaves the lookback: two failures are left.
    assert check(_emergency(at(2025, 3, 8, 10, 0)), _unreachable_history()).codes == (
        R.DEBTOR_REACHABLE,
    )


def test_debtor_unreachable_without_any_known_number_is_false() -> None:
    assert not debtor_unreachable(_emergency(at(2025, 3, 3)), [], CHINA_DEFAULT)


def test_third_party_who_refused_is_never_contacted_again() -> None:
    history = _unreachable_history()
    flags = PartyFlags(third_party_refused=frozenset({EMERGENCY}))
    d = check(_emergency(at(2026, 3, 3)), history, flags)
    assert R.THIRD_PARTY_REFUSED in d.codes
    assert d.next_allowed_at is None
    later = [
        call(at(2026, 3, 1, 10)),
        call(at(2026, 3, 1, 16)),
        call(at(2026, 3, 2, 10)),
    ]
    refused_in_history = [
        *history,
        call(at(2025, 3, 3), Outcome.REFUSED, role=PartyRole.EMERGENCY, number=EMERGENCY_PHONE),
        *later,
    ]
    assert check(_emergency(at(2026, 3, 3)), later).allowed
    assert check(_emergency(at(2026, 3, 3)), refused_in_history).codes == (R.THIRD_PARTY_REFUSED,)
    # Another emergency contact is another person.
    other = _emergency(at(2026, 3, 3), party_id="second", number="13500135000")
    assert check(other, refused_in_history).allowed


def test_debtor_refusing_does_not_bar_further_calls_to_the_debtor() -> None:
    assert check(req(at(2025, 3, 3)), [call(at(2025, 3, 2), Outcome.REFUSED)]).allowed


def test_spouse_is_a_third_party_in_china_and_the_consumers_side_under_fdcpa() -> None:
    spouse = req(at(2025, 3, 3, tz=NY), role=PartyRole.SPOUSE, number=SPOUSE_PHONE)
    assert check(spouse, policy=US_REG_F).allowed
    assert check(spouse).codes == (R.DEBTOR_REACHABLE,)


# --- every reason, not just the first ---------------------------------------------------------


def test_all_reasons_are_collected_in_a_fixed_order() -> None:
    flags = PartyFlags(
        do_not_call=frozenset({PHONE}),
        human_requested=frozenset({BORROWER}),
    )
    history = [call(at(2025, 10, 1, 9, i), channel=Channel.VOICE_AGENT) for i in range(7)]
    d = check(
        req(at(2025, 10, 1, 21, 30), Channel.VOICE_AGENT, recorded=False),
        history,
        flags,
        calendar=GOLDEN_WEEK,
    )
    assert d.codes == (
        R.OUTSIDE_HOURS,
        R.HOLIDAY,
        R.UNANSWERED_CAP,
        R.ROLLING_CALL_CAP,
        R.DO_NOT_CALL,
        R.HUMAN_REQUESTED,
        R.RECORDING_OFF,
    )
    assert not d.allowed
    assert d.next_allowed_at is None  # do-not-call: waiting does not help
    assert all(r.lifts_at is not None for r in d.reasons if r.time_based)
    assert all(r.message_zh and r.message_en for r in d.reasons)
    assert d.reasons[0].message("en") == d.reasons[0].message_en


def test_only_time_based_reasons_give_a_next_time() -> None:
    history = [call(at(2025, 10, 1, 9, i)) for i in range(7)]
    d = check(req(at(2025, 10, 1, 21, 30)), history, calendar=GOLDEN_WEEK)
    assert set(d.codes) <= TIME_BASED_CODES
    assert d.next_allowed_at == at(2025, 10, 9, 8, 0)


def test_history_after_the_request_is_ignored() -> None:
    later = _misses(6, at(2025, 3, 3, 16))
    assert check(req(at(2025, 3, 3, 15)), later).allowed


# --- disclosure and recording notice ----------------------------------------------------------


def test_no_loan_details_before_identity_is_verified() -> None:
    d = disclosure_allowed(False, PartyRole.BORROWER)
    assert d.codes == (R.IDENTITY_NOT_VERIFIED,)
    assert disclosure_allowed(True, PartyRole.BORROWER).allowed
    assert disclosure_allowed(True, PartyRole.GUARANTOR).allowed


def test_no_loan_details_to_third_parties_ever() -> None:
    for role in (PartyRole.EMERGENCY, PartyRole.EMPLOYER, PartyRole.SPOUSE):
        assert disclosure_allowed(True, role).codes == (R.THIRD_PARTY_DISCLOSURE,)
        assert disclosure_allowed(False, role).codes == (R.THIRD_PARTY_DISCLOSURE,)
    assert disclosure_allowed(True, PartyRole.SPOUSE, US_REG_F).allowed


def test_recording_notice_in_chinese_and_english() -> None:
    assert "录音" in recording_notice()
    assert recording_notice("zh-CN") == recording_notice("zh")
    assert "recorded" in recording_notice("en")
    assert "转人工" in recording_notice("zh", automated=True)
    assert "automated" in recording_notice("en-US", automated=True)
    with pytest.raises(ValueError, match="unsupported language"):
        recording_notice("fr")


# --- policies -----------------------------------------------------------------------------------


def test_profiles() -> None:
    assert ContactPolicy() == CHINA_DEFAULT
    assert (CHINA_DEFAULT.window_start, CHINA_DEFAULT.window_end) == (time(8), time(21))
    assert CHINA_DEFAULT.max_unanswered_per_number_per_day == 6
    assert CHINA_DEFAULT.max_conversations_per_person_per_day == 3
    assert CHINA_DEFAULT.max_calls_per_rolling_period == 7
    assert CHINA_DEFAULT.quiet_days_after_conversation == 0
    assert US_REG_F.quiet_days_after_conversation == 7
    assert US_REG_F.max_unanswered_per_number_per_day is None


def test_cba_night_rule_alone_is_22_00_to_08_00() -> None:
    assert check(req(at(2025, 3, 3, 21, 59)), policy=CBA_2026).allowed
    late = check(req(at(2025, 3, 3, 22, 0)), policy=CBA_2026)
    assert late.codes == (R.OUTSIDE_HOURS,)
    assert "22:00–08:00" not in late.reasons[0].message_zh  # the window is named, not the gap
    assert "08:00–22:00" in late.reasons[0].message_zh
    assert late.next_allowed_at == at(2025, 3, 4, 8, 0)
    assert not check(req(at(2025, 3, 4, 7, 59)), policy=CBA_2026).allowed
    # The default takes the narrower US window: 21:00–22:00 is refused under it.
    assert not check(req(at(2025, 3, 3, 21, 30))).allowed


def test_nifa_alone_caps_conversations_but_not_unanswered_calls() -> None:
    misses = _misses(10, at(2025, 3, 3, 9))
    assert check(req(at(2025, 3, 3, 15)), misses, policy=NIFA_2025).allowed
    talks = [talk(at(2025, 3, 3, 9 + i)) for i in range(3)]
    assert check(req(at(2025, 3, 3, 15)), talks, policy=NIFA_2025).codes == (R.CONVERSATION_CAP,)


def test_default_is_at_least_as_strict_as_the_chinese_profiles() -> None:
    assert set(PROFILES) == {"china-default", "cba-2026", "nifa-2025", "us-reg-f"}
    combined = strictest(CBA_2026, NIFA_2025)
    d = CHINA_DEFAULT
    assert d.window_start >= combined.window_start and d.window_end <= combined.window_end
    assert d.holiday_purposes <= combined.holiday_purposes
    for cap in ("max_unanswered_per_number_per_day", "max_conversations_per_person_per_day"):
        assert getattr(d, cap) <= getattr(combined, cap)
    assert (
        d.third_party_only_when_unreachable and d.recording_channels >= combined.recording_channels
    )


def test_strictest_combines_setting_by_setting() -> None:
    both = strictest(CHINA_DEFAULT, US_REG_F)
    assert (both.window_start, both.window_end) == (time(8), time(21))
    assert both.max_unanswered_per_number_per_day == 6
    assert both.max_conversations_per_person_per_day == 3
    assert both.quiet_days_after_conversation == 7
    assert both.debtor_roles == OBLIGOR_ROLES
    assert both.recording_channels == CHINA_DEFAULT.recording_channels
    assert both.holiday_purposes == frozenset({Purpose.CALLBACK})
    # The US quiet period and the Chinese conversation cap both apply.
    conversation = [talk(at(2025, 3, 3, 14))]
    assert check(req(at(2025, 3, 4)), conversation).allowed
    assert check(req(at(2025, 3, 4)), conversation, policy=both).codes == (R.QUIET_PERIOD,)
    # Windows narrow to their overlap; caps to the lowest; periods to the longest.
    a = replace(CHINA_DEFAULT, window_end=time(22), max_calls_per_rolling_period=10)
    b = replace(CHINA_DEFAULT, window_start=time(9), rolling_period_days=14)
    ab = strictest(a, b)
    assert (ab.window_start, ab.window_end) == (time(9), time(21))
    assert (ab.max_calls_per_rolling_period, ab.rolling_period_days) == (7, 14)
    assert ab.name == "strictest(china-default, china-default)"


def test_strictest_refuses_windows_that_do_not_overlap() -> None:
    morning = replace(CHINA_DEFAULT, window_end=time(12))
    evening = replace(CHINA_DEFAULT, window_start=time(13))
    with pytest.raises(InvalidPolicy):
        strictest(morning, evening)
    with pytest.raises(InvalidPolicy):
        strictest()


def test_policy_validation() -> None:
    with pytest.raises(InvalidPolicy, match="不晚于开始"):
        ContactPolicy(window_start=time(21), window_end=time(8))
    with pytest.raises(InvalidPolicy) as e:
        ContactPolicy(max_calls_per_rolling_period=0)
    assert "at least 1" in e.value.message_en
    with pytest.raises(InvalidPolicy):
        ContactPolicy(debtor_roles=frozenset({PartyRole.GUARANTOR}))
    with pytest.raises(InvalidPolicy, match="未知"):
        ContactPolicy(window_channels=frozenset({"fax"}))  # type: ignore[arg-type]
    typed = ContactPolicy(window_channels=["sms"])  # type: ignore[arg-type]
    assert typed.window_channels == frozenset({Channel.SMS})


def test_inputs_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ContactRequest(datetime(2025, 3, 3, 10), Channel.SMS, PartyRole.BORROWER, PHONE)
    with pytest.raises(ValueError, match="timezone-aware"):
        Attempt(datetime(2025, 3, 3, 10), Channel.SMS, PartyRole.BORROWER, PHONE, Outcome.BUSY)
    with pytest.raises(ValueError, match="unknown time zone"):
        ContactRequest(at(2025, 3, 3), Channel.SMS, PartyRole.BORROWER, PHONE, timezone="Mars/X")


# --- properties ----------------------------------------------------------------------------------

ZONES = ("Asia/Shanghai", "Asia/Urumqi", "America/New_York")
NUMBERS = (PHONE, PHONE2, EMERGENCY_PHONE)
ROLES = (PartyRole.BORROWER, PartyRole.GUARANTOR, PartyRole.SPOUSE, PartyRole.EMERGENCY)
T0 = datetime(2025, 3, 1, tzinfo=UTC)  # two weeks around the US spring DST change
SPAN_MIN = 14 * 24 * 60

instants = st.integers(0, SPAN_MIN).map(lambda m: T0 + timedelta(minutes=m))
parties = st.builds(Party, st.sampled_from(ROLES), st.sampled_from(("", "x")))
attempts = st.builds(
    Attempt,
    instants,
    st.sampled_from(Channel),
    st.sampled_from(ROLES),
    st.sampled_from(NUMBERS),
    st.sampled_from(Outcome),
    st.booleans(),
    st.sampled_from(("", "x")),
)
requests = st.builds(
    ContactRequest,
    instants,
    st.sampled_from(Channel),
    st.sampled_from(ROLES),
    st.sampled_from(NUMBERS),
    st.sampled_from(Purpose),
    st.sampled_from(ZONES),
    st.sampled_from(("", "x")),
    st.frozensets(st.sampled_from(NUMBERS), max_size=2),
    st.booleans(),
)
flag_sets = st.builds(
    PartyFlags,
    st.frozensets(st.sampled_from(NUMBERS), max_size=1),
    st.frozensets(parties, max_size=1),
    st.frozensets(parties, max_size=2),
    st.frozensets(parties, max_size=2),
    st.frozensets(parties, max_size=2),
)
caps = st.none() | st.integers(1, 8)
policies = st.one_of(
    st.sampled_from((CHINA_DEFAULT, US_REG_F)),
    st.builds(
        ContactPolicy,
        name=st.just("random"),
        window_start=st.integers(6, 10).map(lambda h: time(h)),
        window_end=st.integers(17, 23).map(lambda h: time(h)),
        window_channels=st.frozensets(st.sampled_from(Channel)),
        holiday_purposes=st.frozensets(st.sampled_from(Purpose)),
        max_unanswered_per_number_per_day=caps,
        max_conversations_per_person_per_day=caps,
        max_calls_per_rolling_period=caps,
        rolling_period_days=st.integers(1, 10),
        quiet_days_after_conversation=st.integers(0, 8),
        debtor_roles=st.frozensets(st.sampled_from(ROLES)).map(lambda s: s | {PartyRole.BORROWER}),
        third_party_only_when_unreachable=st.booleans(),
        unreachable_roles=st.frozensets(st.sampled_from(ROLES)).map(
            lambda s: s | {PartyRole.BORROWER}
        ),
        unreachable_failed_attempts=st.integers(1, 4),
        unreachable_distinct_days=st.integers(1, 3),
        unreachable_lookback_days=st.integers(1, 10),
        recording_channels=st.frozensets(st.sampled_from(Channel)),
    ),
)
calendars = st.frozensets(
    st.integers(0, 40).map(lambda i: date(2025, 2, 25) + timedelta(days=i)), max_size=12
).map(lambda days: FakeHolidays(*days))

PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(requests, st.lists(attempts, max_size=25), flag_sets, policies, calendars)
def test_property_next_allowed_at_is_the_earliest_time_based_pass(
    request: ContactRequest,
    history: list[Attempt],
    flags: PartyFlags,
    policy: ContactPolicy,
    calendar: FakeHolidays,
) -> None:
    d = check_contact(request, history, flags, policy, calendar)
    assert d.allowed == (not d.reasons)
    if d.allowed:
        assert d.next_allowed_at is None
        return
    if any(not r.time_based for r in d.reasons):
        assert d.next_allowed_at is None
        return
    nxt = d.next_allowed_at
    assert nxt is not None
    assert nxt > request.at
    for r in d.reasons:
        assert r.lifts_at is not None and r.lifts_at > request.at
    again = check_contact(replace(request, at=nxt), history, flags, policy, calendar)
    assert not [r for r in again.reasons if r.time_based]
    # Nothing earlier would have passed: halfway there, some time-based rule still refuses.
    halfway = request.at + (nxt - request.at) / 2
    between = check_contact(replace(request, at=halfway), history, flags, policy, calendar)
    assert [r for r in between.reasons if r.time_based]


@PROPERTY_SETTINGS
@given(
    requests,
    st.lists(attempts, max_size=20),
    st.lists(attempts, max_size=10),
    flag_sets,
    policies,
)
def test_property_more_history_never_lifts_a_cap(
    request: ContactRequest,
    history: list[Attempt],
    extra: list[Attempt],
    flags: PartyFlags,
    policy: ContactPolicy,
) -> None:
    cap_codes = {R.UNANSWERED_CAP, R.CONVERSATION_CAP, R.ROLLING_CALL_CAP, R.QUIET_PERIOD}
    before = check_contact(request, history, flags, policy, NoHolidays())
    after = check_contact(request, [*history, *extra], flags, policy, NoHolidays())
    assert set(before.codes) & cap_codes <= set(after.codes)


@PROPERTY_SETTINGS
@given(requests, st.lists(attempts, max_size=25), flag_sets, policies, policies, calendars)
def test_property_what_strictest_allows_every_policy_allows(
    request: ContactRequest,
    history: list[Attempt],
    flags: PartyFlags,
    p: ContactPolicy,
    q: ContactPolicy,
    calendar: FakeHolidays,
) -> None:
    assume(max(p.window_start, q.window_start) < min(p.window_end, q.window_end))
    both = strictest(p, q)
    if check_contact(request, history, flags, both, calendar).allowed:
        assert check_contact(request, history, flags, p, calendar).allowed
        assert check_contact(request, history, flags, q, calendar).allowed
