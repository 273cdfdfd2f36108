"""Script answers as staff see them outside the call itself: personal values masked.

A borrower's answers and spoken turns can hold personal data: the ID tail given to the
identity check, a new phone or address. Which answers do is said by the script, step by step
(``personal: secret | phone | address`` on an ask, see `huifang.domain.scripts.Personal`), so
a manager who adds such a question in the script editor marks it there. The call screen
needs the values while the call runs; every later view (QA, the voice-call transcript API, the
borrower 360 contact history) shows them masked through `MaskBook`, so a new view cannot
forget one — the borrower's turns, and where an agent turn repeats them (`AnswerMask.turn`).

A contact is masked by the script it was made with, joined with the version of that script
in force now: a mark added later also masks older contacts, and a mark removed unmasks only
contacts made with a version without it. A contact whose script is unknown (recorded without
one — an inbound call to the FAQ assistant — or a version no longer readable) is masked by the
marks of every script in force and the inbound identity questions (ID tail, date of birth).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from huifang.domain import scripts as sc
from huifang.domain.identifiers import mask_phone
from huifang.services import configs

_HIDDEN = "****"
# An inbound call to the FAQ assistant runs no script: the assistant asks the identity
# questions itself (`voice.faq_dialogue`, ID_STEP and BIRTH_STEP), so their marks are here.
INBOUND_IDENTITY: Mapping[str, sc.Personal] = MappingProxyType(
    {"id_last4": sc.Personal.SECRET, "birth_date": sc.Personal.SECRET}
)


def mask_value(kind: sc.Personal, value: object) -> object:
    """One personal answer as staff see it after the call (None and "" stay as they are)."""
    if value is None or value == "":
        return value
    if kind is sc.Personal.SECRET:
        return _HIDDEN
    text = str(value)
    if kind is sc.Personal.PHONE:
        return mask_phone(text) if text.isdigit() and len(text) >= 7 else "*" * 6
    keep = min(6, max(0, len(text) // 3))  # an address: the province and city at most
    return text[:keep] + "*" * 6


# What an agent line at a personal step can repeat of the answer: a value quoted verbatim
# (“1234”), the value of a read-back (`voice.dialogue`: 您说的是…，对吗 / You said …, is that
# right — dates and amounts unquoted), and for a secret any run of digits. Calls recorded
# before read-backs of personal answers were stopped hold such lines.
_QUOTED = re.compile(r"“([^”]*)”")
_READ_BACK = re.compile(r"(您说的是|You said )(.+?)(，对吗|, is that right)")
_DIGIT_RUN = re.compile(r"[0-9０-９]{2,}[0-9０-９Xx]*")


def mask_agent_line(kind: sc.Personal, text: str) -> str:
    """An agent's line said at a personal step with the answer in it masked."""
    if kind is sc.Personal.SECRET:
        text = _READ_BACK.sub(lambda m: f"{m[1]}{_HIDDEN}{m[3]}", text)
        text = _DIGIT_RUN.sub(_HIDDEN, text)
    return _QUOTED.sub(lambda m: f"“{mask_value(kind, m[1])}”", text)


class AnswerMask:
    """The personal answers of one script (by question id) and how each is masked."""

    __slots__ = ("personal",)

    def __init__(self, personal: Mapping[str, sc.Personal]) -> None:
        self.personal = MappingProxyType(dict(personal))

    def value(self, question: str | None, value: object) -> object:
        """An answer to `question` (or the borrower's turn at that step), masked if personal."""
        kind = self.personal.get(question) if question else None
        return value if kind is None else mask_value(kind, value)

    def turn(self, speaker: str, question: str | None, text: str) -> str:
        """A stored call turn as staff see it: the borrower's turn at a personal step masked
        whole, the agent's only where it repeats the answer (its question and prompts stay
        readable for review)."""
        kind = self.personal.get(question) if question else None
        if kind is None:
            return text
        if speaker != "agent":
            return str(mask_value(kind, text))
        return mask_agent_line(kind, text)

    def answers(self, answers: Mapping[str, object]) -> dict[str, object]:
        """Every answer of a contact, the personal ones masked."""
        return {k: self.value(k, v) for k, v in answers.items()}


class MaskBook:
    """The masks of the scripts contacts were made with, each script version read once.

    With `session=` the scripts are read through the caller's transaction."""

    def __init__(self, engine: Engine | None, *, session: Session | None = None) -> None:
        self._engine = engine
        self._session = session
        self._masks: dict[tuple[str | None, int | None], AnswerMask] = {}
        self._in_force: dict[str, sc.Script] | None = None

    def _scripts_in_force(self) -> dict[str, sc.Script]:
        if self._in_force is None:
            self._in_force = configs.scripts(self._engine, session=self._session)
        return self._in_force

    def for_contact(self, script_id: str | None, version: int | None) -> AnswerMask:
        """The mask for a contact made with `script_id` v`version` (None: unknown)."""
        key = (script_id, version)
        found = self._masks.get(key)
        if found is not None:
            return found
        in_force = self._scripts_in_force()
        recorded = (
            configs.script(self._engine, script_id, version, session=self._session)
            if script_id is not None and version is not None
            else None
        )
        marks: list[Mapping[str, sc.Personal]]
        if recorded is None:  # no script (an inbound call) or an unknown one: strictest
            marks = [INBOUND_IDENTITY, *(sc.personal_answers(s) for s in in_force.values())]
        else:
            current = [in_force[recorded.id]] if recorded.id in in_force else []
            marks = [sc.personal_answers(s) for s in (recorded, *current)]
        personal: dict[str, sc.Personal] = {}
        for found in marks:
            for question, kind in found.items():
                # two marks for one question: hiding the whole value wins
                if personal.get(question) is not sc.Personal.SECRET:
                    personal[question] = kind
        mask = self._masks[key] = AnswerMask(personal)
        return mask
