"""Conversions between the voice package's 16 kHz audio and 8 kHz call audio."""

from __future__ import annotations

import numpy as np
import pytest

from huifang.voice.audio import Audio
from huifang.voice.sip.bridge import from_call, to_call
from huifang.voice.sip.media import rms


def test_round_trip_keeps_duration_and_level() -> None:
    t = np.arange(16000) / 16000
    audio = Audio((0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
    pcm = to_call(audio)
    assert len(pcm) == 2 * 8000
    assert rms(pcm) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)
    back = from_call(pcm)
    assert back.rate == 16000 and back.seconds == pytest.approx(1.0)
    assert np.corrcoef(back.samples[100:-100], audio.samples[100:-100])[0, 1] > 0.99


def test_clipping_instead_of_wrapping() -> None:
    loud = Audio(np.full(160, 1.7, dtype=np.float32), 8000)
    assert set(np.frombuffer(to_call(loud), dtype="<i2")) == {32767}
