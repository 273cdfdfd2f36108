"""The FAQ assistant as a use case: answer a borrower's question about a loan from the curated
knowledge base (`knowledge/faq.yaml`, `domain/faq.py`), quoting the borrower's own figures —
payoff amount, fee rule, next due date and amount, days past due — only after identity
verification. Shared by the self-service page, its JSON API and the inbound voice assistant
(`voice/faq_dialogue.py`).

The figures come from the loan arithmetic the staff pages use: the payoff quote is
`loan_views.loan_payoff_quote` (the same as `huifang prepay-quote`), the fee rule is the
product's `prepayment_policy`, the next installment is the loan's position as of today.

Every answer is logged with the knowledge base's id and version and the entry it came from
(logger ``huifang.faq``); an answer that quotes the borrower's figures is also written to the
audit log (``faq.answer``), since it reads personal financial data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import Engine

from huifang.domain import faq
from huifang.domain.prepayment import check_eligibility
from huifang.domain.scripts import Language, Text
from huifang.faq_files import load_knowledge
from huifang.security import audit
from huifang.services import loan_views
from huifang.services.calls import HOTLINE, LENDER_NAME
from huifang.settings import business_today
from huifang.store.db import transaction
from huifang.store.models import Loan
from huifang.voice.faq import understand_question

log = logging.getLogger("huifang.faq")

_HANDOVER = Text(
    "好的，正在为您转接人工服务，请稍候。您也可以直接拨打客服热线 {hotline}。",
    "Certainly, I'm transferring you to a colleague. You can also call {hotline} directly.",
)


def public_values() -> dict[str, object]:
    """The values anyone may hear: the lender's name and hotline."""
    return {"lender_name": LENDER_NAME, "hotline": HOTLINE}


def _penalty_rule(annual_rate: Decimal, multiplier: Decimal, language: Language) -> str:
    rate = (annual_rate * multiplier * 100).quantize(Decimal("0.01"))
    mult = f"{multiplier.normalize():f}"
    if language == "zh":
        return f"逾期本金按合同利率的{mult}倍（年化{rate}%）按日计收罚息"
    return (
        f"overdue principal accrues penalty interest daily at {mult} times the contract rate "
        f"({rate}% a year)"
    )


def loan_values(engine: Engine, loan_id: int, today: date, language: Language) -> dict[str, object]:
    """The borrower's own figures for the FAQ's personal answers (say them only after the
    identity check). A figure that does not apply is left out, so the answers that need it
    are not chosen (no payoff figure inside the lock-in period, no days past due when the
    loan is current)."""
    with transaction(engine) as s:
        loan = s.get(Loan, loan_id)
        if loan is None:
            raise loan_views.NotFound(f"贷款不存在 / no loan {loan_id}")
        product = loan.product
        policy = loan_views.prepayment_policy(product)
        multiplier = product.penalty_rate_multiplier or Decimal("1.5")
        annual_rate = loan.annual_rate
        terms = loan_views.loan_terms(loan, product)
    view = loan_views.loan_view(engine, loan_id, today)
    values: dict[str, object] = {
        "contract_no": view.contract_no,
        "branch_name": view.branch_name,
        "lock_in_months": policy.lock_in_months,
        "fee_rule": faq.fee_rule_text(
            [(t.before_month, t.rate) for t in policy.fee.tiers],
            policy.fee.base.value,
            policy.lock_in_months,
            language,
            policy.fee.months_of_interest,
        ),
        "penalty_rule": _penalty_rule(annual_rate, multiplier, language),
    }
    eligibility = check_eligibility(terms, policy, today)
    if not eligibility.allowed and eligibility.allowed_from is not None:
        values["prepay_from"] = eligibility.allowed_from
    if view.position is not None:
        open_ = [i for i in view.position.installments if i.settled_on is None]
        if open_:
            values["next_due_date"] = open_[0].due_date
            values["next_due_amount"] = open_[0].outstanding
            values["remaining_periods"] = len(open_)
        if view.dpd > 0:
            values["days_past_due"] = view.dpd
            values["overdue_amount"] = sum(
                (i.outstanding for i in view.position.overdue_installments), Decimal("0.00")
            )
    try:
        quote = loan_views.loan_payoff_quote(engine, loan_id, today).quote
    except ValueError:  # inside the lock-in period, or the loan is closed
        pass
    else:
        values.update(
            payoff_date=quote.as_of,
            payoff_amount=quote.total,
            prepayment_fee=quote.fee.net,
            interest_saved=quote.interest_saved,
        )
    return values


@dataclass(frozen=True)
class FaqReply:
    """What the assistant says: the answer (or the handover words) and what it was based on."""

    text: str
    kind: str  # "answer" | "clarify" | "unknown" | "handover"
    entry_id: str | None
    personal: bool
    handover: bool
    knowledge_id: str
    knowledge_version: int
    confidence: float


def ask(
    engine: Engine | None,
    question: str,
    *,
    language: Language = "zh",
    loan_id: int | None = None,
    verified: bool = False,
    today: date | None = None,
    channel: str = "web",
    actor: audit.Actor | None = None,
    kb: faq.Knowledge | None = None,
) -> FaqReply:
    """Answer one question. With `verified` and a loan the personal answers may quote the
    loan's figures; otherwise only the generic ones are given. A request for a human (or
    distress) is answered with the handover words and `handover=True`; the caller connects
    an agent (voice) or shows the hotline (web)."""
    kb = kb or load_knowledge()
    understood = understand_question(kb, question)
    public = public_values()
    if understood.human:
        text = Text(_HANDOVER.zh.format(**public), _HANDOVER.en.format(**public)).get(language)
        reply = FaqReply(text, "handover", None, False, True, kb.id, kb.version, 1.0)
        _log(reply, channel, loan_id, question)
        return reply
    values = None
    if verified and loan_id is not None and engine is not None:
        values = loan_values(engine, loan_id, today or business_today(), language)
    found = faq.answer(kb, understood.match, language, public, values)
    reply = FaqReply(
        found.text,
        found.kind.value,
        found.entry_id,
        found.personal,
        False,
        found.knowledge_id,
        found.knowledge_version,
        found.confidence,
    )
    _log(reply, channel, loan_id, question)
    if reply.personal and engine is not None and loan_id is not None:
        audit.record_now(
            engine,
            actor or audit.Actor(None, None, None),
            "faq.answer",
            target_type="loan",
            target_id=loan_id,
            branch_code=loan_views.loan_branch(engine, loan_id),
            detail={
                "entry": reply.entry_id,
                "knowledge": reply.knowledge_id,
                "version": reply.knowledge_version,
                "channel": channel,
            },
        )
    return reply


def _log(reply: FaqReply, channel: str, loan_id: int | None, question: str) -> None:
    # the question is logged by length only: borrowers type personal details into it
    log.info(
        "faq kb=%s v=%d channel=%s loan=%s kind=%s entry=%s personal=%s conf=%.2f q_len=%d",
        reply.knowledge_id,
        reply.knowledge_version,
        channel,
        loan_id,
        reply.kind,
        reply.entry_id,
        reply.personal,
        reply.confidence,
        len(question),
    )
