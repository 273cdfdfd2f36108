# ruff: noqa: B008  (FastAPI dependencies are declared as parameter defaults)
"""The risk officer's restructuring requests and their maker-checker approval, as pages and
`/api/v1` endpoints over `services/restructuring.py`.

A loan's restructuring page (`/loans/{id}/restructuring`) shows its requests and the form;
`/restructurings` is the checkers' inbox of pending requests in the caller's branches. Each
page and its API twin declare the same `in_scope` check and call the same service, which
checks the permission, the branch and maker-checker again."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from huifang.domain.money import format_cny
from huifang.security.roles import Permission, Principal
from huifang.services import loan_views, restructuring
from huifang.services.restructuring import (
    MAX_MONTHS,
    RestructuringDenied,
    RestructuringError,
    RestructuringView,
)
from huifang.web.deps import client_ip, get_engine, require
from huifang.web.rendering import render
from huifang.web.routes.api import ERRORS, ErrorBody
from huifang.web.routes.common import InScope, branch_scope, in_scope, refused, today

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["restructuring"])
CONFLICT: dict[int | str, dict[str, object]] = {
    **ERRORS,
    409: {"model": ErrorBody, "description": "状态不允许此操作 / conflict"},
}
STATUSES = "^(requested|approved|rejected|all)$"

LoanToRestructure = Annotated[
    InScope,
    in_scope(Permission.RESTRUCTURING_REQUEST, "loan_id", loan_views.loan_branch),
]
RequestInScope = Annotated[
    InScope,
    in_scope(Permission.RESTRUCTURING_APPROVE, "restructuring_id", restructuring.request_branch),
]


def money(amount: str) -> str:
    """A proposal's amount (a decimal string) as ¥12,345.67 for the pages."""
    return format_cny(Decimal(amount))


def _status(status: str) -> str | None:
    return None if status == "all" else status


def _attempt(request: Request, work: Any) -> Any:
    """Run a use case; its refusals as 409 (state) or 403 (role, branch)."""
    try:
        return work()
    except RestructuringDenied as exc:
        return refused(request, exc, 403)
    except RestructuringError as exc:
        return refused(request, exc, 409)


# -- pages -----------------------------------------------------------------------------------
@router.get("/restructurings", response_class=HTMLResponse)
def restructurings_page(
    request: Request,
    branch: Annotated[str | None, Query(max_length=32)] = None,
    status: Annotated[str, Query(pattern=STATUSES)] = "requested",
    principal: Principal = require(Permission.RESTRUCTURING_APPROVE),
) -> Response:
    """重组审批 / restructuring requests of the caller's branches (pending by default)."""
    rows = restructuring.list_requests(
        get_engine(request), branch_scope(request, principal, branch), status=_status(status)
    )
    return render(
        request,
        "restructurings.html",
        rows=rows,
        branch=branch or "",
        status=status,
        money=money,
    )


@router.get("/loans/{loan_id}/restructuring", response_class=HTMLResponse)
def loan_restructuring_page(request: Request, loan: LoanToRestructure) -> Response:
    """贷款重组申请 / a loan's restructuring requests and the form to ask for one."""
    return _loan_page(request, loan)


def _loan_page(
    request: Request,
    loan: InScope,
    *,
    done: RestructuringView | None = None,
    status_code: int = 200,
) -> Response:
    engine = get_engine(request)
    view = loan_views.loan_view(engine, loan.id, today(request))
    rows = restructuring.list_requests(engine, [loan.branch], status=None, loan_id=loan.id)
    return render(
        request,
        "loan_restructuring.html",
        status_code,
        loan=view,
        rows=rows,
        done=done,
        today=today(request),
        max_months=MAX_MONTHS,
        money=money,
    )


def form_changes(
    extend_months: int, new_rate_pct: Decimal | None, holiday_months: int, holiday_capitalize: bool
) -> list[dict[str, Any]]:
    """The form's fields as the service's change list (a zero or empty field: no change)."""
    changes: list[dict[str, Any]] = []
    if extend_months:
        changes.append({"kind": "term-extension", "months": extend_months})
    if new_rate_pct is not None:
        changes.append({"kind": "rate-reduction", "new_annual_rate": str(new_rate_pct / 100)})
    if holiday_months:
        changes.append(
            {
                "kind": "payment-holiday",
                "months": holiday_months,
                "capitalize_interest": holiday_capitalize,
            }
        )
    return changes


