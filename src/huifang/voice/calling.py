"""A voice-agent call from start to record: the compliance guard, the SIP call to the
borrower's number through the configured target (the lender's trunk or PBX), the task's
script spoken and understood turn by turn (`Dialogue` over a `SipChannel`), then the call
stored as a contact attempt with its recording and transcript (`services.voice_calls`).

"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from huifang.domain import scripts as sc
from huifang.domain.campaigns import CallSetup
from huifang.domain.compliance import Outcome
from huifang.services import voice_calls
from huifang.services.campaigns import DialRequest, DialResult
from huifang.services.campaigns import TurnRecord as CampaignTurn
from huifang.services.followup_attempts import Guard
from huifang.voice.asr import ASR
from huifang.voice.dialogue import Dialogue, Heard, Turn, confirm_policy
from huifang.voice.nlu import Expectation
from huifang.voice.sip.agent import Call, CallFailed, SipAgent
from huifang.voice.sip.channel import CallEnded, CallTape, ListenSettings, LoopThread, SipChannel
from huifang.voice.sip.media import RATE
from huifang.voice.tts import TTS

Event = dict[str, Any]


@dataclass(frozen=True)
class SipTarget:
    """Where calls go: `uri` is a template with `{number}` (e.g.
    ``sip:{number}@10.0.0.1:5060``); `proxy` (host, port) sends every INVITE to the trunk
    or PBX instead of the URI's host; `auth` answers the trunk's digest challenge."""

    uri: str
    proxy: tuple[str, int] | None = None
    auth: tuple[str, str] | None = None
    ring_timeout_s: float = 40.0

    def for_number(self, number: str) -> str:
        digits = re.sub(r"[^0-9+*#]", "", number)
        return self.uri.format(number=digits)


def not_connected(failure: CallFailed) -> Outcome:
    """The attempt outcome of a call that was not answered, from its SIP status."""
    match = re.search(r"\b([3-6]\d\d)\b", str(failure))
    code = int(match.group(1)) if match else 0
    if code in (486, 600):
        return Outcome.BUSY
    if code in (404, 484, 604, 410):
        return Outcome.INVALID_NUMBER
    if code in (603,):
        return Outcome.REFUSED
    if code in (503, 502, 480) and "unavailable" in str(failure).lower():
        return Outcome.SWITCHED_OFF
    return Outcome.NO_ANSWER


@dataclass
class _Events:
    """Forwards what happens on the call to a listener (the CLI prints JSON lines)."""

    emit: Callable[[Event], None] | None

    def __call__(self, event: Event) -> None:
        if self.emit is not None:
            self.emit(event)


class _ObservedChannel:
    """A SipChannel that reports each line said, each wait for an answer, a question cut
    short by the borrower (barge-in) and what was heard."""

    def __init__(self, inner: SipChannel, events: _Events) -> None:
        self.inner, self.events = inner, events

    def speak(self, text: str) -> None:
        self.events({"event": "say", "text": text})
        self.inner.speak(text)

    def listen(self, expect: Expectation) -> Heard:
        stopped = self.inner.barge_ins
        heard = self.inner.listen(expect)
        if self.inner.barge_ins > stopped:
            self.events({"event": "barge_in"})  # the borrower cut the question short
        self.events(
            {
                "event": "heard",
                "text": heard.text,
                "keys": heard.keys,
                "confidence": heard.confidence,
            }
        )
        return heard


def turn_records(turns: list[Turn], spans: list[Any]) -> list[voice_calls.TurnRecord]:
    """The dialogue's turns with their spans on the recording (same order; a turn cut off by
    a hangup may have none)."""
    out = []
    for i, t in enumerate(turns):
        span = spans[i] if i < len(spans) else None
        out.append(
            voice_calls.TurnRecord(
                t.speaker,
                t.text,
                t.confidence,
                t.step_id,
                span.start_s if span is not None else None,
                span.end_s if span is not None else None,
            )
        )
    return out


def converse(
    call: Call,
    loop: LoopThread,
    tape: CallTape,
    state: sc.RunState,
    *,
    tts: TTS,
    asr: ASR,
    language: sc.Language,
    listen: ListenSettings,
    events: _Events,
) -> tuple[Dialogue, SipChannel, bool]:
    """Run the script over an answered call until it ends, is handed over or the far end
    hangs up; then let the last words play and hang up. (dialogue, channel, hung_up)."""
    channel = SipChannel(
        call,
        loop,
        tts,
        asr,
        tape,
        language,
        listen,
        on_listen=lambda e: events(
            {"event": "listen", "answer_type": e.answer_type, "question": e.question}
        ),
    )
    dialogue = Dialogue(
        state, _ObservedChannel(channel, events), language, confirm_policy(), tape.elapsed
    )
    with contextlib.suppress(CallEnded):
        dialogue.run()
    channel.finish()
    if not call.ended:
        loop.run(call.hangup(), timeout=10)
    return dialogue, channel, not _done(dialogue)


def handover_reason(state: sc.RunState, heard_reason: str | None) -> str | None:
    """Why the call was handed over: what the borrower said (a request for a human,
    distress, not understood), or the script's own handover step (e.g. a disputed loan)."""
    if heard_reason is not None:
        return heard_reason
    return state.position if state.handed_over else None


