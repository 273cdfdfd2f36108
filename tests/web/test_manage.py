"""The manager's dashboard (figures from the follow-up records of the caller's branches,
XLSX export) and the risk officer's alert actions (acknowledge, resolve with a note)."""

from __future__ import annotations

import io
from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from web_helpers import HOME, login_client

from huifang.domain.compliance import Channel, Outcome
from huifang.security.accounts import create_user
from huifang.services import calls, followup, risk
from huifang.services.followup_attempts import complete_visit
from huifang.services.followup_corrections import propose_correction
from huifang.web.app import create_app

AS_OF = date(2026, 11, 1)
# Database-independent logic: run on PostgreSQL only (the call screen and the route table
# cover SQLite) to keep the suite fast.
pytestmark = pytest.mark.parametrize(
    "book", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
TZ = ZoneInfo("Asia/Shanghai")


def test_dashboard_moves_when_a_call_is_recorded_and_exports_xlsx(book) -> None:  # type: ignore[no-untyped-def]
    followup.generate_tasks(book.engine, AS_OF)
    app = create_app(book.engine)
    manager, _ = login_client(app, "manager")
    page = manager.get("/dashboard")
    assert page.status_code == 200 and 'id="chart-branches"' in page.text
    before = manager.get("/api/v1/dashboard").json()
    assert before["branches"] == [HOME]
    assert manager.get("/api/v1/dashboard", params={"branch": "GZ01"}).status_code == 403
    bad = manager.get("/api/v1/dashboard", params={"start": "2026-11-10", "end": "2026-11-01"})
    assert bad.status_code == 422

    # an agent of the branch reaches a borrower (10:00 today, inside the calling window)
    agent = calls.ensure_agent(book.engine, "dash-agent", "看板专员", [HOME])
    day = datetime.now(TZ).date()
    at = datetime.combine(day, time(10, 0), TZ)
    task = calls.take_top_task(book.engine, agent, now=at)
    assert task is not None
    calls.open_call(book.engine, task.id, agent, "看板专员", day, now=at)
    calls.finish_call(book.engine, task.id, agent, outcome=Outcome.NO_ANSWER, now=at)

    after = manager.get("/api/v1/dashboard").json()
    assert after["total"]["attempts"] == before["total"]["attempts"] + 1
    assert [m["group"] for m in after["by_agent"]].count("dash-agent") == 1

    x = manager.get("/dashboard/metrics.xlsx", params={"by": "branch"})
    assert x.status_code == 200 and x.headers["content-type"].startswith(
        "application/vnd.openxmlformats"
    )
    ws = load_workbook(io.BytesIO(x.content)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[1][0] == "分组" and rows[1][1] == "应回访"
    by_group = {r[0]: r for r in rows[2:]}
    assert by_group[HOME][1] == after["by_branch"][0]["due"]
    assert by_group["合计"][4] == after["total"]["attempts"]
    english = manager.get("/dashboard?lang=en")
    assert "Connection rate" in english.text


def test_risk_officer_acknowledges_and_resolves_an_alert(book) -> None:  # type: ignore[no-untyped-def]
    risk.evaluate_alerts(book.engine, AS_OF)
    app = create_app(book.engine)
    officer, csrf = login_client(app, "risk")
    inbox = officer.get("/alerts")
    assert inbox.status_code == 200 and 'hx-post="/alerts/' in inbox.text
    mine = [
        a
        for a in risk.list_alerts(book.engine, status=None)
        if a.status == "open" and a.contract_no.startswith(f"HF{HOME}")
    ]
    alert = mine[0]
    h = {"X-CSRF-Token": csrf}
    row = officer.post(f"/alerts/{alert.id}/acknowledge", headers=h)
    assert row.status_code == 200 and "acknowledged" in row.text
    assert (
        officer.post(f"/alerts/{alert.id}/resolve", data={"note": " "}, headers=h).status_code
        == 409
    )
    done = officer.post(
        f"/api/v1/alerts/{alert.id}/resolve", json={"note": "已电话核实, 收入恢复"}, headers=h
    )
    assert done.status_code == 200 and done.json()["status"] == "resolved"
    assert done.json()["resolved_by"] == "risk"
    again = officer.post(f"/api/v1/alerts/{alert.id}/acknowledge", headers=h)
    assert again.status_code == 409 and again.json()["error"]["en"]
    # an agent may not act on alerts
    create_user(book.engine, "agent2", "Huifang-test-2026", "agent", branch_codes=[HOME])
    agent, agent_csrf = login_client(app, "agent2")
    r = agent.post(f"/api/v1/alerts/{mine[1].id}/acknowledge", headers={"X-CSRF-Token": agent_csrf})
    assert r.status_code == 403


def test_manager_reviews_a_correction_not_their_own(book) -> None:  # type: ignore[no-untyped-def]
    followup.generate_tasks(book.engine, AS_OF)
    tasks = followup.list_tasks(book.engine, branch=HOME, status="open", limit=2)
    visits = [
        complete_visit(
            book.engine,
            t.id,
            channel=Channel.AGENT_CALL,
            completed_at=datetime.now(TZ),
            answers={"monthly_income": Decimal("9000")},
            findings=False,
        )
        for t in tasks
    ]
    mine = propose_correction(
        book.engine, visits[0], maker="manager", reason="自己改", new_answers={"monthly_income": 1}
    )
    theirs = propose_correction(
        book.engine,
        visits[1],
        maker="agent",
        reason="录入错误",
        new_answers={"monthly_income": Decimal("8000")},
    )
    app = create_app(book.engine)
    manager, csrf = login_client(app, "manager")
    h = {"X-CSRF-Token": csrf}
    page = manager.get("/corrections")
    assert page.status_code == 200 and f'id="correction-{theirs.id}"' in page.text
    listed = {c["id"] for c in manager.get("/api/v1/corrections").json()}
    assert {mine.id, theirs.id} <= listed
    own = manager.post(f"/api/v1/corrections/{mine.id}/review", json={"approve": True}, headers=h)
    assert own.status_code == 409 and "maker" in own.json()["error"]["en"]
    no_note = manager.post(
        f"/corrections/{theirs.id}/review", data={"decision": "reject"}, headers=h
    )
    assert no_note.status_code == 409
    ok = manager.post(f"/corrections/{theirs.id}/review", data={"decision": "approve"}, headers=h)
    assert ok.status_code == 200 and "approved" in ok.text
    assert theirs.id not in {c["id"] for c in manager.get("/api/v1/corrections").json()}
