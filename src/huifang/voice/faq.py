"""Understanding a borrower's question for the FAQ (`huifang.domain.faq`), robust to ASR and
typing errors: the text is normalized (traditional → simplified, full-width → ASCII), the
domain matcher finds keywords and sample questions, and keywords heard with the wrong
characters but the right sound (提前还宽 for 提前还款, 结青证明 for 结清证明) are found by
comparing pinyin with rapidfuzz, as `voice.choices` does for choice answers; English keywords
misheard by a letter or two (prepayment fee → "pre payment fee") are compared the same way.

Requests for a human (转人工, "agent") and distress are recognized first (`voice.intents`):
the assistant hands over instead of answering.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from pypinyin import lazy_pinyin
from rapidfuzz import fuzz

from huifang.domain import faq
from huifang.voice.intents import distress, wants_human
from huifang.voice.text import compact, normalize

FUZZY_SHORT = 90.0  # a two-character keyword: a homophone or one sound off (zheng/zhen)
FUZZY_LONG = 86.0  # three characters or more: pinyin similarity at least this
FUZZY_EN = 88.0  # English keywords of five letters or more
FUZZY_WEIGHT = 0.8  # a keyword heard fuzzily scores 80 % of an exact one


@lru_cache(maxsize=4096)
def pinyin(text: str) -> str:
    """Toneless pinyin of the Chinese in `text`, syllables separated by spaces."""
    return " ".join(lazy_pinyin(compact(text).replace(" ", "")))


def fuzzy_hits(kb: faq.Knowledge, text: str) -> list[faq.Hit]:
    """Keywords not written in the text but heard in it (same or near pinyin, near spelling)."""
    heard_zh = pinyin(text)
    heard_en = normalize(text)
    out = []
    for e in kb.entries:
        for kw in e.keywords_zh:
            if faq.keyword_found(kw, text):
                continue
            k = compact(kw).replace(" ", "")
            if len(k) < 2:
                continue
            target = pinyin(k)
            # a keyword longer than what was heard is compared whole, not as a substring
            score = (
                fuzz.partial_ratio(target, heard_zh)
                if len(target) <= len(heard_zh)
                else fuzz.ratio(target, heard_zh)
            )
            if score >= (FUZZY_SHORT if len(k) == 2 else FUZZY_LONG):
                out.append(faq.Hit(e.id, kw, faq.keyword_weight(kw) * FUZZY_WEIGHT, fuzzy=True))
        for kw in e.keywords_en:
            k = normalize(kw)
            if len(k.replace(" ", "")) < 5 or faq.keyword_found(kw, text):
                continue
            squeezed = heard_en.replace(" ", "")
            score = max(
                fuzz.partial_ratio(k, heard_en), fuzz.partial_ratio(k.replace(" ", ""), squeezed)
            )
            if score >= FUZZY_EN:
                out.append(faq.Hit(e.id, kw, faq.keyword_weight(kw) * FUZZY_WEIGHT, fuzzy=True))
    return out


@dataclass(frozen=True, slots=True)
class Understood:
    """A question understood: a request for a human (or distress), or the FAQ match."""

    human: bool
    distress: bool
    match: faq.Match


def understand_question(kb: faq.Knowledge, text: str) -> Understood:
    """What the borrower asked (see the module docstring)."""
    clean = normalize(text)
    hurt = distress(text) is not None
    if hurt or wants_human(text):
        return Understood(True, hurt, faq.Match(faq.MatchKind.UNKNOWN, None))
    return Understood(False, False, faq.match(kb, clean, fuzzy_hits(kb, clean)))
