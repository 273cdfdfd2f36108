# ruff: noqa: B008  (FastAPI dependencies are declared as parameter defaults)
"""HTML pages (Jinja2 + HTMX): login, role home, loan search, borrower 360°, payoff quote,
audit log, user management. Each handler checks scope, calls one service, renders."""

from __future__ import annotations

import hmac
import json
import secrets
from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from huifang.domain.delinquency import Bucket, LoanClass
from huifang.domain.prepayment import PrepaymentRefused
from huifang.domain.tiering import RiskTier
from huifang.security import accounts, audit
from huifang.security.roles import Permission, Principal, Role
from huifang.services import contact_changes, loan_views, voice_calls
from huifang.web import pii
from huifang.web.deps import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    actor,
    client_ip,
    get_engine,
    public,
    require,
    scope_of,
)
from huifang.web.rendering import lang_of, render
from huifang.web.routes.api import BorrowerInScope, QuotedLoan, RevealedBorrower
from huifang.web.routes.common import (
    Format,
    LoanFilters,
    guard_branch_filter,
    read_borrower_360,
    read_payoff_quote,
    reveal_field,
    search_audit,
    table_download,
    today,
)
from huifang.web.routes.self_service import change_out

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25
EXPORT_ROWS = loan_views.MAX_ROWS
LOAN_COLUMNS = (
    ("contract_no", "合同号", "Contract"),
    ("borrower_name", "借款人", "Borrower"),
    ("mobile", "手机 (脱敏)", "Mobile (masked)"),
    ("branch_code", "机构", "Branch"),
    ("product_name", "产品", "Product"),
    ("principal", "贷款金额", "Principal"),
    ("disbursement_date", "放款日期", "Disbursed"),
    ("status", "状态", "Status"),
    ("dpd", "逾期天数", "DPD"),
    ("bucket", "逾期档位", "Bucket"),
    ("loan_class", "五级分类", "Class"),
    ("risk_tier", "风险等级", "Risk tier"),
    ("ltv_band", "抵押率分档", "LTV band"),
)
AUDIT_COLUMNS = (
    ("id", "编号", "#"),
    ("at", "时间", "Time"),
    ("actor", "操作人", "Who"),
    ("role", "角色", "Role"),
    ("action", "操作", "Action"),
    ("target_type", "对象类型", "Target type"),
    ("target_id", "对象", "Target"),
    ("branch_code", "机构", "Branch"),
    ("ip", "来源 IP", "From (IP)"),
    ("detail", "详情", "Detail"),
)


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


def _login_form(request: Request, error: str | None = None, status: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        status,
        login_csrf=token,
        error=error,
        next=_safe_next(request.query_params.get("next")),
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=request.app.state.secure_cookies,
        max_age=3600,
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, _: None = public()) -> Response:
    return _login_form(request)


