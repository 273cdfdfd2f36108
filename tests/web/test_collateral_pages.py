"""The collateral pages and API: the risk officer revalues a loan's car and records an
inspection through the web, the service stores them (the same figures the service computes),
each change is audited once, and other roles and branches are refused."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from web_helpers import HOME, login_client

from huifang.security import audit
from huifang.services import risk
from huifang.web.app import create_app


def test_risk_officer_revalues_and_inspects_through_page_and_api(book) -> None:  # type: ignore[no-untyped-def]
    app = create_app(book.engine)
    officer, csrf = login_client(app, "risk")
    loan = book.home_loan
    record = risk.collateral_record(book.engine, loan)
    on = max(record.disbursement_date, date(2026, 11, 1))

    # the model's valuation through the API equals the service's own for that day
    r = officer.post(
        f"/api/v1/loans/{loan}/collateral/revalue",
        json={"as_of": on.isoformat()},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 200, r.text
    body = r.json()["valuation"]
    stored = risk.collateral_record(book.engine, loan).current
    assert stored is not None and stored.as_of == on
    assert Decimal(body["value"]) == stored.value and body["ltv_band"] == stored.ltv_band
    assert (
        stored.ltv == (None if body["ltv"] is None else Decimal(body["ltv"])) and stored.value > 0
    )
    entries = audit.search(book.engine, action="collateral.revalue", target_id=str(loan))
    assert len(entries) == 1 and entries[0].branch_code == HOME
    assert entries[0].actor == "risk" and entries[0].detail["value"] == str(stored.value)

    # an inspection by page (HTMX form): stored, listed, and the car revalued as of its day
    day = on + timedelta(days=1)  # the demo book is of 2026-11-01, in the past
    form = {
        "inspected_on": day.isoformat(),
        "inspector": "王检查",
        "condition": "damaged",
        "mileage_km": "45678",
        "photos": "photos/a.jpg\nphotos/b.jpg",
        "notes": "左前翼子板受损 / left wing damaged",
    }
    page = officer.post(
        f"/loans/{loan}/collateral/inspections",
        data=form,
        headers={"X-CSRF-Token": csrf, "HX-Request": "true"},
    )
    assert page.status_code == 200, page.text
    assert 'id="collateral"' in page.text and "王检查" in page.text and "45678" in page.text
    after = risk.collateral_record(book.engine, loan)
    inspection = after.inspections[0]
    assert inspection.condition == "damaged" and inspection.photos == (
        "photos/a.jpg",
        "photos/b.jpg",
    )
    valued = next(v for v in after.valuations if v.as_of == day)
    assert valued.inspection_id == inspection.id and valued.condition == "damaged"
    assert valued.mileage_km == 45678
    assert len(audit.search(book.engine, action="collateral.inspection", target_id=str(loan))) == 1

    # the API reads the same record
    got = officer.get(f"/api/v1/loans/{loan}/collateral").json()
    assert got["contract_no"] == after.contract_no
    assert [i["id"] for i in got["inspections"]] == [i.id for i in after.inspections]
    assert got["current"]["as_of"] == after.valuations[0].as_of.isoformat()

    # a different record by the same inspector on the same day is refused (evidence is not
    # overwritten), in both languages; nothing new is audited
    clash = officer.post(
        f"/api/v1/loans/{loan}/collateral/inspections",
        json={**form, "mileage_km": 1, "photos": [], "condition": "good"},
        headers={"X-CSRF-Token": csrf},
    )
    assert clash.status_code == 422 and clash.json()["error"]["en"]
    assert len(audit.search(book.engine, action="collateral.inspection", target_id=str(loan))) == 1

    # a date before disbursement and a bad condition are refused with a message
    early = (record.disbursement_date - timedelta(days=1)).isoformat()
    bad = officer.post(
        f"/loans/{loan}/collateral/revalue",
        data={"as_of": early},
        headers={"X-CSRF-Token": csrf, "HX-Request": "true"},
    )
    assert bad.status_code == 422 and "早于放款日" in bad.text
    wrong = officer.post(
        f"/api/v1/loans/{loan}/collateral/inspections",
        json={"condition": "shiny"},
        headers={"X-CSRF-Token": csrf},
    )
    assert wrong.status_code == 422

    # the page shows the history and the forms (Chinese first, English switchable)
    html = officer.get(f"/loans/{loan}/collateral").text
    assert "估值历史" in html and 'id="revalue-form"' in html and 'id="inspection-form"' in html
    assert "Valuation history" in officer.get(f"/loans/{loan}/collateral?lang=en").text


def test_other_roles_read_only_and_other_branches_refused(book) -> None:  # type: ignore[no-untyped-def]
    app = create_app(book.engine)
    agent, csrf = login_client(app, "agent")
    page = agent.get(f"/loans/{book.home_loan}/collateral")
    assert page.status_code == 200 and 'id="revalue-form"' not in page.text
    for url in (
        f"/api/v1/loans/{book.home_loan}/collateral/revalue",
        f"/loans/{book.home_loan}/collateral/revalue",
    ):
        assert agent.post(url, json={}, headers={"X-CSRF-Token": csrf}).status_code == 403
    manager, csrf = login_client(app, "manager")
    r = manager.post(
        f"/api/v1/loans/{book.home_loan}/collateral/inspections",
        json={"condition": "good"},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 403
    officer, csrf = login_client(app, "risk")
    assert officer.get(f"/api/v1/loans/{book.other_loan}/collateral").status_code == 403
    r = officer.post(
        f"/api/v1/loans/{book.other_loan}/collateral/revalue",
        json={},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 403
    assert officer.get("/api/v1/loans/999999/collateral").status_code == 404
    assert not audit.search(book.engine, action="collateral.", target_id=str(book.other_loan))
