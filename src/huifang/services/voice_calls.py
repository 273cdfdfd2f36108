"""The voice agent's calls as follow-up records: the compliance guard before dialing, then the
call stored as a contact attempt exactly like an agent's (channel ``voice-agent``: answers,
outcome code, visit, findings → risk events → alerts), plus its recording and per-turn
transcript (`store.voice_models`), and a handover turned into a callback for an agent.

The telephony and the dialogue live in `huifang.voice.calling`; this module only decides
and stores, so the web (playback, transcript) and a campaign runner share it.

Outcome codes from the script run (an agent picks them by hand; the bot derives them):

* script ended, identity verified → right-party-contact: a visit with the answers, the
  finding rules, risk events and alerts;
* handed over (a request for a human, distress, a disputed loan, not understood) →
  callback-requested at once: the task is due again for an agent, with the transcript on the
  attempt; a request for a human or distress also sets the ``human-requested`` flag (PIPL
  art. 24), so the guard refuses further voice-agent calls to that person;
* not the borrower, identity check failed → third-party-contact; hung up before the end →
  hung-up; not answered, busy, invalid number (from the SIP status) → no-answer, busy,
  invalid-number: the contact strategy's retry.

A call the borrower makes to the FAQ assistant (`record_inbound_call`) is stored the same way
— an attempt with direction ``inbound``, its recording and transcript, the identity result
and the FAQ entries answered — on the caller's loan but on no task; the guard, the contact
strategy and the contact metrics count only the calls we make (direction ``outbound``). A
request for a person on it is handed over by the same code as an outbound handover
(`hand_over_to_agent`): a callback task of the policy's inbound-callback purpose, or the
loan's open task, due when the guard first lets an agent call back.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from huifang.domain import scripts as sc
from huifang.domain.compliance import Channel, Outcome, PartyRole
from huifang.policy_files import LoadedPolicy
from huifang.services import calls, configs, followup, risk
from huifang.services.answer_masking import MaskBook
from huifang.services.followup import TaskError, local_date, utc
from huifang.services.followup_attempts import (
    AttemptInput,
    AttemptResult,
    Guard,
    callback_due_at,
    check_before_contact,
    record_attempt,
)
from huifang.settings import load_settings
from huifang.store.db import transaction
from huifang.store.followup_models import ContactAttempt, FollowupTask, PartyFlag
from huifang.store.models import Loan
from huifang.store.voice_models import CallRecording, CallTranscriptTurn

BOT_NAME = os.environ.get("HUIFANG_VOICE_AGENT_NAME", "小汇")
HUMAN_FLAG_REASONS = frozenset({"borrower_request", "distress"})


def recordings_dir() -> Path:
    """Where call recordings are kept: HUIFANG_RECORDINGS_DIR, else $HUIFANG_HOME/recordings."""
    configured = os.environ.get("HUIFANG_RECORDINGS_DIR")
    return Path(configured).resolve() if configured else load_settings().home / "recordings"


@dataclass(frozen=True)
class CallPlan:
    """A call the guard allows now: whom to dial and the script run to start with; or the
    guard's refusal (already recorded as a refused attempt) in `refused`."""

    task_id: int
    loan_id: int
    number: str
    language: sc.Language
    state: sc.RunState | None
    refused: AttemptResult | None = None


def plan_call(
    engine: Engine,
    task_id: int,
    *,
    language: sc.Language = "zh",
    now: datetime | None = None,
    guard: Guard | None = None,
    today: date | None = None,
) -> CallPlan:
    """Consult the compliance guard for a voice-agent call to the borrower of a task and
    prepare the task's script on the loan's figures. A refusal is recorded (status
    ``refused`` with the guard's reasons) and nothing is dialed."""
    at = now or datetime.now(UTC)
    with transaction(engine) as s:
        task = s.get(FollowupTask, task_id)
        if task is None:
            raise TaskError(f"没有任务 #{task_id} / no task {task_id}")
        if task.closed_at is not None:
            raise TaskError(f"任务 #{task_id} 已关闭 / task {task_id} is closed")
        loan_id, script_id = task.loan_id, task.script
    probe = AttemptInput(Channel.VOICE_AGENT, PartyRole.BORROWER, at, Outcome.NO_ANSWER)
    decision, number = check_before_contact(engine, task_id, probe, guard=guard)
    if not decision.allowed:
        # recorded through the same path as every attempt; a refused row keeps no outcome
        refused = record_attempt(engine, task_id, probe, guard=guard)
        return CallPlan(task_id, loan_id, number, language, None, refused)
    scripts = configs.scripts(engine)
    if script_id not in scripts:
        raise TaskError(f"没有话术 {script_id} / no script {script_id!r}")
    context = calls.script_context(engine, loan_id, BOT_NAME, today or local_date(at))
    return CallPlan(task_id, loan_id, number, language, sc.start(scripts[script_id], context))


