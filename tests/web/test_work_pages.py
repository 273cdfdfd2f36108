"""The agent's queue and the alerts inbox show the follow-up tasks and risk alerts of the
caller's branches only, as pages, as API lists and as Excel exports."""

from __future__ import annotations

import io
import re
from datetime import date
from typing import Any

from web_helpers import HOME, OTHER, login_client

from huifang.security import audit
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

    # the API twins list the same rows; each page exports its table to Excel
    api_tasks = agent.get("/api/v1/queue").json()
    assert [(t["contract_no"], t["branch"]) for t in api_tasks] == [(c, b) for c, b in rows]
    assert api_tasks == sorted(api_tasks, key=lambda t: (t["priority"], t["due_on"], t["id"]))
    assert agent.get("/api/v1/queue", params={"branch": "GZ01"}).status_code == 403
    sheet = _sheet(agent.get("/queue", params={"format": "xlsx"}))
    assert sheet[0][:3] == ("优先级", "合同号", "机构")
    assert [(r[1], r[2]) for r in sheet[1:]] == [(c, b) for c, b in rows]
    api_alerts = officer.get("/api/v1/alerts").json()
    assert [(a["contract_no"], a["branch"]) for a in api_alerts] == shown
    assert officer.get("/api/v1/alerts", params={"branch": "GZ01"}).status_code == 403
    assert 'id="alerts-xlsx"' in page.text
    sheet = _sheet(officer.get("/alerts?format=xlsx&lang=en"))
    assert sheet[0][:2] == ("Severity", "Contract") and len(sheet) == len(shown) + 1
    assert {r[2] for r in sheet[1:]} <= {HOME}
    assert officer.get("/alerts", params={"format": "pdf"}).status_code == 422


def _sheet(response: Any) -> list[tuple[object, ...]]:
    """The rows of the first sheet of an XLSX download."""
    from openpyxl import load_workbook

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    ws = load_workbook(io.BytesIO(response.content)).active
    assert ws is not None
    return [tuple(row) for row in ws.iter_rows(values_only=True)]


def test_a_manager_assigns_a_task_to_an_agent_of_its_branch(book) -> None:  # type: ignore[no-untyped-def]
    followup.generate_tasks(book.engine, AS_OF)
    li = followup.add_agent(book.engine, followup.AgentSpec("li-assign", "李分配", HOME))
    far = followup.add_agent(book.engine, followup.AgentSpec("gz-assign", "广州坐席", OTHER))
    assert li and far
    task = next(  # one any agent can do
        t for t in followup.list_tasks(book.engine, branch=HOME, status="open") if not t.skills
    )
    app = create_app(book.engine)
    manager, csrf = login_client(app, "manager")
    page = manager.get("/assignments")
    assert page.status_code == 200 and f'id="task-{task.id}"' in page.text
    assert "李分配" in page.text and "广州坐席" not in page.text  # agents of the scope only
    assert manager.get("/assignments", params={"branch": OTHER}).status_code == 403
    headers = {"HX-Request": "true", "X-CSRF-Token": csrf}
    row = manager.post(
        f"/tasks/{task.id}/assign",
        data={"agent": "li-assign", "reason": "均衡负荷"},
        headers=headers,
    )
    assert row.status_code == 200 and 'class="saved"' in row.text and "li-assign" in row.text
    assert followup.get_task(book.engine, task.id).assigned_to == "li-assign"
    entry = audit.search(book.engine, actor="manager", action="task.reassign")[0]
    assert entry.target_id == str(task.id) and entry.branch_code == HOME
    assert entry.detail["to"] == "li-assign" and entry.detail["reason"] == "均衡负荷"
    # an agent of another branch, or no reason: refused with the reason, nothing changed
    api = manager.post(
        f"/api/v1/tasks/{task.id}/assign",
        json={"agent": "gz-assign", "reason": "试试"},
        headers={"X-CSRF-Token": csrf},
    )
    assert api.status_code == 409 and "branch" in api.json()["error"]["en"]
    no_reason = manager.post(
        f"/tasks/{task.id}/assign", data={"agent": "li-assign", "reason": " "}, headers=headers
    )
    assert no_reason.status_code == 409
    loads = {a["username"]: a["open_tasks"] for a in manager.get("/api/v1/agents").json()}
    assert loads["li-assign"] >= 1 and "gz-assign" not in loads
    agent, _ = login_client(app, "agent")
    assert agent.get("/assignments").status_code == 403
