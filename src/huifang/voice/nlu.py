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
    texts: Sequence[str],
    expect: Expectation,
    asr_confidence: float = 1.0,
    weights: Sequence[float] | None = None,
) -> Understanding:
    """Understand the n best readings of a recognizer (best first).

    The first reading that is an answer, a request for a human, distress or repeat wins. With
    `weights` (`Transcript.weights`: each reading's share of the n best) its confidence is
    the share of the readings that agree with it (see `_vote`); without, a lower reading
    costs 10% confidence per step. With no such reading, the best reading's
    understanding."""
    if not texts:
        return understand("", expect, asr_confidence)
    if weights is not None and len(weights) == len(texts) and len(texts) > 1:
        return _vote(texts, weights, expect, asr_confidence)
    first = understand(texts[0], expect, asr_confidence)
    # An empty best reading among others is the decoder giving up on speech, not silence.
    if first.intent not in (Intent.UNCLEAR, Intent.NOISE, Intent.SILENCE) or len(texts) == 1:
        return first
    for rank, text in enumerate(texts[1:], start=1):
        u = understand(text, expect, asr_confidence * 0.9**rank)
        if u.intent not in (Intent.UNCLEAR, Intent.NOISE, Intent.SILENCE):
            return u
    return first


_MEANINGFUL = (Intent.ANSWER, Intent.HUMAN, Intent.DISTRESS, Intent.REPEAT)


def _vote(
    texts: Sequence[str], weights: Sequence[float], expect: Expectation, asr_confidence: float
) -> Understanding:
    """The first reading, best first, that says something the question can use (an answer,
    a request for a human, distress, repeat) is taken, as without weights: measured on the
    corpus, choosing the meaning with the largest share instead did worse, as the loops and
    truncations of one misheard reading (以万八, 以万可, 以万大) outvote the reading that is
    right. The weights give the confidence of an answer:

        share of the n best that means the same answer × the words' own certainty (a bare
        嗯, a hedge, a numeral read from its sound) × √(the recognizer's probability of the
        reading), the last scaled by the reading's weight relative to the best reading's,

    so an answer that most readings agree on, said in clear words and recognized without
    doubt, is accepted; one that only a minority of readings make, or that was recognized
    with low probability, is confirmed or asked again. An empty best reading among others
    is the decoder giving up on speech (the voice-activity detector heard some), not
    silence."""
    readings = [understand(t, expect) for t in texts]
    chosen = next((i for i, u in enumerate(readings) if u.intent in _MEANINGFUL), None)
    if chosen is None:
        return understand(texts[0], expect, asr_confidence)
    u = readings[chosen]
    total = sum(weights) or 1.0
    meaning = (u.intent, u.value)
    agree = sum(w for r, w in zip(readings, weights, strict=True) if (r.intent, r.value) == meaning)
    share = agree / total
    if u.intent is not Intent.ANSWER:
        return Understanding(u.intent, u.value, round(share, 3), u.heard, u.reason)
    acoustic = asr_confidence * min(1.0, weights[chosen] / (weights[0] or 1.0))
    confidence = share * u.confidence * acoustic**0.5
    return Understanding(Intent.ANSWER, u.value, round(confidence, 3), u.heard, u.reason)


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