@dataclass(frozen=True)
class TurnRecord:
    """One turn as stored: speaker, text (or ``[按键 1]``), confidence, step, and its start
    and end on the recording's timeline (seconds from the answer; None when unknown)."""

    speaker: str
    text: str
    confidence: float | None
    step_id: str | None
    start_s: float | None
    end_s: float | None


@dataclass(frozen=True)
class CallReport:
    """What the telephony layer reports about a finished call."""

    started_at: datetime
    ended_at: datetime
    state: sc.RunState | None = None  # None when the call was never answered
    turns: Sequence[TurnRecord] = ()
    handover_reason: str | None = None
    recording_wav: bytes | None = None
    recording_seconds: float = 0.0
    recording_channels: int = 2
    sample_rate: int = 8000
    direction: str = "outbound"
    codec: str | None = None
    ended_by: str | None = None
    not_connected: Outcome | None = None  # no-answer, busy, invalid-number…
    failure: str | None = None


@dataclass(frozen=True)
class VoiceCallOutcome:
    """The attempt as recorded, the visit and new alerts, and the stored recording."""

    result: AttemptResult
    outcome: Outcome | None
    new_alerts: tuple[risk.AlertView, ...] = ()
    recording_path: Path | None = None
    recording_sha256: str | None = None


def attempt_outcome(report: CallReport) -> Outcome:
    """The attempt outcome code of a call (see the module docstring's table)."""
    if report.not_connected is not None:
        return report.not_connected
    state = report.state
    if state is None:
        return Outcome.NO_ANSWER
    if state.handed_over:
        return Outcome.CALLBACK_REQUESTED
    if not sc.is_finished(state):
        return Outcome.HUNG_UP
    if state.identity_verified:
        return Outcome.RIGHT_PARTY_CONTACT
    return Outcome.THIRD_PARTY_CONTACT


def _note(report: CallReport, outcome: Outcome) -> str:
    parts = ["智能外呼 / voice agent"]
    if report.handover_reason:
        parts.append(f"转人工: {report.handover_reason} / handover: {report.handover_reason}")
    if report.state is not None and report.state.outcome:
        parts.append(f"话术结果 / script outcome: {report.state.outcome}")
    if outcome is Outcome.HUNG_UP:
        parts.append("对方中途挂断 / the far end hung up before the end")
    if report.failure:
        parts.append(report.failure)
    return "；".join(parts)


def store_wav(wav: bytes, directory: Path, at: datetime) -> tuple[str, str]:
    """Write a recording under `directory/YYYY/MM/`; (path relative to it, SHA-256)."""
    name = f"call-{at:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}.wav"
    relative = Path(f"{at:%Y}") / f"{at:%m}" / name
    target = directory / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    tmp.write_bytes(wav)
    tmp.replace(target)
    return relative.as_posix(), hashlib.sha256(wav).hexdigest()


def record_call(
    engine: Engine,
    plan: CallPlan,
    report: CallReport,
    *,
    directory: Path | None = None,
    guard: Guard | None = None,
) -> VoiceCallOutcome:
    """Store a finished voice-agent call: the attempt (through the guard, like an agent's),
    the visit and findings for a right-party contact, the alerts this raises, the recording
    file and the transcript; a handover becomes a callback for an agent."""
    outcome = attempt_outcome(report)
    state = report.state
    result_state = sc.result(state) if state is not None else None
    handover = outcome is Outcome.CALLBACK_REQUESTED
    inp = AttemptInput(
        channel=Channel.VOICE_AGENT,
        role=PartyRole.BORROWER,
        started_at=report.started_at,
        ended_at=report.ended_at,
        outcome=outcome,
        number=plan.number,
        recorded=True,
        script_id=result_state.script_id if result_state and report.turns else None,
        script_version=result_state.script_version if result_state and report.turns else None,
        answers=dict(result_state.answers) if result_state and report.turns else None,
        identity_verified=bool(result_state and result_state.identity_verified),
        callback_at=report.ended_at if handover else None,
        note=_note(report, outcome),
    )
    stored: tuple[str, str] | None = None
    directory = directory or recordings_dir()
    if report.recording_wav:
        stored = store_wav(report.recording_wav, directory, report.started_at)
    inp = replace(inp, recording_ref=stored[0] if stored else None)
    result = record_attempt(engine, plan.task_id, inp, guard=guard)
    if result.allowed:
        _store_records(engine, result.attempt_id, plan, report, stored, handover, guard)
    alerts: tuple[risk.AlertView, ...] = ()
    if result.visit_id is not None:
        alerts = _new_alerts(engine, plan.loan_id, report.ended_at)
    return VoiceCallOutcome(
        result,
        outcome,
        alerts,
        directory / stored[0] if stored else None,
        stored[1] if stored else None,
    )


