"""Speech recognition behind an interface. `WhisperASR` runs faster-whisper (CTranslate2, int8
on CPU) with the offline Whisper-base model (`model.whisper_base_dir`), its bundled Silero VAD,
a per-question prompt that biases decoding towards the expected words, and OpenCC to turn
traditional characters into simplified. A lender plugs in a stronger model (Whisper small or
a Paraformer) or a cloud ASR by implementing `ASR.transcribe`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from huifang.voice.audio import Audio
from huifang.voice.text import to_simplified

PROMPTS = {
    "zh": "以下是普通话的句子。",
    "en": "",
}


@dataclass(frozen=True, slots=True)
class Transcript:
    """What was recognized: text (simplified Chinese), a 0..1 confidence, and the seconds of
    audio and of processing (for the real-time factor)."""

    text: str
    confidence: float
    audio_s: float
    processing_s: float


class ASR(Protocol):
    def transcribe(self, audio: Audio, language: str = "zh", hint: str = "") -> Transcript: ...


class WhisperASR:
    """faster-whisper over the joined Whisper-base model; one instance per process, thread-safe
    for concurrent calls (CTranslate2 queues them over `workers`)."""

    def __init__(
        self, model_dir: Path | None = None, threads: int = 2, workers: int = 1, beam_size: int = 1
    ) -> None:
        from faster_whisper import WhisperModel

        from huifang.voice.model import whisper_base_dir

        self.model = WhisperModel(
            str(model_dir or whisper_base_dir()),
            device="cpu",
            compute_type="int8",
            cpu_threads=threads,
            num_workers=workers,
            local_files_only=True,
        )
        self.beam_size = beam_size

    def transcribe(self, audio: Audio, language: str = "zh", hint: str = "") -> Transcript:
        import time

        started = time.perf_counter()
        prompt = (PROMPTS.get(language, "") + hint).strip() or None
        segments, _ = self.model.transcribe(
            audio.samples,
            language=language,
            beam_size=self.beam_size,
            vad_filter=True,
            vad_parameters={"min_silence_duration_ms": 500},
            initial_prompt=prompt,
            condition_on_previous_text=False,
            without_timestamps=True,
            temperature=0.0,
            max_new_tokens=64,
        )
        segs = list(segments)
        text = "".join(s.text for s in segs).strip()
        if language == "zh":
            text = to_simplified(text)
        if segs:
            logprob = sum(s.avg_logprob for s in segs) / len(segs)
            speech = 1.0 - max(s.no_speech_prob for s in segs)
            confidence = max(0.0, min(1.0, math.exp(logprob) * speech))
        else:
            confidence = 1.0  # nothing heard, and VAD is sure of it
        return Transcript(text, round(confidence, 3), audio.seconds, time.perf_counter() - started)
