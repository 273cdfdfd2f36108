"""Restructuring pages and their /api/v1 twins: a risk officer asks, a second one decides;
the maker is refused their own request on both surfaces; Chinese first, English on request."""

from __future__ import annotations

from datetime import date, timedelta

from web_helpers import HOME, PASSWORD, login_client

from huifang.security.accounts import create_user
from huifang.web.app import create_app


def test_ask_decide_and_maker_checker_on_pages_and_api(book) -> None:  # type: ignore[no-untyped-def]
    create_user(book.engine, "risk-checker", PASSWORD, "risk", branch_codes=[HOME])
    app = create_app(book.engine)
    maker, maker_csrf = login_client(app, "risk")
    checker, checker_csrf = login_client(app, "risk-checker")
    loan = book.home_loan
    on = (date.today() + timedelta(days=10)).isoformat()

    b360 = maker.get(f"/borrowers/{book.home_borrower}")
    assert f'href="/loans/{loan}/restructuring"' in b360.text
    agent = login_client(app, "agent")[0].get(f"/borrowers/{book.home_borrower}")
    assert "/restructuring" not in agent.text
    page = maker.get(f"/loans/{loan}/restructuring")
    assert page.status_code == 200 and "提交重组申请" in page.text
    r = maker.post(
        f"/loans/{loan}/restructuring",
        data={
            "csrf_token": maker_csrf,
            "effective_on": on,
            "extend_months": "12",
            "new_rate_pct": "3.6",
            "capitalize_arrears": "true",
            "reason": "收入下降 / income dropped",
        },
    )
    assert r.status_code == 200, r.text
    assert "已提交" in r.text and "展期 12 个月" in r.text and "利率降至 3.60%" in r.text
    body = {
        "effective_on": on,
        "changes": [
            {"kind": "term-extension", "months": 12},
            {"kind": "rate-reduction", "new_annual_rate": "0.036"},
        ],
        "reason": "收入下降 / income dropped",
    }
    again = maker.post(
        f"/api/v1/loans/{loan}/restructurings", json=body, headers={"X-CSRF-Token": maker_csrf}
    )
    assert again.status_code == 200, again.text
    request = again.json()
    assert request["status"] == "requested" and request["requested_by"] == "risk"
    assert request["proposal"]["installments"] > 12
    rid = request["id"]

    # the maker cannot decide their own request: no button, and 409 on both surfaces
    inbox = maker.get("/restructurings")
    assert inbox.status_code == 200 and "本人申请" in inbox.text
    assert f'hx-post="/restructurings/{rid}/decision"' not in inbox.text
    own = maker.post(
        f"/api/v1/restructurings/{rid}/decision",
        json={"approve": True},
        headers={"X-CSRF-Token": maker_csrf},
    )
    assert own.status_code == 409 and "双人复核" in own.json()["error"]["zh"]
    own_page = maker.post(
        f"/restructurings/{rid}/decision",
        data={"decision": "approve", "csrf_token": maker_csrf},
        headers={"HX-Request": "true"},
    )
    assert own_page.status_code == 409

    listed = checker.get("/api/v1/restructurings", params={"branch": HOME}).json()
    assert [x["id"] for x in listed] == [rid]
    inbox = checker.get("/restructurings", params={"lang": "en"})
    assert f'hx-post="/restructurings/{rid}/decision"' in inbox.text
    assert "Restructuring requests" in inbox.text
    done = checker.post(
        f"/restructurings/{rid}/decision",
        data={"decision": "approve", "note": "同意", "csrf_token": checker_csrf},
        headers={"HX-Request": "true"},
    )
    # English since the inbox was opened with ?lang=en (the choice is remembered)
    assert done.status_code == 200 and "approved" in done.text and "risk-checker" in done.text
    repeat = checker.post(
        f"/api/v1/restructurings/{rid}/decision",
        json={"approve": True},
        headers={"X-CSRF-Token": checker_csrf},
    )
    assert repeat.status_code == 200 and repeat.json()["decided_by"] == "risk-checker"
    assert checker.get("/api/v1/restructurings").json() == []
    decided = checker.get("/api/v1/restructurings", params={"status": "approved"}).json()
    assert [x["id"] for x in decided] == [rid]
    audit = [
        e["action"]
        for e in login_client(app, "auditor")[0].get("/api/v1/audit").json()
        if e["action"].startswith("restructuring.")
    ]
    assert sorted(audit) == ["restructuring.approve", "restructuring.request"]
