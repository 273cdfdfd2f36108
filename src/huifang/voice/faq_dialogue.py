"""The inbound FAQ assistant (智能客服): a borrower calls in, the assistant gives the recording
notice, verifies identity (last four ID characters and date of birth, as the self-service link
does), then answers questions in a loop from the FAQ knowledge base (`services.faq.ask`) and
hands over to a person on request (转人工, key 0) or distress. Before — or without — a passed
identity check only the generic answers are given; the borrower's own figures (payoff amount,
next due date and amount) are quoted only after it.

It talks through the same `Channel` as the outbound dialogue (`voice.dialogue`): a text
console or scripted replies here (`huifang voice faq`), TTS + ASR on a SIP call. The entry
function for telephony is `run_inbound_faq(engine, channel, caller_number=…)`; it returns a
`FaqCallRecord` (turns, verified flag, answered entries, handover reason, knowledge version).
`inbound_faq_dialogue` builds the call without running it, so that a caller who hangs up
mid-call still leaves the record so far (`voice.calling.answer_inbound` stores it as an
inbound attempt). The borrower's replies to the identity questions are turns of the steps
``id_last4`` and ``birth_date``, which every later view masks (`services.answer_masking`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import Engine, select

from huifang.domain import scripts as sc
from huifang.domain.compliance import recording_notice
from huifang.faq_files import load_knowledge
from huifang.security import audit, pii
from huifang.services import faq as faq_service
from huifang.services import self_service
from huifang.services.calls import LENDER_NAME
from huifang.settings import business_today
from huifang.store.db import transaction
from huifang.store.models import Borrower, Loan
from huifang.voice.dialogue import Channel, Heard, Turn
from huifang.voice.intents import distress, is_silence, wants_human, yes_no
from huifang.voice.nlu import Expectation
from huifang.voice.text import compact, normalize

MAX_ID_TRIES = 2  # identity attempts on one call before going on with generic answers
MAX_SILENCES = 2  # silent turns in a row before the call is closed politely
MAX_QUESTIONS = 20  # a call is handed over after this many questions (a person helps better)
ID_STEP, BIRTH_STEP = "id_last4", "birth_date"  # the identity replies' steps (masked later)

_T = sc.Text
GREETING = _T(
    "这里是{lender}智能客服。为了查询您本人的贷款信息，需要先核实身份。",
    "This is the {lender} automated assistant. To look up your own loan, I first need to "
    "verify your identity.",
)
ASK_ID = _T(
    "请说出或按键输入您身份证号码的后四位。",
    "Please say or key in the last four characters of your ID number.",
)
ASK_DOB = _T(
    "请说出您的出生日期，例如1985年3月12日，或按键输入八位数字。",
    "Please say your date of birth, e.g. 1985-03-12, or key in eight digits.",
)
ID_OK = _T("身份核实成功。", "Thank you, your identity is verified.")
ID_FAILED = _T(
    "抱歉，身份信息未能核实。我仍可以为您解答一般性问题，但不能透露贷款信息。",
    "Sorry, I could not verify your identity. I can still answer general questions, but "
    "not about your loan.",
)
ID_RETRY = _T("信息不符，请再试一次。", "That does not match; let's try once more.")
LOCKED = _T(
    "核验失败次数过多，请稍后再试或转人工。",
    "Too many failed checks; please try later or ask for an agent.",
)
UNKNOWN_CALLER = _T(
    "未能根据来电号码找到您的贷款，我可以为您解答一般性问题。",
    "I could not find a loan for this number; I can answer general questions.",
)
ASK_QUESTION = _T(
    "请问有什么可以帮您？您可以问提前还款、还款日期、逾期、结清证明等问题，说“转人工”可转接人工服务。",
    "How can I help? You can ask about early repayment, due dates, late payments, settlement "
    'certificates and more; say "agent" for a person.',
)
ANYTHING_ELSE = _T(
    "还有其他问题吗？没有的话请说“没有了”。",
    'Anything else? Say "no" if that is all.',
)
SORRY = _T("抱歉，我没有听清楚。", "Sorry, I didn't catch that.")
GOODBYE = _T("感谢您的来电，再见。", "Thank you for calling. Goodbye.")
TOO_MANY = _T(
    "为了更好地帮助您，我为您转接人工服务，请稍候。",
    "To help you better, I'm transferring you to a colleague.",
)
_DONE_ZH = ("没有了", "没了", "没有问题", "不用了", "就这些", "再见", "挂了", "好的谢谢", "谢谢")
_DONE_EN = ("no", "nothing", "thats all", "that is all", "bye", "goodbye", "no thanks", "thanks")


@dataclass
class FaqCallRecord:
    """What an inbound FAQ call produced (same turn shape as an outbound call)."""

    knowledge_id: str
    knowledge_version: int
    borrower_id: int | None = None
    loan_id: int | None = None
    verified: bool = False
    turns: list[Turn] = field(default_factory=list)
    answered: list[str] = field(default_factory=list)  # entry ids, in order
    handover_reason: str | None = None
    ended: str = "goodbye"  # goodbye | handover | silence


_CN_DIGITS = str.maketrans("零〇一二三四五六七八九幺两", "0012345678912")


def read_id_suffix(heard: Heard) -> str | None:
    """The last four ID characters from keys or speech (一二三四, 幺, X/叉)."""
    if heard.keys is not None:
        keys = heard.keys.rstrip("#").replace("*", "X")
        return keys.upper() if re.fullmatch(r"[0-9]{3}[0-9X]", keys.upper()) else None
    t = compact(heard.text).translate(_CN_DIGITS).upper()
    t = t.replace("叉", "X").replace("EX", "X")
    for word, digit in (
        ("ZERO", "0"),
        ("ONE", "1"),
        ("TWO", "2"),
        ("THREE", "3"),
        ("FOUR", "4"),
        ("FIVE", "5"),
        ("SIX", "6"),
        ("SEVEN", "7"),
        ("EIGHT", "8"),
        ("NINE", "9"),
    ):
        t = t.replace(word, digit)
    chars = re.sub(r"[^0-9X]", "", t)
    return chars[-4:] if re.fullmatch(r"[0-9]{3}[0-9X]", chars[-4:]) else None


_EN_MONTHS = {
    m: i
    for i, m in enumerate(
        (
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ),
        start=1,
    )
}


def read_birth_date(heard: Heard, today: date) -> date | None:
    """A date of birth from keys (YYYYMMDD) or speech (1985年3月12日, 一九八五年三月十二日,
    1985-03-12, March 12 1985, 12 March 1985)."""
    text = heard.keys.rstrip("#") if heard.keys is not None else heard.text
    digits = re.sub(r"\D", "", text)
    if heard.keys is not None or re.fullmatch(r"\d{8}", text.strip()):
        try:
            return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
        except ValueError:
            return None
    t = normalize(text)
    m = re.search(r"([a-z]+) (\d{1,2})(?:st|nd|rd|th)? (\d{4})", t) or re.search(
        r"(\d{1,2})(?:st|nd|rd|th)? (?:of )?([a-z]+) (\d{4})", t
    )
    if m:
        a, b, year = m.groups()
        month_name, day = (a, b) if a.isalpha() else (b, a)
        month = _EN_MONTHS.get(month_name)
        if month:
            try:
                return date(int(year), month, int(day))
            except ValueError:
                return None
    try:
        found = sc.parse_date(text, today, sc.DatePreference.PAST)
    except sc.AnswerError:
        return None
    return found if 1900 <= found.year < today.year else None


def find_caller(engine: Engine, caller_number: str) -> tuple[int, int] | None:
    """The borrower calling (by the blind index of the mobile) and their first active loan."""
    ring = pii.current_ring()
    digits = re.sub(r"\D", "", caller_number)[-11:]
    if not digits:
        return None
    hashed = pii.search_hash(ring, "borrowers", "mobile", digits)
    with transaction(engine) as s:
        borrower_id = s.scalar(select(Borrower.id).where(Borrower.mobile_hash == hashed))
        if borrower_id is None:
            return None
        loan_id = s.scalar(
            select(Loan.id)
            .where(Loan.borrower_id == borrower_id)
            .order_by((Loan.status != "active"), Loan.disbursement_date.desc(), Loan.id)
            .limit(1)
        )
    return (int(borrower_id), int(loan_id)) if loan_id is not None else None


class FaqDialogue:
    """One inbound call; `run()` drives it to goodbye, silence or a handover."""

    def __init__(
        self,
        engine: Engine | None,
        channel: Channel,
        *,
        language: sc.Language = "zh",
        borrower_id: int | None = None,
        loan_id: int | None = None,
        today: date | None = None,
        clock: Callable[[], float] | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        kb = load_knowledge()
        self.kb = kb
        self.engine = engine
        self.channel = channel
        self.language: sc.Language = language
        self.today = today or business_today()
        self._clock = clock or (lambda: 0.0)
        self._now = now or (lambda: datetime.now(UTC))
        self.record = FaqCallRecord(kb.id, kb.version, borrower_id, loan_id)

    def _t(self, text: sc.Text, **values: str) -> str:
        return text.get(self.language).format(**values)

    def _say(self, text: str) -> None:
        self.record.turns.append(Turn("agent", text, None, None, self._clock()))
        self.channel.speak(text)

    def _hear(self, expect: Expectation, step_id: str | None = None) -> Heard:
        heard = self.channel.listen(expect)
        shown = heard.text if heard.keys is None else f"[按键 {heard.keys}]"
        self.record.turns.append(Turn("borrower", shown, heard.confidence, step_id, self._clock()))
        return heard

    def _expect(self, kind: str, question: sc.Text) -> Expectation:
        return Expectation(kind, self.today, (), question.get(self.language))

    def _wants_out(self, heard: Heard) -> str | None:
        if heard.keys is not None:
            return "borrower_request" if heard.keys.rstrip("#") == "0" else None
        if distress(heard.text):
            return "distress"
        return "borrower_request" if wants_human(heard.text) else None

    def _handover(self, reason: str) -> FaqCallRecord:
        reply = faq_service.ask(None, "转人工", language=self.language, kb=self.kb)
        self._say(reply.text)
        self.record.handover_reason = reason
        self.record.ended = "handover"
        return self.record

    # -- identity ----------------------------------------------------------------------------
    def _verify(self) -> str | None:
        """Run the identity check; a handover reason when the caller asked for a person."""
        rec = self.record
        assert self.engine is not None and rec.borrower_id is not None and rec.loan_id is not None
        claims = self_service.LinkClaims(rec.borrower_id, rec.loan_id, self._now())
        for attempt in range(MAX_ID_TRIES):
            if self_service.locked_out(self.engine, rec.borrower_id, self._now()):
                self._say(self._t(LOCKED))
                return None
            self._say(self._t(ASK_ID))
            heard = self._hear(self._expect("free_text", ASK_ID), ID_STEP)
            if reason := self._wants_out(heard):
                return reason
            suffix = read_id_suffix(heard)
            self._say(self._t(ASK_DOB))
            heard = self._hear(self._expect("date", ASK_DOB), BIRTH_STEP)
            if reason := self._wants_out(heard):
                return reason
            born = read_birth_date(heard, self.today)
            checked = self_service.check_identity(
                self.engine,
                claims,
                suffix,
                born,
                self._now(),
                audit.Actor("voice-faq", None, None),
                {"channel": "voice-faq"},
            )
            if checked is self_service.IdentityCheck.LOCKED:
                self._say(self._t(LOCKED))
                return None
            if checked is self_service.IdentityCheck.PASSED:
                rec.verified = True
                self._say(self._t(ID_OK))
                return None
            if attempt + 1 < MAX_ID_TRIES:
                self._say(self._t(ID_RETRY))
        self._say(self._t(ID_FAILED))
        return None

    # -- the call ----------------------------------------------------------------------------
    def run(self) -> FaqCallRecord:
        rec = self.record
        self._say(recording_notice(self.language, automated=True))
        if self.engine is not None and rec.loan_id is not None:
            self._say(self._t(GREETING, lender=LENDER_NAME))
            if reason := self._verify():
                return self._handover(reason)
        else:
            self._say(self._t(UNKNOWN_CALLER))
        self._say(self._t(ASK_QUESTION))
        silences = 0
        for _ in range(MAX_QUESTIONS):
            heard = self._hear(self._expect("free_text", ASK_QUESTION))
            if heard.keys is None and is_silence(heard.text):
                silences += 1
                if silences >= MAX_SILENCES:
                    self._say(self._t(GOODBYE))
                    rec.ended = "silence"
                    return rec
                self._say(self._t(SORRY) + self._t(ASK_QUESTION))
                continue
            silences = 0
            if reason := self._wants_out(heard):
                return self._handover(reason)
            if self._done(heard):
                self._say(self._t(GOODBYE))
                return rec
            reply = faq_service.ask(
                self.engine,
                heard.text,
                language=self.language,
                loan_id=rec.loan_id,
                verified=rec.verified,
                today=self.today,
                channel="voice",
                actor=audit.Actor("voice-faq", None, None),
                kb=self.kb,
            )
            if reply.handover:
                return self._handover("borrower_request")
            if reply.entry_id:
                rec.answered.append(reply.entry_id)
            self._say(reply.text)
            self._say(self._t(ANYTHING_ELSE))
        self._say(self._t(TOO_MANY))
        rec.handover_reason = "too_many_questions"
        rec.ended = "handover"
        return rec

    def _done(self, heard: Heard) -> bool:
        if heard.keys is not None:
            return heard.keys.rstrip("#") == "2"
        t = compact(heard.text)
        if any(p == t or (len(p) > 2 and p in t) for p in _DONE_ZH):
            return True
        en = normalize(heard.text)
        if en in _DONE_EN or any(f" {p} " in f" {en} " for p in _DONE_EN if " " in p):
            return True
        return yes_no(heard.text).value is False and len(t) <= 4


def inbound_faq_dialogue(
    engine: Engine,
    channel: Channel,
    *,
    caller_number: str | None = None,
    loan_id: int | None = None,
    language: sc.Language = "zh",
    today: date | None = None,
    clock: Callable[[], float] | None = None,
) -> FaqDialogue:
    """An inbound call, ready to run: the caller's loan found by the calling number (or
    `loan_id`); `run()` answers it. Its `record` holds what happened even if the call ends
    early."""
    borrower_id: int | None = None
    if loan_id is not None:
        borrower_id = self_service.loan_borrower(engine, loan_id)
    elif caller_number:
        found = find_caller(engine, caller_number)
        if found is not None:
            borrower_id, loan_id = found
    return FaqDialogue(
        engine,
        channel,
        language=language,
        borrower_id=borrower_id,
        loan_id=loan_id,
        today=today,
        clock=clock,
    )


def run_inbound_faq(
    engine: Engine,
    channel: Channel,
    *,
    caller_number: str | None = None,
    loan_id: int | None = None,
    language: sc.Language = "zh",
    today: date | None = None,
) -> FaqCallRecord:
    """Answer an inbound call: find the caller's loan by the calling number (or take
    `loan_id`), verify identity, then answer questions until goodbye or a handover. This is
    the function a SIP user agent calls with its TTS/ASR channel for an incoming call."""
    return inbound_faq_dialogue(
        engine,
        channel,
        caller_number=caller_number,
        loan_id=loan_id,
        language=language,
        today=today,
    ).run()