def _store_records(
    engine: Engine,
    attempt_id: int,
    plan: CallPlan,
    report: CallReport,
    stored: tuple[str, str] | None,
    handover: bool,
    guard: Guard | None,
) -> None:
    guard = guard or Guard(policy=configs.contact_policy(engine).policy)
    with transaction(engine) as s:
        _add_recording_and_turns(s, attempt_id, plan.language, report, stored)
        if not handover:
            return
        task = s.get(FollowupTask, plan.task_id)
        assert task is not None
        hand_over_to_agent(
            s,
            task,
            attempt_id,
            report.handover_reason or "script",
            plan.number,
            report.ended_at,
            guard,
        )


def hand_over_to_agent(
    s: Session,
    task: FollowupTask,
    attempt_id: int,
    reason: str,
    number: str | None,
    at: datetime,
    guard: Guard,
    *,
    inbound: bool = False,
    priority: int | None = None,
) -> datetime:
    """A voice call handed over to a person — the voice agent's outbound call or the FAQ
    assistant's inbound one, the same code for both: `task` becomes an agent's callback with
    the transcript on attempt `attempt_id` named in its reason, no longer for the voice agent,
    due at the first moment the guard lets an agent call (calling window, holidays, caps; see
    `followup_attempts.callback_due_at`), at least as urgent as `priority`; a request for a
    human or distress also sets the person's ``human-requested`` flag (PIPL art. 24) so the
    guard refuses further voice-agent calls. Returns when the callback is due."""
    who_zh, who_en = ("客户来电", "inbound call") if inbound else ("智能外呼", "voice agent")
    task.status_reason = (
        f"{who_zh}转人工 ({reason})，请人工回电，通话转写见尝试 #{attempt_id} / "
        f"{who_en} handed over ({reason}): an agent calls back; transcript on attempt "
        f"#{attempt_id}"
    )
    skills = set(task.required_skills or [])
    skills.discard("voice")
    task.required_skills = sorted(skills)
    if priority is not None:
        task.priority = min(task.priority, priority)
    if reason in HUMAN_FLAG_REASONS and number:
        loan = s.get(Loan, task.loan_id)
        assert loan is not None
        s.add(
            PartyFlag(
                borrower_id=loan.borrower_id,
                role=PartyRole.BORROWER.value,
                number=number,
                flag="human-requested",
                set_at=utc(at),
                source=f"attempt:{attempt_id}",
            )
        )
        s.flush()
    due = callback_due_at(s, task, at, guard)
    task.next_attempt_at = utc(due)
    task.next_role = PartyRole.BORROWER.value
    return due


def _add_recording_and_turns(
    s: Session,
    attempt_id: int,
    language: str,
    report: CallReport,
    stored: tuple[str, str] | None,
) -> None:
    if stored is not None and report.recording_wav:
        s.add(
            CallRecording(
                attempt_id=attempt_id,
                path=stored[0],
                sha256=stored[1],
                size_bytes=len(report.recording_wav),
                seconds=round(report.recording_seconds, 2),
                channels=report.recording_channels,
                sample_rate=report.sample_rate,
                direction=report.direction,
                codec=report.codec,
                ended_by=report.ended_by,
                language=language,
                handover_reason=report.handover_reason,
                created_at=utc(report.ended_at),
            )
        )
    for seq, t in enumerate(report.turns, start=1):
        s.add(
            CallTranscriptTurn(
                attempt_id=attempt_id,
                seq=seq,
                speaker=t.speaker,
                text=t.text,
                confidence=t.confidence,
                step_id=t.step_id,
                start_s=t.start_s,
                end_s=t.end_s,
            )
        )


# -- inbound: calls the borrower makes to the FAQ assistant ----------------------------------

INBOUND = "inbound"


