"""Contact attempts through the compliance guard, retries, escalation and visits (both DBs)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from followup_book import make_book
from sqlalchemy import Engine, select

from huifang.domain.compliance import Channel, NoHolidays, Outcome, PartyRole
from huifang.domain.contact_strategy import StepKind
from huifang.services.followup import generate_tasks, get_task, list_tasks
from huifang.services.followup_attempts import (
    AttemptInput,
    Guard,
    RaisedEvent,
    complete_visit,
    record_attempt,
    set_party_flag,
    task_attempts,
)
from huifang.store.db import transaction
from huifang.store.followup_models import RiskEvent, Visit

SH = ZoneInfo("Asia/Shanghai")
GUARD = Guard(calendar=NoHolidays())


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=SH)


def _task(engine: Engine, contract: str, purpose: str = "first-visit") -> int:
    generate_tasks(engine, date(2026, 3, 20), now=datetime(2026, 3, 20, tzinfo=UTC))
    return next(
        t.id for t in list_tasks(engine) if (t.contract_no, t.purpose) == (contract, purpose)
    )


def call(t: datetime, outcome: Outcome, role: PartyRole = PartyRole.BORROWER, **kw) -> AttemptInput:  # type: ignore[no-untyped-def]
    return AttemptInput(
        Channel.AGENT_CALL, role, t, outcome, ended_at=t + timedelta(minutes=2), **kw
    )


def test_refusal_is_recorded_with_its_reason_and_the_task_waits(engine: Engine) -> None:
    make_book(engine)
    task = _task(engine, "L-LOW")
    late = record_attempt(engine, task, call(at(23, 21, 0), Outcome.NO_ANSWER), guard=GUARD)
    assert not late.allowed
    assert late.refusals[0][0] == "contact.outside_hours"
    assert late.next_allowed_at == at(24, 8)
    assert get_task(engine, task).next_attempt_at == at(24, 8)
    ok = record_attempt(engine, task, call(at(23, 20, 59), Outcome.NO_ANSWER), guard=GUARD)
    assert ok.allowed
    rows = task_attempts(engine, task)
    assert [(r["status"], r["outcome"]) for r in rows] == [("made", "no-answer"), ("refused", None)]
    assert "21:00" in rows[1]["refusal_reason"] or "window" in rows[1]["refusal_reason"]


def test_do_not_call_is_checked_at_dial_time(engine: Engine) -> None:
    ids = make_book(engine)
    task = _task(engine, "L-LOW")
    with transaction(engine) as s:
        from huifang.store.models import Loan

        borrower_id = s.get(Loan, ids["L-LOW"]).borrower_id  # type: ignore[union-attr]
    set_party_flag(
        engine, borrower_id, PartyRole.BORROWER, "do-not-call", "客户要求", "13812345670"
    )
    result = record_attempt(engine, task, call(at(23, 10), Outcome.NO_ANSWER), guard=GUARD)
    assert not result.allowed and result.refusals[0][0] == "contact.do_not_call"


def test_retries_then_alternates_then_sms_then_unreachable(engine: Engine) -> None:
    make_book(engine)
    task = _task(engine, "L-LOW")
    r = record_attempt(engine, task, call(at(23, 9), Outcome.NO_ANSWER), guard=GUARD)
    assert (r.next_step.kind, r.next_step.at) == (StepKind.CALL, at(23, 14))  # type: ignore[union-attr]
    assert get_task(engine, task).next_attempt_at == at(23, 14)
    for t in (at(23, 14), at(23, 19), at(24, 9)):
        r = record_attempt(engine, task, call(t, Outcome.SWITCHED_OFF), guard=GUARD)
    assert (r.next_step.kind, r.next_step.role) == (StepKind.CALL, PartyRole.SPOUSE)  # type: ignore[union-attr]
    r = record_attempt(
        engine, task, call(at(24, 14), Outcome.INVALID_NUMBER, PartyRole.SPOUSE), guard=GUARD
    )
    assert r.allowed and r.next_step.role is PartyRole.EMERGENCY  # type: ignore[union-attr]
    r = record_attempt(
        engine, task, call(at(24, 15), Outcome.REFUSED, PartyRole.EMERGENCY), guard=GUARD
    )
    # the emergency contact refused: flagged, never again; nobody left → SMS + self-service link
    assert r.next_step.kind is StepKind.ESCALATE  # type: ignore[union-attr]
    assert r.task_status == "escalated" and len(r.escalation_attempts) == 1
    view = get_task(engine, task)
    assert view.escalation == "sms,self-service-link"
    assert view.next_attempt_at == at(24, 15, 2) + timedelta(days=3)
    again = record_attempt(
        engine, task, call(at(27, 16), Outcome.REFUSED, PartyRole.EMERGENCY), guard=GUARD
    )
    assert not again.allowed and again.refusals[0][0] == "contact.third_party_refused"
    # the guard's refusal takes that person out of the task; nobody is left and the SMS is
    # already sent: the task closes as unreachable (失联)
    assert again.task_status == "unreachable"
    assert again.next_step is not None and again.next_step.kind is StepKind.GIVE_UP
    with transaction(engine) as s:
        kinds = [e.kind for e in s.scalars(select(RiskEvent))]
    assert kinds == ["lost-contact"]


def test_business_borrower_escalates_to_a_field_visit(engine: Engine) -> None:
    make_book(engine)
    task = _task(engine, "L-HIGH")
    r = record_attempt(engine, task, call(at(23, 10), Outcome.REFUSED), guard=GUARD)
    assert r.next_step.channels == (Channel.SMS, Channel.SELF_SERVICE_LINK, Channel.FIELD_VISIT)  # type: ignore[union-attr]
    view = get_task(engine, task)
    assert view.status == "escalated" and "field" in view.skills and view.assigned_to is None
    visit = record_attempt(
        engine,
        task,
        AttemptInput(
            Channel.FIELD_VISIT,
            PartyRole.BORROWER,
            at(25, 15),
            Outcome.RIGHT_PARTY_CONTACT,
            ended_at=at(25, 16),
            answers={"vehicle_in_use": True},
            identity_verified=True,
        ),
        guard=GUARD,
    )
    assert visit.visit_id is not None and get_task(engine, task).status == "done"


def test_right_party_contact_completes_with_answers_and_findings(engine: Engine) -> None:
    make_book(engine)
    task = _task(engine, "L-LOW")
    r = record_attempt(
        engine,
        task,
        call(
            at(23, 10),
            Outcome.RIGHT_PARTY_CONTACT,
            recording_ref="rec/1.wav",
            script_id="first_visit",
            script_version=1,
            identity_verified=True,
            answers={
                "monthly_income": __import__("decimal").Decimal("8000.50"),
                "promise_date": date(2026, 4, 1),
            },
        ),
        guard=GUARD,
    )
    assert r.visit_id is not None and r.task_status == "done"
    with transaction(engine) as s:
        v = s.get(Visit, r.visit_id)
        assert v is not None
        assert v.answers == {"monthly_income": "8000.50", "promise_date": "2026-04-01"}
    other = _task(engine, "L-BJ")
    vid = complete_visit(
        engine,
        other,
        channel=Channel.SELF_SERVICE_LINK,
        completed_at=at(23, 11),
        answers={"job_status": "lost"},  # the shipped finding rules: job lost → job-loss
        events=[RaisedEvent("collateral-check", "low")],
    )
    with transaction(engine) as s:
        raised = {e.kind: e for e in s.scalars(select(RiskEvent).where(RiskEvent.visit_id == vid))}
    assert sorted(raised) == ["collateral-check", "job-loss", "risk-finding"]
    assert raised["job-loss"].details["rule"] == "job_lost"
    assert raised["job-loss"].source == "visit"
    # the risk finding triggers its own contact at the next generation (two days later)
    generate_tasks(engine, date(2026, 3, 25), now=datetime(2026, 3, 25, tzinfo=UTC))
    assert any(t.purpose == "risk-finding" and t.contract_no == "L-BJ" for t in list_tasks(engine))
