"""A voice-agent call from start to record: the compliance guard, the SIP call to the
borrower's number through the configured target (the lender's trunk or PBX), the task's
script spoken and understood turn by turn (`Dialogue` over a `SipChannel`), then the call
stored as a contact attempt with its recording and transcript (`services.voice_calls`).

"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from huifang.domain import scripts as sc
from huifang.domain.compliance import Outcome
from huifang.services import voice_calls
from huifang.services.followup_attempts import Guard
from huifang.voice.asr import ASR
from huifang.voice.dialogue import Dialogue, Heard, Turn
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
    """A SipChannel that reports each line said, each wait for an answer and what was heard."""

    def __init__(self, inner: SipChannel, events: _Events) -> None:
        self.inner, self.events = inner, events

    def speak(self, text: str) -> None:
        self.events({"event": "say", "text": text})
        self.inner.speak(text)

    def listen(self, expect: Expectation) -> Heard:
        heard = self.inner.listen(expect)
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
    dialogue = Dialogue(state, _ObservedChannel(channel, events), language, clock=tape.elapsed)
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
    plan = voice_calls.plan_call(engine, task_id, language=language, guard=guard)
    if plan.refused is not None or plan.state is None:
        assert plan.refused is not None
        events({"event": "refused", "reasons": [list(r) for r in plan.refused.refusals]})
        return voice_calls.VoiceCallOutcome(plan.refused, None)
    uri = target.for_number(plan.number)
    events({"event": "dialing", "task_id": task_id})
    started = datetime.now(UTC)
    tape = CallTape()
    with LoopThread() as loop:
        agent = SipAgent(bind[0], bind[1], rtp_ports=rtp_ports)
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
                report = voice_calls.CallReport(
                    started, datetime.now(UTC), not_connected=not_connected(exc), failure=str(exc)
                )
                return voice_calls.record_call(
                    engine, plan, report, directory=recordings, guard=guard
                )
            tape.start()
            events({"event": "answered", "codec": call.codec})
            dialogue, channel, hung_up = converse(
                call,
                loop,
                tape,
                plan.state,
                tts=tts,
                asr=asr,
                language=language,
                listen=listen or ListenSettings(),
                events=events,
            )
        finally:
            loop.run(agent.stop(), timeout=10)
    ended = datetime.now(UTC)
    record = dialogue.record
    wav = tape.wav()
    report = voice_calls.CallReport(
        started_at=started,
        ended_at=ended,
        state=record.state,
        turns=turn_records(record.turns, channel.timeline),
        handover_reason=handover_reason(record.state, record.handover_reason),
        recording_wav=wav,
        recording_seconds=(len(wav) - 44) / 4 / RATE,
        direction="outbound",
        codec=call.codec,
        ended_by=call.ended_by,
        failure="对方中途挂断 / hung up" if hung_up and not _done(dialogue) else None,
    )
    outcome = voice_calls.record_call(engine, plan, report, directory=recordings, guard=guard)
    events(
        {
            "event": "recorded",
            "attempt_id": outcome.result.attempt_id,
            "outcome": outcome.outcome.value if outcome.outcome else None,
        }
    )
    return outcome
