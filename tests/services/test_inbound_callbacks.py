"""An inbound FAQ call handed over to a person (both databases): a callback task for an agent
of the policy's inbound-callback purpose, due when the calling window opens, with the
transcript's attempt linked; the request goes on an open task of the loan instead of a second
one; storing the same call again opens nothing more."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from followup_book import make_book
from sqlalchemy import Engine, func, select

from huifang.domain.compliance import ContactPolicy, NoHolidays, Outcome
from huifang.services import voice_calls
from huifang.services.followup import generate_tasks, list_tasks
from huifang.services.followup_attempts import Guard
from huifang.store.db import transaction
from huifang.store.followup_models import ContactAttempt, FollowupTask, PartyFlag

SHANGHAI = ZoneInfo("Asia/Shanghai")
GUARD = Guard(ContactPolicy(), NoHolidays())  # calling window 08:00–21:00
CALLER = "13812345670"  # L-LOW's borrower
FACTS = voice_calls.InboundFacts(True, ("prepay_cost",), "borrower-faq v1")


def _report(started: datetime, reason: str | None = "borrower_request") -> voice_calls.CallReport:
    turns = [
        voice_calls.TurnRecord("agent", "您好，这里是智能客服。", None, None, 0.0, 2.0),
        voice_calls.TurnRecord("borrower", "转人工", 0.9, "question", 2.5, 3.5),
    ]
    return voice_calls.CallReport(
        started_at=started,
        ended_at=started + timedelta(minutes=2),
        turns=turns,
        handover_reason=reason,
        recording_wav=b"RIFF" + bytes(64),
        recording_seconds=120.0,
        direction=voice_calls.INBOUND,
    )


def test_a_late_evening_request_opens_a_callback_task_due_next_morning(
    engine: Engine, tmp_path: Path
) -> None:
    loans = make_book(engine)
    loan_id = loans["L-LOW"]
    started = datetime(2026, 3, 20, 22, 10, tzinfo=SHANGHAI)  # outside the window
    stored = voice_calls.record_inbound_call(
        engine, loan_id, CALLER, "zh", _report(started), FACTS, directory=tmp_path, guard=GUARD
    )
    assert stored.outcome is Outcome.CALLBACK_REQUESTED and stored.callback_task_id is not None
    again = voice_calls.record_inbound_call(
        engine, loan_id, CALLER, "zh", _report(started), FACTS, directory=tmp_path, guard=GUARD
    )
    assert (again.attempt_id, again.callback_task_id) == (
        stored.attempt_id,
        stored.callback_task_id,
    )
    assert again.recording_path == stored.recording_path
    with transaction(engine) as s:
        tasks = list(s.scalars(select(FollowupTask).where(FollowupTask.loan_id == loan_id)))
        attempts = s.scalar(
            select(func.count()).where(
                ContactAttempt.loan_id == loan_id, ContactAttempt.direction == "inbound"
            )
        )
        flags = list(s.scalars(select(PartyFlag).where(PartyFlag.flag == "human-requested")))
    assert attempts == 1 and len(tasks) == 1
    task = tasks[0]
    assert (task.id, task.purpose, task.priority, task.status) == (
        stored.callback_task_id,
        "inbound-callback",
        1,
        "open",
    )
    assert task.trigger_ref == f"attempt:{stored.attempt_id}"
    assert f"#{stored.attempt_id}" in (task.status_reason or "")
    assert "voice" not in task.required_skills
    assert task.next_attempt_at is not None
    due = task.next_attempt_at.replace(tzinfo=UTC).astimezone(SHANGHAI)
    assert due == datetime(2026, 3, 21, 8, 0, tzinfo=SHANGHAI)  # the window opens
    assert (task.due_on, task.deadline) == (date(2026, 3, 21), date(2026, 3, 22))
    assert [f.source for f in flags] == [f"attempt:{stored.attempt_id}"]
    transcript = voice_calls.transcripts(engine, [stored.attempt_id])[stored.attempt_id]
    assert transcript[-1].text == "转人工"


def test_a_request_during_the_window_is_due_at_once(engine: Engine, tmp_path: Path) -> None:
    loan_id = make_book(engine)["L-LOW"]
    started = datetime(2026, 3, 20, 10, 0, tzinfo=SHANGHAI)
    stored = voice_calls.record_inbound_call(
        engine,
        loan_id,
        CALLER,
        "zh",
        _report(started, "distress"),
        FACTS,
        directory=tmp_path,
        guard=GUARD,
    )
    with transaction(engine) as s:
        task = s.get(FollowupTask, stored.callback_task_id)
        assert task is not None and task.next_attempt_at is not None
        due = task.next_attempt_at.replace(tzinfo=UTC)
    assert due == started + timedelta(minutes=2)  # when the call ended
    assert task.due_on == date(2026, 3, 20)


def test_an_open_task_of_the_loan_gets_the_request_instead_of_a_second_task(
    engine: Engine, tmp_path: Path
) -> None:
    loan_id = make_book(engine)["L-LOW"]
    generate_tasks(engine, date(2026, 3, 20), now=datetime(2026, 3, 20, tzinfo=UTC))
    (open_task,) = [t for t in list_tasks(engine) if t.contract_no == "L-LOW"]
    assert open_task.purpose == "first-visit" and open_task.priority > 1
    started = datetime(2026, 3, 20, 15, 0, tzinfo=SHANGHAI)
    stored = voice_calls.record_inbound_call(
        engine, loan_id, CALLER, "zh", _report(started), FACTS, directory=tmp_path, guard=GUARD
    )
    assert stored.callback_task_id == open_task.id
    with transaction(engine) as s:
        tasks = list(s.scalars(select(FollowupTask).where(FollowupTask.loan_id == loan_id)))
        attempt = s.get(ContactAttempt, stored.attempt_id)
        assert attempt is not None
        assert (attempt.task_id, attempt.direction) == (None, "inbound")
    assert [(t.id, t.purpose) for t in tasks] == [(open_task.id, "first-visit")]
    assert tasks[0].priority == 1  # as urgent as the inbound-callback purpose
    assert f"#{stored.attempt_id}" in (tasks[0].status_reason or "")
    assert "客户来电转人工" in (tasks[0].status_reason or "")


def test_no_handover_opens_no_task(engine: Engine, tmp_path: Path) -> None:
    loan_id = make_book(engine)["L-LOW"]
    started = datetime(2026, 3, 20, 10, 0, tzinfo=SHANGHAI)
    stored = voice_calls.record_inbound_call(
        engine, loan_id, CALLER, "zh", _report(started, None), FACTS, directory=tmp_path
    )
    assert stored.outcome is Outcome.RIGHT_PARTY_CONTACT and stored.callback_task_id is None
    with transaction(engine) as s:
        count = s.scalar(select(func.count()).where(FollowupTask.loan_id == loan_id))
    assert count == 0
