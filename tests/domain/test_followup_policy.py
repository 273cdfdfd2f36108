"""Follow-up policy: first visit, cadence per tier, each event trigger, stages, validation."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from huifang.domain.followup_policy import (
    CompletedContact,
    EventKind,
    LoanEvent,
    LoanPhase,
    LoanSnapshot,
    PolicyError,
    Stage,
    policy_from_mapping,
    tasks_due,
)

DISBURSED = date(2026, 1, 10)
POLICY_FILE = Path(__file__).parents[2] / "src/huifang/policies/followup.yaml"


def _data() -> dict[str, Any]:
    return dict(yaml.safe_load(POLICY_FILE.read_text("utf-8")))


POLICY = policy_from_mapping(_data())


def loan(tier: str = "low", **kw: Any) -> LoanSnapshot:
    return LoanSnapshot(
        loan_id=7, phase=kw.pop("phase", LoanPhase.ACTIVE), opened_on=DISBURSED, tier=tier, **kw
    )


def purposes(tasks: tuple[Any, ...]) -> list[str]:
    return [t.purpose for t in tasks]


def test_first_visit_due_from_day_3_with_deadline_30_days_after_disbursement() -> None:
    assert tasks_due(POLICY, loan(), [], [], date(2026, 1, 12)) == ()
    (task,) = tasks_due(POLICY, loan(), [], [], date(2026, 1, 13))
    assert task.purpose == "first-visit"
    assert task.stage is Stage.POST_LOAN
    assert task.due_on == date(2026, 1, 13)
    assert task.deadline == date(2026, 2, 9)
    assert task.script == "first_visit"
    assert "30天内" in task.reason_zh


def test_first_visit_before_disbursement_does_not_count() -> None:
    old = [CompletedContact("first-visit", date(2025, 12, 1))]
    assert purposes(tasks_due(POLICY, loan(), old, [], date(2026, 2, 1))) == ["first-visit"]


@pytest.mark.parametrize(
    ("tier", "due", "priority"),
    [
        ("low", date(2026, 4, 20), 4),
        ("medium", date(2026, 3, 20), 4),
        ("high", date(2026, 2, 20), 3),
    ],
)
def test_routine_cadence_by_tier(tier: str, due: date, priority: int) -> None:
    done = [CompletedContact("first-visit", date(2026, 1, 20))]
    snap = loan(tier)
    day_before = date.fromordinal(due.toordinal() - 1)
    assert tasks_due(POLICY, snap, done, [], day_before) == ()
    (task,) = tasks_due(POLICY, snap, done, [], due)
    assert (task.purpose, task.due_on, task.priority) == ("routine", due, priority)
    assert task.deadline == date.fromordinal(due.toordinal() + 15)


def test_any_post_loan_contact_restarts_the_cadence() -> None:
    done = [
        CompletedContact("first-visit", date(2026, 1, 20)),
        CompletedContact("missed-payment", date(2026, 3, 5)),
    ]
    (task,) = tasks_due(POLICY, loan("high"), done, [], date(2026, 4, 5))
    assert task.due_on == date(2026, 4, 5)


EVENTS = [
    (EventKind.MISSED_PAYMENT, "missed-payment", 1, 3, 1),
    (EventKind.BUCKET_CHANGE, "bucket-change", 0, 2, 1),
    (EventKind.LTV_BREACH, "ltv-breach", 2, 5, 2),
    (EventKind.EARLY_REPAYMENT_REQUEST, "early-repayment", 0, 2, 2),
    (EventKind.CONTACT_CHANGED, "contact-change", 1, 5, 3),
    (EventKind.RISK_FINDING, "risk-finding", 2, 5, 2),
]


@pytest.mark.parametrize(("kind", "purpose", "after", "sla", "priority"), EVENTS)
def test_each_event_triggers_its_own_contact(
    kind: EventKind, purpose: str, after: int, sla: int, priority: int
) -> None:
    done = [CompletedContact("first-visit", date(2026, 1, 20))]
    event = LoanEvent(kind, date(2026, 2, 1), "ref-1")
    due = date(2026, 2, 1 + after)
    before = tasks_due(
        POLICY, loan(), done, [event], date(2026, 2, 1 + after - 1) if after else date(2026, 1, 31)
    )
    assert purpose not in purposes(before)
    tasks = tasks_due(POLICY, loan(), done, [event], due)
    (task,) = [t for t in tasks if t.purpose == purpose]
    assert task.due_on == due
    assert task.deadline == date(2026, 2, 1 + after + sla)
    assert task.priority == priority
    assert task.trigger_ref == "ref-1"
    # handled by a contact of the same purpose on or after the event
    handled = [*done, CompletedContact(purpose, date(2026, 2, 4))]
    assert purpose not in purposes(tasks_due(POLICY, loan(), handled, [event], date(2026, 2, 10)))


def test_several_events_of_one_purpose_give_one_task_for_the_earliest() -> None:
    done = [CompletedContact("first-visit", date(2026, 1, 20))]
    events = [
        LoanEvent(EventKind.MISSED_PAYMENT, date(2026, 3, 11), "b"),
        LoanEvent(EventKind.MISSED_PAYMENT, date(2026, 2, 11), "a"),
    ]
    tasks = tasks_due(POLICY, loan(), done, events, date(2026, 3, 20))
    (task,) = [t for t in tasks if t.purpose == "missed-payment"]
    assert task.trigger_ref == "a"
    assert tasks_due(POLICY, loan(), done, events, date(2026, 3, 20)) == tasks  # deterministic
    assert purposes(tasks)[0] == "missed-payment"  # most urgent first


def test_flagged_industry_contact_on_entry_then_every_three_months() -> None:
    snap = loan(industry="餐饮")
    done = [CompletedContact("first-visit", date(2026, 1, 20))]
    tasks = tasks_due(POLICY, snap, done, [], date(2026, 1, 21))
    (task,) = [t for t in tasks if t.purpose == "flagged-industry"]
    assert task.due_on == DISBURSED
    done.append(CompletedContact("flagged-industry", date(2026, 1, 25)))
    assert "flagged-industry" not in purposes(tasks_due(POLICY, snap, done, [], date(2026, 4, 24)))
    (task,) = [
        t
        for t in tasks_due(POLICY, snap, done, [], date(2026, 4, 25))
        if t.purpose == "flagged-industry"
    ]
    assert task.due_on == date(2026, 4, 25)
    assert "flagged-industry" not in purposes(
        tasks_due(POLICY, loan(industry="制造业"), done, [], date(2026, 6, 1))
    )


def test_closed_loan_ends_follow_up() -> None:
    events = [LoanEvent(EventKind.MISSED_PAYMENT, date(2026, 2, 11))]
    assert tasks_due(POLICY, loan(phase=LoanPhase.CLOSED), [], events, date(2026, 6, 1)) == ()


def test_pre_loan_and_disbursement_stages() -> None:
    (pre,) = tasks_due(POLICY, loan(phase=LoanPhase.APPLIED), [], [], DISBURSED)
    assert (pre.purpose, pre.stage, pre.deadline) == (
        "pre-loan-verification",
        Stage.PRE_LOAN,
        date(2026, 1, 12),
    )
    (rev,) = tasks_due(POLICY, loan(phase=LoanPhase.APPROVED), [], [], DISBURSED)
    assert (rev.purpose, rev.stage) == ("disbursement-review", Stage.DISBURSEMENT)
    done = [CompletedContact("disbursement-review", DISBURSED)]
    assert tasks_due(POLICY, loan(phase=LoanPhase.APPROVED), done, [], DISBURSED) == ()


def test_skills_for_business_borrowers_and_other_languages() -> None:
    (task,) = tasks_due(
        POLICY, loan(borrower_kind="business", language="en"), [], [], date(2026, 1, 15)
    )
    assert task.skills == ("business", "lang:en")


def test_unknown_tier_is_rejected() -> None:
    with pytest.raises(ValueError, match="风险等级"):
        tasks_due(POLICY, loan("extreme"), [], [], date(2026, 1, 15))


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d.pop("version"), "version"),
        (lambda d: d.update(version="one"), "version"),
        (lambda d: d["routine"]["cadence_months"].pop("high"), "routine.cadence_months.high"),
        (lambda d: d["routine"]["cadence_months"].update(low=0), "routine.cadence_months.low"),
        (
            lambda d: d["events"].update({"comet-strike": {"purpose": "routine"}}),
            "events.comet-strike",
        ),
        (lambda d: d["events"]["ltv-breach"].update(purpose="nope"), "events.ltv-breach.purpose"),
        (lambda d: d["purposes"]["routine"].update(stage="later"), "purposes.routine.stage"),
        (lambda d: d["purposes"]["routine"].update(colour="red"), "purposes.routine.colour"),
        (lambda d: d.update(typo=1), "typo"),
        (lambda d: d["stages"].update(pre_loan="routine"), "stages.pre_loan"),
        (lambda d: d["first_visit"].update(start_after_days=40), "first_visit.start_after_days"),
        (lambda d: d["inbound"].update(callback_purpose="nope"), "inbound.callback_purpose"),
        (
            lambda d: d["inbound"].update(callback_purpose="pre-loan-verification"),
            "inbound.callback_purpose",
        ),
        (lambda d: d["inbound"].update(callback="x"), "inbound.callback"),
    ],
)
def test_invalid_policy_names_the_setting(mutate: Any, path: str) -> None:
    data = _data()
    mutate(data)
    with pytest.raises(PolicyError) as err:
        policy_from_mapping(data)
    assert err.value.path == path
    assert err.value.message_zh and err.value.message_en


def test_inbound_callback_purpose_is_optional() -> None:
    assert policy_from_mapping(_data()).inbound_callback_purpose == "inbound-callback"
    data = _data()
    data.pop("inbound")
    assert policy_from_mapping(data).inbound_callback_purpose is None
