"""Browser journeys in headless Chromium (Playwright) against a real uvicorn process
serving `huifang.web.main:app` (what `huifang serve` runs) on loopback, over the test
PostgreSQL database.

Each role signs in through the login form and lands on its home page; the agent searches a
loan, opens the borrower 360°, reveals a phone number (the auditor then finds that reveal
in the audit log) and gets a payoff quote that equals `huifang prepay-quote` for the same
loan. Screenshots go to $HUIFANG_TEST_ARTIFACTS (default: the test's tmp dir); with
HUIFANG_UPDATE_SCREENSHOTS=1 the main ones are copied into docs/screenshots/.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select
from test_calls import PREFERRED_CHOICES, policy_file, reply
from typer.testing import CliRunner
from web_helpers import PASSWORD, ROLES, seed

from huifang.cli import app as cli_app
from huifang.compliance_files import ENV_VAR
from huifang.domain import qa as qa_rules
from huifang.domain import scripts as sc
from huifang.domain.compliance import Channel, NoHolidays, Outcome, PartyRole
from huifang.security import audit
from huifang.security.accounts import create_user
from huifang.services import calls, configs, followup, loan_views, risk
from huifang.services.followup_attempts import AttemptInput, Guard, record_attempt
from huifang.settings import business_today
from huifang.store.db import make_engine, transaction
from huifang.store.models import Loan

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
AS_OF = date(2026, 11, 1)  # the demo book's data date
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
MAIN_SHOTS = {
    "login",
    "agent-home",
    "loans",
    "borrower-360",
    "payoff-quote",
    "audit-log",
    "manager-home-en",
    "call-screen",
    "call-outcome",
    "dashboard",
    "alerts-inbox",
    "self-service-quote",
    "config-editor-error",
    "config-editor-saved",
    "qa-sample",
    "qa-review",
    "compliance-refusals",
    "self-service-faq",
    "self-service-questionnaire",
    "self-service-contact",
    "borrower-360-contact-change",
}


@pytest.fixture(scope="module")
def server(pg_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("browser")
    name = f"b_{uuid.uuid4().hex[:12]}"
    with pg_server.janitor(name, template="huifang_template"):
        url = pg_server.url(name)
        engine = make_engine(url)
        book = seed(engine, url, tmp)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {
            **os.environ,
            "HUIFANG_DATABASE_URL": url,
            "HUIFANG_HOME": str(tmp / "home"),
            # calls at any hour and on holidays, so the journey does not depend on the clock
            ENV_VAR: str(policy_file(tmp, "00:00", "23:59")),
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "huifang.web.main:app", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    if httpx.get(f"{base}/login", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            else:
                pytest.fail("uvicorn did not start")
            yield base, book
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            engine.dispose()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = os.environ.get("HUIFANG_TEST_ARTIFACTS")
    out = Path(target) / "screenshots" if target else tmp_path_factory.mktemp("screenshots")
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    if not Path(CHROMIUM).exists():
        pytest.skip("no /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


def snap(page, shots: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    path = shots / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if name in MAIN_SHOTS and os.environ.get("HUIFANG_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS / path.name)


def login(browser, base: str, username: str):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{base}/")
    assert "/login" in page.url
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_selector("#home-title")
    return context, page


def clean_loan(engine) -> int:  # type: ignore[no-untyped-def]
    """A loan in SZ01, past its lock-in, with every installment due before AS_OF paid in full
    on its due date (what `huifang prepay-quote` assumes by default)."""
    with transaction(engine) as s:
        ids = list(s.scalars(select(Loan.id).where(Loan.status == "active").order_by(Loan.id)))
    for loan_id in ids:
        if loan_views.loan_branch(engine, loan_id) != "SZ01":
            continue
        view = loan_views.loan_view(engine, loan_id, AS_OF)
        due = [i for i in view.schedule.installments if i.due_date < AS_OF]
        paid = [(p.paid_on, p.amount) for p in view.payments]
        if due and paid == [(i.due_date, i.payment) for i in due]:
            try:
                loan_views.loan_payoff_quote(engine, loan_id, AS_OF)
            except ValueError:
                continue
            return loan_id
    pytest.skip("no loan paid exactly on schedule in the demo book")


def cli_quote(engine, loan_id: int) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with transaction(engine) as s:
        loan = s.get(Loan, loan_id)
        p = loan.product
        args = [
            "prepay-quote",
            "--full",
            "--principal",
            str(loan.principal),
            "--rate",
            str(loan.annual_rate * 100),
            "--months",
            str(loan.term_months),
            "--method",
            loan.repayment_method,
            "--start",
            loan.disbursement_date.isoformat(),
            "--as-of",
            AS_OF.isoformat(),
            "--repayment-day",
            str(loan.repayment_day),
            "--lock-in-months",
            str(p.lock_in_months or 0),
            "--fee-base",
            p.prepayment_fee_basis or "prepaid-principal",
        ]
        if p.prepayment_fee_tiers:
            args += ["--fee-tiers", p.prepayment_fee_tiers]
        if loan.repayment_method == "balloon":
            args += ["--balloon-pct", str(loan.balloon_pct * 100)]
    result = CliRunner().invoke(cli_app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_login_journey_for_every_role(server, browser, shots: Path) -> None:  # type: ignore[no-untyped-def]
    base, _book = server
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/login")
    snap(page, shots, "login")
    page.fill("#username", "agent")
    page.fill("#password", "wrong-password-1")
    page.click("#login-submit")
    assert "用户名或密码错误" in page.inner_text("#login-error")
    context.close()
    for role in ROLES:
        context, page = login(browser, base, role)
        assert "欢迎" in page.inner_text("#home-title")
        cookie = next(c for c in context.cookies() if c["name"] == "huifang_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        snap(page, shots, f"{role}-home")
        if role == "manager":
            page.click("#lang-switch")
            page.wait_for_selector("text=Welcome")
            snap(page, shots, "manager-home-en")
        page.click("#logout")
        page.wait_for_url("**/login")
        page.goto(f"{base}/loans")
        assert "/login" in page.url  # the session is gone
        context.close()


def test_agent_finds_borrower_reveals_phone_and_quote_matches_cli(  # type: ignore[no-untyped-def]
    server, browser, shots: Path
) -> None:
    base, book = server
    loan_id = clean_loan(book.engine)
    with transaction(book.engine) as s:
        contract = s.get(Loan, loan_id).contract_no
    context, page = login(browser, base, "agent")
    page.click("text=贷款查询")
    page.fill("#q", contract)
    page.click("#search")
    page.wait_for_selector(f"#loan-table >> text={contract}")
    snap(page, shots, "loans")
    page.click(f"text={contract}")
    page.wait_for_selector("#borrower-name")
    masked = page.inner_text("#pii-mobile .masked")
    assert "****" in masked
    snap(page, shots, "borrower-360")
    page.click("#pii-mobile .reveal")
    page.wait_for_selector("#pii-mobile .revealed")
    phone = page.inner_text("#pii-mobile .revealed")
    assert phone.isdigit() and phone[:3] == masked[:3] and phone[-4:] == masked[-4:]
    assert page.get_attribute("#pii-mobile a", "href") == f"tel:{phone}"
    page.click(f"#loan-{loan_id} .payoff-link")
    page.fill("#as_of", AS_OF.isoformat())
    page.click("#quote-submit")
    page.wait_for_selector("#quote-total")
    snap(page, shots, "payoff-quote")
    expected = cli_quote(book.engine, loan_id)
    assert page.get_attribute("#quote-total", "data-amount") == expected["total"]
    assert page.inner_text("#quote-valid") == expected["valid_until"]
    context.close()

    context, page = login(browser, base, "auditor")
    page.click("text=审计日志")
    page.wait_for_selector("#chain-status")
    assert "哈希链完整" in page.inner_text("#chain-status")
    assert "pii.reveal" in page.inner_text("#audit-table")
    snap(page, shots, "audit-log")
    context.close()


def run_script(page, id_last4: str) -> int:  # type: ignore[no-untyped-def]
    """Answer the call screen's questions as the borrower would (income went down)."""
    answered = 0
    while page.query_selector("#answer-form") is not None and answered < 40:
        before = len(page.query_selector_all("#transcript li"))
        question = page.inner_text("#question")
        if page.query_selector("#answer-yes"):
            page.click("#answer-yes")
        elif page.query_selector("#answer-form button[data-code]"):
            codes = [b.get_attribute("data-code") for b in page.query_selector_all("[data-code]")]
            code = next((c for c in PREFERRED_CHOICES if c in codes), codes[0])
            page.click(f'#answer-form button[data-code="{code}"]')
        else:
            field = page.locator("#answer-input")
            kind = field.get_attribute("type")
            if kind == "date":
                value = (business_today() + timedelta(days=3)).isoformat()
            elif field.get_attribute("inputmode") == "decimal":
                value = "1000"
            else:
                value = id_last4 if "身份证" in question else "正常"
            field.fill(value)
            page.click("#answer-submit")
        page.locator("#transcript li").nth(before).wait_for()  # the answer is in
        answered += 1
    return answered


