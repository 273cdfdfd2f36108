"""The dialogue manager: drives a follow-up script (`huifang.domain.scripts`) turn by turn by
voice or typed text, through a `Channel` that speaks and listens.

Per question: speak the lines since the last answer and the question (with the keypad hint on
yes/no and choice questions), listen, understand the reply for the answer type (`nlu`), then
accept a sure answer, read a doubtful one back ("您说的是三千五百元，对吗？请说对或不对，或按1确认、
按2重说。"; never a personal answer whole: see `Dialogue._readback`) and take yes/no or keys 1/2,
re-prompt on silence, nonsense or an answer understood below the low threshold, up to
`Policy.max_reprompts`, repeat on request, or hand over to a human on request or distress (the
run ends handed over, with the transcript so far). The two
thresholds (`Policy.accept_at`, `Policy.confirm_at`) are set per deployment
(`confirm_policy`: HUIFANG_VOICE_ACCEPT_AT, HUIFANG_VOICE_CONFIRM_AT). The script runner
itself guarantees that no loan detail is spoken before the identity check passes. Every turn
is logged with speaker, text, confidence and time so the call record has the same shape as an
agent's visit.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Protocol

import cn2an

from huifang.domain import scripts as sc
from huifang.voice import dtmf
from huifang.voice.choices import Choice
from huifang.voice.nlu import (
    Action,
    AnswerValue,
    Expectation,
    Intent,
    Policy,
    Understanding,
    decide,
    understand_transcript,
)


@dataclass(frozen=True, slots=True)
class Heard:
    """What the channel heard: a transcript with the recognizer's confidence, or keypad keys."""

    text: str = ""
    confidence: float = 1.0
    keys: str | None = None
    alternatives: tuple[str, ...] = ()  # the recognizer's other readings, best first
    weights: tuple[float, ...] = ()  # each reading's share of the n best (`Transcript.weights`)


class Channel(Protocol):
    """Speaks to and listens to the borrower: a phone call (TTS + ASR) or a text console."""

    def speak(self, text: str) -> None: ...

    def listen(self, expect: Expectation) -> Heard: ...


@dataclass(frozen=True, slots=True)
class Turn:
    """One line of the call transcript."""

    speaker: str  # "agent" | "borrower"
    text: str
    confidence: float | None = None
    step_id: str | None = None
    at_s: float = 0.0


@dataclass
class CallRecord:
    """What a call produces: the script run's final state (answers, outcome, handover flag,
    disclosures), the per-turn transcript and why it was handed over, if it was."""

    state: sc.RunState
    turns: list[Turn] = field(default_factory=list)
    handover_reason: str | None = None

    @property
    def outcome(self) -> str | None:
        return self.state.outcome

    @property
    def answers(self) -> dict[str, sc.AnswerValue]:
        return sc.answers(self.state)


_SORRY = sc.Text("抱歉，我没有听清楚。", "Sorry, I didn't catch that.")
_HANDOVER_HUMAN = sc.Text(
    "好的，正在为您转接人工服务，请稍候。", "Certainly, I'm transferring you to a colleague."
)
_HANDOVER_DISTRESS = sc.Text(
    "听到您的情况我们很关心，马上请同事与您联系。",
    "I'm sorry to hear that. A colleague will speak with you right away.",
)
_HANDOVER_STUCK = sc.Text(
    "抱歉，稍后将由工作人员与您联系。", "Sorry, a colleague will contact you shortly."
)


_CONFIRM = sc.Text(
    "您说的是{value}，对吗？请说对或不对，或按1确认、按2重说。",
    "You said {value}, is that right? Say yes or no, or press 1 to confirm, 2 to say it again.",
)
# A new phone number is read back by its last four digits only, as staff see it after the call
# (138****1234): the whole number said aloud would be kept as an agent turn of the transcript.
_CONFIRM_PHONE = sc.Text(
    "尾号{tail}的号码，对吗？请说对或不对，或按1确认、按2重说。",
    "The number ending {tail}, is that right? Say yes or no, or press 1 to confirm, "
    "2 to say it again.",
)
_ZH_DIGITS = str.maketrans("零〇一幺二两三四五六七八九", "0011223456789")
_CONFIRM_AGAIN = sc.Text(
    "请说对或不对，或按1确认、按2重说。",
    "Please say yes or no, or press 1 to confirm, 2 to say it again.",
)
_SAY_AGAIN = sc.Text("好的，请您再说一遍。", "All right, please say it again.")


