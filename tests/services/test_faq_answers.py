"""The FAQ service on a stored loan: generic answers before identity verification, the
borrower's own figures after — the payoff amount equal to `huifang prepay-quote`'s — with the
knowledge version in the log and personal answers audited."""

from __future__ import annotations

import logging

import pytest
from selfservice_book import AS_OF, book_engine, clean_loan, cli_quote  # noqa: F401
from sqlalchemy import Engine, select

from huifang.domain.money import format_cny
from huifang.faq_files import load_knowledge
from huifang.security import audit
from huifang.services import faq, loan_views
from huifang.store.db import transaction
from huifang.store.models import Loan


def test_payoff_quoted_only_after_verification_and_equal_to_the_cli(
    book_engine: Engine,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    loan_id = clean_loan(book_engine)
    expected = cli_quote(book_engine, loan_id)["total"]
    amount = format_cny(loan_views.loan_payoff_quote(book_engine, loan_id, AS_OF).quote.total)
    assert f"{loan_views.loan_payoff_quote(book_engine, loan_id, AS_OF).quote.total:.2f}" == (
        expected
    )
    before = len(audit.search(book_engine, action="faq.answer", limit=1000))
    with caplog.at_level(logging.INFO, logger="huifang.faq"):
        generic = faq.ask(
            book_engine, "提前还款要多少钱", loan_id=loan_id, verified=False, today=AS_OF
        )
    assert generic.entry_id == "prepay_cost" and not generic.personal
    assert amount not in generic.text and "¥" not in generic.text
    assert f"v={load_knowledge().version}" in caplog.text and "entry=prepay_cost" in caplog.text
    assert len(audit.search(book_engine, action="faq.answer", limit=1000)) == before

    personal = faq.ask(book_engine, "提前还款要多少钱", loan_id=loan_id, verified=True, today=AS_OF)
    assert personal.personal and amount in personal.text
    english = faq.ask(
        book_engine,
        "how much to pay off the loan now",
        language="en",
        loan_id=loan_id,
        verified=True,
        today=AS_OF,
    )
    assert english.entry_id == "prepay_cost" and amount in english.text
    entries = audit.search(book_engine, action="faq.answer", limit=1000)
    assert len(entries) == before + 2
    assert entries[0].detail["version"] == load_knowledge().version
    assert entries[0].target_id == str(loan_id)


def test_next_payment_and_fee_rule_come_from_the_loan(book_engine: Engine) -> None:  # noqa: F811
    loan_id = clean_loan(book_engine)
    view = loan_views.loan_view(book_engine, loan_id, AS_OF)
    assert view.position is not None
    nxt = next(i for i in view.position.installments if i.settled_on is None)
    reply = faq.ask(book_engine, "下一期什么时候还", loan_id=loan_id, verified=True, today=AS_OF)
    assert reply.entry_id == "next_payment"
    day = nxt.due_date
    assert f"{day.year}年{day.month}月{day.day}日" in reply.text
    assert format_cny(nxt.outstanding) in reply.text
    values = faq.loan_values(book_engine, loan_id, AS_OF, "zh")
    with transaction(book_engine) as s:
        product = s.get(Loan, loan_id).product  # type: ignore[union-attr]
        tiers = product.prepayment_fee_tiers
    if tiers:
        first_pct = tiers.split(",")[0].split(":")[1]
        assert f"{first_pct}%" in str(values["fee_rule"])


def test_lock_in_loans_get_the_date_not_a_figure(book_engine: Engine) -> None:  # noqa: F811
    with transaction(book_engine) as s:
        ids = list(s.scalars(select(Loan.id).where(Loan.status == "active").order_by(Loan.id)))
    for loan_id in ids:
        try:
            loan_views.loan_payoff_quote(book_engine, loan_id, AS_OF)
        except ValueError:
            break
    else:
        pytest.skip("every loan of the demo book is past its lock-in")
    reply = faq.ask(
        book_engine, "什么时候可以提前还款", loan_id=loan_id, verified=True, today=AS_OF
    )
    assert reply.personal and "最早可以在" in reply.text and "¥" not in reply.text


def test_handover_and_unknown_questions(book_engine: Engine) -> None:  # noqa: F811
    human = faq.ask(book_engine, "转人工", verified=True, loan_id=None, today=AS_OF)
    assert human.handover and human.kind == "handover"
    unknown = faq.ask(None, "今天天气怎么样")
    assert unknown.kind == "unknown" and "转人工" in unknown.text
