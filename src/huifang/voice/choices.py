"""Choosing one option of a choice question from a reply: by keyword (label or synonym in the
reply), by ordinal (第二个, 2, "the second"), or — to survive ASR errors that keep the sound but
change the characters (工资 heard as 公司) — by fuzzy match of the pinyin (pypinyin + rapidfuzz)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pypinyin import lazy_pinyin
from rapidfuzz import fuzz

from huifang.voice.text import compact, normalize


@dataclass(frozen=True, slots=True)
class Choice:
    """An option as the voice agent sees it: the stored code and the phrases that name it
    (Chinese label, English label, synonyms)."""

    code: str
    phrases: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ChoiceReading:
    """The option chosen and how sure the reading is."""

    code: str
    confidence: float


_ORDINALS_ZH = {
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_ORDINALS_EN = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "last": -1,
}


def _pinyin(text: str) -> str:
    return " ".join(lazy_pinyin(compact(text).replace(" ", "")))


def _ordinal(text: str, count: int) -> int | None:
    zh = compact(text).replace(" ", "")
    if m := re.search(r"第([一二两三四五六七八九1-9])(个|项|种|条)?", zh) or re.fullmatch(
        r"(?:选|按)?([1-9])(号|个)?", zh
    ):
        g = m.group(1)
        n = int(g) if g.isdigit() else _ORDINALS_ZH[g]
        return n if 1 <= n <= count else None
    for word, n in _ORDINALS_EN.items():
        if re.search(rf"\b(the )?{word}( one)?\b", normalize(text)):
            return count if n == -1 else (n if n <= count else None)
    return None


def read_choice(text: str, choices: Sequence[Choice]) -> ChoiceReading | None:
    """The option the reply names, or None when nothing is close enough."""
    if not choices or not normalize(text):
        return None
    zh = compact(text).replace(" ", "")
    en = normalize(text)
    hits: dict[str, int] = {}
    for c in choices:
        for p in c.phrases:
            pz = compact(p).replace(" ", "")
            if not pz:
                continue
            if pz.isascii():
                if re.search(rf"(?<![a-z]){re.escape(normalize(p))}(?![a-z])", en):
                    hits[c.code] = max(hits.get(c.code, 0), len(pz))
            elif pz in zh:
                hits[c.code] = max(hits.get(c.code, 0), len(pz))
    if len(hits) == 1:
        return ChoiceReading(next(iter(hits)), 0.95)
    if len(hits) > 1:
        ranked = sorted(hits.items(), key=lambda kv: -kv[1])
        if ranked[0][1] > ranked[1][1]:
            return ChoiceReading(ranked[0][0], 0.7)  # the longer phrase named, e.g. 不是工资
        return ChoiceReading(ranked[0][0], 0.4)
    n = _ordinal(text, len(choices))
    if n is not None:
        return ChoiceReading(choices[n - 1].code, 0.9)
    return _fuzzy(text, choices)


def _fuzzy(text: str, choices: Sequence[Choice]) -> ChoiceReading | None:
    heard = _pinyin(text)
    scores = []
    for c in choices:
        best = 0.0
        for p in c.phrases:
            target = _pinyin(p) if not p.isascii() else normalize(p)
            if not target:
                continue
            source = heard if not p.isascii() else normalize(text)
            best = max(best, fuzz.partial_ratio(target, source) if len(target) >= 4 else 0.0)
        scores.append((best, c.code))
    scores.sort(reverse=True)
    top, code = scores[0]
    second = scores[1][0] if len(scores) > 1 else 0.0
    if top < 80 or top - second < 10:
        return None
    return ChoiceReading(code, round(min(0.85, (top - 40) / 60), 2))
