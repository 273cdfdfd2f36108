"""Restructuring requests and their maker-checker approval (贷款重组申请与双人复核).

A risk officer asks for a restructuring of one loan (term extension, rate reduction,
payment holiday, as `domain/restructuring.py` names them) from an effective date, with a
reason. The request is priced at once with the domain's `preview_restructuring` over the
loan's schedule rebuilt from its stored terms and its booked payments, and the proposal's
figures are stored with it. A second officer with `restructuring.approve` decides it:
approval goes through the domain's `approve` (the checker is never the maker) and
`apply_restructuring`, which prices the request again on the loan as it is now; if the
figures moved (a payment came in since), the approval is refused and the maker asks again,
so nobody approves numbers the borrower would not get.

Approved is the last state. The loan book keeps no schedule versions — every reader
(`loan_views`, the nightly run, the payoff quote) rebuilds the schedule from the loan's
original terms — so an approved restructuring is recorded here for the core banking
system to book, and the loan's schedule in Huifang does not change until that system's
next import says so.

Each use case is one transaction with its audit entry (`restructuring.request`,
`restructuring.approve`, `restructuring.reject`). The permission and the branch are
checked here as well as at the web entry points, so the CLI or any other caller cannot
skip them. A repeated submission is idempotent: the same request from the same maker
while it is pending returns the stored one, and the same decision by the same checker
returns the decided one; anything else on a pending or decided request is refused.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, selectinload

from huifang.domain.restructuring import (
    Change,
    MakerCheckerViolation,
    PaymentHoliday,
    RateReduction,
    RestructuringRequest,
    RestructuringResult,
    TermExtension,
    apply_restructuring,
    approve,
    initial_version,
    preview_restructuring,
)
from huifang.domain.schedule import build_schedule
from huifang.security import audit
from huifang.security.roles import Permission, Principal
from huifang.services.followup import aware, local_date, utc
from huifang.services.loan_views import ledger_events, loan_terms, posting_rules
from huifang.store.db import transaction
from huifang.store.models import Branch, Loan
from huifang.store.restructuring_models import RestructuringRequestRow

REQUESTED, APPROVED, REJECTED = "requested", "approved", "rejected"
CHANGE_KINDS = ("term-extension", "rate-reduction", "payment-holiday")
# Longest extension or holiday one request may ask for (ten years): beyond it a request is a
# new loan, and the bound keeps a mistyped month count from building a huge schedule.
MAX_MONTHS = 120


class RestructuringError(ValueError):
    """A request or decision that cannot be made (HTTP 409), in Chinese and English."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.zh = zh
        self.en = en


