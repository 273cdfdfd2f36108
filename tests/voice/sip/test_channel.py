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
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
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


@contextmanager
def connected_call(
    loop: LoopThread, far_end_sink: Recorder | None = None
) -> Iterator[tuple[SipAgent, SipAgent, Call, Call, CallTape]]:
    """Two of our agents on loopback, ours calling theirs: (us, them, our call, their call,
    our tape, started when the call is up); both agents are stopped at the end."""
    ours, theirs_base = free_even_port(), free_even_port()
    us = SipAgent("127.0.0.1", 0, rtp_ports=(ours, ours + 10))
    them = SipAgent("127.0.0.1", 0, rtp_ports=(theirs_base, theirs_base + 10))
    loop.run(us.start(), 5)
    loop.run(them.start(), 5)
    tape = CallTape()
    answered = loop.submit(them.answer(sink=far_end_sink, timeout=10))
    call = loop.run(us.call(them.uri, sink=tape.received_frame, timeout=10), 15)
    tape.start()
    theirs: Call = answered.result(10)
    try:
        yield us, them, call, theirs, tape
    finally:
        loop.run(us.stop(), 5)
        loop.run(them.stop(), 5)


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
    heard_by_them = Recorder()
    with (
        LoopThread() as loop,
        connected_call(loop, heard_by_them) as (_us, _them, call, theirs, tape),
    ):
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


def test_speech_or_a_key_while_the_question_plays_stops_it() -> None:
    """Barge-in on a real call: the borrower's synthesized speech, or a key, during the
    question stops the prompt where it is and is the answer; speech during the lines before
    the question does not cut them."""
    from huifang.voice.sip.bridge import to_call
    from huifang.voice.tts import EspeakTTS

    tts = EspeakTTS(speed=200)
    reply = to_call(tts.synthesize("Yes, that is right.", "en"))
    question = (
        "Please tell me, in your own words, about how much you earn each month now, and "
        "whether that has changed since you took out the loan with us last year."
    )
    asr = GivenASR()
    heard_by_them = Recorder()
    with (
        LoopThread() as loop,
        connected_call(loop, heard_by_them) as (_us, _them, call, theirs, tape),
    ):
        settings = ListenSettings(no_input_s=1.0, end_silence_s=0.6)
        channel = SipChannel(call, loop, tts, asr, tape, "en", settings)
        today = date(2026, 11, 23)
        full_s = len(to_call(tts.synthesize(question, "en"))) / 2 / RATE
        assert full_s > 6

        async def after(delay: float, coro: Coroutine[Any, Any, None]) -> None:
            await asyncio.sleep(delay)
            await coro

        # 1. the borrower answers a second into the question: it stops, the answer is heard
        channel.speak(question)
        loop.submit(after(1.0, theirs.play(pcm_source(reply))))
        heard = channel.listen(Expectation("yes_no", today))
        assert (heard.text, channel.barge_ins) == ("yes", 1)
        cut = channel.timeline[0]
        assert cut.end_s - cut.start_s < full_s / 2  # a fraction of the question went out
        assert asr.heard[-1].seconds >= len(reply) / 2 / RATE  # the whole answer was kept
        sent = voiced_span(heard_by_them.pcm)
        assert sent is not None and sent[1] - sent[0] < full_s / 2  # they heard it stop

        # 2. a key during the question stops it and answers
        channel.speak(question)
        loop.submit(after(0.8, theirs.send_dtmf("2")))
        heard = channel.listen(Expectation("yes_no", today))
        assert (heard.keys, channel.barge_ins) == ("2", 2)
        cut = channel.timeline[-1]
        assert cut.end_s - cut.start_s < full_s / 2

        # 3. speech during the line before the question does not cut that line, and is over
        #    before the question: the question plays in full and nothing answers it
        channel.speak(question)
        channel.speak("Is that right?")
        loop.submit(after(0.5, theirs.play(pcm_source(reply))))
        heard = channel.listen(Expectation("yes_no", today))
        assert (heard.text, heard.keys, channel.barge_ins) == ("", None, 2)
        preamble, short = channel.timeline[-3], channel.timeline[-2]
        assert preamble.end_s - preamble.start_s == pytest.approx(full_s, abs=0.05)
        assert short.start_s >= preamble.end_s - 0.05

        loop.run(theirs.hangup(), 5)
        channel.finish()

    # the recording holds what really went out: the agent's side is silent after each stop
    pcm = np.frombuffer(tape.wav()[44:], dtype="<i2").reshape(-1, 2)
    first, _answer, second = channel.timeline[:3]
    assert second.start_s - first.end_s > 1.0  # the answer came between
    until_stop = pcm[int(first.start_s * RATE) : int(first.end_s * RATE), 0]
    after_stop = pcm[int(first.end_s * RATE) + 160 : int(second.start_s * RATE) - 160, 0]
    assert voiced_span(until_stop.tobytes()) is not None
    assert voiced_span(after_stop.tobytes()) is None


