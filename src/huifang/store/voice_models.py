"""The voice agent's call records, next to the contact attempt each call is stored as.

- `call_recordings`: one row per voice-agent call that reached a conversation: the recording
  (a two-channel WAV, agent left, borrower right) as a file under the recordings directory
  (`path` relative to it, its SHA-256 and size, so a moved or altered file is detected),
  the SIP details (direction, codec, who hung up) and why it was handed over, if it was.
- `call_transcript_turns`: the call's transcript, one row per turn: who spoke (``agent`` |
  ``borrower``), what was said or keyed, the recognizer's confidence, the script step, and
  when on the recording's timeline (seconds from the answer).

Both are keyed by the attempt (`followup_attempts.id`), which holds the answers, outcome and
findings exactly as an agent's visit does.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from huifang.store.models import Base, Id

TZ = DateTime(timezone=True)


class CallRecording(Base):
    """The recording and SIP details of one voice-agent call (通话录音)."""

    __tablename__ = "call_recordings"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("followup_attempts.id"), unique=True)
    path: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    seconds: Mapped[float] = mapped_column(Float)
    channels: Mapped[int] = mapped_column(Integer)
    sample_rate: Mapped[int] = mapped_column(Integer)
    direction: Mapped[str] = mapped_column(String(10))  # outbound | inbound
    codec: Mapped[str | None] = mapped_column(String(10))
    ended_by: Mapped[str | None] = mapped_column(String(10))  # remote | local
    language: Mapped[str] = mapped_column(String(5))
    handover_reason: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(TZ)


class CallTranscriptTurn(Base):
    """One turn of a voice-agent call's transcript (通话转写)."""

    __tablename__ = "call_transcript_turns"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("followup_attempts.id"))
    seq: Mapped[int] = mapped_column(Integer)
    speaker: Mapped[str] = mapped_column(String(10))  # agent | borrower
    text: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float | None] = mapped_column(Float)
    step_id: Mapped[str | None] = mapped_column(String(60))
    start_s: Mapped[float | None] = mapped_column(Float)
    end_s: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (UniqueConstraint("attempt_id", "seq"),)
