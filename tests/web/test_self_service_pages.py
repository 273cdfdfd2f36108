"""Borrower self-service links: signed and expiring, identity check by ID suffix and date of
birth (audited), then the schedule and the same payoff quote the staff pages show."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from web_helpers import login_client

from huifang.security import audit
from huifang.services import loan_views, self_service
from huifang.web.app import create_app

AS_OF = date(2026, 11, 1)
# Database-independent logic: run on PostgreSQL only (the call screen and the route table
# cover SQLite) to keep the suite fast.
pytestmark = pytest.mark.parametrize(
    "book", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


def test_link_identity_check_and_quote(book, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HUIFANG_LINK_SECRET", "test-link-secret")
    app = create_app(book.engine)
    agent, csrf = login_client(app, "agent")
    made = agent.post(
        f"/api/v1/loans/{book.home_loan}/self-service-link", headers={"X-CSRF-Token": csrf}
    )
    assert made.status_code == 200, made.text
    url = made.json()["url"]
    borrower = TestClient(app)
    ask = borrower.get(url)
    assert ask.status_code == 200 and 'id="identity-form"' in ask.text
    assert 'id="quote-total"' not in ask.text

    view = loan_views.borrower_360(book.engine, book.home_borrower, AS_OF)
    assert view.birth_date is not None
    wrong = borrower.post(
        url,
        data={
            "id_suffix": "0000" if view.id_number[-4:] != "0000" else "1111",
            "birth_date": view.birth_date.isoformat(),
        },
    )
    assert wrong.status_code == 403 and 'id="quote-total"' not in wrong.text
    wrong_dob = borrower.post(
        url,
        data={
            "id_suffix": view.id_number[-4:].lower(),
            "birth_date": (view.birth_date + timedelta(days=1)).isoformat(),
        },
    )
    assert wrong_dob.status_code == 403

    ok = borrower.post(
        url,
        data={"id_suffix": view.id_number[-4:].lower(), "birth_date": view.birth_date.isoformat()},
    )
    assert ok.status_code == 200 and 'id="self-schedule"' in ok.text
    # the proof cookie lets the borrower change the quote date without asking again
    page = borrower.get(url, params={"as_of": AS_OF.isoformat()})
    assert page.status_code == 200
    shown = re.search(r'id="quote-total" data-amount="([0-9.]+)"', page.text)
    try:
        expected = loan_views.loan_payoff_quote(book.engine, book.home_loan, AS_OF).quote.total
        assert shown is not None and shown.group(1) == f"{expected:.2f}"
    except ValueError:
        assert 'id="quote-refused"' in page.text
    actions = [e.action for e in audit.search(book.engine, action="selfservice")]
    assert actions.count("selfservice.identity_failed") == 2
    assert "selfservice.identity" in actions and "selfservice.link" in actions

    # five failures in a row lock the check, even with the right details
    for _ in range(5):
        assert (
            borrower.post(url, data={"id_suffix": "zzzz", "birth_date": "1900-01-01"}).status_code
            == 403
        )
    right = {"id_suffix": view.id_number[-4:], "birth_date": view.birth_date.isoformat()}
    locked = TestClient(app).post(url, data=right)
    assert locked.status_code == 429 and 'id="quote-total"' not in locked.text

    # tampered, expired and foreign links are refused
    token = url.removeprefix("/s/")
    payload, _, sig = token.partition(".")
    assert TestClient(app).get(f"/s/{payload}.{sig[:-2]}AA").status_code == 403
    key = self_service.link_key(tmp_path)
    old = self_service.make_link(
        key, book.home_borrower, book.home_loan, datetime.now(UTC) - timedelta(days=8)
    )
    expired = TestClient(app).get(f"/s/{old}")
    assert expired.status_code == 403 and "过期" in expired.text
    other = agent.post(
        f"/api/v1/loans/{book.other_loan}/self-service-link", headers={"X-CSRF-Token": csrf}
    )
    assert other.status_code == 403
