"""Which tasks a voice-agent campaign may dial now, and what a call means (pure)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from huifang.domain.campaigns import (
    CallSetup,
    CampaignError,
    CampaignSpec,
    CampaignStatus,
    Candidate,
    GuardInputs,
    call_cost,
    call_outcome,
    eligibility,
    strategy_defaults,
    window_end,
)
from huifang.domain.compliance import (
    CHINA_DEFAULT,
    NO_FLAGS,
    Attempt,
    Channel,
    NoHolidays,
    Outcome,
    Party,
    PartyFlags,
    PartyRole,
)
from huifang.domain.followup_metrics import CallFact, voice_metrics
from huifang.policy_files import load_followup_policy

SH = ZoneInfo("Asia/Shanghai")
URUMQI = "Asia/Urumqi"
SPEC = CampaignSpec("夜间外呼", time(9, 0), time(20, 30), 5, 3, 60)


def task(**kw) -> Candidate:  # type: ignore[no-untyped-def]
    base = {
        "task_id": 1,
        "purpose": "routine",
        "branch": "SZ01",
        "tier": "low",
        "timezone": "Asia/Shanghai",
        "due_on": date(2026, 3, 20),
    }
    base.update(kw)
    return Candidate(**base)  # type: ignore[arg-type]


def at(hour: int, minute: int = 0, day: int = 23, tz: ZoneInfo = SH) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=tz)


def codes(t: Candidate, now: datetime, **kw) -> tuple[str, ...]:  # type: ignore[no-untyped-def]
    return eligibility(kw.pop("spec", SPEC), t, kw.pop("voice", True), now, **kw).codes


def test_window_boundaries_in_the_borrowers_zone() -> None:
    assert codes(task(), at(9, 0)) == ()
    early = eligibility(SPEC, task(), True, at(8, 59))
    assert early.codes == ("campaign.outside_window",) and early.next_at == at(9, 0)
    assert codes(task(), at(20, 29)) == ()
    late = eligibility(SPEC, task(), True, at(20, 30))
    assert late.codes == ("campaign.outside_window",) and late.next_at == at(9, 0, day=24)
    # 10:00 in Beijing is 08:00 in Urumqi: outside; the window opens at 11:00 Beijing time
    west = eligibility(SPEC, task(timezone=URUMQI), True, at(10, 0))
    assert west.codes == ("campaign.outside_window",)
    assert west.next_at == at(11, 0)
    assert codes(task(timezone=URUMQI), at(11, 0)) == ()
    # the run ends when the window closes in the last zone to reach its end
    assert window_end(SPEC, date(2026, 3, 23), ["Asia/Shanghai", URUMQI]) == at(22, 30)


def test_policy_filter_and_skills() -> None:
    assert codes(task(), at(10), voice=False) == ("policy.voice_not_allowed",)
    spec = CampaignSpec(
        "SZ routine", time(9), time(20), 5, 3, 60, frozenset({"routine"}), frozenset({"SZ01"})
    )
    assert codes(task(branch="BJ01"), at(10), spec=spec) == ("campaign.filter",)
    assert codes(task(purpose="first-visit"), at(10), spec=spec) == ("campaign.filter",)
    assert codes(task(skills=("business",)), at(10)) == ("bot.skills",)
    assert codes(task(skills=("lang:en",)), at(10)) == ()
    assert codes(task(next_role=PartyRole.SPOUSE), at(10)) == ("bot.third_party",)
    paused = CampaignSpec("p", time(9), time(20), 1, 1, 0, status=CampaignStatus.PAUSED)
    assert codes(task(), at(10), spec=paused) == ("campaign.inactive",)


def test_policy_file_allows_the_voice_channel_for_routine_contacts_only() -> None:
    policy = load_followup_policy().policy
    assert policy.rule("routine").voice_allowed
    assert policy.rule("first-visit").voice_allowed
    assert not policy.rule("risk-finding").voice_allowed
    assert not policy.rule("bucket-change").voice_allowed


def test_retries_attempts_leases_and_handover() -> None:
    first = at(10)
    spaced = task(voice_calls=(first,))
    blocked = eligibility(SPEC, spaced, True, first + timedelta(minutes=59))
    assert blocked.codes == ("campaign.retry_spacing",)
    assert blocked.next_at == first + timedelta(minutes=60)
    assert codes(spaced, first + timedelta(minutes=60)) == ()
    three = task(voice_calls=(at(9), at(11), at(14)))
    maxed = eligibility(SPEC, three, True, at(18))
    assert maxed.codes == ("campaign.max_attempts",) and maxed.next_at is None
    later = task(next_attempt_at=at(14))
    assert eligibility(SPEC, later, True, at(13, 59)).codes == ("task.retry_later",)
    assert codes(later, at(14)) == ()
    held = task(held_until=at(10, 30))
    assert eligibility(SPEC, held, True, at(10)).codes == ("task.held",)
    assert codes(held, at(10, 30)) == ()
    assert codes(task(handed_over=True), at(10)) == ("campaign.handed_over",)
    assert codes(task(dial_open=True), at(10)) == ("campaign.dial_open",)
    assert codes(task(due_on=date(2026, 3, 24)), at(10)) == ("task.not_due",)
    assert codes(task(snoozed_until=at(12)), at(10)) == ("task.snoozed",)


def _guard(history: list[Attempt], flags: PartyFlags = NO_FLAGS) -> GuardInputs:
    return GuardInputs("13800000000", history, flags, CHINA_DEFAULT, NoHolidays())


def test_the_compliance_guard_is_consulted_before_dialing() -> None:
    # 7 calls in the last 7 days: the 8th waits until the oldest is 7 local days old
    history = [
        Attempt(
            at(10, day=17 + i),
            Channel.AGENT_CALL,
            PartyRole.BORROWER,
            "13800000000",
            Outcome.NO_ANSWER,
        )
        for i in range(7)
    ]
    capped = eligibility(SPEC, task(), True, at(10, day=23), guard=_guard(history))
    assert capped.codes == ("contact.rolling_call_cap",)
    assert capped.next_at == at(10, day=24)
    # six unanswered calls on the number today: the 7th is refused until tomorrow's window
    today = [
        Attempt(at(9, i), Channel.VOICE_AGENT, PartyRole.BORROWER, "13800000000", Outcome.NO_ANSWER)
        for i in range(6)
    ]
    assert "contact.daily_unanswered_cap" in codes(task(), at(10), guard=_guard(today))
    # a person who asked for a human is never called by the bot (no waiting lifts it)
    human = PartyFlags(human_requested=frozenset({Party(PartyRole.BORROWER)}))
    refused = eligibility(SPEC, task(), True, at(10), guard=_guard([], human))
    assert refused.codes == ("contact.human_requested",) and refused.next_at is None
    dnc = PartyFlags(do_not_call=frozenset({"138 0000 0000"}))
    assert codes(task(), at(10), guard=_guard([], dnc)) == ("contact.do_not_call",)


def test_settings_are_validated() -> None:
    with pytest.raises(CampaignError, match="window end"):
        CampaignSpec("x", time(20), time(9), 1, 1, 0)
    with pytest.raises(CampaignError, match="concurrent"):
        CampaignSpec("x", time(9), time(20), 0, 1, 0)
    with pytest.raises(CampaignError, match="tiers"):
        CampaignSpec("x", time(9), time(20), 1, 1, 0, tiers=frozenset({"vip"}))
    assert strategy_defaults(load_followup_policy().strategy) == (4, 60)


def test_call_outcomes() -> None:
    assert call_outcome(CallSetup.BUSY, None) is Outcome.BUSY
    assert call_outcome(CallSetup.INVALID_NUMBER, None) is Outcome.INVALID_NUMBER
    done = call_outcome(CallSetup.ANSWERED, "completed", identity_verified=True)
    assert done is Outcome.RIGHT_PARTY_CONTACT
    # completed without a verified identity is not a right-party contact
    assert call_outcome(CallSetup.ANSWERED, "completed") is Outcome.HUNG_UP
    assert call_outcome(CallSetup.ANSWERED, "wrong_person") is Outcome.THIRD_PARTY_CONTACT
    handed = call_outcome(CallSetup.ANSWERED, "handed_over", handover_reason="borrower_request")
    assert handed is Outcome.CALLBACK_REQUESTED
    refused = call_outcome(
        CallSetup.ANSWERED, None, hung_up=True, borrower_words=["我不需要，别再打了"]
    )
    assert refused is Outcome.REFUSED
    assert call_outcome(CallSetup.ANSWERED, None, hung_up=True) is Outcome.HUNG_UP


def test_call_cost_is_billed_per_started_minute() -> None:
    assert call_cost(0, Decimal("0.02"), Decimal("0.12")) == Decimal("0.02")
    assert call_cost(60, Decimal("0.02"), Decimal("0.12")) == Decimal("0.14")
    assert call_cost(61, Decimal("0.02"), Decimal("0.12")) == Decimal("0.26")


def test_voice_metrics() -> None:
    day = date(2026, 3, 23)

    def fact(outcome: str, connected: bool, completed: bool, handed: bool, s: int) -> CallFact:
        return CallFact(
            "c",
            "SZ01",
            "low",
            day,
            outcome,
            connected,
            completed,
            handed,
            s,
            call_cost(s, Decimal("0.02"), Decimal("0.12")),
        )

    calls = [
        fact("right-party-contact", True, True, False, 200),  # 0.02 + 4 × 0.12 = 0.50
        fact("right-party-contact", True, True, False, 100),  # 0.26
        fact("callback-requested", True, False, True, 60),  # 0.14
        fact("third-party-contact", True, False, False, 40),  # 0.14
        fact("no-answer", False, False, False, 40),  # 0.14
    ]
    (m,) = voice_metrics(calls, day, day)
    assert (m.calls, m.connected, m.completed, m.handed_over) == (5, 4, 2, 1)
    assert m.connection_rate == Decimal("0.8000")
    assert m.completion_rate == Decimal("0.5000")
    assert m.handover_rate == Decimal("0.2500")
    assert m.average_handle_time_s == Decimal("100.0")  # (200 + 100 + 60 + 40) / 4
    assert m.cost == Decimal("1.18") and m.cost_per_completed == Decimal("0.59")
    (empty,) = voice_metrics([], day, day)
    assert empty.connection_rate is None and empty.cost_per_completed is None
