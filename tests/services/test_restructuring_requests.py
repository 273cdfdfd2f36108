"""Restructuring requests: priced by the domain, maker-checker, branch and role checks,
idempotent retries, audited (both databases)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from followup_book import make_book
from sqlalchemy import Engine, select

from huifang.domain.restructuring import (
    RestructuringRequest,
    TermExtension,
    initial_version,
    preview_restructuring,
)
from huifang.domain.schedule import build_schedule
from huifang.security.roles import Principal, Role
from huifang.services.loan_views import ledger_events, loan_terms, posting_rules
from huifang.services.restructuring import (
    RestructuringDenied,
    RestructuringError,
    decide_restructuring,
    list_requests,
    request_branch,
    request_restructuring,
)
from huifang.store.db import transaction
from huifang.store.models import Loan, Payment
from huifang.store.security_models import AuditEntry

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 24, 10, 0, tzinfo=SH)
LATER = datetime(2026, 3, 25, 9, 0, tzinfo=SH)
EXTEND = [{"kind": "term-extension", "months": 12}]


def officer(name: str, role: Role = Role.RISK, branches: tuple[str, ...] = ("SZ01",)) -> Principal:
    return Principal(0, name, name, role, False, frozenset(branches))


MAKER, CHECKER = officer("risk-wang"), officer("risk-li")


def _ask(engine: Engine, loan: int, who: Principal = MAKER, **kw: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = {
        "effective_on": date(2026, 4, 1),
        "changes": EXTEND,
        "reason": "客户收入下降, 申请展期",
        "now": NOW,
    }
    args.update(kw)
    return request_restructuring(engine, loan, who, **args)  # type: ignore[arg-type]


def _audit(engine: Engine, action: str) -> list[AuditEntry]:
    with transaction(engine) as s:
        rows = list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)))
        s.expunge_all()
        return rows


def test_request_is_priced_by_the_domain_and_audited(engine: Engine) -> None:
    loans = make_book(engine)
    req = _ask(engine, loans["L-LOW"])
    assert (req.status, req.requested_by, req.branch) == ("requested", "risk-wang", "SZ01")
    assert req.changes == ({"kind": "term-extension", "months": 12},)
    with transaction(engine) as s:
        loan = s.get(Loan, loans["L-LOW"])
        assert loan is not None
        schedule = build_schedule(loan_terms(loan, loan.product))
        expected = preview_restructuring(
            initial_version(str(loan.id), schedule),
            ledger_events(loan.payments),
            RestructuringRequest(
                "x",
                str(loan.id),
                "risk-wang",
                NOW.date(),
                date(2026, 4, 1),
                (TermExtension(12),),
                "r",
            ),
            posting_rules(loan.product),
        )
    assert Decimal(req.proposal["new_principal"]) == expected.new_principal
    assert Decimal(req.proposal["new_total_interest"]) == expected.new_total_interest
    # 36 periods, 2 due by April 1st, the other 34 stretched by 12 months
    assert req.proposal["installments"] == len(expected.version.schedule.installments) == 46
    assert Decimal(req.proposal["interest_change"]) > 0  # a longer term costs more interest
    [entry] = _audit(engine, "restructuring.request")
    assert (entry.actor, entry.target_id, entry.branch_code) == (
        "risk-wang",
        str(loans["L-LOW"]),
        "SZ01",
    )
    assert [r.id for r in list_requests(engine, ["SZ01"])] == [req.id]
    assert list_requests(engine, ["BJ01"]) == []
    assert request_branch(engine, req.id) == "SZ01"
    assert request_branch(engine, req.id + 99) is None


def test_maker_cannot_approve_own_request_and_checker_can(engine: Engine) -> None:
    loans = make_book(engine)
    req = _ask(engine, loans["L-LOW"])
    with pytest.raises(RestructuringError, match="审批人不能与申请人相同"):
        decide_restructuring(engine, req.id, MAKER, approve_it=True, now=LATER)
    with pytest.raises(RestructuringError, match="审批人不能与申请人相同"):
        decide_restructuring(engine, req.id, MAKER, approve_it=False, note="撤回", now=LATER)
    assert _audit(engine, "restructuring.approve") == []
    done = decide_restructuring(engine, req.id, CHECKER, approve_it=True, note="同意", now=LATER)
    assert (done.status, done.decided_by, done.decision_note) == ("approved", "risk-li", "同意")
    assert done.proposal == req.proposal
    [entry] = _audit(engine, "restructuring.approve")
    assert entry.actor == "risk-li" and entry.detail["maker"] == "risk-wang"
    assert list_requests(engine, ["SZ01"]) == []
    assert [r.status for r in list_requests(engine, ["SZ01"], status=None)] == ["approved"]


def test_double_submit_and_repeated_decision_are_idempotent(engine: Engine) -> None:
    loans = make_book(engine)
    first = _ask(engine, loans["L-LOW"])
    again = _ask(engine, loans["L-LOW"])
    assert again.id == first.id
    assert len(_audit(engine, "restructuring.request")) == 1
    with pytest.raises(RestructuringError, match="尚待审批"):
        _ask(engine, loans["L-LOW"], changes=[{"kind": "term-extension", "months": 6}])
    with pytest.raises(RestructuringError, match="尚待审批"):
        _ask(engine, loans["L-LOW"], officer("risk-zhao"))
    done = decide_restructuring(engine, first.id, CHECKER, approve_it=True, now=LATER)
    same = decide_restructuring(engine, first.id, CHECKER, approve_it=True, now=LATER)
    assert same == done
    assert len(_audit(engine, "restructuring.approve")) == 1
    with pytest.raises(RestructuringError, match="已由 risk-li 处理"):
        decide_restructuring(engine, first.id, CHECKER, approve_it=False, note="改主意", now=LATER)
    with pytest.raises(RestructuringError, match="已由 risk-li 处理"):
        decide_restructuring(engine, first.id, officer("risk-zhao"), approve_it=True, now=LATER)


def test_wrong_role_and_wrong_branch_are_refused(engine: Engine) -> None:
    loans = make_book(engine)
    with pytest.raises(RestructuringDenied):
        _ask(engine, loans["L-LOW"], officer("agent-a", Role.AGENT))
    with pytest.raises(RestructuringDenied):
        _ask(engine, loans["L-LOW"], officer("mgr", Role.MANAGER))
    with pytest.raises(RestructuringDenied):
        _ask(engine, loans["L-BJ"])  # an SZ01 officer, a BJ01 loan
    req = _ask(engine, loans["L-LOW"])
    with pytest.raises(RestructuringDenied):
        decide_restructuring(
            engine, req.id, officer("bj-risk", branches=("BJ01",)), approve_it=True
        )
    with pytest.raises(RestructuringDenied):
        decide_restructuring(engine, req.id, officer("mgr", Role.MANAGER), approve_it=True)
    assert list_requests(engine, ["SZ01"])[0].status == "requested"


def test_rejection_needs_a_note_and_frees_the_loan_for_a_new_request(engine: Engine) -> None:
    loans = make_book(engine)
    req = _ask(engine, loans["L-LOW"])
    with pytest.raises(RestructuringError, match="驳回须说明理由"):
        decide_restructuring(engine, req.id, CHECKER, approve_it=False, now=LATER)
    done = decide_restructuring(
        engine, req.id, CHECKER, approve_it=False, note="收入证明不足", now=LATER
    )
    assert done.status == "rejected"
    holiday = [{"kind": "payment-holiday", "months": 3, "capitalize_interest": True}]
    second = _ask(engine, loans["L-LOW"], changes=holiday)
    assert second.id != req.id and second.status == "requested"
    # three months with nothing to pay in front of the remaining 34
    assert second.proposal["installments"] == 37
    assert second.proposal["first_payment"] == "0.00"


def test_approval_is_refused_when_the_loan_changed_since_the_request(engine: Engine) -> None:
    loans = make_book(engine)
    req = _ask(engine, loans["L-LOW"], effective_on=date(2026, 5, 20))
    with transaction(engine) as s:
        s.add(
            Payment(
                loan_id=loans["L-LOW"],
                txn_ref="L-LOW-extra",
                paid_on=date(2026, 3, 24),
                amount=Decimal("5000.00"),
            )
        )
    with pytest.raises(RestructuringError, match="已有变动"):
        decide_restructuring(engine, req.id, CHECKER, approve_it=True, now=LATER)
    assert list_requests(engine, ["SZ01"])[0].status == "requested"


def test_bad_requests_are_refused_before_anything_is_stored(engine: Engine) -> None:
    loans = make_book(engine)
    with pytest.raises(RestructuringError, match="未知的变更类型"):
        _ask(engine, loans["L-LOW"], changes=[{"kind": "debt-forgiveness"}])
    with pytest.raises(RestructuringError, match="至少为 1"):
        _ask(engine, loans["L-LOW"], changes=[{"kind": "term-extension", "months": 0}])
    with pytest.raises(RestructuringError, match="生效日不能早于申请日"):
        _ask(engine, loans["L-LOW"], effective_on=date(2026, 3, 1))
    with pytest.raises(RestructuringError, match="必须说明原因"):
        _ask(engine, loans["L-LOW"], reason="  ")
    with pytest.raises(RestructuringError, match="不能重组"):
        _ask(engine, loans["L-DONE"])
    assert list_requests(engine, ["SZ01"], status=None) == []
    assert _audit(engine, "restructuring.request") == []


def test_a_request_past_its_effective_date_cannot_be_approved(engine: Engine) -> None:
    loans = make_book(engine)
    req = _ask(engine, loans["L-LOW"], effective_on=date(2026, 3, 24))
    too_late = datetime(2026, 3, 25, 0, 30, tzinfo=SH)  # the next day in Shanghai
    with pytest.raises(RestructuringError, match="生效日 2026-03-24 已过"):
        decide_restructuring(engine, req.id, CHECKER, approve_it=True, now=too_late)
    assert _audit(engine, "restructuring.approve") == []
    done = decide_restructuring(
        engine, req.id, CHECKER, approve_it=False, note="逾期", now=too_late
    )
    assert done.status == "rejected"