def _spoken_integer_zh(n: int) -> str:
    """An integer as said aloud: 3500 → 三千五百, 20000 → 两万 (not 二万)."""
    text = str(cn2an.an2cn(str(n)))
    if len(text) > 1 and text[0] == "二" and text[1] in "千万亿":
        text = "两" + text[1:]
    return text


def spoken_money(amount: Decimal, language: sc.Language) -> str:
    """An amount as the agent reads it back: 三千五百元五角 / 3,500.50 yuan."""
    fen = int((amount * 100).to_integral_value())
    yuan, cents = divmod(abs(fen), 100)
    if language != "zh":
        figure = f"{yuan:,}" if not cents else f"{yuan:,}.{cents:02d}"
        return f"{'minus ' if fen < 0 else ''}{figure} yuan"
    jiao, rest = divmod(cents, 10)
    text = f"{_spoken_integer_zh(yuan)}元"
    if jiao:
        text += f"{_spoken_integer_zh(jiao)}角"
    if rest:
        text += f"{'零' if not jiao else ''}{_spoken_integer_zh(rest)}分"
    return ("负" if fen < 0 else "") + text


def spoken_value(value: AnswerValue, language: sc.Language, expect: Expectation) -> str:
    """What was understood, as the agent reads it back for confirmation: money and numbers
    in words (Chinese), dates without the current year, a choice by its label, yes/no as the
    borrower would say it, free text verbatim."""
    zh = language == "zh"
    if isinstance(value, bool):
        return ("“是的”" if value else "“不是”") if zh else ("“yes”" if value else "“no”")
    if expect.answer_type == "choice":
        for c in expect.choices:
            if c.code == value:
                return c.phrases[0 if zh else min(1, len(c.phrases) - 1)]
    if isinstance(value, Decimal):
        if expect.answer_type == "money":
            return spoken_money(value, language)
        if zh and value == value.to_integral_value():
            return _spoken_integer_zh(int(value))
        return str(cn2an.an2cn(str(value))) if zh else f"{value:,}"
    if isinstance(value, date):
        same_year = value.year == expect.today.year
        if zh:
            return f"{'' if same_year else f'{value.year}年'}{value.month}月{value.day}日"
        return f"{value:%B} {value.day}" + ("" if same_year else f", {value.year}")
    return f"“{value}”"


def confirm_policy(
    accept_at: float | None = None,
    confirm_at: float | None = None,
    env: Mapping[str, str] | None = None,
) -> Policy:
    """The confirm-if-low thresholds of a deployment: an answer understood at `accept_at` or
    above is taken, one between `confirm_at` and it is read back for a yes/no, one below
    `confirm_at` is asked again. Given values win, then HUIFANG_VOICE_ACCEPT_AT and
    HUIFANG_VOICE_CONFIRM_AT, then the defaults (0.8, 0.4)."""
    env = os.environ if env is None else env
    default = Policy()

    def pick(given: float | None, name: str, fallback: float) -> float:
        if given is not None:
            return given
        raw = env.get(name)
        try:
            return float(raw) if raw else fallback
        except ValueError:
            raise ValueError(f"{name} 应为0到1之间的数 / {name} must be a number in 0..1") from None

    high = pick(accept_at, "HUIFANG_VOICE_ACCEPT_AT", default.accept_at)
    low = pick(confirm_at, "HUIFANG_VOICE_CONFIRM_AT", default.confirm_at)
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(
            f"确认阈值须满足 0 ≤ 确认线 ≤ 接受线 ≤ 1 / thresholds must satisfy "
            f"0 <= confirm_at <= accept_at <= 1 (got confirm_at={low}, accept_at={high})"
        )
    return Policy(accept_at=high, confirm_at=low, max_reprompts=default.max_reprompts)


class _Confirmed(Enum):
    """How the borrower answered a read-back."""

    YES = "yes"
    NO = "no"  # ask the question again
    CORRECTED = "corrected"  # "不对，是三千" — a new answer to the question
    HANDOVER = "handover"


def expectation(prompt: sc.Prompt, today: date, language: sc.Language) -> Expectation:
    """The NLU expectation for the current question of a script run."""
    choices = tuple(Choice(o.code, (o.label.zh, o.label.en, *o.synonyms)) for o in prompt.options)
    question = prompt.question.get(language) if prompt.question else ""
    return Expectation(str(prompt.answer_type), today, choices, question)


