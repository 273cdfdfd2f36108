"""SipChannel over a real call between two of our SIP agents on loopback: prompts go out as
RTP, the far end's speech is cut at its end by the energy gate and Silero VAD and handed to
the ASR, keys arrive as RFC 4733 events, silence times out, a hangup ends the dialogue, and
the tape holds both directions on one timeline. The ASR here is a recorder of what it was
given (this file tests the channel; the recognizer has its own tests)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import wave
from collections.abc import Coroutine, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from huifang.voice.asr import Transcript
from huifang.voice.audio import Audio
from huifang.voice.nlu import Expectation
from huifang.voice.sip import Call, Recorder, SipAgent, pcm_source
from huifang.voice.sip.channel import (
    CallEnded,
    CallTape,
    ListenSettings,
    LoopThread,
    SipChannel,
    hint_for,
)
from huifang.voice.sip.media import RATE, voiced_span

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")


class GivenASR:
    """Returns a fixed text and keeps the audio it was given."""

    def __init__(self) -> None:
        self.heard: list[Audio] = []
        self.hints: list[str] = []

    def transcribe(
        self,
        audio: Audio,
        language: str = "zh",
        hint: str = "",
        answer_type: str = "",
        options: Sequence[str] = (),
    ) -> Transcript:
        self.heard.append(audio)
        self.hints.append(hint)
        return Transcript("yes", 0.9, audio.seconds, 0.0)


def free_even_port() -> int:
    """A free UDP port rounded down to even (RTP on it, RTCP on the next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1]) & ~1


def tone(seconds: float, freq: float = 300.0) -> bytes:
    """A voiced-like test signal: a tone with harmonics, 8 kHz s16le."""
    t = np.arange(int(seconds * RATE)) / RATE
    wave_ = sum(np.sin(2 * np.pi * freq * k * t) / k for k in range(1, 6))
    return (0.3 * wave_ / np.max(np.abs(wave_)) * 32767).astype("<i2").tobytes()


def test_speak_listen_keys_silence_hangup_and_tape(tmp_path: Path) -> None:
    from huifang.voice.sip.bridge import to_call
    from huifang.voice.tts import EspeakTTS

    tts = EspeakTTS(speed=220)
    reply = to_call(tts.synthesize("Yes, that is right.", "en"))
    asr = GivenASR()
    with LoopThread() as loop:
        ours, theirs_base = free_even_port(), free_even_port()
        us = SipAgent("127.0.0.1", 0, rtp_ports=(ours, ours + 10))
        them = SipAgent("127.0.0.1", 0, rtp_ports=(theirs_base, theirs_base + 10))
        loop.run(us.start(), 5)
        loop.run(them.start(), 5)
        tape = CallTape()
        heard_by_them = Recorder()
        answered = loop.submit(them.answer(sink=heard_by_them, timeout=10))
        call = loop.run(us.call(them.uri, sink=tape.received_frame, timeout=10), 15)
        tape.start()
        theirs: Call = answered.result(10)
        settings = ListenSettings(no_input_s=1.0, end_silence_s=0.6)
        actions: list[Coroutine[Any, Any, None]] = []

        def far_end_acts(_expect: Expectation) -> None:
            """When the channel starts listening, the far end does its next thing."""
            if actions:
                loop.submit(actions.pop(0))

        channel = SipChannel(call, loop, tts, asr, tape, "en", settings, on_listen=far_end_acts)
        today = date(2026, 11, 23)

        async def after(delay: float, coro: Coroutine[Any, Any, None]) -> None:
            await asyncio.sleep(delay)
            await coro

        # 1. two lines back to back, then a spoken answer after a pause
        channel.speak("Hello.")
        channel.speak("Is that right?")
        actions.append(after(0.3, theirs.play(pcm_source(reply))))
        heard = channel.listen(Expectation("yes_no", today))
        assert (heard.text, heard.confidence, heard.keys) == ("yes", 0.9, None)
        got = asr.heard[-1]
        assert abs(got.seconds - (0.3 + len(reply) / 2 / RATE + 0.6)) < 0.6
        assert asr.hints[-1] == "Yes. No."

        # 2. keys on a number question end with '#'
        actions.append(after(0.2, theirs.send_dtmf("12#")))
        heard = channel.listen(Expectation("number", today))
        assert heard.keys == "12#"

        # 3. nothing at all: silence after no_input_s
        heard = channel.listen(Expectation("yes_no", today))
        assert (heard.text, heard.keys) == ("", None)

        # 4. a tone that is not speech is not an answer: still silence
        actions.append(after(0.1, theirs.play(pcm_source(tone(0.4)))))
        count = len(asr.heard)
        channel.listen(Expectation("yes_no", today))

        # 5. the far end hangs up: the dialogue's next listen ends
        loop.run(theirs.hangup(), 5)
        with pytest.raises(CallEnded):
            for _ in range(50):
                channel.listen(Expectation("yes_no", today))
        channel.finish()
        loop.run(us.stop(), 5)
        loop.run(them.stop(), 5)

    # the turns' spans rise, and the tape has both directions where they happened
    spans = channel.timeline
    assert len(spans) >= 6
    starts = [s.start_s for s in spans]
    assert starts == sorted(starts)
    assert spans[1].start_s >= spans[0].end_s - 0.05  # the second line after the first
    path = tmp_path / "call.wav"
    path.write_bytes(tape.wav())
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getframerate()) == (2, RATE)
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    agent_side = voiced_span(pcm[:, 0].tobytes())
    borrower_side = voiced_span(pcm[:, 1].tobytes())
    assert agent_side is not None and borrower_side is not None
    assert agent_side[0] < borrower_side[0]  # we spoke first
    assert abs(borrower_side[0] - spans[2].start_s) < 0.5  # the answer where the turn says
    assert voiced_span(heard_by_them.pcm) is not None  # and they heard us
    assert count <= len(asr.heard) <= count + 1


def test_hint_for_choices_and_answer_types() -> None:
    from huifang.voice.choices import Choice

    today = date(2026, 11, 23)
    choices = (Choice("a", ("工资", "salary")), Choice("b", ("经营", "business")))
    assert hint_for(Expectation("choice", today, choices), "zh") == "工资。经营"
    assert hint_for(Expectation("choice", today, choices), "en") == "salary。business"
    assert hint_for(Expectation("free_text", today), "en") == ""