def test_main_journey_call_alert_dashboard_and_self_service(  # type: ignore[no-untyped-def]
    server, browser, shots: Path
) -> None:
    """An agent takes the top task, runs the script and records an outcome whose answers
    raise an alert; the risk officer sees it; the manager's dashboard moves; a borrower
    opens a self-service link and gets the payoff quote the CLI computes."""
    base, book = server
    followup.generate_tasks(book.engine, AS_OF)

    manager, mpage = login(browser, base, "manager")
    mpage.goto(f"{base}/dashboard")
    completed_before = int(mpage.inner_text("#kpi-completed"))

    context, page = login(browser, base, "agent")
    page.click("text=回访队列")
    page.click("#take-top")
    page.wait_for_url("**/calls/*")
    task = followup.get_task(book.engine, int(page.url.rsplit("/", 1)[1]))
    snap(page, shots, "call-screen")
    with transaction(book.engine) as s:
        borrower_id = s.get(Loan, task.loan_id).borrower_id
    view = loan_views.borrower_360(book.engine, borrower_id, AS_OF)
    assert run_script(page, view.id_number[-4:].upper()) >= 3
    page.wait_for_selector("#script-finished")
    page.select_option("#outcome", "right-party-contact")
    page.click("#record-outcome")
    page.wait_for_selector("#outcome-recorded")
    assert "回访已完成" in page.inner_text("#outcome-recorded")
    assert page.query_selector("#new-alerts") is not None
    snap(page, shots, "call-outcome")
    context.close()

    officer, rpage = login(browser, base, "risk")
    rpage.click("text=风险预警")
    rpage.wait_for_selector("#alerts-table")
    row = rpage.locator("#alerts-table tr", has_text=task.contract_no).first
    assert "收入" in row.inner_text()
    snap(rpage, shots, "alerts-inbox")
    alert = next(
        a for a in risk.list_alerts(book.engine, contract_no=task.contract_no) if a.status == "open"
    )
    rpage.click(f"#alert-{alert.id} .ack")
    rpage.wait_for_selector(f"#alert-{alert.id}.acknowledged")
    officer.close()

    mpage.reload()
    assert int(mpage.inner_text("#kpi-completed")) == completed_before + 1
    mpage.wait_for_selector("#chart-branches canvas")
    snap(mpage, shots, "dashboard")
    manager.close()

    # the borrower's link (created by staff, sent by SMS) and the quote the CLI computes
    loan_id = clean_loan(book.engine)
    context, page = login(browser, base, "agent")
    csrf = json.loads(page.get_attribute("body", "hx-headers") or "{}")["X-CSRF-Token"]
    made = page.request.post(
        f"{base}/api/v1/loans/{loan_id}/self-service-link", headers={"X-CSRF-Token": csrf}
    )
    assert made.ok, made.text()
    url = made.json()["url"]
    context.close()
    with transaction(book.engine) as s:
        borrower_id = s.get(Loan, loan_id).borrower_id
    who = loan_views.borrower_360(book.engine, borrower_id, AS_OF)
    assert who.birth_date is not None
    visitor = browser.new_context(viewport={"width": 1000, "height": 900}, locale="zh-CN")
    page = visitor.new_page()
    page.goto(f"{base}{url}")
    page.fill("#id_suffix", who.id_number[-4:])
    page.fill("#birth_date", who.birth_date.isoformat())
    page.click("#identity-submit")
    page.wait_for_selector("#self-schedule")
    page.fill("#as_of", AS_OF.isoformat())
    page.click("#quote-submit")
    page.wait_for_selector("#quote-total")
    snap(page, shots, "self-service-quote")
    assert (
        page.get_attribute("#quote-total", "data-amount")
        == cli_quote(book.engine, loan_id)["total"]
    )
    visitor.close()


