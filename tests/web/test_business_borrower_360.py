"""A business borrower's 360° names its legal representative and shows the representative's
ID number masked: the agent verifies the person on the line by that ID's last four."""

from __future__ import annotations

from sqlalchemy import select
from web_helpers import login_client

from huifang.security import pii
from huifang.store.db import transaction
from huifang.store.models import Borrower
from huifang.web import pii as web_pii
from huifang.web.app import create_app


def test_business_360_shows_the_legal_representative(book) -> None:  # type: ignore[no-untyped-def]
    ring = pii.current_ring()
    with transaction(book.engine) as s:
        people = s.scalars(select(Borrower).order_by(Borrower.id)).all()
        business = next(b for b in people if b.kind == "business")
        individual = next(b for b in people if b.kind == "individual")
        company_id, rep_name = business.id, business.legal_rep_name
        rep_id = pii.borrower_pii(ring, business).legal_rep_id_number
        person_id = individual.id
    assert rep_name and rep_id  # the demo book records both for every business

    admin, _ = login_client(create_app(book.engine), "admin")
    shown = admin.get(f"/api/v1/borrowers/{company_id}").json()
    assert shown["legal_rep_name"] == rep_name
    masked = shown["legal_rep_id_number_masked"]
    assert masked == web_pii.mask("id_number", rep_id) and masked.endswith(rep_id[-4:])
    assert rep_id not in admin.get(f"/api/v1/borrowers/{company_id}").text
    page = admin.get(f"/borrowers/{company_id}")
    assert "法定代表人" in page.text and rep_name in page.text and rep_id not in page.text

    plain = admin.get(f"/api/v1/borrowers/{person_id}").json()
    assert plain["legal_rep_name"] is None and plain["legal_rep_id_number_masked"] is None
