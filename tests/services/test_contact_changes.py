"""Contact changes submitted through self-service: validated, sealed at rest with a blind
index, pending until an agent confirms (then applied to the loan book) or rejects, superseded
by a newer request, audited without the values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from selfservice_book import AS_OF, book_engine  # noqa: F401
from sqlalchemy import Engine, select, text

from huifang.security import audit, pii
from huifang.services import contact_changes as cc
from huifang.services import loan_views
from huifang.store.db import transaction
from huifang.store.followup_models import RiskEvent
from huifang.store.models import Borrower, Loan

AGENT = audit.Actor("agent", "agent", "127.0.0.1")
NEW_MOBILE = "13912345678"
ON_AS_OF = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai on the data date


def _borrower(engine: Engine, index: int) -> tuple[int, int]:
    with transaction(engine) as s:
        row = s.execute(
            select(Loan.borrower_id, Loan.id).order_by(Loan.id).offset(index).limit(1)
        ).one()
    return int(row[0]), int(row[1])


def test_mobile_change_pending_then_confirmed(book_engine: Engine) -> None:  # noqa: F811
    borrower_id, loan_id = _borrower(book_engine, 0)
    before = loan_views.borrower_360(book_engine, borrower_id, AS_OF).mobile
    with pytest.raises(cc.ChangeError) as bad:
        cc.request_change(book_engine, borrower_id, "mobile", "1234")
    assert "11" in bad.value.zh
    with pytest.raises(cc.ChangeError):
        cc.request_change(book_engine, borrower_id, "mobile", before)  # the same number
    with pytest.raises(cc.ChangeError):
        cc.request_change(book_engine, borrower_id, "id_number", "x")  # not changeable

    first = cc.request_change(
        book_engine,
        borrower_id,
        "mobile",
        "139 1234 0000",
        loan_id=loan_id,
        now=ON_AS_OF - timedelta(hours=1),
    )
    change = cc.request_change(
        book_engine, borrower_id, "mobile", f"+86 {NEW_MOBILE}", loan_id=loan_id, now=ON_AS_OF
    )
    assert change.status == "pending" and change.new_value == NEW_MOBILE
    assert change.old_value == before
    listed = cc.borrower_changes(book_engine, borrower_id)
    assert [c.id for c in listed[:2]] == [change.id, first.id]
    assert listed[1].status == "superseded"
    # nothing changes in the loan book until an agent confirms
    assert loan_views.borrower_360(book_engine, borrower_id, AS_OF).mobile == before

    # sealed at rest: no plain number in the row; the blind index finds it
    with book_engine.connect() as conn:
        raw = conn.execute(
            text("SELECT old_value_enc, new_value_enc, new_value_hash FROM contact_changes")
        ).all()
    assert all(NEW_MOBILE not in str(r) and before not in str(r) for r in raw)
    wanted = pii.search_hash(pii.current_ring(), "contact_changes", "new_value", NEW_MOBILE)
    assert wanted in {r[2] for r in raw}

    done = cc.review_change(book_engine, change.id, approve=True, reviewer=AGENT)
    assert done.status == "confirmed" and done.reviewed_by == "agent"
    after = loan_views.borrower_360(book_engine, borrower_id, AS_OF)
    assert after.mobile == NEW_MOBILE
    hashed = pii.search_hash(pii.current_ring(), "borrowers", "mobile", NEW_MOBILE)
    with transaction(book_engine) as s:
        assert s.scalar(select(Borrower.id).where(Borrower.mobile_hash == hashed)) == borrower_id
    with pytest.raises(cc.ChangeClosed):  # a retried click does not apply it twice
        cc.review_change(book_engine, change.id, approve=True, reviewer=AGENT)
    with pytest.raises(cc.ChangeClosed):
        cc.review_change(book_engine, first.id, approve=True, reviewer=AGENT)

    entries = audit.search(book_engine, target_type="borrower", target_id=str(borrower_id))
    actions = [e.action for e in entries]
    assert actions.count("selfservice.contact_change") == 2
    assert "contact_change.confirmed" in actions
    assert all(NEW_MOBILE not in str(e.detail) for e in entries)

    # the request is the follow-up policy's "contact-changed" event (task generation reads it)
    with transaction(book_engine) as s:
        events = list(s.scalars(select(RiskEvent).where(RiskEvent.loan_id == loan_id)))
    changed = [e for e in events if e.kind == "contact-changed"]
    assert {e.ref for e in changed} == {f"contact-change:{first.id}", f"contact-change:{change.id}"}
    assert all(NEW_MOBILE not in str(e.details) for e in changed)


def test_address_change_rejected_needs_a_note(book_engine: Engine) -> None:  # noqa: F811
    borrower_id, _ = _borrower(book_engine, 1)
    before = loan_views.borrower_360(book_engine, borrower_id, AS_OF).address
    with pytest.raises(cc.ChangeError):
        cc.request_change(book_engine, borrower_id, "address", "短")
    change = cc.request_change(
        book_engine, borrower_id, "address", "  广东省深圳市南山区  科技园1号 "
    )
    assert change.new_value == "广东省深圳市南山区 科技园1号"
    with pytest.raises(cc.ChangeError):
        cc.review_change(book_engine, change.id, approve=False, reviewer=AGENT)
    done = cc.review_change(
        book_engine, change.id, approve=False, reviewer=AGENT, note="电话核实非本人申请"
    )
    assert done.status == "rejected" and done.review_note == "电话核实非本人申请"
    assert loan_views.borrower_360(book_engine, borrower_id, AS_OF).address == before
    with pytest.raises(loan_views.NotFound):
        cc.review_change(book_engine, 10**9, approve=True, reviewer=AGENT)