class Dialogue:
    """One call: `run()` drives the script to its end or a handover."""

    def __init__(
        self,
        state: sc.RunState,
        channel: Channel,
        language: sc.Language = "zh",
        policy: Policy | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.record = CallRecord(state)
        self.channel = channel
        self.language: sc.Language = language
        self.policy = policy or Policy()
        self._clock = clock or (lambda: 0.0)
        self._spoken = 0
        self._rejected: dict[str | None, int] = {}
        # the script's personal answers (ID tail, new phone or address): never read back whole
        self._personal = sc.personal_answers(state.script)

    # -- output ----------------------------------------------------------------------------
    def _say(self, text: str, step_id: str | None = None) -> None:
        self.record.turns.append(Turn("agent", text, None, step_id, self._clock()))
        self.channel.speak(text)

    def _hear(self, expect: Expectation, step_id: str | None) -> Heard:
        heard = self.channel.listen(expect)
        shown = heard.text if heard.keys is None else f"[按键 {heard.keys}]"
        self.record.turns.append(Turn("borrower", shown, heard.confidence, step_id, self._clock()))
        return heard

    # -- the call --------------------------------------------------------------------------
    def run(self) -> CallRecord:
        """Drive the run until it finishes; returns the call record."""
        while True:
            state = self.record.state
            if self.record.handover_reason is not None:
                return self.record  # the handover words were said by `_handover`
            prompt = sc.prompt(state)
            for line in prompt.lines:
                self._say(line.get(self.language))
            if state.finished or prompt.question is None:
                return self.record
            self._ask(prompt)

    def _ask(self, prompt: sc.Prompt) -> None:
        state = self.record.state
        step_id = state.position
        expect = expectation(prompt, state.context.today, self.language)
        assert prompt.question is not None
        question = prompt.question.get(self.language)
        hint = dtmf.keypad_hint(
            expect.answer_type,
            [o.label.get(self.language) for o in prompt.options],
            self.language,
        )
        if prompt.error is not None:
            # the runner refused the last answer (validation): re-asked like a reprompt, so a
            # borrower who keeps giving a refused value is handed over instead of asked forever
            self._say(prompt.error.get(self.language), step_id)
            self._rejected[step_id] = self._rejected.get(step_id, 0) + 1
            if self._rejected[step_id] > self.policy.max_reprompts:
                self._handover(Understanding(Intent.UNCLEAR, None, 0.0, "", "answer refused"))
                return
        self._say(f"{question}{hint}", step_id)
        failures = 0
        pending: Understanding | None = None  # a correction given in reply to a read-back
        while True:
            if pending is None:
                u = self._interpret(self._hear(expect, step_id), expect)
            else:
                u, pending = pending, None
            action = decide(u, self.policy)
            again = _SORRY
            readback = self._readback(u, expect, step_id) if action is Action.CONFIRM else None
            if action is Action.CONFIRM and readback is None:
                action = Action.REPROMPT  # a doubtful secret or address: not understood
            elif readback is not None:
                confirmed, corrected = self._confirm(u, expect, step_id, readback)
                if confirmed is _Confirmed.HANDOVER:
                    return
                if confirmed is _Confirmed.YES:
                    action = Action.ACCEPT
                elif confirmed is _Confirmed.CORRECTED and corrected is not None:
                    failures += 1  # counted, so read-back and correction cannot go on forever
                    if failures <= self.policy.max_reprompts:
                        pending = corrected
                        continue
                else:
                    action, again = Action.REPROMPT, _SAY_AGAIN
            if action is Action.ACCEPT:
                self.record.state = sc.answer(self.record.state, self._value(u, expect))
                return
            if action is Action.HANDOVER:
                self._handover(u)
                return
            if action is Action.REPEAT:
                self._say(question, step_id)
                continue
            failures += 1
            if failures > self.policy.max_reprompts:
                self._handover(Understanding(Intent.UNCLEAR, None, 0.0, u.heard, "not understood"))
                return
            self._say(f"{again.get(self.language)}{question}{hint}", step_id)

    def _value(self, u: Understanding, expect: Expectation) -> object:
        if expect.answer_type == "free_text" and u.reason != "dtmf":
            return u.heard
        return u.value

    def _interpret(self, heard: Heard, expect: Expectation) -> Understanding:
        if heard.keys is None:
            return understand_transcript(
                [heard.text, *heard.alternatives], expect, heard.confidence, heard.weights or None
            )
        keys = heard.keys
        if keys.rstrip("#") == dtmf.HUMAN_KEY:
            return Understanding(Intent.HUMAN, None, 1.0, keys, "dtmf 0")
        try:
            value: AnswerValue
            if expect.answer_type == "yes_no":
                value = dtmf.yes_no_keys(keys)
            elif expect.answer_type == "choice":
                value = dtmf.choice_keys(keys, [c.code for c in expect.choices])
            elif expect.answer_type in ("number", "money"):
                value = dtmf.number_keys(keys)
            elif expect.answer_type == "date":
                value = dtmf.date_keys(keys, expect.today)
            else:
                value = keys.rstrip("#")
        except dtmf.DtmfError:
            return Understanding(Intent.UNCLEAR, None, 0.0, keys, "bad keys")
        return Understanding(Intent.ANSWER, value, 1.0, keys, "dtmf")

    def _readback(self, u: Understanding, expect: Expectation, step_id: str | None) -> str | None:
        """How a doubtful answer is read back, or None where it must not be said aloud: a
        secret (the ID tail) or an address is asked again as not understood, a new phone is
        read back by its last four digits (and asked again if fewer were heard)."""
        kind = self._personal.get(step_id) if step_id else None
        if kind is sc.Personal.SECRET or kind is sc.Personal.ADDRESS:
            return None
        if kind is sc.Personal.PHONE:
            digits = "".join(c for c in str(u.value).translate(_ZH_DIGITS) if c in "0123456789")
            if len(digits) < 4:
                return None
            return _CONFIRM_PHONE.get(self.language).format(tail=digits[-4:])
        said = spoken_value(u.value, self.language, expect)
        return _CONFIRM.get(self.language).format(value=said)

    def _confirm(
        self, u: Understanding, expect: Expectation, step_id: str | None, readback: str
    ) -> tuple[_Confirmed, Understanding | None]:
        """Read the understood answer back and take yes/no (speech or keys 1/2). A reply that
        answers the question itself counts too: the same value confirms it, another value is
        a correction ("不对，是三千"). Not understood twice counts as no."""
        self._say(readback, step_id)
        yes_no = Expectation("yes_no", expect.today, question=readback)
        for tries in range(2):
            heard = self._hear(yes_no, step_id)
            reply = self._interpret(heard, yes_no)
            if reply.intent in (Intent.HUMAN, Intent.DISTRESS):
                self._handover(reply)  # the original reply is not handed over a second time
                return _Confirmed.HANDOVER, None
            if reply.intent is Intent.ANSWER and reply.value is True:
                return _Confirmed.YES, None
            answer = self._answer_in(heard, expect) if expect.answer_type != "yes_no" else None
            if answer is not None and answer.value == u.value:
                return _Confirmed.YES, None
            if answer is not None:
                return _Confirmed.CORRECTED, answer
            if reply.intent is Intent.ANSWER and reply.value is False:
                return _Confirmed.NO, None
            if tries == 0:
                self._say(_CONFIRM_AGAIN.get(self.language), step_id)
        return _Confirmed.NO, None

    def _answer_in(self, heard: Heard, expect: Expectation) -> Understanding | None:
        """An answer to the question in a reply to its read-back (spoken, not keyed: keys
        1 and 2 there mean yes and no)."""
        if heard.keys is not None or expect.answer_type == "free_text":
            return None
        u = self._interpret(heard, expect)
        sure = u.intent is Intent.ANSWER and u.confidence >= self.policy.confirm_at
        return u if sure else None

    def _handover(self, u: Understanding) -> None:
        if self.record.state.finished:
            return
        text = {
            Intent.HUMAN: _HANDOVER_HUMAN,
            Intent.DISTRESS: _HANDOVER_DISTRESS,
        }.get(u.intent, _HANDOVER_STUCK)
        reason = {Intent.HUMAN: "borrower_request", Intent.DISTRESS: "distress"}.get(
            u.intent, "not_understood"
        )
        self.record.handover_reason = reason
        self._say(text.get(self.language), self.record.state.position)
        self.record.state = sc.request_handover(
            self.record.state, sc.Text(f"转人工: {reason}", f"handover: {reason}")
        )
