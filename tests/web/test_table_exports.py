"""Every table page exports its rows to Excel (``?format=xlsx``): the same rows as the page
(all of them, not one page), the caller's branches only, personal data as masked as on the
page, headers in the caller's language, and each export written to the audit log."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from openpyxl import load_workbook
from web_helpers import HOME, OTHER, login_client

from huifang.domain.compliance import Channel, NoHolidays, Outcome, PartyRole
from huifang.security import audit
from huifang.services import followup
from huifang.services.followup_attempts import AttemptInput, Guard, record_attempt
from huifang.web.app import create_app

MONDAY_10 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
PERIOD = {"start": "2026-11-01", "end": "2026-11-30"}


def _sheet(response: Any) -> list[tuple[object, ...]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert response.headers["cache-control"] == "no-store"
    ws = load_workbook(io.BytesIO(response.content)).active
    assert ws is not None
    return [tuple(row) for row in ws.iter_rows(values_only=True)]


def test_table_pages_export_their_rows(book: Any) -> None:
    followup.generate_tasks(book.engine, date(2026, 11, 1))
    guard = Guard(calendar=NoHolidays())
    for code in (HOME, OTHER):
        task = followup.list_tasks(book.engine, branch=code, status="open", limit=1)[0]
        record_attempt(
            book.engine,
            task.id,
            AttemptInput(
                Channel.AGENT_CALL,
                PartyRole.BORROWER,
                MONDAY_10,
                Outcome.RIGHT_PARTY_CONTACT,
                ended_at=MONDAY_10 + timedelta(minutes=4),
            ),
            guard=guard,
            complete=False,
        )
        late = MONDAY_10 + timedelta(hours=13)  # 23:00 in Shanghai: refused
        record_attempt(
            book.engine,
            task.id,
            AttemptInput(Channel.AGENT_CALL, PartyRole.BORROWER, late, Outcome.NO_ANSWER),
            guard=guard,
        )
    app = create_app(book.engine)

    # loans: every matching loan of the agent's branches, the mobile masked
    agent, _ = login_client(app, "agent")
    page = agent.get("/loans")
    assert 'id="loans-xlsx" href="?format=xlsx"' in page.text
    total = int(agent.get("/api/v1/loans?limit=1").json()["total"])
    sheet = _sheet(agent.get("/loans", params={"format": "xlsx", "page": "2"}))
    assert sheet[0][:3] == ("合同号", "借款人", "手机 (脱敏)") and len(sheet) == total + 1
    assert {r[3] for r in sheet[1:]} == {HOME}
    assert all(re.fullmatch(r"1\d\d\*{4}\d{4}", str(r[2])) for r in sheet[1:])
    assert agent.get("/loans", params={"format": "xlsx", "branch": OTHER}).status_code == 403
    exports = audit.search(book.engine, actor="agent", action="export.loans")
    assert exports and exports[0].detail["rows"] == total

    # refusals and the QA sample (auditor), English headers on request
    auditor, _ = login_client(app, "auditor")
    refusals = _sheet(auditor.get("/refusals", params={**PERIOD, "format": "xlsx", "lang": "en"}))
    assert refusals[0][:3] == ("#", "Time", "Branch") and len(refusals) == 2
    assert refusals[1][2] == HOME and "contact.outside_hours" in str(refusals[1][7])
    assert isinstance(refusals[1][1], datetime)  # an Excel time, in the lender's zone
    assert refusals[1][1] == datetime(2026, 11, 2, 23, 0)
    sample = _sheet(auditor.get("/qa", params={**PERIOD, "format": "xlsx"}))
    assert len(sample) == 2 and sample[1][2] == HOME
    audit_rows = _sheet(auditor.get("/audit", params={"action": "export.", "format": "xlsx"}))
    assert audit_rows[0][8] == "来源 IP" and {r[4] for r in audit_rows[1:]} >= {"export.loans"}
    assert auditor.get("/qa", params={"format": "csv"}).status_code == 422

    # corrections (manager): the page and its export list the same pending corrections
    manager, _ = login_client(app, "manager")
    assert 'id="corrections-xlsx"' in manager.get("/corrections").text
    corrections = _sheet(manager.get("/corrections", params={"format": "xlsx"}))
    assert corrections[0][0] == "编号"


def test_an_export_by_id_number_keeps_no_id_number_in_the_audit_log(book: Any) -> None:
    from huifang.security import pii
    from huifang.store.db import transaction
    from huifang.store.models import Borrower

    with transaction(book.engine) as s:
        borrower = s.get(Borrower, book.home_borrower)
        assert borrower is not None
        id_number = pii.borrower_pii(pii.current_ring(), borrower).id_number
    agent, _ = login_client(create_app(book.engine), "agent")
    sheet = _sheet(agent.get("/loans", params={"format": "xlsx", "q": id_number}))
    assert len(sheet) >= 2  # the search found the borrower's loans
    entry = audit.search(book.engine, actor="agent", action="export.loans")[0]
    assert id_number not in str(entry.detail)
    assert entry.detail["query"]["q"] == f"{id_number[:1]}***{id_number[-2:]}"
