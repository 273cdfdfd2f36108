"""The agent's call screen: take the top task, run its script on the server one answer at a
time, record the outcome through the compliance guard; a visit whose answers report an
income drop raises a risk event and an alert. Pages and API share the service."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from web_helpers import HOME, login_client

from huifang.compliance_files import ENV_VAR
from huifang.services import followup, loan_views, risk
from huifang.store.call_models import CallRun
from huifang.store.db import transaction
from huifang.store.followup_models import RiskEvent
from huifang.web.app import create_app

SHIPPED = Path(__file__).resolve().parents[2] / "src/huifang/policies/contact.yaml"
# answers chosen to reveal trouble: the income went down, the payment was missed for it
PREFERRED_CHOICES = ("income_drop", "down")
AS_OF = date(2026, 11, 1)  # the demo book's data date


def policy_file(tmp: Path, start: str, end: str) -> Path:
    """The shipped contact policy with another calling window and no holiday restriction."""
    text = SHIPPED.read_text(encoding="utf-8")
    text = re.sub(r'window_start: "[0-9:]+"', f'window_start: "{start}"', text)
    text = re.sub(r'window_end: "[0-9:]+"', f'window_end: "{end}"', text)
    text = re.sub(
        r"holiday_purposes: \[[^\]]*\]",
        "holiday_purposes: [callback, routine, event, overdue, verification]",
        text,
    )
    path = tmp / f"contact-{start.replace(':', '')}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def reply(prompt: dict[str, Any], id_last4: str) -> str:
    """What the borrower says to a question (a low income, an income drop, yes otherwise)."""
    kind = prompt["answer_type"]
    codes = [o["code"] for o in prompt["options"]]
    if kind == "yes_no":
        return "是"
    if kind == "choice":
        return next((c for c in PREFERRED_CHOICES if c in codes), codes[0])
    if kind == "money":
        return "1000"
    if kind == "number":
        return "1"
    if kind == "date":
        return (datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=3)).isoformat()
    if "身份证" in (prompt["question"] or ""):
        return id_last4
    return "正常"


def _start(book: Any) -> tuple[Any, TestClient, str, dict[str, Any]]:
    followup.generate_tasks(book.engine, AS_OF)
    app = create_app(book.engine)
    client, csrf = login_client(app, "agent")
    taken = client.post("/api/v1/calls/next", headers={"X-CSRF-Token": csrf})
    assert taken.status_code == 200, taken.text
    task = taken.json()["task"]
    assert task is not None and task["branch"] == HOME and task["claimed_by"] == "agent"
    return app, client, csrf, task


def test_agent_runs_the_script_and_a_finding_raises_an_alert(  # type: ignore[no-untyped-def]
    book, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, str(policy_file(tmp_path, "00:00", "23:59")))
    app, client, csrf, task = _start(book)
    tid = task["id"]
    h = {"X-CSRF-Token": csrf}

    # a manager (no queue.work) cannot work the call
    manager, _ = login_client(app, "manager")
    assert manager.get(f"/api/v1/calls/{tid}").status_code == 403

    page = client.get(f"/calls/{tid}")
    assert page.status_code == 200 and 'id="answer-form"' in page.text
    prompt = client.get(f"/api/v1/calls/{tid}").json()
    assert prompt["question"] and not prompt["finished"]
    borrower = loan_views.borrower_360(book.engine, page_borrower(page.text), AS_OF)
    last4 = borrower.id_number[-4:].upper()

    # a bad answer is refused with its reason and the question stays
    if prompt["answer_type"] in ("money", "number"):
        bad = client.post(f"/api/v1/calls/{tid}/answer", json={"value": "不知道"}, headers=h)
        assert bad.json()["error"] and bad.json()["question"] == prompt["question"]
    seen = 0
    while not prompt["finished"] and seen < 40:
        value = reply(prompt, last4)
        if seen == 1:  # one answer through the HTMX form, as the page posts it
            r = client.post(f"/calls/{tid}/answer", data={"value": value}, headers=h)
            assert r.status_code == 200 and 'id="runner"' in r.text
            prompt = client.get(f"/api/v1/calls/{tid}").json()
        else:
            r = client.post(f"/api/v1/calls/{tid}/answer", json={"value": value}, headers=h)
            assert r.status_code == 200, r.text
            prompt = r.json()
        seen += 1
    assert prompt["finished"] and prompt["identity_verified"], prompt
    with transaction(book.engine) as s:
        run = s.scalars(select(CallRun).where(CallRun.task_id == tid)).one()
        assert run.state["finished"] is True

    done = client.post(
        f"/api/v1/calls/{tid}/outcome", json={"outcome": "right-party-contact"}, headers=h
    )
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["allowed"] and body["visit_id"] and body["task_status"] == "done"
    with transaction(book.engine) as s:
        kinds = set(s.scalars(select(RiskEvent.kind).where(RiskEvent.visit_id == body["visit_id"])))
    assert "income-drop" in kinds, kinds
    assert any(a["rule_id"] == "income-or-job" for a in body["new_alerts"]), body
    alerts = risk.list_alerts(book.engine, contract_no=task["contract_no"])
    assert any(a.rule_id == "income-or-job" and a.status == "open" for a in alerts)
    # the call is over: the task is closed and no longer held
    assert (
        client.post(f"/api/v1/calls/{tid}/answer", json={"value": "是"}, headers=h).status_code
        == 409
    )
    assert followup.get_task(book.engine, tid).status == "done"


def page_borrower(html: str) -> int:
    found = re.search(r'href="/borrowers/(\d+)#loan-', html)
    assert found
    return int(found.group(1))


def test_the_guard_refusal_is_shown_with_its_reason(  # type: ignore[no-untyped-def]
    book, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hour = datetime.now(ZoneInfo("Asia/Shanghai")).hour
    start, end = ("01:00", "02:00") if hour >= 20 else (f"{hour + 2:02d}:00", f"{hour + 3:02d}:00")
    monkeypatch.setenv(ENV_VAR, str(policy_file(tmp_path, start, end)))
    _app, client, csrf, task = _start(book)
    tid = task["id"]
    assert client.get(f"/calls/{tid}").status_code == 200
    r = client.post(
        f"/calls/{tid}/outcome",
        data={"outcome": "no-answer", "role": "borrower"},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 200 and 'id="guard-refusal"' in r.text
    assert "calling-window" in r.text or "时段" in r.text, r.text
    # refused: nothing was dialled, the claim is released, the run is kept for later
    view = followup.get_task(book.engine, tid)
    assert view.status == "open" and view.claimed_by is None
    assert client.get(f"/calls/{tid}").status_code == 409


def test_callback_needs_a_time_and_english_labels(book) -> None:  # type: ignore[no-untyped-def]
    _app, client, csrf, task = _start(book)
    tid = task["id"]
    page = client.get(f"/calls/{tid}?lang=en")
    assert page.status_code == 200 and "Record outcome" in page.text
    r = client.post(
        f"/api/v1/calls/{tid}/outcome",
        json={"outcome": "callback-requested"},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 409 and "callback" in r.json()["error"]["en"]
    client.post(f"/calls/{tid}/release", headers={"X-CSRF-Token": csrf})
    assert followup.get_task(book.engine, tid).claimed_by is None
