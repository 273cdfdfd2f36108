"""Normalizing a reply before it is understood: one form for typed text and ASR transcripts.

Full-width characters become ASCII (NFKC), traditional characters simplified (Whisper often
answers in traditional characters), letters lower case, punctuation and spaces collapsed.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_PUNCT = re.compile(r"[\s,，。.!！?？、;；:：~～…\"'“”‘’()（）\[\]【】<>《》-]+")


@lru_cache(maxsize=1)
def _t2s():  # type: ignore[no-untyped-def]
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional → simplified Chinese (OpenCC t2s); other text is unchanged."""
    if not any("\u4e00" <= ch <= "\u9fff" for ch in text):
        return text
    return str(_t2s().convert(text))


def normalize(text: str) -> str:
    """The comparable form of a reply: NFKC, simplified, lower case, single spaces for
    punctuation (kept as word separators for English), stripped."""
    t = unicodedata.normalize("NFKC", text)
    t = to_simplified(t).lower()
    t = t.replace("’", "'")
    t = re.sub(r"(?<=[a-z])'(?=[a-z])", "", t)  # don't → dont
    t = re.sub(r"(?<=\d),(?=\d{3})", "", t)  # 3,500 → 3500
    t = re.sub(r"(?<=\d)\.(?=\d)", "\x00", t)  # keep decimal points
    return _PUNCT.sub(" ", t).strip().replace("\x00", ".")


def compact(text: str) -> str:
    """`normalize` without spaces between Chinese characters (for phrase matching)."""
    t = normalize(text)
    return re.sub(r"(?<=[^a-z0-9 ]) | (?=[^a-z0-9 ])", "", t)