def _done(dialogue: Dialogue) -> bool:
    return sc.is_finished(dialogue.record.state)


def call_task(
    engine: Engine,
    task_id: int,
    target: SipTarget,
    *,
    tts: TTS,
    asr: ASR,
    language: sc.Language = "zh",
    bind: tuple[str, int] = ("127.0.0.1", 0),
    rtp_ports: tuple[int, int] = (20_000, 30_000),
    listen: ListenSettings | None = None,
    on_event: Callable[[Event], None] | None = None,
    recordings: Path | None = None,
    guard: Guard | None = None,
) -> voice_calls.VoiceCallOutcome:
    """Guard, dial, converse, record: one voice-agent call on a follow-up task."""
    events = _Events(on_event)
    guard = guard or guard_in_force(engine)
    plan = voice_calls.plan_call(engine, task_id, language=language, guard=guard)
    if plan.refused is not None or plan.state is None:
        assert plan.refused is not None
        events({"event": "refused", "reasons": [list(r) for r in plan.refused.refusals]})
        return voice_calls.VoiceCallOutcome(plan.refused, None)
    settings = CallSettings(target, tts, asr, bind, rtp_ports, listen or ListenSettings())
    report = converse_over_sip(plan, settings, events)
    outcome = voice_calls.record_call(engine, plan, report, directory=recordings, guard=guard)
    events(
        {
            "event": "recorded",
            "attempt_id": outcome.result.attempt_id,
            "outcome": outcome.outcome.value if outcome.outcome else None,
        }
    )
    return outcome


def guard_in_force(engine: Engine) -> Guard:
    """The compliance guard with the contact policy in force (stored version, else the file)
    and the statutory holiday calendar — what campaigns use too."""
    from huifang.calendars import ChineseHolidayCalendar
    from huifang.services import configs

    return Guard(configs.contact_policy(engine).policy, ChineseHolidayCalendar())


@dataclass(frozen=True)
class CallSettings:
    """How a call is placed and heard: the SIP target, the engines, the local address."""

    target: SipTarget
    tts: TTS
    asr: ASR
    bind: tuple[str, int] = ("127.0.0.1", 0)
    rtp_ports: tuple[int, int] = (20_000, 30_000)
    listen: ListenSettings = field(default_factory=ListenSettings)


def converse_over_sip(
    plan: voice_calls.CallPlan, settings: CallSettings, events: _Events | None = None
) -> voice_calls.CallReport:
    """Dial the plan's number, run its script over the call, hang up; what happened (the
    recording included), not yet stored."""
    assert plan.state is not None
    events = events or _Events(None)
    target = settings.target
    uri = target.for_number(plan.number)
    events({"event": "dialing", "task_id": plan.task_id})
    started = datetime.now(UTC)
    tape = CallTape()
    with LoopThread() as loop:
        agent = SipAgent(settings.bind[0], settings.bind[1], rtp_ports=settings.rtp_ports)
        loop.run(agent.start(), timeout=10)
        try:
            try:
                call = loop.run(
                    agent.call(
                        uri,
                        sink=tape.received_frame,
                        proxy=target.proxy,
                        auth=target.auth,
                        timeout=target.ring_timeout_s,
                    ),
                    timeout=target.ring_timeout_s + 10,
                )
            except CallFailed as exc:
                events({"event": "not_connected", "reason": str(exc)})
                return voice_calls.CallReport(
                    started, datetime.now(UTC), not_connected=not_connected(exc), failure=str(exc)
                )
            tape.start()
            events({"event": "answered", "codec": call.codec})
            dialogue, channel, hung_up = converse(
                call,
                loop,
                tape,
                plan.state,
                tts=settings.tts,
                asr=settings.asr,
                language=plan.language,
                listen=settings.listen,
                events=events,
            )
        finally:
            loop.run(agent.stop(), timeout=10)
    record = dialogue.record
    wav = tape.wav()
    return voice_calls.CallReport(
        started_at=started,
        ended_at=datetime.now(UTC),
        state=record.state,
        turns=turn_records(record.turns, channel.timeline),
        handover_reason=handover_reason(record.state, record.handover_reason),
        recording_wav=wav,
        recording_seconds=(len(wav) - 44) / 4 / RATE,
        direction="outbound",
        codec=call.codec,
        ended_by=call.ended_by,
        failure="对方中途挂断 / hung up" if hung_up else None,
    )


