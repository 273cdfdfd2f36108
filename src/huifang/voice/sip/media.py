"""Audio as a telephone call carries it: 8 kHz mono 16-bit little-endian PCM in 20 ms frames
(160 samples, 320 bytes), the unit that G.711 packs into one RTP packet.

Sources are async iterables of PCM chunks of any length (a TTS result, a WAV file, a live
generator); `frames` cuts them into call frames. Sinks are plain callables that get every
received frame; `Recorder` is the sink that keeps the call's audio and writes it as WAV. The
helpers here are pure and stdlib-only so that the telephony layer does not depend on numpy.
"""

from __future__ import annotations

import math
import wave
from array import array
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

RATE = 8_000
FRAME_MS = 20
FRAME_SAMPLES = RATE * FRAME_MS // 1000
FRAME_BYTES = FRAME_SAMPLES * 2
SILENCE = bytes(FRAME_BYTES)

AudioSource = AsyncIterable[bytes]
"""8 kHz mono s16le PCM chunks of any length; the call sends them paced in real time."""

AudioSink = Callable[[bytes], None]
"""Called with every received 20 ms frame (8 kHz mono s16le PCM), on the event loop."""


async def frames(source: AudioSource) -> AsyncIterator[bytes]:
    """Cut a source's chunks into 20 ms frames; the last one is padded with silence."""
    pending = b""
    async for chunk in source:
        if len(chunk) % 2:
            raise ValueError("PCM 数据长度必须为偶数 / PCM chunk must hold whole 16-bit samples")
        pending += chunk
        while len(pending) >= FRAME_BYTES:
            yield pending[:FRAME_BYTES]
            pending = pending[FRAME_BYTES:]
    if pending:
        yield pending.ljust(FRAME_BYTES, b"\0")


async def pcm_source(pcm: bytes | Iterable[bytes]) -> AsyncIterator[bytes]:
    """A source over PCM already in memory (e.g. synthesized speech resampled to 8 kHz)."""
    for chunk in [pcm] if isinstance(pcm, bytes) else pcm:
        yield chunk


def read_wav_8k(path: Path | str) -> bytes:
    """A mono 16-bit WAV file at 8 kHz as PCM bytes; other formats are refused clearly."""
    with wave.open(str(path)) as w:
        if (w.getnchannels(), w.getsampwidth(), w.getframerate()) != (1, 2, RATE):
            raise ValueError(
                f"需要8 kHz单声道16位WAV / 8 kHz mono 16-bit WAV expected: {path} is "
                f"{w.getframerate()} Hz, {w.getnchannels()} channel(s), "
                f"{8 * w.getsampwidth()}-bit"
            )
        return bytes(w.readframes(w.getnframes()))


def write_wav_8k(path: Path | str, pcm: bytes) -> None:
    """PCM bytes → mono 16-bit 8 kHz WAV file."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm)


def resample_pcm(pcm: bytes, src_rate: int, dst_rate: int = RATE) -> bytes:
    """Linear-interpolation resampling of s16le PCM (enough for telephone speech)."""
    if src_rate <= 0 or dst_rate <= 0:
        raise ValueError("采样率必须为正 / sample rates must be positive")
    samples = array("h", pcm)
    if src_rate == dst_rate or not samples:
        return bytes(pcm)
    n = round(len(samples) * dst_rate / src_rate)
    out = array("h", bytes(2 * n))
    last = len(samples) - 1
    for i in range(n):
        x = i * src_rate / dst_rate
        j = min(int(x), last)
        k = min(j + 1, last)
        out[i] = round(samples[j] + (samples[k] - samples[j]) * (x - j))
    return out.tobytes()


def rms(pcm: bytes) -> float:
    """Root-mean-square level of s16le PCM in [0, 1] (0 for no samples)."""
    samples = array("h", pcm)
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples)) / 32768.0


def voiced_span(pcm: bytes, threshold: float = 0.02) -> tuple[float, float] | None:
    """(first, last) second of the 20 ms frames whose level exceeds `threshold`; None if all
    frames are below it. Used to compare what was sent with what arrived."""
    voiced = [
        i
        for i in range(0, len(pcm) // FRAME_BYTES)
        if rms(pcm[i * FRAME_BYTES : (i + 1) * FRAME_BYTES]) > threshold
    ]
    if not voiced:
        return None
    return voiced[0] * FRAME_MS / 1000, (voiced[-1] + 1) * FRAME_MS / 1000


@dataclass
class Recorder:
    """A sink that keeps every received frame; `pcm`, `seconds`, `save(path)`."""

    chunks: list[bytes] = field(default_factory=list)

    def __call__(self, frame: bytes) -> None:
        self.chunks.append(frame)

    @property
    def pcm(self) -> bytes:
        return b"".join(self.chunks)

    @property
    def seconds(self) -> float:
        return sum(len(c) for c in self.chunks) / 2 / RATE

    def save(self, path: Path | str) -> None:
        write_wav_8k(path, self.pcm)