class RestructuringDenied(PermissionError):
    """The caller lacks the permission or the loan's branch (HTTP 403)."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.zh = zh
        self.en = en


@dataclass(frozen=True)
class RestructuringView:
    id: int
    loan_id: int
    contract_no: str
    branch: str
    requested_by: str
    requested_at: datetime
    effective_on: date
    changes: tuple[dict[str, Any], ...]
    capitalize_arrears: bool
    reason: str
    proposal: dict[str, Any]
    status: str
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None


# -- the changes as stored (JSON) and as the domain takes them ---------------------------------
def parse_changes(items: Sequence[Mapping[str, Any]]) -> tuple[Change, ...]:
    """`[{"kind": "term-extension", "months": 6}, …]` as domain changes; RestructuringError
    for an unknown kind or a bad value."""
    out: list[Change] = []
    try:
        for item in items:
            kind = item.get("kind")
            if kind == "term-extension":
                out.append(TermExtension(int(item["months"])))
            elif kind == "rate-reduction":
                out.append(RateReduction(Decimal(str(item["new_annual_rate"]))))
            elif kind == "payment-holiday":
                out.append(
                    PaymentHoliday(int(item["months"]), bool(item.get("capitalize_interest", True)))
                )
            else:
                raise RestructuringError(f"未知的变更类型 {kind!r}", f"unknown change {kind!r}")
    except RestructuringError:
        raise
    except (KeyError, TypeError, InvalidOperation) as exc:
        raise RestructuringError("变更参数不完整或有误", f"bad change: {exc!r}") from None
    except ValueError as exc:  # the domain's own checks (月数至少为 1 …)
        raise RestructuringError(str(exc), str(exc)) from None
    for c in out:
        if isinstance(c, TermExtension | PaymentHoliday) and c.months > MAX_MONTHS:
            raise RestructuringError(
                f"月数不能超过 {MAX_MONTHS}", f"at most {MAX_MONTHS} months per change"
            )
        if isinstance(c, RateReduction) and c.new_annual_rate >= 1:
            raise RestructuringError("年利率须小于 100%", "the annual rate must be below 100 %")
    return tuple(out)


def changes_to_json(changes: Sequence[Change]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for c in changes:
        if isinstance(c, TermExtension):
            out.append({"kind": "term-extension", "months": c.months})
        elif isinstance(c, RateReduction):
            out.append({"kind": "rate-reduction", "new_annual_rate": str(c.new_annual_rate)})
        else:
            out.append(
                {
                    "kind": "payment-holiday",
                    "months": c.months,
                    "capitalize_interest": c.capitalize_interest,
                }
            )
    return out


def proposal_summary(result: RestructuringResult) -> dict[str, Any]:
    """The figures a checker decides on (money as decimal strings, dates ISO)."""
    rows = result.version.schedule.installments
    return {
        "new_principal": str(result.new_principal),
        "capitalized_arrears": str(result.capitalized_arrears),
        "old_remaining_interest": str(result.old_remaining_interest),
        "new_total_interest": str(result.new_total_interest),
        "interest_change": str(result.interest_change),
        "opening_credit": str(result.version.opening_credit),
        "first_period": result.version.first_period,
        "installments": len(rows),
        "first_due_date": rows[0].due_date.isoformat(),
        "first_payment": str(rows[0].payment),
        "last_due_date": rows[-1].due_date.isoformat(),
        "regular_payment": str(rows[-2].payment if len(rows) > 1 else rows[-1].payment),
    }


# -- checks ----------------------------------------------------------------------------------
def _check(principal: Principal, permission: Permission, branch: str) -> None:
    if not principal.can(permission):
        raise RestructuringDenied("无此权限", f"the role lacks {permission.value}")
    if not principal.sees_branch(branch):
        raise RestructuringDenied("无权访问该机构的数据", "not in your branches")


def _locked_loan(s: Session, loan_id: int) -> Loan | None:
    # FOR UPDATE (PostgreSQL): two submissions for one loan are decided one after the other,
    # so the second sees the first's row and is answered idempotently.
    return s.scalars(
        select(Loan)
        .where(Loan.id == loan_id)
        .options(selectinload(Loan.product), selectinload(Loan.payments))
        .with_for_update(of=Loan)
    ).one_or_none()


def _domain_request(row: RestructuringRequestRow, loan: Loan) -> RestructuringRequest:
    return RestructuringRequest(
        request_id=str(row.id),
        loan_id=str(loan.id),
        requested_by=row.requested_by,
        requested_on=local_date(row.requested_at),
        effective_on=row.effective_on,
        changes=parse_changes(row.changes),
        reason=row.reason,
        capitalize_arrears=row.capitalize_arrears,
    )


def _price(
    loan: Loan,
    request: RestructuringRequest,
    approval_by: str | None = None,
    on: date | None = None,
) -> RestructuringResult:
    """The request priced on the loan as stored now (with the approval when given)."""
    schedule = build_schedule(loan_terms(loan, loan.product))
    current = initial_version(str(loan.id), schedule)
    events = ledger_events(loan.payments)
    rules = posting_rules(loan.product)
    try:
        if approval_by is None:
            return preview_restructuring(current, events, request, rules)
        assert on is not None
        decision = approve(request, approval_by, on)
        return apply_restructuring(current, events, request, decision, rules)
    except MakerCheckerViolation as exc:
        raise RestructuringError(
            str(exc), "maker-checker: the checker cannot be the maker"
        ) from None
    except ValueError as exc:
        raise RestructuringError(str(exc), "the loan cannot be restructured so") from None


def _view(row: RestructuringRequestRow, contract_no: str, branch: str) -> RestructuringView:
    requested = aware(row.requested_at)
    assert requested is not None
    return RestructuringView(
        row.id,
        row.loan_id,
        contract_no,
        branch,
        row.requested_by,
        requested,
        row.effective_on,
        tuple(dict(c) for c in row.changes),
        row.capitalize_arrears,
        row.reason,
        dict(row.proposal),
        row.status,
        row.decided_by,
        aware(row.decided_at),
        row.decision_note,
    )


def _actor(principal: Principal, ip: str | None) -> audit.Actor:
    return audit.Actor(principal.username, principal.role.value, ip)


# -- use cases -------------------------------------------------------------------------------
def request_restructuring(
    engine: Engine,
    loan_id: int,
    principal: Principal,
    *,
    effective_on: date,
    changes: Sequence[Mapping[str, Any]],
    reason: str,
    capitalize_arrears: bool = True,
    now: datetime | None = None,
    ip: str | None = None,
) -> RestructuringView:
    """The maker's request, priced by the domain and stored as `requested`. The same
    request again while it is pending returns it; another while one is pending is refused."""
    at = utc(now or datetime.now(UTC))
    domain_changes = parse_changes(changes)
    stored_changes = changes_to_json(domain_changes)
    with transaction(engine) as s:
        loan = _locked_loan(s, loan_id)
        if loan is None:
            raise LookupError(f"贷款不存在 / no loan {loan_id}")
        branch = s.get(Branch, loan.branch_id)
        code = branch.code if branch else ""
        _check(principal, Permission.RESTRUCTURING_REQUEST, code)
        if loan.status != "active":
            raise RestructuringError("贷款已结清或核销, 不能重组", "the loan is not active")
        pending = s.scalar(
            select(RestructuringRequestRow).where(
                RestructuringRequestRow.loan_id == loan_id,
                RestructuringRequestRow.status == REQUESTED,
            )
        )
        if pending is not None:
            same = (
                pending.requested_by == principal.username
                and pending.effective_on == effective_on
                and pending.changes == stored_changes
                and pending.capitalize_arrears == capitalize_arrears
                and pending.reason == reason.strip()
            )
            if same:  # a double submit or a retry: the stored request, nothing new
                return _view(pending, loan.contract_no, code)
            raise RestructuringError(
                f"重组申请 #{pending.id} 尚待审批, 请先处理",
                f"restructuring request #{pending.id} is still pending",
            )
        requested_on = local_date(at)
        if effective_on < requested_on:
            raise RestructuringError("生效日不能早于申请日", "the effective date is in the past")
        try:
            request = RestructuringRequest(
                request_id="new",
                loan_id=str(loan.id),
                requested_by=principal.username,
                requested_on=requested_on,
                effective_on=effective_on,
                changes=domain_changes,
                reason=reason.strip(),
                capitalize_arrears=capitalize_arrears,
            )
        except ValueError as exc:
            raise RestructuringError(str(exc), "the request is incomplete") from None
        result = _price(loan, request)
        row = RestructuringRequestRow(
            loan_id=loan.id,
            requested_by=principal.username,
            requested_at=at,
            effective_on=effective_on,
            changes=stored_changes,
            capitalize_arrears=capitalize_arrears,
            reason=reason.strip(),
            proposal=proposal_summary(result),
            status=REQUESTED,
        )
        s.add(row)
        s.flush()
        audit.record(
            s,
            _actor(principal, ip),
            "restructuring.request",
            target_type="loan",
            target_id=loan.id,
            branch_code=code,
            detail={
                "request_id": row.id,
                "effective_on": effective_on.isoformat(),
                "changes": stored_changes,
                "capitalize_arrears": capitalize_arrears,
                "new_principal": row.proposal["new_principal"],
            },
            at=at,
        )
        return _view(row, loan.contract_no, code)


def decide_restructuring(
    engine: Engine,
    request_id: int,
    principal: Principal,
    *,
    approve_it: bool,
    note: str = "",
    now: datetime | None = None,
    ip: str | None = None,
) -> RestructuringView:
    """The checker approves or rejects a pending request: never the maker, always with
    `restructuring.approve` on the loan's branch; a rejection needs a note. Approval prices
    the request again and is refused when the figures no longer match what was asked."""
    at = utc(now or datetime.now(UTC))
    outcome = APPROVED if approve_it else REJECTED
    with transaction(engine) as s:
        loan_id = s.scalar(
            select(RestructuringRequestRow.loan_id).where(RestructuringRequestRow.id == request_id)
        )
        if loan_id is None:
            raise LookupError(f"重组申请不存在 / no restructuring request {request_id}")
        loan = _locked_loan(s, loan_id)  # the loan first, then the request: one lock order
        assert loan is not None
        row = s.get(RestructuringRequestRow, request_id, populate_existing=True)
        assert row is not None
        branch = s.get(Branch, loan.branch_id)
        code = branch.code if branch else ""
        _check(principal, Permission.RESTRUCTURING_APPROVE, code)
        if row.status != REQUESTED:
            if row.status == outcome and row.decided_by == principal.username:
                return _view(row, loan.contract_no, code)  # the same decision again
            raise RestructuringError(
                f"重组申请 #{row.id} 已由 {row.decided_by} 处理 ({row.status})",
                f"request #{row.id} was already {row.status} by {row.decided_by}",
            )
        if principal.username == row.requested_by:
            raise RestructuringError(
                "审批人不能与申请人相同 (双人复核)",
                "maker-checker: the checker cannot be the maker",
            )
        if not approve_it and not note.strip():
            raise RestructuringError("驳回须说明理由", "a rejection needs a note")
        if approve_it and local_date(at) > row.effective_on:
            # approving now would backdate the new terms to a day already past
            raise RestructuringError(
                f"生效日 {row.effective_on} 已过, 请驳回后按新的生效日重新申请",
                f"the effective date {row.effective_on} has passed; reject and ask again",
            )
        if approve_it:
            request = _domain_request(row, loan)
            result = _price(loan, request, principal.username, local_date(at))
            if proposal_summary(result) != row.proposal:
                raise RestructuringError(
                    "贷款自申请后已有变动 (如新的还款), 测算结果不同, 请驳回后重新申请",
                    "the loan changed since the request (e.g. a payment); reject and ask again",
                )
        row.status = outcome
        row.decided_by = principal.username
        row.decided_at = at
        row.decision_note = note.strip() or None
        audit.record(
            s,
            _actor(principal, ip),
            f"restructuring.{'approve' if approve_it else 'reject'}",
            target_type="loan",
            target_id=loan.id,
            branch_code=code,
            detail={"request_id": row.id, "maker": row.requested_by, "note": row.decision_note},
            at=at,
        )
        return _view(row, loan.contract_no, code)


# -- reads -----------------------------------------------------------------------------------
def request_branch(engine: Engine, request_id: int) -> str | None:
    """The branch code of a request's loan (None: no such request)."""
    with transaction(engine) as s:
        return s.execute(
            select(Branch.code)
            .join(Loan, Loan.branch_id == Branch.id)
            .join(RestructuringRequestRow, RestructuringRequestRow.loan_id == Loan.id)
            .where(RestructuringRequestRow.id == request_id)
        ).scalar_one_or_none()


def list_requests(
    engine: Engine,
    branches: Collection[str],
    *,
    status: str | None = REQUESTED,
    loan_id: int | None = None,
    limit: int = 200,
) -> list[RestructuringView]:
    """Requests of the loans of `branches` (pending by default), oldest first."""
    with transaction(engine) as s:
        q = (
            select(RestructuringRequestRow, Loan.contract_no, Branch.code)
            .join(Loan, Loan.id == RestructuringRequestRow.loan_id)
            .join(Branch, Branch.id == Loan.branch_id)
            .where(Branch.code.in_(list(branches)))
        )
        if status:
            q = q.where(RestructuringRequestRow.status == status)
        if loan_id is not None:
            q = q.where(RestructuringRequestRow.loan_id == loan_id)
        q = q.order_by(RestructuringRequestRow.requested_at, RestructuringRequestRow.id)
        return [_view(r, c, b) for r, c, b in s.execute(q.limit(limit)).all()]
