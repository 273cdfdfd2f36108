"""Between the voice package's audio (16 kHz float samples, `huifang.voice.audio.Audio`, what
TTS produces and ASR consumes) and call audio (8 kHz s16le PCM frames)."""

from __future__ import annotations

import numpy as np

from huifang.voice.audio import RATE as ASR_RATE
from huifang.voice.audio import Audio, resample
from huifang.voice.sip.media import RATE


def to_call(audio: Audio) -> bytes:
    """Audio at any rate → 8 kHz s16le PCM for `Call.play(pcm_source(...))`."""
    samples = resample(np.asarray(audio.samples, dtype=np.float32), audio.rate, RATE)
    return bytes((np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes())


def from_call(pcm: bytes) -> Audio:
    """8 kHz s16le PCM received on a call → 16 kHz Audio for the ASR."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    return Audio(resample(samples, RATE, ASR_RATE), ASR_RATE)