def test_manager_edits_a_script_invalid_then_saved(  # type: ignore[no-untyped-def]
    server, browser, shots: Path
) -> None:
    """A head-office manager opens the routine script, sees the validator's error for a
    broken edit (with its line), then saves a valid new version, which is put in force."""
    base, book = server
    create_user(book.engine, "mgr_hq", PASSWORD, "manager", all_branches=True)
    context, page = login(browser, base, "mgr_hq")
    page.click("#nav-config")
    page.wait_for_selector("#config-table")
    page.click("#doc-script-routine a.btn")
    page.wait_for_selector("#config-content")
    draft = page.input_value("#config-content")
    assert "\nversion: 2\n" in draft  # the draft raises the version
    page.fill("#config-content", draft.replace("{borrower_name}", "{plate_number}", 1))
    page.click("#config-validate")
    page.wait_for_selector("#config-problems-list")
    problems = page.inner_text("#config-problems-list")
    assert "第 " in problems and "行" in problems and "plate_number" in problems
    page.click(".config-problem")  # selects the line in the editor
    selected = page.evaluate(
        "() => { const a = document.getElementById('config-content');"
        " return a.value.substring(a.selectionStart, a.selectionEnd); }"
    )
    assert selected.strip().startswith("- ask:")
    snap(page, shots, "config-editor-error")
    page.fill("#config-content", draft.replace("您好，", "您好！", 1))
    page.click("#config-validate")
    page.wait_for_selector("#config-valid")
    page.fill("#config-comment", "开场白改用感叹号")
    page.click("#config-save")
    page.wait_for_selector("#saved-message")
    assert page.inner_text("#active-version") == "v2"
    assert "开场白改用感叹号" in page.inner_text("#versions-table")
    snap(page, shots, "config-editor-saved")
    assert configs.scripts(book.engine)["routine"].version == 2
    context.close()
    # back to the packaged script for the other journeys
    configs.activate(book.engine, configs.SCRIPT, "routine", None, audit.SYSTEM)


