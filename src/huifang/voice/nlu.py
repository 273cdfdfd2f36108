"""Understanding one reply for the question being asked: what the borrower meant, as a typed
answer with a confidence, or another intent (a human, distress, repeat, silence, noise, unclear).

The confidence of an answer is the understanding's own confidence times the recognizer's
(1.0 for typed text). `decide` applies the confirm-if-low policy: accept a sure answer,
confirm a doubtful one ("您是说…，对吗？"), re-prompt on silence or nonsense, hand over on a
request for a human or distress.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

from huifang.voice import intents
from huifang.voice.choices import Choice, read_choice
from huifang.voice.dates import read_date
from huifang.voice.numbers import read_money, read_number

AnswerValue = bool | str | Decimal | date | None


class Intent(StrEnum):
    """What a reply is."""

    ANSWER = "answer"
    HUMAN = "human"  # 转人工
    DISTRESS = "distress"
    REPEAT = "repeat"  # 再说一遍
    SILENCE = "silence"
    NOISE = "noise"
    UNCLEAR = "unclear"  # words, but no answer to this question


class Action(StrEnum):
    """What the dialogue does with an understanding."""

    ACCEPT = "accept"
    CONFIRM = "confirm"
    REPROMPT = "reprompt"
    REPEAT = "repeat"
    HANDOVER = "handover"


@dataclass(frozen=True, slots=True)
class Expectation:
    """The question being answered: its answer type (the values of the script's answer types:
    yes_no, choice, number, money, date, free_text), its options and text, and the call's date."""

    answer_type: str
    today: date
    choices: tuple[Choice, ...] = ()
    question: str = ""


@dataclass(frozen=True, slots=True)
class Understanding:
    """A reply understood: intent, typed value (for answers), confidence 0..1, the text heard
    and a short reason (for the transcript and for tuning)."""

    intent: Intent
    value: AnswerValue
    confidence: float
    heard: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Policy:
    """Thresholds of the confirm-if-low policy and the re-prompt limit."""

    accept_at: float = 0.8
    confirm_at: float = 0.4
    max_reprompts: int = 2
    free_text_min_chars: int = 2
    extra: dict[str, float] = field(default_factory=dict)


def understand(text: str, expect: Expectation, asr_confidence: float = 1.0) -> Understanding:
    """Understand `text` (typed, or an ASR transcript with its confidence) for `expect`."""
    heard = text.strip()
    if intents.is_silence(heard):
        return Understanding(Intent.SILENCE, None, 1.0, heard)
    if intents.is_noise(heard):
        return Understanding(Intent.NOISE, None, 1.0, heard)
    if (phrase := intents.distress(heard)) is not None:
        return Understanding(Intent.DISTRESS, None, 1.0, heard, phrase)
    if intents.wants_human(heard):
        return Understanding(Intent.HUMAN, None, 1.0, heard)
    if intents.wants_repeat(heard):
        return Understanding(Intent.REPEAT, None, 1.0, heard)
    value, conf, reason = _answer(heard, expect)
    if conf <= 0.0:
        return Understanding(Intent.UNCLEAR, None, 0.0, heard, reason)
    return Understanding(Intent.ANSWER, value, round(conf * asr_confidence, 3), heard, reason)


def understand_transcript(
    texts: Sequence[str], expect: Expectation, asr_confidence: float = 1.0
) -> Understanding:
    """Understand the n best readings of a recognizer (best first): the first that is an
    answer, a request for a human, distress or repeat wins; a lower reading costs a little
    confidence (0.9 each step down), so the dialogue confirms rather than accepts it when the
    recognizer was unsure. With no such reading, the best reading's understanding."""
    if not texts:
        return understand("", expect, asr_confidence)
    first = understand(texts[0], expect, asr_confidence)
    if first.intent not in (Intent.UNCLEAR, Intent.NOISE):
        return first
    for rank, text in enumerate(texts[1:], start=1):
        u = understand(text, expect, asr_confidence * 0.9**rank)
        if u.intent not in (Intent.UNCLEAR, Intent.NOISE, Intent.SILENCE):
            return u
    return first


def _answer(text: str, expect: Expectation) -> tuple[AnswerValue, float, str]:
    kind = expect.answer_type
    if kind == "yes_no":
        p = intents.yes_no(text, expect.question)
        return p.value, (p.confidence if p.value is not None else 0.0), "yes_no"
    if kind == "money":
        r = read_money(text)
        return (r.value, r.confidence, "money") if r else (None, 0.0, "no amount")
    if kind == "number":
        r = read_number(text)
        return (r.value, r.confidence, "number") if r else (None, 0.0, "no number")
    if kind == "date":
        d = read_date(text, expect.today)
        return (d.value, d.confidence, "date") if d else (None, 0.0, "no date")
    if kind == "choice":
        c = read_choice(text, expect.choices)
        return (c.code, c.confidence, "choice") if c else (None, 0.0, "no option")
    if kind == "free_text":
        return text, 0.9 if len(text) >= 2 else 0.5, "verbatim"
    raise ValueError(f"unknown answer type {kind!r}")


def decide(u: Understanding, policy: Policy = Policy()) -> Action:
    """The confirm-if-low policy."""
    if u.intent in (Intent.HUMAN, Intent.DISTRESS):
        return Action.HANDOVER
    if u.intent is Intent.REPEAT:
        return Action.REPEAT
    if u.intent is not Intent.ANSWER:
        return Action.REPROMPT
    if u.confidence >= policy.accept_at:
        return Action.ACCEPT
    if u.confidence >= policy.confirm_at:
        return Action.CONFIRM
    return Action.REPROMPT


def choices_from(options: Sequence[tuple[str, Sequence[str]]]) -> tuple[Choice, ...]:
    """Choices from (code, phrases) pairs."""
    return tuple(Choice(code, tuple(phrases)) for code, phrases in options)