@dataclass(frozen=True)
class InboundFacts:
    """What the FAQ assistant established on an inbound call: whether the caller passed the
    identity check, the knowledge entries it answered (in order) from which knowledge file,
    and whether the caller hung up before the assistant closed the call."""

    verified: bool
    questions: tuple[str, ...]
    knowledge: str
    hung_up: bool = False


@dataclass(frozen=True)
class InboundStored:
    """An inbound call as stored: the attempt, the recording file (path, SHA-256), and the
    agent's callback task a handover opened or was attached to."""

    attempt_id: int
    outcome: Outcome
    recording_path: Path | None
    recording_sha256: str | None
    callback_task_id: int | None = None


def inbound_outcome(report: CallReport, facts: InboundFacts) -> Outcome:
    """The outcome code of an inbound call: handed over → callback-requested; identity
    verified → right-party-contact; hung up before any check passed → hung-up; identity
    not verified → third-party-contact (as for an outbound call)."""
    if report.handover_reason:
        return Outcome.CALLBACK_REQUESTED
    if facts.verified:
        return Outcome.RIGHT_PARTY_CONTACT
    if facts.hung_up:
        return Outcome.HUNG_UP
    return Outcome.THIRD_PARTY_CONTACT


def _stored_before(
    s: Session, loan_id: int, caller: str, started: datetime, directory: Path
) -> InboundStored | None:
    """The same call stored by an earlier try (same loan, caller and start instant)."""
    same_start = s.scalars(
        select(ContactAttempt).where(
            ContactAttempt.loan_id == loan_id,
            ContactAttempt.direction == INBOUND,
            ContactAttempt.started_at == utc(started),
        )
    )
    # the number is sealed at rest with a fresh nonce: compared once decrypted
    row = next((a for a in same_start if a.contact_number == caller), None)
    if row is None or row.outcome is None:
        return None
    rec = s.scalar(select(CallRecording).where(CallRecording.attempt_id == row.id))
    task_id = s.scalar(
        select(FollowupTask.id)
        .where(
            FollowupTask.loan_id == loan_id, FollowupTask.status_reason.contains(f"#{row.id} / ")
        )
        .order_by(FollowupTask.id.desc())
    )
    return InboundStored(
        int(row.id),
        Outcome(row.outcome),
        directory / rec.path if rec else None,
        rec.sha256 if rec else None,
        task_id,
    )


def _callback_task(
    s: Session, loan_id: int, attempt_id: int, at: datetime, loaded: LoadedPolicy
) -> tuple[FollowupTask | None, bool]:
    """The task an inbound handover goes on, and whether it is new: the loan's open task of
    the policy's inbound-callback purpose, else its most urgent open task (one agent calls
    the borrower once, for both — not two calls for one borrower), else a new task of the
    inbound-callback purpose (none when the policy names no such purpose)."""
    purpose = loaded.policy.inbound_callback_purpose
    open_tasks = list(
        s.scalars(
            select(FollowupTask)
            .where(FollowupTask.loan_id == loan_id, FollowupTask.closed_at.is_(None))
            .order_by(FollowupTask.priority, FollowupTask.due_on, FollowupTask.id)
        )
    )
    for task in open_tasks:
        if task.purpose == purpose:
            return task, False
    if open_tasks:
        return open_tasks[0], False
    if purpose is None:
        return None, False
    loan = s.get(Loan, loan_id)
    assert loan is not None
    day = local_date(at)
    latest = s.scalar(
        select(FollowupTask.tier)
        .where(FollowupTask.loan_id == loan_id)
        .order_by(FollowupTask.created_at.desc(), FollowupTask.id.desc())
    )
    tier = latest or followup.loan_tier(
        loan, 0, followup.assessed_tiers(s, [loan_id], day).get(loan_id)
    )
    task_id = followup.ensure_task(
        s,
        loan,
        purpose,
        day,
        f"客户来电要求人工回电 (尝试 #{attempt_id}) / "
        f"the borrower called and asked for a person (attempt #{attempt_id})",
        f"attempt:{attempt_id}",
        loaded,
        tier,
        at,
    )
    return (s.get(FollowupTask, task_id) if task_id is not None else None), True