# -- campaigns: the live dialer ----------------------------------------------------------------

_shared: dict[str, Any] = {}


def _engines() -> tuple[TTS, ASR]:
    """One TTS and one ASR per process, shared by concurrent campaign calls (WhisperASR is
    thread-safe; CTranslate2 queues the transcriptions)."""
    if "asr" not in _shared:
        from huifang.voice.asr import WhisperASR
        from huifang.voice.tts import EspeakTTS

        _shared["tts"], _shared["asr"] = EspeakTTS(), WhisperASR()
    return _shared["tts"], _shared["asr"]


def target_from_env() -> SipTarget:
    """The SIP target of this deployment: HUIFANG_SIP_TARGET (a URI template with
    ``{number}``), HUIFANG_SIP_PROXY (host:port of the trunk or PBX, optional)."""
    uri = os.environ.get("HUIFANG_SIP_TARGET")
    if not uri or "{number}" not in uri:
        raise ValueError(
            "需要 HUIFANG_SIP_TARGET, 例如 sip:{number}@10.0.0.1:5060 / set HUIFANG_SIP_TARGET"
        )
    proxy = os.environ.get("HUIFANG_SIP_PROXY")
    return SipTarget(uri, _host_port(proxy) if proxy else None)


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"需要 host:port / host:port expected, got {text!r}")
    return host, int(port)


async def place_dial(
    request: DialRequest,
    *,
    engine: Engine | None = None,
    settings: CallSettings | None = None,
    recordings: Path | None = None,
) -> DialResult:
    """A campaign's live call (`campaign_dialer.SipDialer`): the request's script over SIP,
    stored as an attempt with its recording and transcript (the runner links it). The
    campaign has already checked the guard and holds the task's lease; the attempt is
    checked again when recorded, like every attempt."""
    if engine is None:
        from huifang.settings import load_settings
        from huifang.store.db import make_engine

        engine = make_engine(load_settings().database_url)
    if settings is None:
        tts, asr = _engines()
        bind = os.environ.get("HUIFANG_SIP_BIND")
        settings = CallSettings(
            target_from_env(), tts, asr, _host_port(bind) if bind else ("127.0.0.1", 0)
        )
    plan = voice_calls.CallPlan(
        request.task_id,
        request.loan_id,
        request.number,
        request.language,
        sc.start(request.script, request.context),
    )
    report = await asyncio.to_thread(converse_over_sip, plan, settings)
    stored = await asyncio.to_thread(
        voice_calls.record_call,
        engine,
        plan,
        report,
        directory=recordings,
        guard=guard_in_force(engine),
    )
    setup = CallSetup.ANSWERED
    if report.not_connected is not None:
        setup = _SETUPS.get(report.not_connected, CallSetup.NO_ANSWER)
    return DialResult(
        setup,
        report.started_at,
        report.ended_at,
        state=report.state,
        turns=tuple(
            CampaignTurn(t.speaker, t.text, t.confidence, t.start_s or 0.0) for t in report.turns
        ),
        handover_reason=report.handover_reason,
        hung_up=report.failure is not None and report.not_connected is None,
        recording_ref=str(stored.recording_path) if stored.recording_path else None,
        attempt_id=stored.result.attempt_id,
    )


_SETUPS = {
    Outcome.NO_ANSWER: CallSetup.NO_ANSWER,
    Outcome.BUSY: CallSetup.BUSY,
    Outcome.SWITCHED_OFF: CallSetup.SWITCHED_OFF,
    Outcome.INVALID_NUMBER: CallSetup.INVALID_NUMBER,
}