def _call_on_the_call_screen(engine) -> int:  # type: ignore[no-untyped-def]
    """An agent's call through the call-screen services (script run with its transcript,
    outcome through the guard); the attempt id."""
    agent_id = calls.ensure_agent(engine, "agent", "agent 测试", ["SZ01"])
    task = calls.take_top_task(engine, agent_id)
    assert task is not None
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
    screen = calls.open_call(engine, task.id, agent_id, "agent 测试", today)
    who = loan_views.borrower_360(engine, screen.borrower_id, AS_OF)
    state = screen.state
    for _ in range(40):
        p = sc.prompt(state)
        if p.finished:
            break
        question = p.question.zh if p.question else ""
        asked = {
            "answer_type": p.answer_type.value if p.answer_type else None,
            "options": [{"code": o.code} for o in p.options],
            "question": question,
        }
        value = reply(asked, who.id_number[-4:])
        if asked["answer_type"] == "free_text" and "身份证" not in question:
            if "电话" in question or "手机" in question or "号码" in question:
                value = "13912345678"
            elif "地址" in question:
                value = "广东省深圳市南山区科技园路1号"
            elif p.error is not None and not p.required:
                value = ""  # an optional question the reply did not fit: skipped
        state = calls.answer_call(engine, task.id, agent_id, value)
    assert sc.prompt(state).finished, sc.prompt(state)
    done = calls.finish_call(
        engine, task.id, agent_id, outcome=Outcome.RIGHT_PARTY_CONTACT, note="客户配合"
    )
    assert done.result.allowed, done.result.refusals
    return done.result.attempt_id