def record_inbound_call(
    engine: Engine,
    loan_id: int,
    caller: str,
    language: str,
    report: CallReport,
    facts: InboundFacts,
    *,
    directory: Path | None = None,
    guard: Guard | None = None,
    policy: LoadedPolicy | None = None,
) -> InboundStored:
    """Store a call the borrower made to the FAQ assistant as an attempt on the caller's
    loan (direction ``inbound``, no task, no agent): outcome, identity result, the FAQ
    entries answered (``answers["faq_entries"]``), the recording file and the transcript,
    in one transaction. The guard does not judge the call (the borrower called us); a
    handover opens an agent's callback task (`hand_over_to_agent`, as for an outbound call),
    or goes on the loan's open task. Storing the same call again (same loan, caller and
    start) changes nothing and returns what the first try stored."""
    outcome = inbound_outcome(report, facts)
    directory = directory or recordings_dir()
    with transaction(engine) as s:
        before = _stored_before(s, loan_id, caller, report.started_at, directory)
    if before is not None:
        return before
    handover = outcome is Outcome.CALLBACK_REQUESTED
    if handover:
        guard = guard or Guard(policy=configs.contact_policy(engine).policy)
        policy = policy or configs.followup_policy(engine)
    stored: tuple[str, str] | None = None
    if report.recording_wav:
        relative, sha = store_wav(report.recording_wav, directory / INBOUND, report.started_at)
        stored = (f"{INBOUND}/{relative}", sha)
    note = [
        "智能客服来电 / inbound call to the voice assistant",
        f"知识库 / knowledge {facts.knowledge}",
    ]
    if report.handover_reason:
        note.append(f"转人工: {report.handover_reason} / handover: {report.handover_reason}")
    if facts.hung_up:
        note.append("来电方中途挂断 / the caller hung up before the end")
    ended = report.ended_at
    callback_task_id: int | None = None
    with transaction(engine) as s:
        attempt = ContactAttempt(
            task_id=None,
            loan_id=loan_id,
            agent_id=None,
            channel=Channel.VOICE_AGENT.value,
            direction=INBOUND,
            contact_role=PartyRole.BORROWER.value,
            contact_number=caller,
            status="made",
            outcome=outcome.value,
            started_at=utc(report.started_at),
            ended_at=utc(ended),
            duration_s=max(0, round((ended - report.started_at).total_seconds())),
            recording_ref=stored[0] if stored else None,
            answers={"faq_entries": list(facts.questions)},
            identity_verified=facts.verified,
            was_conversation=True,
            callback_at=utc(ended) if handover else None,
            note="；".join(note),
        )
        s.add(attempt)
        s.flush()
        attempt_id = int(attempt.id)
        _add_recording_and_turns(s, attempt_id, language, report, stored)
        if handover:
            assert guard is not None and policy is not None
            task, new = _callback_task(s, loan_id, attempt_id, ended, policy)
            if task is not None:
                rule = policy.policy.purposes.get(policy.policy.inbound_callback_purpose or "")
                due = hand_over_to_agent(
                    s,
                    task,
                    attempt_id,
                    report.handover_reason or "borrower_request",
                    caller,
                    ended,
                    guard,
                    inbound=True,
                    priority=rule.priority if rule else None,
                )
                if new and rule is not None:
                    # due on the local day the guard first lets the agent call
                    task.due_on = local_date(due)
                    task.deadline = task.due_on + timedelta(days=rule.sla_days)
                callback_task_id = int(task.id)
    return InboundStored(
        attempt_id,
        outcome,
        directory / stored[0] if stored else None,
        stored[1] if stored else None,
        callback_task_id,
    )


def _new_alerts(engine: Engine, loan_id: int, at: datetime) -> tuple[risk.AlertView, ...]:
    """Evaluate the early-warning rules for the loan now (as the call screen does after a
    visit), so the findings' alerts reach the risk officer at once; the new ones."""
    with transaction(engine) as s:
        loan = s.get(Loan, loan_id)
        contract = loan.contract_no if loan else ""
    return tuple(risk.evaluate_loan_alerts(engine, followup.local_date(at), contract))


# -- reading back (workspace, QA) -----------------------------------------------------------


@dataclass(frozen=True)
class RecordingView:
    attempt_id: int
    loan_id: int
    branch_id: int
    path: Path
    sha256: str
    size_bytes: int
    seconds: float
    channels: int
    direction: str
    codec: str | None
    ended_by: str | None
    language: str
    handover_reason: str | None


def _recording_view(row: CallRecording, attempt: ContactAttempt, branch_id: int) -> RecordingView:
    return RecordingView(
        row.attempt_id,
        attempt.loan_id,
        branch_id,
        recordings_dir() / row.path,
        row.sha256,
        row.size_bytes,
        row.seconds,
        row.channels,
        row.direction,
        row.codec,
        row.ended_by,
        row.language,
        row.handover_reason,
    )


