"""Audio as the voice agent handles it: mono float32 samples at 16 kHz (Whisper's rate; a
G.711 call is 8 kHz and is resampled up), WAV reading and writing, and end-of-speech detection."""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass

import numpy as np

RATE = 16_000


@dataclass(frozen=True)
class Audio:
    """Mono samples in [-1, 1] at `rate` Hz."""

    samples: np.ndarray
    rate: int = RATE

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate


def resample(samples: np.ndarray, src: int, dst: int = RATE) -> np.ndarray:
    """Linear-interpolation resampling (enough for speech recognition at 16 kHz)."""
    if src == dst or len(samples) == 0:
        return samples.astype(np.float32)
    n = round(len(samples) * dst / src)
    x = np.linspace(0, len(samples) - 1, n)
    return np.interp(x, np.arange(len(samples)), samples).astype(np.float32)


def read_wav(data: bytes) -> Audio:
    """16-bit PCM WAV bytes (any rate, mono or stereo) → 16 kHz mono Audio."""
    with wave.open(io.BytesIO(data)) as w:
        rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        frames = w.readframes(w.getnframes())
    if width != 2:
        raise ValueError(f"需要16位PCM / 16-bit PCM WAV expected, got {8 * width}-bit")
    pcm = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
    if channels > 1:
        pcm = pcm.reshape(-1, channels).mean(axis=1)
    return Audio(resample(pcm, rate), RATE)


def write_wav(audio: Audio) -> bytes:
    """Audio → 16-bit PCM WAV bytes."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(audio.rate)
        pcm = np.clip(audio.samples, -1, 1)
        w.writeframes((pcm * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def silence(seconds: float) -> Audio:
    return Audio(np.zeros(int(seconds * RATE), dtype=np.float32))


def noise(seconds: float, level: float = 0.05, seed: int = 0) -> Audio:
    """Band-limited background noise (a line hiss), reproducible."""
    rng = np.random.default_rng(seed)
    white = rng.normal(0, level, int(seconds * RATE)).astype(np.float32)
    return Audio(np.convolve(white, np.ones(8) / 8, mode="same").astype(np.float32))


def speech_spans(audio: Audio, min_silence_ms: int = 600) -> list[tuple[float, float]]:
    """Speech regions (seconds) by Silero VAD (bundled with faster-whisper)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    opts = VadOptions(min_silence_duration_ms=min_silence_ms, speech_pad_ms=200)
    spans = get_speech_timestamps(audio.samples, opts)
    return [(s["start"] / audio.rate, s["end"] / audio.rate) for s in spans]


def end_of_speech(audio: Audio, trailing_silence_s: float = 0.8) -> float | None:
    """When the borrower finished: the end of the last speech span if at least
    `trailing_silence_s` of silence followed it; None while still speaking or before speech."""
    spans = speech_spans(audio)
    if not spans:
        return None
    end = spans[-1][1]
    return end if audio.seconds - end >= trailing_silence_s else None
