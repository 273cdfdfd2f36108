"""Dialers for voice-agent campaigns (`services.campaigns.Dialer`).

* `SimulatedDialer`: a simulated borrower on the other end of a text channel, who answers
  the real `Dialogue` (script runner + NLU) the way a seeded behaviour model says — no answer,
  busy, switched off, a dead number, the wrong person, a request for a human, a refusal, a
  hang-up, or a cooperative borrower answering every question (sometimes reporting lower
  income). Time is the campaign's clock: the call "lasts" what its turns would take to say,
  so concurrency, windows and handle time behave as in a live run. Used by
  `huifang campaign run --dry-run`, the tests and `huifang simulate --voice`.
* `SipDialer`: the live call over SIP (`huifang.voice.sip`), through a `place_call`
  function that runs the dialogue over a SIP call and stores the attempt.

Each simulated call draws from its own `random.Random` seeded by (seed, task, dial), so a
call's behaviour does not depend on the order in which concurrent calls finish.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Final

from huifang.domain.campaigns import CallSetup
from huifang.services.campaigns import Clock, DialRequest, DialResult, TurnRecord
from huifang.voice.dialogue import Dialogue, Heard
from huifang.voice.nlu import Expectation

TZ_HINT: Final = "Asia/Shanghai"


class CallEnded(Exception):
    """The simulated borrower hung up."""


@dataclass(frozen=True)
class BorrowerModel:
    """How simulated borrowers behave (not policy: assumptions, stated so they can be read).

    answer: chance the phone is answered, by tier (the agents' simulation uses the same);
    slot_factor: by local time of day (evenings answer best);
    unanswered: when not answered, the shares of no-answer, busy and switched-off;
    dead_number: chance a borrower's number is dead (invalid or someone else's), per loan;
    answered: when answered, the shares of behaviours; the rest are cooperative;
    income_drop: chance a cooperative borrower reports lower income (a finding).
    """

    answer: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType({"low": 0.62, "medium": 0.50, "high": 0.36})
    )
    slot_factor: tuple[tuple[time, float], ...] = (
        (time(12, 0), 0.85),
        (time(18, 0), 1.0),
        (time(23, 59, 59), 1.25),
    )
    unanswered: tuple[tuple[CallSetup, float], ...] = (
        (CallSetup.NO_ANSWER, 0.70),
        (CallSetup.BUSY, 0.15),
        (CallSetup.SWITCHED_OFF, 0.15),
    )
    dead_number: float = 0.03
    answered: tuple[tuple[str, float], ...] = (
        ("wrong_person", 0.05),
        ("asks_for_human", 0.07),
        ("refuses", 0.03),
        ("hangs_up", 0.04),
        ("unclear", 0.02),
    )
    income_drop: float = 0.06


DEFAULT_MODEL: Final = BorrowerModel()

# Yes/no questions whose cooperative answer is "no" (difficulties, changes, illness …).
_NO_HINTS: Final = (
    "困难",
    "变更",
    "变化",
    "疾病",
    "意外",
    "其他问题",
    "difficult",
    "changed",
    "illness",
    "other question",
)


class SimulatedBorrower:
    """A text channel whose replies come from a behaviour: what a simulated borrower says."""

    def __init__(
        self,
        behaviour: str,
        rng: random.Random,
        values: Mapping[str, object],
        language: str,
        model: BorrowerModel,
    ) -> None:
        self.behaviour = behaviour
        self.rng = rng
        self.values = values
        self.language = language
        self.model = model
        self.seconds = 0.0
        self.questions = 0
        self.break_at = rng.randint(1, 4)
        self.refused = False
        self.income_down = rng.random() < model.income_drop

    def speak(self, text: str) -> None:
        # espeak-ng / a neural TTS speaks Mandarin at about 4.5 characters a second
        per_second = 4.5 if self.language == "zh" else 14.0
        self.seconds += max(1.0, len(text) / per_second)

    def listen(self, expect: Expectation) -> Heard:
        self.seconds += self.rng.uniform(1.5, 4.0)  # thinking, speaking, end-of-speech timeout
        self.questions += 1
        zh = self.language == "zh"
        if self.behaviour == "wrong_person" and expect.answer_type == "yes_no":
            return Heard("不是，你打错了" if zh else "No, wrong number")
        if self.behaviour == "refuses":
            if self.refused:
                raise CallEnded
            self.refused = True
            return Heard("我不需要回访，别再打了" if zh else "I don't need this, stop calling me")
        if self.behaviour == "asks_for_human" and self.questions >= self.break_at:
            return Heard("转人工" if zh else "I want to talk to a real person")
        if self.behaviour == "hangs_up" and self.questions >= self.break_at:
            raise CallEnded
        if self.behaviour == "unclear" and self.questions >= self.break_at:
            return Heard("嗯那个……" if zh else "uh well", confidence=0.3)
        return Heard(self._answer(expect))

    def _answer(self, expect: Expectation) -> str:
        zh = self.language == "zh"
        question = expect.question.lower()
        kind = expect.answer_type
        if kind == "yes_no":
            negative = any(h in question for h in _NO_HINTS)
            if zh:
                return "没有" if negative else "是的"
            return "no" if negative else "yes"
        if kind == "choice":
            choices = list(expect.choices)
            if ("收入" in question or "income" in question) and self.income_down:
                down = [c for c in choices if c.code == "down"]
                if down:
                    return down[0].phrases[0 if zh else min(1, len(down[0].phrases) - 1)]
            first = choices[0]
            return first.phrases[0 if zh else min(1, len(first.phrases) - 1)]
        if kind == "money":
            return str(self._amount(question))
        if kind == "number":
            return "3"
        if kind == "date":
            return "明天" if zh else "tomorrow"
        if "后四位" in question or "last four" in question:
            return str(self.values.get("id_last4", ""))
        return "没有了" if zh else "nothing else"

    def _amount(self, question: str) -> int:
        """Income near the declared one (half of it when it dropped); other amounts: what
        is overdue, else a round sum."""
        if "收入" in question or "income" in question:
            declared = self.values.get("declared_monthly_income")
            if isinstance(declared, Decimal | int) and declared > 0:
                factor = 0.5 if self.income_down else self.rng.uniform(0.9, 1.15)
                return max(100, int(round(float(declared) * factor, -2)))
            return 4000 if self.income_down else 8000
        overdue = self.values.get("overdue_amount")
        if isinstance(overdue, Decimal | int) and overdue > 0:
            return int(overdue)
        return 3000


def _pick(rng: random.Random, table: tuple[tuple[object, float], ...], default: object) -> object:
    u, acc = rng.random(), 0.0
    for item, p in table:
        acc += p
        if u < acc:
            return item
    return default


class SimulatedDialer:
    """Places simulated calls on the campaign's clock (see the module docstring)."""

    name = "simulated"

    def __init__(self, clock: Clock, seed: int = 2026, model: BorrowerModel = DEFAULT_MODEL):
        self.clock = clock
        self.seed = seed
        self.model = model

    def _answer_probability(self, tier: str, request: DialRequest) -> float:
        from zoneinfo import ZoneInfo

        local = request.at.astimezone(ZoneInfo(TZ_HINT)).time()
        factor = next((f for bound, f in self.model.slot_factor if local < bound), 1.0)
        return min(0.95, self.model.answer.get(tier, 0.5) * factor)

    async def dial(self, request: DialRequest) -> DialResult:
        rng = random.Random(f"{self.seed}:{request.task_id}:{request.call_id}")
        dead = random.Random(f"{self.seed}:dead:{request.loan_id}").random()
        start = request.at
        if dead < self.model.dead_number:
            end = start + timedelta(seconds=4)
            await self.clock.sleep_until(end)
            return DialResult(CallSetup.INVALID_NUMBER, start, end)
        if rng.random() >= self._answer_probability(request.tier, request):
            setup = _pick(rng, self.model.unanswered, CallSetup.NO_ANSWER)  # type: ignore[arg-type]
            assert isinstance(setup, CallSetup)
            ring = {CallSetup.NO_ANSWER: 40, CallSetup.BUSY: 3, CallSetup.SWITCHED_OFF: 5}
            end = start + timedelta(seconds=ring.get(setup, 10))
            await self.clock.sleep_until(end)
            return DialResult(setup, start, end)
        behaviour = str(_pick(rng, self.model.answered, "cooperative"))  # type: ignore[arg-type]
        borrower = SimulatedBorrower(
            behaviour, rng, request.context.values, request.language, self.model
        )
        ring_s = rng.uniform(5, 20)
        from huifang.domain import scripts as sc

        state = sc.start(request.script, request.context)
        dialogue = Dialogue(
            state, borrower, request.language, clock=lambda: ring_s + borrower.seconds
        )
        hung_up = False
        try:
            record = dialogue.run()
        except CallEnded:
            record = dialogue.record
            hung_up = True
        end = start + timedelta(seconds=ring_s + borrower.seconds)
        await self.clock.sleep_until(end)
        return DialResult(
            CallSetup.ANSWERED,
            start,
            end,
            state=record.state,
            turns=tuple(
                TurnRecord(t.speaker, t.text, t.confidence, round(t.at_s, 1)) for t in record.turns
            ),
            handover_reason=record.handover_reason,
            hung_up=hung_up,
            recording_ref=None,
        )


PlaceCall = Callable[[DialRequest], Awaitable[DialResult]]


async def sip_place_call(request: DialRequest) -> DialResult:
    """The live call of `huifang campaign run`: `huifang.voice.calling.place_dial` (SIP target
    from HUIFANG_SIP_TARGET / HUIFANG_SIP_PROXY / HUIFANG_SIP_BIND; the attempt, recording and
    transcript stored by the call itself)."""
    from huifang.voice.calling import place_dial

    return await place_dial(request)


class SipDialer:
    """The live call: `place_call(request)` dials the borrower over SIP, runs the dialogue
    (TTS → RTP, RTP → VAD → ASR) and returns what happened, with the attempt it stored."""

    name = "sip"

    def __init__(self, place_call: PlaceCall) -> None:
        self._place_call = place_call

    async def dial(self, request: DialRequest) -> DialResult:
        return await self._place_call(request)