# -- inbound: the FAQ assistant on incoming calls -----------------------------------------------


@dataclass(frozen=True)
class InboundCall:
    """An answered incoming call: who called, what the assistant did, and the recording.
    A caller whose number matches a borrower is stored as an inbound attempt on their loan
    (`attempt_id`; `services.voice_calls.record_inbound_call`), shown in the borrower 360
    and in QA like an outbound call; an unknown caller's recording is kept under the
    recordings directory's ``inbound/`` folder only."""

    caller: str
    verified: bool
    loan_id: int | None
    answered: list[str]
    handover_reason: str | None
    turns: list[voice_calls.TurnRecord]
    recording: Path | None
    recording_sha256: str | None
    ended_by: str | None
    attempt_id: int | None = None


def caller_number(remote_uri: str) -> str:
    """The calling number from the caller's SIP URI (``sip:13812345670@host`` → digits)."""
    user = remote_uri.split(":", 1)[-1].split("@", 1)[0]
    return re.sub(r"[^0-9+]", "", user)


def answer_inbound(
    engine: Engine,
    agent: SipAgent,
    loop: LoopThread,
    *,
    tts: TTS,
    asr: ASR,
    language: sc.Language = "zh",
    listen: ListenSettings | None = None,
    recordings: Path | None = None,
    timeout: float | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> InboundCall:
    """Take the next incoming call on `agent`, run the FAQ assistant on it (identity check
    first: the caller's own figures only after it; `voice.faq_dialogue`), and store it: an
    inbound attempt on the caller's loan with its recording and transcript, even when the
    caller hangs up mid-call."""
    from huifang.voice.faq_dialogue import inbound_faq_dialogue

    events = _Events(on_event)
    tape = CallTape()
    call = loop.run(agent.answer(sink=tape.received_frame, timeout=timeout))
    tape.start()
    started = datetime.now(UTC)
    caller = caller_number(call.remote_uri)
    events({"event": "answered", "caller": caller, "codec": call.codec})
    channel = SipChannel(
        call,
        loop,
        tts,
        asr,
        tape,
        language,
        listen or ListenSettings(),
        on_listen=lambda e: events(
            {"event": "listen", "answer_type": e.answer_type, "question": e.question}
        ),
    )
    dialogue = inbound_faq_dialogue(
        engine,
        _ObservedChannel(channel, events),
        caller_number=caller,
        language=language,
        clock=tape.elapsed,
    )
    hung_up = False
    failure: Exception | None = None
    try:
        dialogue.run()
    except CallEnded:
        hung_up = True
    except Exception as exc:  # hang up and keep what was said, then re-raise
        failure = exc
        events({"event": "error", "error": f"{type(exc).__name__}: {exc}"})
    channel.finish()
    if not call.ended:
        loop.run(call.hangup(), timeout=10)
    record = dialogue.record
    turns = turn_records(record.turns, channel.timeline)
    wav = tape.wav()
    report = voice_calls.CallReport(
        started_at=started,
        ended_at=datetime.now(UTC),
        turns=turns,
        handover_reason=record.handover_reason,
        recording_wav=wav,
        recording_seconds=(len(wav) - 44) / 4 / RATE,
        direction=voice_calls.INBOUND,
        codec=call.codec,
        ended_by=call.ended_by,
    )
    directory = recordings or voice_calls.recordings_dir()
    attempt_id: int | None = None
    if record.loan_id is not None:
        facts = voice_calls.InboundFacts(
            record.verified,
            tuple(record.answered),
            f"{record.knowledge_id} v{record.knowledge_version}",
            hung_up,
        )
        stored = voice_calls.record_inbound_call(
            engine, record.loan_id, caller, language, report, facts, directory=directory
        )
        attempt_id, path, sha = stored.attempt_id, stored.recording_path, stored.recording_sha256
        events(
            {
                "event": "recorded",
                "attempt_id": attempt_id,
                "outcome": stored.outcome.value,
                "callback_task_id": stored.callback_task_id,
            }
        )
    else:
        relative, sha = voice_calls.store_wav(wav, directory / voice_calls.INBOUND, started)
        path = directory / voice_calls.INBOUND / relative
    if failure is not None:
        raise failure
    return InboundCall(
        caller,
        record.verified,
        record.loan_id,
        list(record.answered),
        record.handover_reason,
        turns,
        path,
        sha,
        call.ended_by,
        attempt_id,
    )