def recording(engine: Engine, attempt_id: int) -> RecordingView | None:
    """The recording of an attempt (None if it has none), with the loan's branch for the
    caller's permission check."""
    with transaction(engine) as s:
        row = s.scalar(select(CallRecording).where(CallRecording.attempt_id == attempt_id))
        if row is None:
            return None
        attempt = s.get(ContactAttempt, attempt_id)
        loan = s.get(Loan, attempt.loan_id) if attempt else None
        assert attempt is not None and loan is not None
        return _recording_view(row, attempt, loan.branch_id)


def verified_audio(view: RecordingView) -> bytes:
    """The recording's bytes, refused if the file is missing or differs from its SHA-256."""
    try:
        data = view.path.read_bytes()
    except FileNotFoundError:
        raise TaskError(f"录音文件缺失 / recording file missing: {view.path.name}") from None
    if hashlib.sha256(data).hexdigest() != view.sha256:
        raise TaskError(f"录音文件校验失败 / recording altered: {view.path.name}")
    return data


def transcripts(engine: Engine, attempt_ids: Sequence[int]) -> dict[int, list[TurnRecord]]:
    """The stored transcript turns of attempts, in order, as staff see them after the call:
    the personal values (ID tail, new phone or address) masked by step, in the borrower's
    turns and where the agent's repeat them (`AnswerMask.turn`)."""
    out: dict[int, list[TurnRecord]] = {}
    if not attempt_ids:
        return out
    with transaction(engine) as s:
        masks = MaskBook(engine, session=s)
        scripts = {
            a_id: (script_id, version)
            for a_id, script_id, version in s.execute(
                select(
                    ContactAttempt.id, ContactAttempt.script_id, ContactAttempt.script_version
                ).where(ContactAttempt.id.in_(list(attempt_ids)))
            )
        }
        for row in s.scalars(
            select(CallTranscriptTurn)
            .where(CallTranscriptTurn.attempt_id.in_(list(attempt_ids)))
            .order_by(CallTranscriptTurn.attempt_id, CallTranscriptTurn.seq)
        ):
            mask = masks.for_contact(*scripts.get(row.attempt_id, (None, None)))
            out.setdefault(row.attempt_id, []).append(
                TurnRecord(
                    row.speaker,
                    mask.turn(row.speaker, row.step_id, row.text),
                    row.confidence,
                    row.step_id,
                    row.start_s,
                    row.end_s,
                )
            )
    return out


def voice_calls_of_loans(engine: Engine, loan_ids: Sequence[int]) -> list[dict[str, Any]]:
    """The voice-agent attempts of loans — the calls we made and the borrower's calls to the
    FAQ assistant (``direction``) — newest first, with recording and transcript (for the
    borrower 360 contact history)."""
    if not loan_ids:
        return []
    with transaction(engine) as s:
        attempts = list(
            s.scalars(
                select(ContactAttempt)
                .where(
                    ContactAttempt.loan_id.in_(list(loan_ids)),
                    ContactAttempt.channel == Channel.VOICE_AGENT.value,
                    ContactAttempt.status == "made",
                )
                .order_by(ContactAttempt.started_at.desc(), ContactAttempt.id.desc())
            )
        )
        masks = MaskBook(engine, session=s)
        recordings: Mapping[int, CallRecording] = {
            r.attempt_id: r
            for r in s.scalars(
                select(CallRecording).where(CallRecording.attempt_id.in_([a.id for a in attempts]))
            )
        }
        rows: list[dict[str, Any]] = [
            {
                "attempt_id": a.id,
                "loan_id": a.loan_id,
                "direction": a.direction,
                "started_at": followup.aware(a.started_at),
                "duration_s": a.duration_s,
                "outcome": a.outcome,
                "answers": masks.for_contact(a.script_id, a.script_version).answers(
                    a.answers or {}
                ),
                "identity_verified": a.identity_verified,
                "note": a.note,
                "recording": (
                    {
                        "seconds": recordings[a.id].seconds,
                        "channels": recordings[a.id].channels,
                        "sha256": recordings[a.id].sha256,
                        "handover_reason": recordings[a.id].handover_reason,
                    }
                    if a.id in recordings
                    else None
                ),
            }
            for a in attempts
        ]
        ids = [a.id for a in attempts]
    turns = transcripts(engine, ids)
    for attempt_id, r in zip(ids, rows, strict=True):
        r["transcript"] = turns.get(attempt_id, [])
    return rows
