"""The self-service link's contact update, online questionnaire and FAQ box (pages and the
borrower's JSON API), and the agent's confirmation of a contact change on the borrower 360."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from web_helpers import HOME, login_client

from huifang.services import followup, loan_views
from huifang.settings import business_today
from huifang.store.db import transaction
from huifang.store.followup_models import FollowupTask, Visit
from huifang.store.models import Borrower, Branch, Loan
from huifang.web.app import create_app

AS_OF = date(2026, 11, 1)
pytestmark = pytest.mark.parametrize(
    "book", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


def _link(agent: TestClient, csrf: str, loan_id: int) -> str:
    made = agent.post(f"/api/v1/loans/{loan_id}/self-service-link", headers={"X-CSRF-Token": csrf})
    assert made.status_code == 200, made.text
    return str(made.json()["url"])


def _identity(engine: Any, loan_id: int) -> dict[str, str]:
    with transaction(engine) as s:
        borrower_id = s.get(Loan, loan_id).borrower_id  # type: ignore[union-attr]
    view = loan_views.borrower_360(engine, borrower_id, AS_OF)
    assert view.birth_date is not None
    return {"id_suffix": view.id_number[-4:], "birth_date": view.birth_date.isoformat()}


def _task_loan(engine: Any) -> int:
    followup.generate_tasks(engine, AS_OF)
    with transaction(engine) as s:
        loan_id = s.scalar(
            select(FollowupTask.loan_id)
            .join(Loan, Loan.id == FollowupTask.loan_id)
            .join(Borrower, Borrower.id == Loan.borrower_id)
            .join(Branch, Branch.id == Loan.branch_id)
            .where(
                Branch.code == HOME,  # the test agent's branch
                FollowupTask.closed_at.is_(None),
                FollowupTask.script.in_(["routine", "first_visit"]),
                Borrower.kind == "individual",
                Borrower.birth_date.is_not(None),
            )
            .order_by(FollowupTask.id)
            .limit(1)
        )
    if loan_id is None:
        pytest.skip("no open task for an individual borrower")
    return int(loan_id)


def test_faq_box_contact_change_and_agent_confirmation(book, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HUIFANG_LINK_SECRET", "test-link-secret")
    app = create_app(book.engine)
    agent, csrf = login_client(app, "agent")
    loan_id = book.home_loan
    url = _link(agent, csrf, loan_id)
    borrower = TestClient(app)

    # before the identity check: the FAQ box answers in general terms only
    ask = borrower.get(url)
    assert 'id="faq-form"' in ask.text and 'id="contact-form"' not in ask.text
    generic = borrower.post(f"{url}/faq", data={"question": "提前还款要多少钱"})
    assert generic.status_code == 200 and 'data-entry="prepay_cost"' in generic.text
    assert "¥" not in generic.text
    refused = borrower.post(f"{url}/contact", data={"field": "mobile", "value": "13912345678"})
    assert refused.status_code == 403

    page = borrower.post(url, data=_identity(book.engine, loan_id))
    assert page.status_code == 200
    assert 'id="contact-form"' in page.text and 'id="questionnaire-card"' in page.text
    personal = borrower.post(f"{url}/faq", data={"question": "提前还宽要多少钱"})  # 款 → 宽
    assert 'data-entry="prepay_cost"' in personal.text
    assert "¥" in personal.text or "最早可在" in personal.text  # a payoff, or the unlock date
    unknown = borrower.post(f"{url}/faq", data={"question": "今天天气怎么样"})
    assert 'data-kind="unknown"' in unknown.text and "转人工" in unknown.text

    bad = borrower.post(f"{url}/contact", data={"field": "mobile", "value": "12345"})
    assert bad.status_code == 400 and 'id="contact-error"' in bad.text
    ok = borrower.post(f"{url}/contact", data={"field": "mobile", "value": "139 1234 5678"})
    assert ok.status_code == 200 and "139****5678" in ok.text and "13912345678" not in ok.text

    # the agent sees the change on the borrower 360, masked, and confirms it
    b360 = agent.get(f"/borrowers/{book.home_borrower}")
    assert 'id="contact-changes"' in b360.text and "139****5678" in b360.text
    assert "13912345678" not in b360.text
    listed = agent.get(f"/api/v1/borrowers/{book.home_borrower}/contact-changes").json()
    change = listed[0]
    assert change["status"] == "pending" and change["new_value_masked"] == "139****5678"
    done = agent.post(
        f"/contact-changes/{change['id']}/review",
        data={"decision": "confirm"},
        headers={"X-CSRF-Token": csrf},
    )
    assert done.status_code == 200 and "confirmed" in done.text
    again = agent.post(
        f"/api/v1/contact-changes/{change['id']}/review",
        json={"approve": True},
        headers={"X-CSRF-Token": csrf},
    )
    assert again.status_code == 409
    view = loan_views.borrower_360(book.engine, book.home_borrower, AS_OF)
    assert view.mobile == "13912345678"
    manager, mcsrf = login_client(app, "manager")
    assert (
        manager.post(
            f"/api/v1/contact-changes/{change['id']}/review",
            json={"approve": True},
            headers={"X-CSRF-Token": mcsrf},
        ).status_code
        == 403
    )


def test_borrower_api_verify_faq_questionnaire(book, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HUIFANG_LINK_SECRET", "test-link-secret")
    app = create_app(book.engine)
    agent, csrf = login_client(app, "agent")
    loan_id = _task_loan(book.engine)
    token = _link(agent, csrf, loan_id).removeprefix("/s/")
    api = TestClient(app)
    base = f"/api/v1/self-service/{token}"

    assert (
        api.post(f"{base}/contact-changes", json={"field": "address", "value": "x"}).status_code
        == 401
    )
    assert api.get(f"{base}/questionnaire").status_code == 401
    assert (
        api.post(
            f"{base}/verify", json={"id_suffix": "0000", "birth_date": "1900-01-01"}
        ).status_code
        == 403
    )
    verified = api.post(f"{base}/verify", json=_identity(book.engine, loan_id))
    assert verified.status_code == 200, verified.text
    proof = {"X-Huifang-Proof": verified.json()["proof"]}

    generic = api.post(f"{base}/faq", json={"question": "下一期什么时候还"}).json()
    assert generic["entry_id"] == "next_payment" and not generic["personal"]
    mine = api.post(f"{base}/faq", json={"question": "下一期什么时候还"}, headers=proof).json()
    assert mine["personal"] and re.search(r"\d{4}年\d{1,2}月\d{1,2}日", mine["answer"])
    assert mine["knowledge_version"] >= 1
    english = api.post(
        f"{base}/faq", json={"question": "When is my next payment?", "lang": "en"}, headers=proof
    ).json()
    assert english["personal"] and "¥" in english["answer"]

    change = api.post(
        f"{base}/contact-changes",
        json={"field": "address", "value": "广东省深圳市南山区科技园一路一号"},
        headers=proof,
    )
    assert change.status_code == 200 and change.json()["status"] == "pending"
    assert "科技园一路一号" not in change.text

    prepay = api.post(
        f"{base}/early-repayment-request",
        json={"requested_date": business_today().isoformat()},
        headers=proof,
    )
    assert prepay.status_code in (200, 400), prepay.text  # 400 inside the lock-in period
    assert (
        api.post(
            f"{base}/early-repayment-request", json={"requested_date": "2026-01-01"}
        ).status_code
        == 401
    )

    q = api.get(f"{base}/questionnaire", headers=proof).json()
    assert q["available"] and q["question"] and not q["finished"]
    for _ in range(40):
        if q["finished"]:
            break
        kind, step = q["answer_type"], q["question"]
        codes = [o["code"] for o in q["options"]]
        value = {
            "yes_no": "否" if ("变更" in step or "困难" in step) else "是",
            "choice": next(
                (c for c in ("down", "normal") if c in codes), codes[0] if codes else ""
            ),
            "money": "1000",
            "number": "1",
            "date": "2026-11-05",
        }.get(kind, "无")
        r = api.post(f"{base}/questionnaire/answer", json={"value": value}, headers=proof)
        assert r.status_code == 200, r.text
        q = r.json()
    assert q["finished"] and q["visit_id"] and q["attempt_id"]
    with transaction(book.engine) as s:
        visit = s.get(Visit, q["visit_id"])
        assert visit is not None and visit.channel == "self-service-link"
        assert visit.answers.get("income_change") == "down"
    late = api.post(f"{base}/questionnaire/answer", json={"value": "是"}, headers=proof)
    assert late.status_code == 409
