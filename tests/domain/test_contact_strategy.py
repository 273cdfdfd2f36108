"""Contact strategy: what follows every outcome, slots, caps, alternates, escalation."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml

from huifang.domain.compliance import Channel, Outcome, PartyRole
from huifang.domain.contact_strategy import (
    BorrowerProfile,
    StepKind,
    TaskAttempt,
    next_step,
    strategy_from_mapping,
)
from huifang.domain.followup_policy import PolicyError
from huifang.policy_files import load_followup_policy

SH = ZoneInfo("Asia/Shanghai")
S = load_followup_policy().strategy
LOW = BorrowerProfile("low")
ALL = (PartyRole.SPOUSE, PartyRole.EMERGENCY, PartyRole.EMPLOYER, PartyRole.GUARANTOR)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=SH)


def call(t: datetime, outcome: Outcome, role: PartyRole = PartyRole.BORROWER) -> TaskAttempt:
    return TaskAttempt(t, role, Channel.AGENT_CALL, outcome)


def test_first_call_goes_to_the_borrower_in_the_next_slot() -> None:
    step = next_step(S, [], ALL, LOW, at(2, 7))
    assert (step.kind, step.role, step.at, step.channels) == (
        StepKind.CALL,
        PartyRole.BORROWER,
        at(2, 9),
        (Channel.AGENT_CALL,),
    )
    assert next_step(S, [], ALL, LOW, at(2, 10)).at == at(2, 10)
    assert next_step(S, [], ALL, LOW, at(2, 12)).at == at(2, 14)
    assert next_step(S, [], ALL, LOW, at(2, 21)).at == at(3, 9)


# (outcome, expected kind, expected time after a 10:00 attempt, expected role)
CASES = [
    (Outcome.RIGHT_PARTY_CONTACT, StepKind.COMPLETE, at(2, 10, 5), PartyRole.BORROWER),
    (Outcome.THIRD_PARTY_CONTACT, StepKind.CALL, at(2, 14), PartyRole.BORROWER),
    (Outcome.NO_ANSWER, StepKind.CALL, at(2, 14), PartyRole.BORROWER),
    (Outcome.BUSY, StepKind.CALL, at(2, 10, 20), PartyRole.BORROWER),
    (Outcome.SWITCHED_OFF, StepKind.CALL, at(2, 14), PartyRole.BORROWER),
    (Outcome.INVALID_NUMBER, StepKind.CALL, at(2, 10, 5), PartyRole.SPOUSE),
    (Outcome.WRONG_PERSON, StepKind.CALL, at(2, 10, 5), PartyRole.SPOUSE),
    (Outcome.REFUSED, StepKind.ESCALATE, at(2, 10, 5), PartyRole.BORROWER),
    (Outcome.CALLBACK_REQUESTED, StepKind.CALL, at(3, 10), PartyRole.BORROWER),
    (Outcome.HUNG_UP, StepKind.CALL, at(3, 14), PartyRole.BORROWER),
]


@pytest.mark.parametrize(("outcome", "kind", "when", "role"), CASES)
def test_every_outcome_leads_where_the_policy_says(
    outcome: Outcome, kind: StepKind, when: datetime, role: PartyRole
) -> None:
    step = next_step(S, [call(at(2, 10), outcome)], ALL, LOW, at(2, 10, 5))
    assert (step.kind, step.at, step.role) == (kind, when, role)
    assert step.reason_zh and step.reason_en


def test_callback_at_the_requested_time() -> None:
    wanted = at(4, 19, 30)
    history = [
        TaskAttempt(
            at(2, 10), PartyRole.BORROWER, Channel.AGENT_CALL, Outcome.CALLBACK_REQUESTED, wanted
        )
    ]
    assert next_step(S, history, ALL, LOW, at(2, 10, 5)).at == wanted


def test_switched_off_backs_off_four_hours_into_another_slot() -> None:
    step = next_step(S, [call(at(2, 15), Outcome.SWITCHED_OFF)], ALL, LOW, at(2, 15, 1))
    assert step.at == at(2, 19, 0)  # 15:00 + 4 h = 19:00, evening slot


def test_daily_cap_moves_to_the_next_day() -> None:
    history = [
        call(at(2, 9), Outcome.BUSY),
        call(at(2, 9, 30), Outcome.BUSY),
        call(at(2, 10), Outcome.BUSY),
    ]
    step = next_step(S, history, ALL, LOW, at(2, 10, 1))
    assert step.at == at(3, 9)
    assert "今日次数已满" in step.reason_zh


def test_weekly_cap_waits_until_the_oldest_call_leaves_the_window() -> None:
    s = strategy_from_mapping({**_raw(), "max_attempts_per_contact": 20})
    history = [call(at(d, 9), Outcome.NO_ANSWER) for d in range(2, 9)]  # 7 calls, 7 days
    step = next_step(s, history, ALL, LOW, at(8, 9, 1))
    assert step.at == at(9, 9, 0)  # the 2 March call leaves the window at 9 March 09:00
    assert "7日" in step.reason_zh


def test_after_max_failures_the_alternates_in_order_then_escalation() -> None:
    history = [
        call(at(2, 9), Outcome.NO_ANSWER),
        call(at(2, 14), Outcome.NO_ANSWER),
        call(at(2, 19), Outcome.NO_ANSWER),
        call(at(3, 9), Outcome.NO_ANSWER),
    ]
    step = next_step(S, history, (PartyRole.EMERGENCY, PartyRole.GUARANTOR), LOW, at(3, 9, 5))
    assert (step.kind, step.role) == (StepKind.CALL, PartyRole.EMERGENCY)  # no spouse on file
    history.append(call(at(3, 14), Outcome.REFUSED, PartyRole.EMERGENCY))
    # a third party's refusal is final for them, not an escalation
    history[-1] = call(at(3, 14), Outcome.WRONG_PERSON, PartyRole.EMERGENCY)
    step = next_step(S, history, (PartyRole.EMERGENCY, PartyRole.GUARANTOR), LOW, at(3, 14, 5))
    assert step.role == PartyRole.GUARANTOR
    history.append(call(at(3, 19), Outcome.INVALID_NUMBER, PartyRole.GUARANTOR))
    step = next_step(S, history, (PartyRole.EMERGENCY, PartyRole.GUARANTOR), LOW, at(3, 19, 5))
    assert (step.kind, step.channels) == (
        StepKind.ESCALATE,
        (Channel.SMS, Channel.SELF_SERVICE_LINK),
    )
    step = next_step(
        S,
        history,
        (PartyRole.EMERGENCY, PartyRole.GUARANTOR),
        LOW,
        at(3, 19, 5),
        escalated=[Channel.SMS],
    )
    assert step.kind is StepKind.GIVE_UP


@pytest.mark.parametrize(
    ("profile", "field"),
    [
        (BorrowerProfile("high"), True),
        (BorrowerProfile("medium", self_employed=True), True),
        (BorrowerProfile("low", business=True), True),
        (BorrowerProfile("medium"), False),
    ],
)
def test_field_visit_for_high_risk_self_employed_and_business(
    profile: BorrowerProfile, field: bool
) -> None:
    step = next_step(S, [call(at(2, 10), Outcome.REFUSED)], ALL, profile, at(2, 10, 5))
    assert (Channel.FIELD_VISIT in step.channels) is field
    after_sms = next_step(
        S, [call(at(2, 10), Outcome.REFUSED)], ALL, profile, at(2, 11), [Channel.SMS]
    )
    assert after_sms.kind is (StepKind.ESCALATE if field else StepKind.GIVE_UP)


def test_outcome_rules_are_configuration() -> None:
    raw = _raw()
    raw["outcomes"]["busy"] = {"action": "next-contact"}
    s = strategy_from_mapping(raw)
    step = next_step(s, [call(at(2, 10), Outcome.BUSY)], ALL, LOW, at(2, 10, 1))
    assert step.role is PartyRole.SPOUSE


def _raw() -> dict:  # type: ignore[type-arg]
    with open("src/huifang/policies/followup.yaml", encoding="utf-8") as f:
        data = yaml.safe_load(f)
    return dict(data["contact_strategy"])


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d["outcomes"].pop("hung-up"), "outcomes"),
        (lambda d: d["outcomes"].update({"maybe": {"action": "retry"}}), "outcomes.maybe"),
        (lambda d: d["outcomes"]["busy"].update(action="pray"), "outcomes.busy.action"),
        (
            lambda d: d["outcomes"]["right-party-contact"].update(action="retry"),
            "right-party-contact",
        ),
        (lambda d: d.update(slots=[]), "slots"),
        (lambda d: d["slots"][1].update(start="08:00"), "slots[1]"),
        (lambda d: d["slots"][0].update(end="25:00"), "slots[0].end"),
        (lambda d: d.update(alternates=["cousin"]), "alternates"),
        (lambda d: d.update(max_attempts_per_day=0), "max_attempts_per_day"),
        (lambda d: d.update(timezone="Mars/Base"), "timezone"),
    ],
)
def test_invalid_strategy_is_rejected_with_its_path(mutate, where) -> None:  # type: ignore[no-untyped-def]
    raw = _raw()
    mutate(raw)
    with pytest.raises(PolicyError) as err:
        strategy_from_mapping(raw)
    assert where in err.value.path


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError):
        next_step(S, [], ALL, LOW, datetime(2026, 3, 2, 9) + timedelta(0))


def test_blocked_roles_are_skipped_and_slots_follow_the_borrowers_zone() -> None:
    history = [call(at(2, h), Outcome.NO_ANSWER) for h in (9, 14, 19)]
    history.append(call(at(3, 9), Outcome.NO_ANSWER))
    step = next_step(S, history, ALL, LOW, at(3, 9, 5), blocked=[PartyRole.SPOUSE])
    assert step.role is PartyRole.EMERGENCY
    urumqi = ZoneInfo("Asia/Urumqi")  # two hours behind Beijing time
    step = next_step(S, [], ALL, LOW, at(2, 9), timezone="Asia/Urumqi")
    assert step.at == datetime(2026, 3, 2, 9, 0, tzinfo=urumqi)
