"""The online follow-up questionnaire (在线回访问卷): a follow-up script run by the borrower in
the browser, on the same runner (`domain.scripts`) as an agent's call and the voice agent.

The borrower reaches the questionnaire through the self-service link, after its identity check
(last four ID characters and date of birth — stronger than a script's check). So the script's
own identity questions are answered for them with the values that pass the check
(`answer_verified_identity`): the runner still walks its identity step, marks the run
verified and records the answers, and every later step (branching, loan details) behaves as
on a call. Only questions that come before the identity check and are named by it are
answered; anything else is left to the borrower.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal

from huifang.domain import scripts as sc


def identity_answers(
    script: sc.Script, values: Mapping[str, sc.ContextValue]
) -> dict[str, sc.AnswerValue]:
    """The answers that pass the script's identity check with these context values: every
    pass condition must be an equality with a constant or a context variable ({} when the
    script has no identity check or one that cannot be answered this way)."""
    step = next((a for a in script.asks() if a.identity is not None), None)
    if step is None or step.identity is None:
        return {}
    answers: dict[str, sc.AnswerValue] = {}
    for c in step.identity.passes:
        if c.op is not sc.Op.EQ or c.question in answers:
            return {}
        if c.var is not None:
            value = values.get(c.var)
            if value is None or isinstance(value, int):
                return {}
            answers[c.question] = value
        elif isinstance(c.value, bool | str | Decimal | date):
            answers[c.question] = c.value
        else:
            return {}
    return answers


def answer_verified_identity(state: sc.RunState) -> sc.RunState:
    """Answer the identity questions the run is waiting on, up to and including the identity
    check, for a borrower whose identity the link already verified."""
    answers = identity_answers(state.script, state.context.values)
    for _ in range(len(answers)):
        if state.finished or state.identity_verified or state.position not in answers:
            break
        answered = sc.answer(state, answers[state.position])
        if answered.error is not None:  # not accepted: leave the question to the borrower
            break
        state = answered
    return state
