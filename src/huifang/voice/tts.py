"""Text to speech behind an interface. `EspeakTTS` runs Debian's espeak-ng (voices `cmn` for
Mandarin, `en` for English): always available, offline, robotic. A lender plugs in a better
engine (a neural TTS, a cloud service) by implementing `TTS.synthesize`."""

from __future__ import annotations

import shutil
import subprocess
from typing import Protocol

from huifang.voice.audio import Audio, read_wav

VOICES = {"zh": "cmn-latn-pinyin", "en": "en"}


class TTS(Protocol):
    """Speaks a text in a language (zh | en) as 16 kHz audio."""

    def synthesize(self, text: str, language: str = "zh") -> Audio: ...


class TTSUnavailable(RuntimeError):
    """The engine is not installed."""


class EspeakTTS:
    """espeak-ng through its command line (`--stdout` WAV)."""

    def __init__(self, speed: int = 150, binary: str = "espeak-ng") -> None:
        path = shutil.which(binary)
        if path is None:
            raise TTSUnavailable(
                "需要 espeak-ng / espeak-ng is not installed: apt-get install espeak-ng"
            )
        self.binary, self.speed = path, speed

    def synthesize(self, text: str, language: str = "zh") -> Audio:
        voice = VOICES.get(language)
        if voice is None:
            raise ValueError(f"unsupported language {language!r}")
        out = subprocess.run(
            [self.binary, "-v", voice, "-s", str(self.speed), "--stdout", text],
            capture_output=True,
            check=True,
            timeout=60,
        )
        return read_wav(out.stdout)
