"""Call audio helpers: framing, WAV in and out, resampling, levels."""

from __future__ import annotations

import asyncio
import math
from array import array

import pytest

from huifang.voice.sip.media import (
    FRAME_BYTES,
    Recorder,
    frames,
    pcm_source,
    read_wav_8k,
    resample_pcm,
    rms,
    voiced_span,
    write_wav_8k,
)


def tone(seconds: float, rate: int = 8000, level: float = 0.5, hz: float = 440.0) -> bytes:
    n = int(seconds * rate)
    return array(
        "h", (int(level * 32767 * math.sin(2 * math.pi * hz * i / rate)) for i in range(n))
    ).tobytes()


async def collect(source):
    return [f async for f in frames(source)]


def test_frames_cut_any_chunks_into_20ms_and_pad_the_last() -> None:
    pcm = tone(0.05)  # 400 samples = 2.5 frames
    chunks = [pcm[: 7 * 2], pcm[7 * 2 : 301 * 2], pcm[301 * 2 :]]
    out = asyncio.run(collect(pcm_source(chunks)))
    assert [len(f) for f in out] == [FRAME_BYTES] * 3
    assert b"".join(out)[: len(pcm)] == pcm
    assert out[-1][len(pcm) - 2 * FRAME_BYTES :] == bytes(FRAME_BYTES // 2)


def test_frames_refuse_half_samples() -> None:
    with pytest.raises(ValueError, match="16-bit"):
        asyncio.run(collect(pcm_source(b"\x01\x02\x03")))


def test_wav_round_trip_and_wrong_format(tmp_path) -> None:
    pcm = tone(0.1)
    write_wav_8k(tmp_path / "a.wav", pcm)
    assert read_wav_8k(tmp_path / "a.wav") == pcm
    import wave

    with wave.open(str(tmp_path / "b.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm)
    with pytest.raises(ValueError, match="16000 Hz"):
        read_wav_8k(tmp_path / "b.wav")


def test_resample_keeps_duration_and_level() -> None:
    pcm = tone(0.5, rate=22050)
    out = resample_pcm(pcm, 22050, 8000)
    assert len(out) == 2 * 4000
    assert rms(out) == pytest.approx(rms(pcm), rel=0.02)
    assert resample_pcm(pcm, 8000, 8000) == pcm
    with pytest.raises(ValueError):
        resample_pcm(pcm, 0, 8000)


def test_levels_and_voiced_span() -> None:
    assert rms(b"") == 0.0
    assert rms(bytes(320)) == 0.0
    assert rms(tone(0.1, level=0.5)) == pytest.approx(0.5 / math.sqrt(2), rel=0.01)
    pcm = bytes(8000) + tone(1.0) + bytes(4000)  # 0.5 s silence, 1 s tone, 0.25 s silence
    assert voiced_span(pcm) == pytest.approx((0.5, 1.5))
    assert voiced_span(bytes(8000)) is None


def test_recorder_keeps_frames() -> None:
    rec = Recorder()
    rec(bytes(320))
    rec(tone(0.02))
    assert rec.seconds == pytest.approx(0.04)
    assert rec.pcm[320:] == tone(0.02)
