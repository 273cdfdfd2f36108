"""The dialogue manager: drives a follow-up script (`huifang.domain.scripts`) turn by turn by
voice or typed text, through a `Channel` that speaks and listens.

Per question: speak the lines since the last answer and the question (with the keypad hint on
yes/no and choice questions), listen, understand the reply for the answer type (`nlu`), then
accept, confirm a doubtful answer ("您是说…，对吗？"), re-prompt on silence or nonsense up to
`Policy.max_reprompts`, repeat on request, or hand over to a human on request or distress (the
run ends handed over, with the transcript so far). The script runner itself guarantees that
no loan detail is spoken before the identity check passes. Every turn is logged with speaker,
text, confidence and time so the call record has the same shape as an agent's visit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

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


def _say_value(value: AnswerValue, language: sc.Language, expect: Expectation) -> str:
    if isinstance(value, bool):
        return ("是" if value else "不是") if language == "zh" else ("yes" if value else "no")
    if expect.answer_type == "choice":
        for c in expect.choices:
            if c.code == value:
                return c.phrases[0 if language == "zh" else min(1, len(c.phrases) - 1)]
    return sc.format_value(value, language)


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
        while True:
            heard = self._hear(expect, step_id)
            u = self._interpret(heard, expect)
            action = decide(u, self.policy)
            if action is Action.CONFIRM:
                action = self._confirm(u, expect, step_id)
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
            self._say(f"{_SORRY.get(self.language)}{question}{hint}", step_id)

    def _value(self, u: Understanding, expect: Expectation) -> object:
        if expect.answer_type == "free_text" and u.reason != "dtmf":
            return u.heard
        return u.value

    def _interpret(self, heard: Heard, expect: Expectation) -> Understanding:
        if heard.keys is None:
            return understand_transcript(
                [heard.text, *heard.alternatives], expect, heard.confidence
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

    def _confirm(self, u: Understanding, expect: Expectation, step_id: str | None) -> Action:
        said = _say_value(u.value, self.language, expect)
        zh = f"您是说“{said}”，对吗？是请按1，不是请按2。"
        en = f"Did you say “{said}”? Press 1 for yes, 2 for no."
        self._say(zh if self.language == "zh" else en, step_id)
        yes_no = Expectation("yes_no", expect.today, question=zh)
        reply = self._interpret(self._hear(yes_no, step_id), yes_no)
        if reply.intent in (Intent.HUMAN, Intent.DISTRESS):
            self._handover(reply)  # the original reply is not handed over a second time
            return Action.HANDOVER
        if reply.intent is Intent.ANSWER and reply.value is True:
            return Action.ACCEPT
        return Action.REPROMPT

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