@router.post("/login")
async def login_submit(
    request: Request,
    username: Annotated[str, Form(max_length=60)],
    password: Annotated[str, Form(max_length=200)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=300)] = "/",
    _: None = public(),
) -> Response:
    # Login CSRF: the form must echo the random value set in a cookie by the login page.
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie, csrf_token):
        return _login_form(request, "login.csrf", 403)
    result = await run_in_threadpool(
        accounts.login,
        get_engine(request),
        username,
        password,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    if not result.ok or result.token is None:
        return _login_form(request, "login.locked" if result.locked_until else "login.failed", 401)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        result.token,
        httponly=True,
        samesite="lax",
        secure=request.app.state.secure_cookies,
        max_age=int(accounts.SESSION_MAX.total_seconds()),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, principal: Principal = require(Permission.AUTHENTICATED)) -> Response:
    accounts.logout(get_engine(request), request.cookies.get(SESSION_COOKIE), ip=client_ip(request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


# Shortcuts on each role's home page: (label key, url, permission). Pages of later
# capabilities (queue, alerts, dashboards) add their entries here.
SHORTCUTS: list[tuple[str, str, Permission]] = [
    ("nav.queue", "/queue", Permission.QUEUE_WORK),
    ("nav.alerts", "/alerts", Permission.ALERTS_READ),
    ("nav.loans", "/loans", Permission.LOANS_READ),
    ("nav.audit", "/audit", Permission.AUDIT_READ),
    ("nav.users", "/admin/users", Permission.USERS_MANAGE),
    ("nav.config", "/config", Permission.CONFIG_MANAGE),
    ("nav.qa", "/qa", Permission.QA_REVIEW),
    ("nav.refusals", "/refusals", Permission.COMPLIANCE_READ),
]


@router.get("/", response_class=HTMLResponse)
def home(
    request: Request,
    branch: Annotated[str | None, Query(max_length=32)] = None,
    principal: Principal = require(Permission.AUTHENTICATED),
) -> Response:
    guard_branch_filter(principal, branch)
    scope = scope_of(principal) if not branch else frozenset({branch})
    summary = loan_views.scope_summary(get_engine(request), scope)
    shortcuts = [
        (k, url)
        for k, url, perm in SHORTCUTS
        if principal.can(perm) and (perm is not Permission.CONFIG_MANAGE or principal.all_branches)
    ]
    chart = {
        "labels": [code for code, _name, _n in summary.branches],
        "counts": [n for _c, _name, n in summary.branches],
    }
    return render(
        request,
        "home.html",
        summary=summary,
        shortcuts=shortcuts,
        chart=chart,
        role_label=principal.role.label_en if lang_of(request) == "en" else principal.role.label_zh,
    )


@router.get("/loans", response_class=HTMLResponse)
def loans_page(
    request: Request,
    filters: LoanFilters,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    format: Format = "html",
    principal: Principal = require(Permission.LOANS_READ),
) -> Response:
    guard_branch_filter(principal, filters.branch)
    engine = get_engine(request)
    export = format == "xlsx"
    rows, total = loan_views.search_loans(
        engine,
        scope_of(principal),
        filters,
        limit=EXPORT_ROWS if export else PAGE_SIZE,
        offset=0 if export else (page - 1) * PAGE_SIZE,
    )
    if export:  # every matching loan (up to EXPORT_ROWS), the mobile masked as on the page
        table = ({**r.__dict__, "mobile": pii.mask("mobile", r.mobile)} for r in rows)
        return table_download(request, "loans", LOAN_COLUMNS, table)
    branches = principal.visible(loan_views.branch_codes(engine))
    template = "_loan_rows.html" if request.headers.get("hx-request") else "loans.html"
    query = {
        k: v for k, v in request.query_params.items() if k not in ("page", "format", "lang") and v
    }
    return render(
        request,
        template,
        rows=rows,
        total=total,
        f=filters,
        q=filters.q or "",
        branch=filters.branch or "",
        status=filters.status or "",
        page=page,
        pages=max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE),
        page_query=urlencode(query),
        branches=branches,
        products=loan_views.product_codes(engine),
        buckets=[b.value for b in Bucket],
        classes=list(LoanClass),
        tiers=[t.value for t in RiskTier],
        bands=loan_views.ltv_band_codes(),
        portfolio_as_of=loan_views.portfolio_as_of(engine),
    )


@router.get("/borrowers/{borrower_id}", response_class=HTMLResponse)
def borrower_page(request: Request, borrower: BorrowerInScope) -> Response:
    engine = get_engine(request)
    principal = borrower.principal
    view = read_borrower_360(request, engine, principal, borrower.id, borrower.branch)
    return render(
        request,
        "borrower.html",
        b=view,
        voice_calls=voice_calls.voice_calls_of_loans(engine, [v.loan_id for v in view.loans]),
        can_reveal=principal.can(Permission.PII_REVEAL),
        can_quote=principal.can(Permission.QUOTES_READ),
        as_of=today(request),
        changes=[change_out(c) for c in contact_changes.borrower_changes(engine, borrower.id)],
        can_review=principal.can(Permission.QUEUE_WORK),
    )


@router.post("/borrowers/{borrower_id}/reveal", response_class=HTMLResponse)
def reveal_page(
    request: Request, borrower: RevealedBorrower, field: Annotated[str, Form(max_length=40)]
) -> Response:
    try:
        value = reveal_field(request, borrower, field)
    except ValueError:
        return render(request, "error.html", 400, status=400, message="unknown field")
    return render(request, "_revealed.html", value=value, field=field)


@router.get("/loans/{loan_id}/payoff", response_class=HTMLResponse)
def payoff_page(
    request: Request, loan: QuotedLoan, as_of: Annotated[date | None, Query()] = None
) -> Response:
    on = as_of or today(request)
    refused = error = None
    result = None
    try:
        result = read_payoff_quote(request, loan, on)
    except PrepaymentRefused as exc:
        refused = exc.eligibility
    except ValueError as exc:
        error = str(exc)
    return render(
        request,
        "payoff.html",
        loan=loan_views.loan_view(get_engine(request), loan.id, on),
        result=result,
        refused=refused,
        error=error,
        as_of=on,
        status_code=200,
    )


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    who: Annotated[str | None, Query(max_length=60)] = None,
    action: Annotated[str | None, Query(max_length=40)] = None,
    branch: Annotated[str | None, Query(max_length=32)] = None,
    format: Format = "html",
    principal: Principal = require(Permission.AUDIT_READ),
) -> Response:
    rows = search_audit(request, principal, who, action, branch)
    if format == "xlsx":
        table = ({**r.__dict__, "detail": json.dumps(r.detail, ensure_ascii=False)} for r in rows)
        return table_download(request, "audit", AUDIT_COLUMNS, table)
    chain = audit.verify_chain(get_engine(request))
    return render(
        request,
        "audit.html",
        rows=rows,
        chain=chain,
        who=who or "",
        action=action or "",
        branch=branch or "",
    )


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(
    request: Request, principal: Principal = require(Permission.USERS_MANAGE)
) -> Response:
    engine = get_engine(request)
    return render(
        request,
        "users.html",
        users=accounts.list_users(engine),
        roles=list(Role),
        message=None,
        error=None,
    )


@router.post("/admin/users", response_class=HTMLResponse)
def users_create(
    request: Request,
    username: Annotated[str, Form(max_length=60)],
    password: Annotated[str, Form(max_length=200)],
    role: Annotated[str, Form(max_length=12)],
    display_name: Annotated[str, Form(max_length=100)] = "",
    branches: Annotated[str, Form(max_length=500)] = "",
    principal: Principal = require(Permission.USERS_MANAGE),
) -> Response:
    engine = get_engine(request)
    codes = [c.strip() for c in branches.replace("，", ",").split(",") if c.strip()]
    message = error = None
    status = 200
    try:
        accounts.create_user(
            engine,
            username,
            password,
            role,
            display_name=display_name or None,
            branch_codes=[] if codes == ["*"] else codes,
            all_branches=codes == ["*"],
            actor=actor(request, principal),
        )
        message = username
    except accounts.UserError as exc:
        error, status = str(exc), 400
    return render(
        request,
        "users.html",
        status,
        users=accounts.list_users(engine),
        roles=list(Role),
        message=message,
        error=error,
    )
