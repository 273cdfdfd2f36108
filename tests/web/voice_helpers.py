"""A stored voice-agent call (attempt, recording file, transcript) for the web tests, made
through the same service as a real call (`voice_calls.record_call`); the audio is a tone."""

from __future__ import annotations

import io
import math
import wave
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path

from sqlalchemy import Engine

from huifang.domain.compliance import ContactPolicy, NoHolidays
from huifang.services import voice_calls
from huifang.services.followup_attempts import Guard

OPEN_ALL_DAY = Guard(
    ContactPolicy(window_start=clock(0, 0), window_end=clock(23, 59, 59, 999999)), NoHolidays()
)


def tone_wav(seconds: float = 1.0) -> bytes:
    """A two-channel 8 kHz WAV: a tone on the agent's side, silence on the borrower's."""
    frames = bytearray()
    for i in range(int(8000 * seconds)):
        sample = int(8000 * math.sin(2 * math.pi * 440 * i / 8000))
        frames += sample.to_bytes(2, "little", signed=True) + b"\0\0"
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(frames))
    return buf.getvalue()


def stored_voice_call(engine: Engine, task_id: int, directory: Path) -> int:
    """A voice-agent call on a task that the borrower hung up after the greeting; the
    attempt id (the task stays open for a retry)."""
    plan = voice_calls.plan_call(engine, task_id, guard=OPEN_ALL_DAY)
    assert plan.state is not None, plan.refused
    start = datetime.now(UTC)
    report = voice_calls.CallReport(
        started_at=start,
        ended_at=start + timedelta(seconds=1),
        state=plan.state,
        turns=(
            voice_calls.TurnRecord("agent", "您好，我是汇方的回访专员。", None, None, 0.0, 0.8),
            voice_calls.TurnRecord("borrower", "喂？", 0.71, "identity_confirmed", 0.85, 1.0),
        ),
        recording_wav=tone_wav(),
        recording_seconds=1.0,
        codec="PCMU",
        ended_by="remote",
    )
    outcome = voice_calls.record_call(engine, plan, report, directory=directory, guard=OPEN_ALL_DAY)
    assert outcome.result.allowed
    return outcome.result.attempt_id