class ScriptedASR:
    """Recognizes what the test scripted for each answer type (the recognizer is tested
    elsewhere); keeps the answer types and options it was asked for."""

    def __init__(self, results: dict[str, Transcript]) -> None:
        self.results = results
        self.asked: list[tuple[str, tuple[str, ...]]] = []

    def transcribe(
        self,
        audio: Audio,
        language: str = "zh",
        hint: str = "",
        answer_type: str = "",
        options: Sequence[str] = (),
    ) -> Transcript:
        self.asked.append((answer_type, tuple(options)))
        return self.results[answer_type]


def test_a_doubtful_answer_is_read_back_on_a_call_and_confirmed_by_a_key_in_sip_info() -> None:
    """The dialogue over a real call: the borrower's spoken amount is recognized at 0.6, so
    the agent reads it back in words; the borrower confirms with key 1 sent in a SIP INFO."""
    from huifang.domain import scripts as sc
    from huifang.voice.dialogue import Dialogue
    from huifang.voice.sip.bridge import to_call
    from huifang.voice.tts import EspeakTTS

    T = sc.Text
    script = sc.Script(
        id="readback",
        version=1,
        title=T("复述", "read-back"),
        purpose=sc.Purpose.ROUTINE,
        variables=(),
        steps=(
            sc.Disclosure("rec", "recording_notice", T("本次通话将录音。", "Recorded.")),
            sc.Ask(
                "who",
                T("请问您是本人吗？", "Is that you?"),
                sc.AnswerType.YES_NO,
                identity=sc.IdentityCheck((sc.Condition("who", sc.Op.EQ, True),), "wrong"),
            ),
            sc.Ask("pay", T("您打算还多少？", "How much will you pay?"), sc.AnswerType.MONEY),
            sc.End("done", T("好的，再见。", "Goodbye."), "completed"),
            sc.End("wrong", T("打扰了。", "Sorry."), "wrong_person"),
        ),
    )
    state = sc.start(script, sc.ScriptContext(date(2026, 11, 23), {}))
    tts = EspeakTTS(speed=240)
    speech = to_call(tts.synthesize("Three thousand.", "en"))
    asr = ScriptedASR(
        {"yes_no": Transcript("是的", 0.95, 1.0, 0.0), "money": Transcript("三千", 0.6, 1.0, 0.0)}
    )
    with LoopThread() as loop, connected_call(loop) as (us, them, call, theirs, tape):
        dialog = them._uas.get_call(theirs.call_id).dialog  # type: ignore[union-attr]
        pbx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        pbx.bind(("127.0.0.1", 0))

        def far_end(expect: Expectation) -> None:
            """Speaks to the questions; keys 1 in a SIP INFO to the read-back."""
            if "对吗" not in expect.question:
                loop.submit(theirs.play(pcm_source(speech)))
                return
            info = dialog.create_request(
                "INFO", via_host="127.0.0.1", via_port=pbx.getsockname()[1]
            )
            info.headers.set_single("Content-Type", "application/dtmf-relay")
            info.text = "Signal=1\r\nDuration=160\r\n"
            pbx.sendto(bytes(info), ("127.0.0.1", us.port))

        settings = ListenSettings(no_input_s=3.0, end_silence_s=0.6)
        channel = SipChannel(call, loop, tts, asr, tape, "zh", settings, on_listen=far_end)
        record = Dialogue(state, channel, "zh").run()
        channel.finish()
        pbx.close()
        loop.run(theirs.hangup(), 5)

    assert record.outcome == "completed"
    assert record.answers == {"who": True, "pay": Decimal("3000.00")}
    said = [t.text for t in record.turns if t.speaker == "agent"]
    assert "您说的是三千元，对吗？请说对或不对，或按1确认、按2重说。" in said
    heard = [t.text for t in record.turns if t.speaker == "borrower"]
    assert heard == ["是的", "三千", "[按键 1]"]
    assert asr.asked == [("yes_no", ()), ("money", ())]  # the key needed no recognition
