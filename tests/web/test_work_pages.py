"""The agent's queue and the alerts inbox show the follow-up tasks and risk alerts of the
caller's branches only."""

from __future__ import annotations

import re
from datetime import date

from web_helpers import HOME, login_client

from huifang.services import followup, risk
from huifang.web.app import create_app

AS_OF = date(2026, 11, 1)


def test_queue_and_alerts_are_branch_scoped(book) -> None:  # type: ignore[no-untyped-def]
    followup.generate_tasks(book.engine, AS_OF)
    risk.evaluate_alerts(book.engine, AS_OF)
    all_tasks = followup.list_tasks(book.engine, status="open", limit=1000)
    assert {t.branch for t in all_tasks} - {HOME}, "the book needs tasks in other branches"
    app = create_app(book.engine)

    agent, _ = login_client(app, "agent")
    page = agent.get("/queue")
    assert page.status_code == 200
    rows = re.findall(r"<tr><td class=\"num\">\d+</td><td>([^<]+)</td><td>([^<]+)</td>", page.text)
    home_tasks = [t for t in all_tasks if t.branch == HOME]
    assert len(rows) == min(len(home_tasks), 200) and {b for _c, b in rows} <= {HOME}
    assert agent.get("/queue", params={"branch": "GZ01"}).status_code == 403

    officer, _ = login_client(app, "risk")
    page = officer.get("/alerts")
    assert page.status_code == 200
    shown = re.findall(r"<td>(HF[A-Z0-9]+)</td><td>([A-Z0-9]+)</td>", page.text)
    assert all(branch == HOME for _c, branch in shown)
    alerts = risk.list_alerts(book.engine)
    home_alerts = [a for a in alerts if a.contract_no.startswith(f"HF{HOME}")]
    assert len(shown) == len([a for a in home_alerts if a.status == "open"])
    assert officer.get("/alerts", params={"branch": "GZ01"}).status_code == 403
