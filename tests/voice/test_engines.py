"""The offline speech engines: the model joined from its two wheels and verified, espeak-ng
speech recognized by Whisper-base and understood, audio helpers and end of speech."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from huifang.voice.asr import WhisperASR, collapse_repeats
from huifang.voice.audio import Audio, end_of_speech, noise, read_wav, silence, write_wav
from huifang.voice.model import MODEL_BYTES, MODEL_SHA256, whisper_base_dir
from huifang.voice.nlu import Expectation, Intent, understand, understand_transcript
from huifang.voice.tts import VOICES, EspeakTTS


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return whisper_base_dir(tmp_path_factory.mktemp("whisper"))


@pytest.fixture(scope="module")
def asr(model_dir: Path) -> WhisperASR:
    return WhisperASR(model_dir)


def test_model_is_joined_and_verified(model_dir: Path) -> None:
    assert (model_dir / "model.bin").stat().st_size == MODEL_BYTES
    assert (model_dir / "model.bin.sha256").read_text() == MODEL_SHA256
    assert whisper_base_dir(model_dir) == model_dir  # the second call reuses the join


def test_a_corrupt_join_is_refused(tmp_path: Path, model_dir: Path) -> None:
    (tmp_path / "model.bin.sha256").write_text("0" * 64)  # stale marker: join again, verify
    assert whisper_base_dir(tmp_path) == tmp_path
    assert (tmp_path / "model.bin.sha256").read_text() == MODEL_SHA256


def test_wav_round_trip_and_resampling() -> None:
    tone = Audio(np.sin(np.linspace(0, 2000, 16_000)).astype(np.float32) * 0.5)
    back = read_wav(write_wav(tone))
    assert back.rate == 16_000 and abs(back.seconds - 1.0) < 1e-3
    assert np.max(np.abs(back.samples - tone.samples)) < 1e-3


def test_espeak_speaks_both_languages() -> None:
    tts = EspeakTTS()
    zh, en = tts.synthesize("您好", "zh"), tts.synthesize("hello", "en")
    assert zh.rate == en.rate == 16_000
    assert 0.3 < zh.seconds < 5 and 0.3 < en.seconds < 5
    assert float(np.abs(en.samples).max()) > 0.05


def test_end_of_speech_waits_for_trailing_silence() -> None:
    speech = EspeakTTS().synthesize("I will pay next Friday", "en")
    lead = silence(0.5).samples
    finished = Audio(np.concatenate([lead, speech.samples, silence(1.2).samples]))
    ongoing = Audio(np.concatenate([lead, speech.samples]))
    end = end_of_speech(finished)
    assert end is not None and 0.5 + speech.seconds - 0.6 < end < 0.5 + speech.seconds + 0.5
    assert end_of_speech(ongoing) is None
    assert end_of_speech(silence(2.0)) is None


@pytest.mark.parametrize(
    ("said", "expected"),
    [("yes, that's right", True), ("not really", False)],
)
def test_spoken_english_yes_no_is_understood(asr: WhisperASR, said: str, expected: bool) -> None:
    audio = EspeakTTS().synthesize(said, "en")
    t = asr.transcribe(audio, "en", "Yes. No.")
    u = understand(t.text, Expectation("yes_no", date(2026, 11, 23)), t.confidence)
    assert (u.intent, u.value) == (Intent.ANSWER, expected)


def test_silence_and_noise_are_not_answers(asr: WhisperASR) -> None:
    for audio in (silence(2.0), noise(2.0)):
        t = asr.transcribe(audio, "zh")
        u = understand(t.text, Expectation("yes_no", date(2026, 11, 23)), t.confidence)
        assert u.intent in (Intent.SILENCE, Intent.NOISE), t.text


@pytest.mark.parametrize(
    ("said", "answer_type", "expected"),
    [
        ("三千五", "money", Decimal("3500")),
        ("两万", "money", Decimal("20000")),
        ("不需要", "yes_no", False),
    ],
)
def test_spoken_mandarin_is_understood(
    asr: WhisperASR, said: str, answer_type: str, expected: object
) -> None:
    """Mandarin (espeak-ng `cmn-latn-pinyin`) through the answer-type-constrained decoding."""
    t = asr.transcribe(EspeakTTS().synthesize(said, "zh"), "zh", "", answer_type)
    expect = Expectation(answer_type, date(2026, 11, 23))
    u = understand_transcript([t.text, *t.alternatives], expect, t.confidence)
    assert (u.intent, u.value) == (Intent.ANSWER, expected), (t.text, t.alternatives)


def test_espeak_speaks_mandarin_not_pinyin_read_as_english() -> None:
    """espeak-ng 1.51's `cmn` voice reads its dictionary's pinyin (de5, san1) as English
    ("dee five"); `cmn-latn-pinyin` speaks it as Mandarin."""
    assert VOICES["zh"] == "cmn-latn-pinyin"


def test_repetition_loops_are_collapsed() -> None:
    assert collapse_repeats("一千五一千五") == "一千五"
    assert collapse_repeats("两万两万两") == "两万"
    assert collapse_repeats("三千五") == "三千五"
    assert collapse_repeats("是的") == "是的"
    # a loop the length cap cut short, and amounts that only look like one
    assert collapse_repeats("一万五一万") == "一万五"
    assert collapse_repeats("Not at all. Not") == "Not at all"
    assert collapse_repeats("一万一") == "一万一"
    assert collapse_repeats("五千五") == "五千五"
