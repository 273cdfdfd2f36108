"""The dialogue's `Channel` over a real SIP call: what the agent says is synthesized (TTS),
resampled to 8 kHz and streamed as G.711 RTP; what the borrower says arrives as RTP, is
decoded, cut at the end of speech (an energy gate, then Silero VAD) and recognized (ASR);
keys arrive as RFC 4733 telephone-events or in SIP INFO requests.

The dialogue (`voice/dialogue.py`) is synchronous: it calls `speak` and `listen` one after
the other and runs the script between them. The call lives on an asyncio loop
(`voice/sip/agent.py`), which `LoopThread` runs in a background thread, so the dialogue and
the ASR (CPU-bound, outside the loop) never stall the 20 ms RTP clock.

`speak` returns once the prompt is queued: consecutive lines play back to back while the next
one is synthesized; `listen` first waits until everything before the question is on the wire
(greeting, disclosures, loan details are always heard in full), then listens while the
question plays: speech (the energy gate, then Silero VAD) or a key during it stops the prompt
at once (barge-in) and is the answer; otherwise it listens once the question has played.
The `CallTape` keeps both directions on the call's timeline (what we sent, what we
received) for the recording, and `timeline` gives each turn's start and end second on that
timeline, in the order of the dialogue's turns (a question stopped by barge-in ends where it
stopped).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
import time
import wave
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from huifang.voice import audio as voice_audio
from huifang.voice.asr import ASR
from huifang.voice.dialogue import Heard
from huifang.voice.nlu import Expectation
from huifang.voice.sip.agent import Call
from huifang.voice.sip.bridge import from_call, to_call
from huifang.voice.sip.media import FRAME_BYTES, FRAME_MS, RATE, pcm_source, rms
from huifang.voice.tts import TTS

T = TypeVar("T")
FRAME_S = FRAME_MS / 1000

# The per-question words that bias the recognizer (as the corpus evaluation uses them).
HINTS = {
    ("zh", "yes_no"): "是的。不是。对。没有。",
    ("zh", "money"): "元。万。",
    ("zh", "number"): "",
    ("zh", "date"): "号。月。",
    ("en", "yes_no"): "Yes. No.",
    ("en", "money"): "yuan.",
    ("en", "date"): "",
}


class CallEnded(RuntimeError):
    """The far end hung up while the dialogue was speaking or listening."""


class LoopThread:
    """An asyncio event loop in a daemon thread, for the SIP agent and its calls."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="sip")
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run a coroutine on the loop and wait for its result."""
        return self.submit(coro).result(timeout)

    def close(self) -> None:
        """Cancel what is still running on the loop (a call's sender, RTCP), then stop it."""

        async def cancel_rest() -> None:
            current = asyncio.current_task()
            rest = [t for t in asyncio.all_tasks() if t is not current]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

        if self.loop.is_running():
            with contextlib.suppress(Exception):
                self.run(cancel_rest(), timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self.loop.close()

    def __enter__(self) -> LoopThread:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class CallTape:
    """Both directions of a call on one timeline (8 kHz s16le): `sent` is what the agent
    played, placed at the frame it went out; `received` is every decoded frame, placed by its
    arrival time (gaps, e.g. while the far end sent nothing, are filled with silence).

    `received_frame` is the call's sink (runs on the event loop); readers on other threads
    take `snapshot`."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._sent = bytearray()
        self._received = bytearray()
        self.started: float | None = None

    def start(self) -> None:
        """Time zero of the call (when it was answered)."""
        self.started = self._clock()

    def elapsed(self) -> float:
        return 0.0 if self.started is None else self._clock() - self.started

    def received_frame(self, frame: bytes) -> None:
        with self._lock:
            due = int(self.elapsed() / FRAME_S) - 3  # allow a little jitter before padding
            have = len(self._received) // FRAME_BYTES
            if due > have:
                self._received.extend(bytes((due - have) * FRAME_BYTES))
            self._received.extend(frame)

    def sent(self, at_frame: int, pcm: bytes) -> None:
        with self._lock:
            offset = at_frame * FRAME_BYTES
            if len(self._sent) < offset:
                self._sent.extend(bytes(offset - len(self._sent)))
            self._sent[offset : offset + len(pcm)] = pcm

    def stopped_at(self, frame: int) -> None:
        """The prompt playing was stopped at `frame` (barge-in): nothing after it went out."""
        with self._lock:
            del self._sent[frame * FRAME_BYTES :]

    @property
    def received_frames(self) -> int:
        with self._lock:
            return len(self._received) // FRAME_BYTES

    def received_since(self, frame: int) -> bytes:
        with self._lock:
            return bytes(self._received[frame * FRAME_BYTES :])

    def wav(self) -> bytes:
        """The recording: a two-channel 8 kHz 16-bit WAV, agent left, borrower right."""
        with self._lock:
            n = max(len(self._sent), len(self._received)) // 2
            left = np.zeros(n, dtype="<i2")
            right = np.zeros(n, dtype="<i2")
            sent = np.frombuffer(bytes(self._sent), dtype="<i2")
            received = np.frombuffer(bytes(self._received), dtype="<i2")
        left[: len(sent)] = sent
        right[: len(received)] = received
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(2)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(np.column_stack([left, right]).astype("<i2").tobytes())
        return buf.getvalue()


@dataclass(frozen=True)
class ListenSettings:
    """How long to wait for an answer and when it is over.

    no_input_s: silence before speech starts that counts as no answer;
    end_silence_s: silence after speech that ends the answer (then Silero VAD confirms);
    max_speech_s: the longest answer kept; key_timeout_s: wait for more keys of a number;
    level: the energy (RMS, 0..1) of a frame that may hold speech.
    barge_in: whether speech or a key while the question plays stops it; barge_in_s: how
    much voiced audio (frames above barge_level) before Silero VAD is asked whether it is
    speech — a line with strong echo of our own prompt needs a higher barge_level, or
    barge_in off."""

    no_input_s: float = 6.0
    end_silence_s: float = 0.8
    max_speech_s: float = 20.0
    key_timeout_s: float = 2.5
    level: float = 0.01
    poll_s: float = 0.05
    barge_in: bool = True
    barge_in_s: float = 0.3
    barge_level: float = 0.02


@dataclass(frozen=True)
class Span:
    """When a turn happened on the call's timeline, in seconds from the answer."""

    start_s: float
    end_s: float

    @property
    def known(self) -> bool:
        return True


@dataclass
class SipChannel:
    """`Channel` of the dialogue over an established `Call` (see the module docstring)."""

    call: Call
    loop: LoopThread
    tts: TTS
    asr: ASR
    tape: CallTape
    language: str = "zh"
    settings: ListenSettings = field(default_factory=ListenSettings)
    on_listen: Callable[[Expectation], None] | None = None
    barge_ins: int = 0  # prompts stopped by the borrower's speech or keys
    _turns: list[Span | _Pending] = field(default_factory=list)
    _playing: list[Future[None]] = field(default_factory=list)
    _spans: list[list[Span]] = field(default_factory=list)  # of the prompts in _playing

    @property
    def timeline(self) -> list[Span]:
        """Each turn's span so far (speak and listen calls, in order); a prompt still queued
        has none yet and is left out, so read it after `finish`."""
        return [t if isinstance(t, Span) else t.span() for t in self._turns if t.known]

    # -- speaking ------------------------------------------------------------------------
    def speak(self, text: str) -> None:
        if self.call.ended:
            raise CallEnded("对方已挂断 / the far end hung up")
        pcm = to_call(self.tts.synthesize(text, self.language))
        span: list[Span] = []
        previous = self._playing[-1] if self._playing else None
        self._playing.append(self.loop.submit(self._play(pcm, previous, span)))
        self._turns.append(_Pending(span))
        self._spans.append(span)

    async def _play(self, pcm: bytes, previous: Future[None] | None, span: list[Span]) -> None:
        if previous is not None:
            await asyncio.wrap_future(previous)
        start = self.call.frames_sent  # the queue is empty: the next frame sent is ours
        self.tape.sent(start, pcm)
        span.append(Span(start * FRAME_S, start * FRAME_S + len(pcm) / 2 / RATE))
        await self.call.play(pcm_source(pcm))

    async def _stop_prompt(self, span: list[Span]) -> None:
        """Barge-in: stop the prompt where it is, on the tape and in its span too."""
        frame = self.call.stop_playing()
        self.tape.stopped_at(frame)
        if span:
            span[0] = Span(span[0].start_s, max(span[0].start_s, frame * FRAME_S))

    def _drain(self) -> None:
        for fut in self._playing:
            fut.result()
        self._playing.clear()
        self._spans.clear()
        if self.call.ended:
            raise CallEnded("对方已挂断 / the far end hung up")

    def finish(self) -> None:
        """Wait until everything said has been played (before hanging up)."""
        with contextlib.suppress(CallEnded):
            self._drain()

    # -- listening -----------------------------------------------------------------------
    def _keys(self) -> str:
        async def drain() -> str:
            digits = []
            while not self.call.dtmf.empty():
                digits.append(self.call.dtmf.get_nowait())
            return "".join(digits)

        return self.loop.run(drain(), timeout=5)

    def _barge_in(self) -> tuple[int, str] | None:
        """While the question (the last prompt) plays: the frame where the borrower's speech
        began and the keys pressed, once speech (voiced frames, confirmed by Silero VAD) or a
        key has stopped the prompt; None if it played to its end."""
        s = self.settings
        prompt, span = self._playing[-1], self._spans[-1]
        for earlier in self._playing[:-1]:
            earlier.result()  # what comes before the question is always heard in full
        start_frame = self.tape.received_frames
        need = max(1, round(s.barge_in_s / FRAME_S))
        voiced: list[int] = []
        checked = 0
        while not prompt.done():
            if self.call.ended:
                raise CallEnded("对方已挂断 / the far end hung up")
            keys = self._keys()
            pcm = self.tape.received_since(start_frame)
            frames = len(pcm) // FRAME_BYTES
            for i in range(checked, frames):
                if rms(pcm[i * FRAME_BYTES : (i + 1) * FRAME_BYTES]) > s.barge_level:
                    voiced.append(i)
            checked = frames
            # speech: `need` voiced frames within the last second, that Silero VAD agrees on
            recent = [i for i in voiced if i > frames - 1 / FRAME_S]
            began: int | None = None
            if len(recent) >= need:
                found = voice_audio.speech_spans(from_call(pcm[recent[0] * FRAME_BYTES :]))
                began = start_frame + recent[0] if found else None
            if keys or began is not None:
                self.loop.run(self._stop_prompt(span), timeout=5)
                self.barge_ins += 1
                return (began if began is not None else self.tape.received_frames), keys
            time.sleep(s.poll_s)
        return None

    def listen(self, expect: Expectation) -> Heard:
        s = self.settings
        barged = self._barge_in() if s.barge_in and self._playing else None
        self._drain()
        if self.on_listen is not None:
            self.on_listen(expect)
        start_frame = self.tape.received_frames
        began = time.monotonic()
        keys = ""
        last_key = 0.0
        if barged is not None:
            # the answer began while the question played: listen from there (a little
            # before, so the first syllable is not lost)
            start_frame = max(0, barged[0] - round(0.2 / FRAME_S))
            keys, last_key = barged[1], began
        first_voiced: int | None = None
        last_voiced = 0
        checked = 0
        while True:
            if self.call.ended:
                raise CallEnded("对方已挂断 / the far end hung up")
            now = time.monotonic()
            new = self._keys()
            if new:
                keys += new
                last_key = now
            if keys and first_voiced is None:
                single = expect.answer_type in ("yes_no", "choice")
                if single or keys.endswith("#") or now - last_key >= s.key_timeout_s:
                    at = self.tape.elapsed()
                    self._turns.append(Span(round(at, 2), round(at, 2)))
                    return Heard(keys=keys)
            pcm = self.tape.received_since(start_frame)
            frames = len(pcm) // FRAME_BYTES
            for i in range(checked, frames):
                if rms(pcm[i * FRAME_BYTES : (i + 1) * FRAME_BYTES]) > s.level:
                    if first_voiced is None:
                        first_voiced = i
                    last_voiced = i
            checked = frames
            if first_voiced is None:
                if not keys and now - began >= s.no_input_s:
                    at = self.tape.elapsed()
                    self._turns.append(Span(round(at, 2), round(at, 2)))
                    return Heard(text="", confidence=1.0)
            else:
                quiet = (frames - 1 - last_voiced) * FRAME_S
                too_long = (frames - first_voiced) * FRAME_S >= s.max_speech_s
                if quiet >= s.end_silence_s or too_long:
                    heard = self._recognize(pcm, start_frame, expect, too_long)
                    if heard is not None:
                        return heard
                    first_voiced = None  # noise, not speech: keep waiting
                    began = now
            time.sleep(s.poll_s)

    def _recognize(
        self, pcm: bytes, start_frame: int, expect: Expectation, cut: bool
    ) -> Heard | None:
        """Silero VAD over what was heard; the ASR on it if it holds speech."""
        audio = from_call(pcm)
        spans = voice_audio.speech_spans(audio)
        if not spans and not cut:
            return None
        offset = start_frame * FRAME_S
        first, last = (spans[0][0], spans[-1][1]) if spans else (0.0, audio.seconds)
        index = 0 if self.language == "zh" else 1
        options = tuple(c.phrases[min(index, len(c.phrases) - 1)] for c in expect.choices)
        transcript = self.asr.transcribe(
            audio, self.language, hint_for(expect, self.language), expect.answer_type, options
        )
        self._turns.append(Span(round(offset + first, 2), round(offset + last, 2)))
        return Heard(
            transcript.text,
            transcript.confidence,
            None,
            transcript.alternatives,
            transcript.weights,
        )


@dataclass
class _Pending:
    """A spoken turn's span, known once its audio has started playing."""

    box: list[Span]

    @property
    def known(self) -> bool:
        return bool(self.box)

    def span(self) -> Span:
        s = self.box[0]
        return Span(round(s.start_s, 2), round(s.end_s, 2))


def hint_for(expect: Expectation, language: str) -> str:
    """Words that bias the recognizer towards this question's answers."""
    if expect.answer_type == "choice" and expect.choices:
        index = 0 if language == "zh" else 1
        return "。".join(c.phrases[min(index, len(c.phrases) - 1)] for c in expect.choices)
    return HINTS.get((language, expect.answer_type), "")


__all__ = [
    "CallEnded",
    "CallTape",
    "ListenSettings",
    "LoopThread",
    "SipChannel",
    "Span",
    "hint_for",
]