def test_auditor_samples_contacts_and_scores_one(  # type: ignore[no-untyped-def]
    server, browser, shots: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The auditor draws the QA sample of the period, opens a contact (transcript, answers,
    outcome), scores it, sees it in the summary, and searches the guard's refusals."""
    base, book = server
    followup.generate_tasks(book.engine, AS_OF)
    guard = Guard(calendar=NoHolidays())  # the packaged calling window, 08:00–21:00
    # calls at any hour, as the server does, so the journey does not depend on the clock
    monkeypatch.setenv(ENV_VAR, str(policy_file(tmp_path, "00:00", "23:59")))
    called = _call_on_the_call_screen(book.engine)
    task = followup.list_tasks(book.engine, branch="SZ01", status="open", limit=1)[0]
    monday = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    made = record_attempt(
        book.engine,
        task.id,
        AttemptInput(
            Channel.AGENT_CALL,
            PartyRole.BORROWER,
            monday,
            Outcome.RIGHT_PARTY_CONTACT,
            ended_at=monday + timedelta(minutes=5),
            answers={"vehicle_status": "normal", "monthly_income": "8000"},
            identity_verified=True,
            note="客户确认车辆正常使用",
        ),
        guard=guard,
        complete=False,
    )
    assert made.allowed
    late = record_attempt(
        book.engine,
        task.id,
        AttemptInput(
            Channel.AGENT_CALL, PartyRole.BORROWER, monday + timedelta(hours=13), Outcome.NO_ANSWER
        ),
        guard=guard,
    )
    assert not late.allowed
    context, page = login(browser, base, "auditor")
    page.click("#nav-qa")
    page.wait_for_selector("#qa-filter")
    page.fill("#qa-filter input[name=start]", "2026-11-01")
    page.fill("#qa-filter input[name=end]", business_today().isoformat())
    page.click("#qa-draw")
    page.wait_for_selector(f"#sample-{made.attempt_id}")
    snap(page, shots, "qa-sample")
    # the call made on the call screen, with its script transcript
    page.click(f"#sample-{called} a.qa-open")
    page.wait_for_selector("#qa-form")
    assert page.get_attribute("#qa-outcome", "data-code") == "right-party-contact"
    assert page.inner_text("#qa-outcome") == "本人接通"
    transcript = page.inner_text("#qa-transcript")
    assert "录音" in transcript and "再见" in transcript  # from the recording notice to the end
    for c in qa_rules.CRITERIA:
        page.check(f"#score-{c.code}-{c.max_score - 1}")
    page.fill("#qa-comment", "身份核实和录音告知到位, 语速偏快")
    page.click("#qa-save")
    page.wait_for_selector("#qa-saved")
    expected = qa_rules.MAX_TOTAL - len(qa_rules.CRITERIA)
    assert f"{expected}/{qa_rules.MAX_TOTAL}" in page.inner_text("#qa-saved")
    assert "语速偏快" in page.inner_text("#qa-reviews")  # refreshed with the form
    snap(page, shots, "qa-review")
    page.goto(f"{base}/qa?start=2026-11-01&end={business_today().isoformat()}")
    assert qa_rules.ALL_AGENTS in page.inner_text("#qa-summary")
    page.click("#nav-refusals")
    page.fill("#refusals-filter input[name=start]", "2026-11-01")
    page.select_option("#refusals-filter select[name=code]", "contact.outside_hours")
    page.click("#refusals-filter button")
    page.wait_for_selector("#refusals-table")
    assert str(late.attempt_id) in page.inner_text("#refusals-table")
    snap(page, shots, "compliance-refusals")
    context.close()


def _questionnaire_loan(engine) -> int:  # type: ignore[no-untyped-def]
    """A loan in SZ01 of an individual borrower with an open first-visit or routine task that
    no agent holds (the borrower answers it online)."""
    from huifang.store.followup_models import FollowupTask
    from huifang.store.models import Borrower, Branch

    followup.generate_tasks(engine, AS_OF)
    with transaction(engine) as s:
        loan_id = s.scalar(
            select(FollowupTask.loan_id)
            .join(Loan, Loan.id == FollowupTask.loan_id)
            .join(Borrower, Borrower.id == Loan.borrower_id)
            .join(Branch, Branch.id == Loan.branch_id)
            .where(
                Branch.code == "SZ01",
                Borrower.kind == "individual",
                Borrower.birth_date.is_not(None),
                FollowupTask.closed_at.is_(None),
                FollowupTask.claimed_by_id.is_(None),
                FollowupTask.script.in_(["routine", "first_visit"]),
            )
            .order_by(FollowupTask.id.desc())
            .limit(1)
        )
    if loan_id is None:
        pytest.skip("no open questionnaire task in SZ01")
    return int(loan_id)


def _answer_online(page) -> int:  # type: ignore[no-untyped-def]
    """Answer the online questionnaire in the page until it is done: a borrower whose income
    went down, nothing else changed."""
    answered = 0
    for _ in range(40):
        if page.query_selector("#questionnaire-done"):
            return answered
        page.wait_for_selector("#q-question")
        step = page.get_attribute("#q-question", "data-step") or ""
        before = page.inner_text("#q-question")
        if page.query_selector("#q-yes"):
            no = step.endswith("_changed") or "difficulty" in step
            page.click("#q-no" if no else "#q-yes")
        elif page.query_selector("#questionnaire-form button[data-code]"):
            codes = page.eval_on_selector_all(
                "#questionnaire-form button[data-code]", "els => els.map(e => e.dataset.code)"
            )
            code = next((c for c in ("income_drop", "down", "normal") if c in codes), codes[0])
            page.click(f'#questionnaire-form button[data-code="{code}"]')
        else:
            kind = page.get_attribute("#q-input", "data-type") or ""
            soon = (business_today() + timedelta(days=3)).isoformat()  # a promise to pay
            page.fill("#q-input", {"money": "1000", "number": "1", "date": soon}.get(kind, "无"))
            page.click("#q-submit")
        page.wait_for_function(
            "prev => !document.querySelector('#q-question') || "
            "document.querySelector('#q-question').innerText !== prev || "
            "document.querySelector('#answer-error')",
            arg=before,
        )
        answered += 1
    return answered


def test_borrower_journey_faq_questionnaire_and_contact_change(  # type: ignore[no-untyped-def]
    server, browser, shots: Path
) -> None:
    """A borrower opens the link, asks the FAQ (a general answer before the identity check,
    the own payoff figure after), fills in the online follow-up questionnaire (recorded as a
    visit) and submits a new phone number, which the agent confirms on the borrower 360."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from huifang.domain.money import format_cny
    from huifang.store.followup_models import RiskEvent, Visit

    base, book = server
    loan_id = _questionnaire_loan(book.engine)
    context, agent = login(browser, base, "agent")
    csrf = json.loads(agent.get_attribute("body", "hx-headers") or "{}")["X-CSRF-Token"]
    made = agent.request.post(
        f"{base}/api/v1/loans/{loan_id}/self-service-link", headers={"X-CSRF-Token": csrf}
    )
    assert made.ok, made.text()
    url = made.json()["url"]
    with transaction(book.engine) as s:
        borrower_id = s.get(Loan, loan_id).borrower_id
    who = loan_views.borrower_360(book.engine, borrower_id, AS_OF)
    assert who.birth_date is not None

    visitor = browser.new_context(viewport={"width": 1000, "height": 900}, locale="zh-CN")
    page = visitor.new_page()
    page.goto(f"{base}{url}")
    page.fill("#faq-question", "提前还款要多少钱")
    page.click("#faq-submit")
    page.wait_for_selector(".faq-answer")
    assert "¥" not in page.inner_text(".faq-answer")  # not verified yet: no figures
    page.fill("#id_suffix", who.id_number[-4:])
    page.fill("#birth_date", who.birth_date.isoformat())
    page.click("#identity-submit")
    page.wait_for_selector("#questionnaire-card")

    # the FAQ box, verified: the borrower's own payoff figure, as the page's quote computes
    page.fill("#faq-question", "提前还宽要收多少违约金")  # a typing/ASR slip: 款 → 宽
    page.click("#faq-submit")
    page.wait_for_selector('.faq-answer[data-entry="prepay_cost"]')
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    answer = page.inner_text('.faq-answer[data-entry="prepay_cost"]')
    try:
        total = loan_views.loan_payoff_quote(book.engine, loan_id, today).quote.total
    except ValueError:
        assert "最早可在" in answer
    else:
        assert format_cny(total) in answer
        assert page.get_attribute("#quote-total", "data-amount") == f"{total:.2f}"
    page.locator("#faq-box").scroll_into_view_if_needed()
    snap(page, shots, "self-service-faq")

    # the online questionnaire: the task's script, recorded like an agent's visit
    assert _answer_online(page) >= 3
    page.wait_for_selector("#questionnaire-done")
    snap(page, shots, "self-service-questionnaire")
    with transaction(book.engine) as s:
        visit = s.scalar(
            select(Visit).where(Visit.loan_id == loan_id).order_by(Visit.id.desc()).limit(1)
        )
        assert visit is not None and visit.channel == "self-service-link"
        kinds = set(s.scalars(select(RiskEvent.kind).where(RiskEvent.visit_id == visit.id)))
    assert "income-drop" in kinds  # the finding rules ran over the online answers

    # a new phone number, pending until the agent confirms it
    page.select_option("#contact-field", "mobile")
    page.fill("#contact-value", "139 0000 1234")
    page.click("#contact-submit")
    page.wait_for_selector("#contact-pending")
    assert "139****1234" in page.inner_text("#contact-pending")
    snap(page, shots, "self-service-contact")
    visitor.close()

    agent.goto(f"{base}/borrowers/{borrower_id}")
    agent.wait_for_selector("#contact-changes")
    assert "139****1234" in agent.inner_text("#contact-changes")
    snap(agent, shots, "borrower-360-contact-change")
    agent.click("#contact-changes button.confirm")
    agent.wait_for_selector("#contact-changes tr.confirmed")
    context.close()
    assert loan_views.borrower_360(book.engine, borrower_id, AS_OF).mobile == "13900001234"
