"""The voice agent's calls as follow-up records (both databases): the guard before dialing,
a completed call as a visit with findings, a handover as a callback for an agent with the
human-requested flag, the recording and transcript stored with the attempt."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path

from followup_book import make_book
from sqlalchemy import Engine, select

from huifang.domain.compliance import ContactPolicy, NoHolidays, Outcome, PartyRole
from huifang.services import voice_calls
from huifang.services.followup import generate_tasks, get_task, list_tasks
from huifang.services.followup_attempts import Guard, set_party_flag
from huifang.store.db import transaction
from huifang.store.followup_models import ContactAttempt, PartyFlag, RiskEvent, Visit
from huifang.store.models import Loan
from huifang.store.voice_models import CallRecording, CallTranscriptTurn
from huifang.voice.console import ScriptedChannel
from huifang.voice.dialogue import CallRecord, Dialogue

OPEN = Guard(
    ContactPolicy(window_start=clock(0, 0), window_end=clock(23, 59, 59, 999999)), NoHolidays()
)
WAV = b"RIFF" + bytes(100)


def _task(engine: Engine) -> int:
    generate_tasks(engine, date(2026, 3, 20), now=datetime(2026, 3, 20, tzinfo=UTC))
    return next(
        t.id for t in list_tasks(engine) if (t.contract_no, t.purpose) == ("L-LOW", "first-visit")
    )


def _converse(plan: voice_calls.CallPlan, replies: list[str]) -> CallRecord:
    assert plan.state is not None
    return Dialogue(plan.state, ScriptedChannel(replies), "zh").run()


def _report(record: CallRecord, reason: str | None = None) -> voice_calls.CallReport:
    start = datetime.now(UTC)
    turns = [
        voice_calls.TurnRecord(t.speaker, t.text, t.confidence, t.step_id, i * 2.0, i * 2.0 + 1)
        for i, t in enumerate(record.turns)
    ]
    return voice_calls.CallReport(
        started_at=start,
        ended_at=start + timedelta(minutes=3),
        state=record.state,
        turns=turns,
        handover_reason=reason,
        recording_wav=WAV,
        recording_seconds=180.0,
        codec="PCMA",
        ended_by="local",
    )


def test_outcome_codes() -> None:
    now = datetime.now(UTC)
    report = voice_calls.CallReport(now, now, not_connected=Outcome.BUSY)
    assert voice_calls.attempt_outcome(report) is Outcome.BUSY
    assert voice_calls.attempt_outcome(voice_calls.CallReport(now, now)) is Outcome.NO_ANSWER


def test_a_completed_call_is_a_visit_with_findings_recording_and_transcript(
    engine: Engine, tmp_path: Path
) -> None:
    make_book(engine)
    task = _task(engine)
    plan = voice_calls.plan_call(engine, task, guard=OPEN)
    assert plan.refused is None and plan.number == "13812345670"
    replies = ["是的", "002X", "对", "是的", "#1", "没有", "#1", "是的", "#3", "三千", "#3"]
    record = _converse(plan, [*replies, "没有", "没有", "没有", "##"])  # ## keys "#": no remark
    assert record.outcome == "completed"
    out = voice_calls.record_call(engine, plan, _report(record), directory=tmp_path, guard=OPEN)
    assert out.outcome is Outcome.RIGHT_PARTY_CONTACT and out.result.visit_id is not None
    assert out.recording_path is not None and out.recording_path.read_bytes() == WAV
    assert out.recording_sha256 == hashlib.sha256(WAV).hexdigest()
    with transaction(engine) as s:
        attempt = s.get(ContactAttempt, out.result.attempt_id)
        visit = s.get(Visit, out.result.visit_id)
        assert attempt is not None and visit is not None
        assert (attempt.channel, attempt.identity_verified) == ("voice-agent", True)
        assert attempt.answers == visit.answers
        assert visit.answers is not None
        assert visit.answers["job_status"] == "lost" and visit.answers["monthly_income"] in (
            "3000",
            "3000.00",
        )
        kinds = {e.kind for e in s.scalars(select(RiskEvent).where(RiskEvent.visit_id == visit.id))}
        rec = s.scalar(select(CallRecording).where(CallRecording.attempt_id == attempt.id))
        turns = list(
            s.scalars(
                select(CallTranscriptTurn)
                .where(CallTranscriptTurn.attempt_id == attempt.id)
                .order_by(CallTranscriptTurn.seq)
            )
        )
    assert "job-loss" in kinds  # the finding rules ran on the bot's answers, as on an agent's
    assert rec is not None and (rec.codec, rec.channels, rec.size_bytes) == ("PCMA", 2, len(WAV))
    assert attempt.recording_ref == rec.path and (tmp_path / rec.path).exists()
    assert [(t.speaker, t.text) for t in turns] == [(t.speaker, t.text) for t in record.turns]
    assert turns[1].start_s == 2.0 and turns[1].end_s == 3.0
    assert get_task(engine, task).status == "done"
    calls = voice_calls.voice_calls_of_loans(engine, [attempt.loan_id])
    assert [c["attempt_id"] for c in calls] == [attempt.id]
    assert len(calls[0]["transcript"]) == len(turns)


def test_a_request_for_a_human_is_a_callback_and_stops_further_bot_calls(
    engine: Engine, tmp_path: Path
) -> None:
    make_book(engine)
    task = _task(engine)
    plan = voice_calls.plan_call(engine, task, guard=OPEN)
    record = _converse(plan, ["是的", "002X", "我要转人工"])
    assert record.handover_reason == "borrower_request"
    out = voice_calls.record_call(
        engine, plan, _report(record, "borrower_request"), directory=tmp_path, guard=OPEN
    )
    assert out.outcome is Outcome.CALLBACK_REQUESTED and out.result.visit_id is None
    view = get_task(engine, task)
    assert view.status == "open" and view.next_attempt_at is not None
    with transaction(engine) as s:
        flags = list(s.scalars(select(PartyFlag).where(PartyFlag.flag == "human-requested")))
        row = s.get(ContactAttempt, out.result.attempt_id)
        assert row is not None and row.callback_at is not None
    assert [f.source for f in flags] == [f"attempt:{out.result.attempt_id}"]
    transcript = voice_calls.transcripts(engine, [out.result.attempt_id])[out.result.attempt_id]
    assert transcript[-2].text == "我要转人工"  # the transcript so far, for the agent
    # the ID tail the borrower spoke is hidden after the call, as in QA
    heard = [t.text for t in transcript if t.step_id == "id_last4" and t.speaker == "borrower"]
    assert heard == ["****"]
    again = voice_calls.plan_call(engine, task, guard=OPEN)
    assert again.refused is not None and again.state is None
    assert again.refused.refusals[0][0] == "contact.human_requested"


def test_the_guard_is_consulted_before_dialing(engine: Engine) -> None:
    ids = make_book(engine)
    task = _task(engine)
    with transaction(engine) as s:
        loan = s.get(Loan, ids["L-LOW"])
        assert loan is not None
        borrower = loan.borrower_id
    set_party_flag(engine, borrower, PartyRole.BORROWER, "do-not-call", "客户要求", "13812345670")
    plan = voice_calls.plan_call(engine, task, guard=OPEN)
    assert plan.state is None and plan.refused is not None
    assert plan.refused.refusals[0][0] == "contact.do_not_call"
    with transaction(engine) as s:
        rows = list(s.scalars(select(ContactAttempt).where(ContactAttempt.task_id == task)))
    assert [(r.channel, r.status, r.outcome) for r in rows] == [("voice-agent", "refused", None)]