@router.post("/loans/{loan_id}/restructuring", response_class=HTMLResponse)
def request_page(
    request: Request,
    loan: LoanToRestructure,
    effective_on: Annotated[date, Form()],
    reason: Annotated[str, Form(max_length=500)],
    extend_months: Annotated[int, Form(ge=0, le=MAX_MONTHS)] = 0,
    new_rate_pct: Annotated[Decimal | None, Form(ge=0, lt=100)] = None,
    holiday_months: Annotated[int, Form(ge=0, le=MAX_MONTHS)] = 0,
    holiday_capitalize: Annotated[bool, Form()] = False,
    capitalize_arrears: Annotated[bool, Form()] = False,
) -> Response:
    """提交重组申请 (由另一位风控专员审批) / ask for a restructuring (another officer decides)."""
    changes = form_changes(extend_months, new_rate_pct, holiday_months, holiday_capitalize)
    if not changes:
        return refused(
            request,
            RestructuringError("请至少选择一项变更", "choose at least one change"),
            409,
        )
    result = _attempt(
        request,
        lambda: restructuring.request_restructuring(
            get_engine(request),
            loan.id,
            loan.principal,
            effective_on=effective_on,
            changes=changes,
            reason=reason,
            capitalize_arrears=capitalize_arrears,
            ip=client_ip(request),
        ),
    )
    if isinstance(result, Response):
        return result
    return _loan_page(request, loan, done=result)


@router.post("/restructurings/{restructuring_id}/decision", response_class=HTMLResponse)
def decision_page(
    request: Request,
    item: RequestInScope,
    decision: Annotated[str, Form(pattern="^(approve|reject)$")],
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """审批: 通过或驳回 (驳回须说明; 申请人不能审批自己的申请) / approve or reject."""
    result = _attempt(
        request,
        lambda: restructuring.decide_restructuring(
            get_engine(request),
            item.id,
            item.principal,
            approve_it=decision == "approve",
            note=note,
            ip=client_ip(request),
        ),
    )
    if isinstance(result, Response):
        return result
    return render(request, "_restructuring_row.html", r=result, decided=True, money=money)


# -- API -------------------------------------------------------------------------------------
class ChangeIn(BaseModel):
    kind: Literal["term-extension", "rate-reduction", "payment-holiday"]
    months: int | None = Field(default=None, ge=1, le=MAX_MONTHS)
    new_annual_rate: Decimal | None = Field(default=None, ge=0, lt=1)
    capitalize_interest: bool = True


class RestructuringIn(BaseModel):
    effective_on: date
    changes: list[ChangeIn] = Field(min_length=1, max_length=3)
    reason: str = Field(min_length=1, max_length=500)
    capitalize_arrears: bool = True


class RestructuringOut(BaseModel):
    id: int
    loan_id: int
    contract_no: str
    branch: str
    requested_by: str
    requested_at: datetime
    effective_on: date
    changes: list[dict[str, Any]]
    capitalize_arrears: bool
    reason: str
    proposal: dict[str, Any]
    status: str
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_note: str | None = None


class DecisionIn(BaseModel):
    approve: bool
    note: str = Field(default="", max_length=500)


def _out(r: RestructuringView) -> RestructuringOut:
    return RestructuringOut(**{**r.__dict__, "changes": [dict(c) for c in r.changes]})


def _outs(rows: Iterable[RestructuringView]) -> list[RestructuringOut]:
    return [_out(r) for r in rows]


@api.get("/restructurings", response_model=list[RestructuringOut], responses=ERRORS)
def restructurings_api(
    request: Request,
    branch: Annotated[str | None, Query(max_length=32)] = None,
    status: Annotated[str, Query(pattern=STATUSES)] = "requested",
    principal: Principal = require(Permission.RESTRUCTURING_APPROVE),
) -> Any:
    """重组申请 (默认待审批) / restructuring requests of the caller's branches."""
    return _outs(
        restructuring.list_requests(
            get_engine(request), branch_scope(request, principal, branch), status=_status(status)
        )
    )


@api.post("/loans/{loan_id}/restructurings", response_model=RestructuringOut, responses=CONFLICT)
def request_api(request: Request, loan: LoanToRestructure, body: RestructuringIn) -> Any:
    """提交重组申请 (重复提交返回同一申请) / ask for a restructuring (a repeat returns it)."""
    changes = [c.model_dump(exclude_none=True) for c in body.changes]
    for c in changes:
        if c["kind"] == "rate-reduction":
            c["new_annual_rate"] = str(c["new_annual_rate"])
    result = _attempt(
        request,
        lambda: restructuring.request_restructuring(
            get_engine(request),
            loan.id,
            loan.principal,
            effective_on=body.effective_on,
            changes=changes,
            reason=body.reason,
            capitalize_arrears=body.capitalize_arrears,
            ip=client_ip(request),
        ),
    )
    return result if isinstance(result, Response) else _out(result)


@api.post(
    "/restructurings/{restructuring_id}/decision",
    response_model=RestructuringOut,
    responses=CONFLICT,
)
def decision_api(request: Request, item: RequestInScope, body: DecisionIn) -> Any:
    """审批重组申请 (不能审批自己的申请) / approve or reject another officer's request."""
    result = _attempt(
        request,
        lambda: restructuring.decide_restructuring(
            get_engine(request),
            item.id,
            item.principal,
            approve_it=body.approve,
            note=body.note,
            ip=client_ip(request),
        ),
    )
    return result if isinstance(result, Response) else _out(result)
