"""The monthly report PDF: its figures are the manager dashboard's for the month (text
extracted from the PDF and compared with the dashboard service and API); managers and
admins only, branch-scoped; the CLI writes the same report; no CJK font, a clear refusal."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pypdfium2 as pdfium
import pytest
from typer.testing import CliRunner
from web_helpers import HOME, login_client

from huifang.cli import app as cli_app
from huifang.domain.compliance import Outcome
from huifang.domain.followup_metrics import Metrics
from huifang.services import calls, followup, monthly_report, workspace
from huifang.web.app import create_app

AS_OF = date(2026, 11, 1)  # the demo book's data date
MONTH = "2026-11"
TZ = ZoneInfo("Asia/Shanghai")
pytestmark = pytest.mark.parametrize(
    "book", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


def pdf_text(body: bytes) -> str:
    """The PDF's text as PDFium (Chromium's PDF engine) reads it, white space removed.

    (pypdf and pdfminer do not read the embedded encoding CMap fpdf2 writes for the CFF
    outlines of Noto Sans CJK; PDFium, pdf.js and Acrobat do.)"""
    assert body.startswith(b"%PDF-")
    doc = pdfium.PdfDocument(body)
    text = "".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    return re.sub(r"\s+", "", text)


def row_text(label: str, m: Metrics) -> str:
    return label + "".join(monthly_report.cell(m, k) for k, _zh, _en in workspace.METRIC_COLUMNS)


def work_the_queue(book) -> None:  # type: ignore[no-untyped-def]
    """Two agents of the home branch call in November: answered, not answered, completed."""
    followup.generate_tasks(book.engine, AS_OF)
    for n, (name, outcome) in enumerate(
        [
            ("rpt-agent-a", Outcome.NO_ANSWER),
            ("rpt-agent-a", Outcome.RIGHT_PARTY_CONTACT),
            ("rpt-agent-b", Outcome.BUSY),
            ("rpt-agent-b", Outcome.RIGHT_PARTY_CONTACT),
        ]
    ):
        agent = calls.ensure_agent(book.engine, name, name, [HOME])
        at = datetime.combine(date(2026, 11, 2 + n), time(10, 0), TZ)
        task = calls.take_top_task(book.engine, agent, now=at)
        assert task is not None
        calls.open_call(book.engine, task.id, agent, name, at.date(), now=at)
        calls.finish_call(book.engine, task.id, agent, outcome=outcome, now=at)


def test_report_figures_equal_the_dashboard(book, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    work_the_queue(book)
    board = monthly_report.monthly_figures(book.engine, MONTH, [HOME])
    assert board.total.attempts >= 4 and board.total.completed >= 1
    app = create_app(book.engine)
    manager, _ = login_client(app, "manager")
    r = manager.get("/api/v1/reports/monthly", params={"month": MONTH})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    text = pdf_text(r.content)

    # the same figures as the dashboard's API for the month
    dash = manager.get(
        "/api/v1/dashboard", params={"start": "2026-11-01", "end": "2026-11-30"}
    ).json()
    total = dash["total"]
    assert "回访月度报告2026年11月" in text and HOME in text
    for label, key in (
        ("覆盖率", "coverage"),
        ("接通率", "connection_rate"),
        ("本人接通率", "right_party_rate"),
        ("按时率", "on_time_rate"),
    ):
        shown = "-" if total[key] is None else f"{float(total[key]) * 100:.2f}%"
        assert label + shown in text, (label, shown)
    assert f"应回访任务{total['due']}" in text
    assert f"已完成任务{total['completed']}" in text
    assert f"联系次数{total['attempts']}" in text
    assert f"月末超期未办任务{dash['overdue_tasks']}" in text
    assert f"本月新增预警{sum(n for _d, n in dash['alerts_by_day'])}" in text
    assert f"未关闭预警{dash['open_alerts']}" in text
    # every row of the three tables, cell by cell, as the dashboard service computes them
    for rows in (board.by_branch, board.by_agent, board.by_tier):
        for m in rows:
            assert row_text(m.group, m) in text, m
    assert row_text("合计", board.total) in text
    assert {m["group"] for m in dash["by_agent"]} >= {"rpt-agent-a", "rpt-agent-b"}
    for tier in board.open_by_tier:
        assert tier in text

    # English, and the dashboard page's download action (same figures)
    en = pdf_text(manager.get("/api/v1/reports/monthly?month=2026-11&lang=en").content)
    assert "Monthlyfollow-upreport2026-11" in en and row_text("total", board.total) in en
    page = manager.get("/dashboard")
    assert 'id="monthly-report-pdf"' in page.text
    download = manager.get("/dashboard/report.pdf", params={"month": MONTH, "branch": HOME})
    assert download.status_code == 200
    assert download.headers["content-disposition"].endswith(f"{MONTH}-{HOME}.pdf")
    assert row_text("合计", board.total) in pdf_text(download.content)

    # the CLI writes the same report
    out = tmp_path / "report.pdf"
    result = CliRunner().invoke(
        cli_app,
        ["report", "monthly", "--month", MONTH, "--branch", HOME, "--out", str(out)],
        env={"HUIFANG_DATABASE_URL": book.url},
    )
    assert result.exit_code == 0, result.output
    assert row_text("合计", board.total) in pdf_text(out.read_bytes())
    bad = CliRunner().invoke(
        cli_app,
        ["report", "monthly", "--month", "2026-13", "--out", str(out)],
        env={"HUIFANG_DATABASE_URL": book.url},
    )
    assert bad.exit_code == 2 and "YYYY-MM" not in bad.output and "无效" in bad.output
    unknown = CliRunner().invoke(
        cli_app,
        ["report", "monthly", "--branch", "XX99", "--out", str(out)],
        env={"HUIFANG_DATABASE_URL": book.url},
    )
    assert unknown.exit_code == 2 and "XX99" in unknown.output


def test_report_is_for_managers_and_admins_of_their_branches(book) -> None:  # type: ignore[no-untyped-def]
    app = create_app(book.engine)
    url = "/api/v1/reports/monthly"
    for role in ("agent", "risk", "auditor"):
        client, _ = login_client(app, role)
        assert client.get(url, params={"month": MONTH}).status_code == 403, role
        assert client.get("/dashboard/report.pdf").status_code == 403, role
        assert 'id="monthly-report-pdf"' not in client.get("/dashboard").text
    manager, _ = login_client(app, "manager")
    assert manager.get(url, params={"month": MONTH, "branch": "GZ01"}).status_code == 403
    assert manager.get(url, params={"month": "2026-1"}).status_code == 422
    assert manager.get(url, params={"month": "2026-13"}).status_code == 422
    admin, _ = login_client(app, "admin")
    every = pdf_text(admin.get(url, params={"month": MONTH}).content)
    assert HOME in every and "GZ01" in every  # the admin's scope is every branch
    # bad input is a clear 422, never a 500 or an empty report of a branch that is not there
    for params in ({"month": "9999-12"}, {"branch": "ZZ99"}, {"branch": "北京"}):
        assert admin.get(url, params=params).status_code == 422, params
    named = admin.get(url, params={"month": MONTH, "branch": "GZ01"})
    assert named.headers["content-disposition"].endswith(f"huifang-monthly-{MONTH}-GZ01.pdf")
    anonymous = create_app(book.engine)
    from fastapi.testclient import TestClient

    assert TestClient(anonymous).get(url).status_code == 401


def test_no_cjk_font_is_a_clear_refusal(book, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(monthly_report.FONT_ENV, "/nonexistent/font.ttc")
    with pytest.raises(monthly_report.FontMissing, match="fonts-noto-cjk"):
        monthly_report.find_cjk_font()
    app = create_app(book.engine)
    manager, _ = login_client(app, "manager")
    r = manager.get("/api/v1/reports/monthly", params={"month": MONTH})
    assert r.status_code == 503 and "fonts-noto-cjk" in r.json()["error"]["en"]
