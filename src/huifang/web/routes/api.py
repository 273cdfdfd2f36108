# ruff: noqa: B008  (FastAPI dependencies are declared as parameter defaults)
"""The JSON API under /api/v1 (OpenAPI at /api/v1/openapi.json), over the same services as
the pages. Amounts are strings with two decimals so no client reads them as floats;
personal data is masked unless revealed through the audited `reveal` endpoint."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from huifang.domain.prepayment import PrepaymentRefused
from huifang.security import accounts, audit
from huifang.security.roles import Permission, Principal, Role
from huifang.services import loan_views, voice_calls
from huifang.web import pii
from huifang.web.deps import SESSION_COOKIE, actor, client_ip, get_engine, public, require
from huifang.web.deps import scope_of as _scope
from huifang.web.routes.common import (
    InScope,
    LoanFilters,
    guard_branch_filter,
    in_scope,
    read_borrower_360,
    read_payoff_quote,
    reveal_field,
    search_audit,
    today,
)

router = APIRouter(prefix="/api/v1", tags=["api"])

# The page and the API of a loan or a borrower declare the same check (pages.py uses these).
LoanInScope = Annotated[InScope, in_scope(Permission.LOANS_READ, "loan_id", loan_views.loan_branch)]
QuotedLoan = Annotated[InScope, in_scope(Permission.QUOTES_READ, "loan_id", loan_views.loan_branch)]
BorrowerInScope = Annotated[
    InScope, in_scope(Permission.LOANS_READ, "borrower_id", loan_views.borrower_branch)
]
RevealedBorrower = Annotated[
    InScope, in_scope(Permission.PII_REVEAL, "borrower_id", loan_views.borrower_branch)
]


def _amt(value: object) -> str:
    return f"{value:.2f}"


class ErrorBody(BaseModel):
    error: dict[str, str | int]


ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorBody, "description": "未登录 / not signed in"},
    403: {"model": ErrorBody, "description": "无权限或不在机构范围 / forbidden"},
    404: {"model": ErrorBody, "description": "未找到 / not found"},
}


# -- session --------------------------------------------------------------------------------
class Credentials(BaseModel):
    username: str = Field(min_length=1, max_length=60)
    password: str = Field(min_length=1, max_length=200)


class Me(BaseModel):
    username: str
    display_name: str
    role: str
    all_branches: bool
    branches: list[str]
    csrf_token: str | None = None


def _me(p: Principal, csrf: str | None = None) -> Me:
    return Me(
        username=p.username,
        display_name=p.display_name,
        role=p.role.value,
        all_branches=p.all_branches,
        branches=sorted(p.branch_codes),
        csrf_token=csrf,
    )


@router.post("/session", response_model=Me, responses={401: ERRORS[401]})
async def api_login(request: Request, body: Credentials, _: None = public()) -> Response:
    """登录, 设置会话 Cookie, 返回 CSRF 令牌 / sign in; returns the CSRF token."""
    result = await run_in_threadpool(
        accounts.login,
        get_engine(request),
        body.username,
        body.password,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    if not result.ok or result.principal is None or result.token is None:
        zh = "账户已临时锁定" if result.locked_until else "用户名或密码错误"
        en = "account locked" if result.locked_until else "wrong username or password"
        return JSONResponse({"error": {"status": 401, "zh": zh, "en": en}}, status_code=401)
    response = JSONResponse(_me(result.principal, result.csrf_token).model_dump())
    response.set_cookie(
        SESSION_COOKIE,
        result.token,
        httponly=True,
        samesite="lax",
        secure=request.app.state.secure_cookies,
        max_age=int(accounts.SESSION_MAX.total_seconds()),
    )
    return response


@router.delete("/session", status_code=204, responses=ERRORS)
def api_logout(
    request: Request, principal: Principal = require(Permission.AUTHENTICATED)
) -> Response:
    """退出登录 / sign out (revokes the session)."""
    accounts.logout(get_engine(request), request.cookies.get(SESSION_COOKIE), ip=client_ip(request))
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/me", response_model=Me, responses=ERRORS)
def api_me(request: Request, principal: Principal = require(Permission.AUTHENTICATED)) -> Me:
    """当前用户 / who is signed in (with the CSRF token for this session)."""
    return _me(principal, request.state.csrf_token)


# -- loans ----------------------------------------------------------------------------------
class LoanSummary(BaseModel):
    loan_id: int
    contract_no: str
    borrower_id: int
    borrower_name: str
    branch_code: str
    product_name: str
    principal: str
    status: str
    disbursement_date: date
    mobile_masked: str
    dpd: int | None = None
    bucket: str | None = None
    loan_class: str | None = None
    risk_tier: str | None = None
    ltv_band: str | None = None


class LoanPage(BaseModel):
    total: int
    portfolio_as_of: date | None = None
    items: list[LoanSummary]


@router.get("/loans", response_model=LoanPage, responses=ERRORS)
def api_loans(
    request: Request,
    filters: LoanFilters,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    principal: Principal = require(Permission.LOANS_READ),
) -> LoanPage:
    """贷款查询与组合筛选 / search loans in your branches: text, branch, status, product,
    disbursement dates; DPD bucket, five-category class, risk tier and LTV band as of the
    latest committed nightly run (`portfolio_as_of`)."""
    guard_branch_filter(principal, filters.branch)
    engine = get_engine(request)
    rows, total = loan_views.search_loans(
        engine, _scope(principal), filters, limit=limit, offset=offset
    )
    return LoanPage(
        total=total,
        portfolio_as_of=loan_views.portfolio_as_of(engine),
        items=[
            LoanSummary(
                loan_id=r.loan_id,
                contract_no=r.contract_no,
                borrower_id=r.borrower_id,
                borrower_name=r.borrower_name,
                branch_code=r.branch_code,
                product_name=r.product_name,
                principal=_amt(r.principal),
                status=r.status,
                disbursement_date=r.disbursement_date,
                mobile_masked=pii.mask("mobile", r.mobile),
                dpd=r.dpd,
                bucket=r.bucket,
                loan_class=r.loan_class,
                risk_tier=r.risk_tier,
                ltv_band=r.ltv_band,
            )
            for r in rows
        ],
    )


class InstallmentOut(BaseModel):
    period: int
    due_date: date
    payment: str
    principal: str
    interest: str
    balance: str


class PaymentOut(BaseModel):
    txn_ref: str
    paid_on: date
    amount: str
    payment_type: str
    channel: str | None


class LoanDetail(BaseModel):
    loan_id: int
    contract_no: str
    branch_code: str
    product_code: str
    status: str
    principal: str
    annual_rate: str
    term_months: int
    method: str
    disbursement_date: date
    outstanding_principal: str | None
    overdue_amount: str | None
    dpd: int
    bucket: str
    ltv_at_origination: str
    vehicle: dict[str, str | int | None]
    schedule: list[InstallmentOut]
    payments: list[PaymentOut]


def _loan_detail(v: loan_views.LoanView) -> LoanDetail:
    pos = v.position
    return LoanDetail(
        loan_id=v.loan_id,
        contract_no=v.contract_no,
        branch_code=v.branch_code,
        product_code=v.product_code,
        status=v.status,
        principal=_amt(v.principal),
        annual_rate=str(v.annual_rate),
        term_months=v.term_months,
        method=v.method,
        disbursement_date=v.disbursement_date,
        outstanding_principal=_amt(pos.outstanding_principal) if pos else None,
        overdue_amount=_amt(pos.overdue_amount) if pos else None,
        dpd=v.dpd,
        bucket=v.bucket.value,
        ltv_at_origination=str(v.ltv_at_origination),
        vehicle={
            k: (None if val is None else val if isinstance(val, int) else str(val))
            for k, val in v.vehicle.items()
        },
        schedule=[
            InstallmentOut(
                period=i.period,
                due_date=i.due_date,
                payment=_amt(i.payment),
                principal=_amt(i.principal),
                interest=_amt(i.interest),
                balance=_amt(i.balance),
            )
            for i in v.schedule.installments
        ],
        payments=[
            PaymentOut(
                txn_ref=p.txn_ref,
                paid_on=p.paid_on,
                amount=_amt(p.amount),
                payment_type=p.payment_type,
                channel=p.channel,
            )
            for p in v.payments
        ],
    )


@router.get("/loans/{loan_id}", response_model=LoanDetail, responses=ERRORS)
def api_loan(request: Request, loan: LoanInScope) -> LoanDetail:
    """贷款详情与还款计划 / a loan with its schedule, position and payments."""
    engine = get_engine(request)
    view = loan_views.loan_view(engine, loan.id, today(request))
    audit.record_now(
        engine,
        actor(request, loan.principal),
        "read.loan",
        target_type="loan",
        target_id=loan.id,
        branch_code=loan.branch,
    )
    return _loan_detail(view)


class QuoteLineOut(BaseModel):
    code: str
    label_zh: str
    label_en: str
    amount: str


class QuoteOut(BaseModel):
    loan_id: int
    contract_no: str
    as_of: date
    valid_until: date
    principal: str
    interest: str
    penalty: str
    fee: str
    fee_gross: str
    fee_waived: str
    credit: str
    total: str
    interest_saved: str
    lines: list[QuoteLineOut]


class Refusal(BaseModel):
    error: Literal["refused"]
    reasons: list[str]
    allowed_from: date | None


@router.get(
    "/loans/{loan_id}/payoff-quote",
    response_model=QuoteOut,
    responses={**ERRORS, 409: {"model": Refusal, "description": "不可提前还款 / refused"}},
)
def api_payoff_quote(
    request: Request, loan: QuotedLoan, as_of: Annotated[date | None, Query()] = None
) -> Response | QuoteOut:
    """提前结清报价 / full payoff quote of a loan as of a date (default today)."""
    on = as_of or today(request)
    try:
        result = read_payoff_quote(request, loan, on)
    except PrepaymentRefused as exc:
        v = exc.eligibility
        return JSONResponse(
            {
                "error": "refused",
                "reasons": list(v.reasons),
                "allowed_from": v.allowed_from.isoformat() if v.allowed_from else None,
            },
            status_code=409,
        )
    except ValueError as exc:
        return JSONResponse(
            {"error": "refused", "reasons": [str(exc)], "allowed_from": None}, status_code=409
        )
    q = result.quote
    return QuoteOut(
        loan_id=result.loan_id,
        contract_no=result.contract_no,
        as_of=q.as_of,
        valid_until=q.valid_until,
        principal=_amt(q.principal),
        interest=_amt(q.interest),
        penalty=_amt(q.penalty),
        fee=_amt(q.fee.net),
        fee_gross=_amt(q.fee.gross),
        fee_waived=_amt(q.fee.waived),
        credit=_amt(q.credit),
        total=_amt(q.total),
        interest_saved=_amt(q.interest_saved),
        lines=[
            QuoteLineOut(
                code=ln.code, label_zh=ln.label_zh, label_en=ln.label_en, amount=_amt(ln.amount)
            )
            for ln in q.lines
        ],
    )


# -- borrowers --------------------------------------------------------------------------------
class ContactOut(BaseModel):
    relation: str
    name: str | None
    phone_masked: str


class VoiceCallOut(BaseModel):
    """A voice-agent call in the 360's contact history; its transcript and recording come
    from the audited /api/v1/voice-calls endpoints."""

    attempt_id: int
    loan_id: int
    direction: Literal["outbound", "inbound"]  # 呼出 (we called) | 呼入 (the borrower called)
    started_at: datetime | None
    duration_s: int | None
    outcome: str | None
    identity_verified: bool
    handover_reason: str | None
    transcript_url: str
    recording_url: str | None


class BorrowerOut(BaseModel):
    borrower_id: int
    kind: str
    name: str
    branch_code: str
    id_number_masked: str
    mobile_masked: str
    # a business borrower is identified on a call by its legal representative (法定代表人)
    legal_rep_name: str | None = None
    legal_rep_id_number_masked: str | None = None
    address_masked: str
    contacts: list[ContactOut]
    loans: list[LoanDetail]
    voice_calls: list[VoiceCallOut]


@router.get("/borrowers/{borrower_id}", response_model=BorrowerOut, responses=ERRORS)
def api_borrower(request: Request, borrower: BorrowerInScope) -> BorrowerOut:
    """客户360视图 (个人信息脱敏) / borrower 360° with personal data masked."""
    b = read_borrower_360(
        request, get_engine(request), borrower.principal, borrower.id, borrower.branch
    )
    return BorrowerOut(
        borrower_id=b.borrower_id,
        kind=b.kind,
        name=b.name,
        branch_code=b.branch_code,
        id_number_masked=pii.mask("id_number", b.id_number),
        mobile_masked=pii.mask("mobile", b.mobile),
        legal_rep_name=b.legal_rep_name,
        legal_rep_id_number_masked=(
            pii.mask("id_number", b.legal_rep_id_number) if b.legal_rep_id_number else None
        ),
        address_masked=pii.mask("address", b.address),
        contacts=[
            ContactOut(
                relation=str(c["relation"]),
                name=None if c["name"] is None else str(c["name"]),
                phone_masked=pii.mask("phone", str(c["phone"])),
            )
            for c in b.contacts
        ],
        loans=[_loan_detail(v) for v in b.loans],
        voice_calls=[
            VoiceCallOut(
                attempt_id=c["attempt_id"],
                loan_id=c["loan_id"],
                direction=c["direction"],
                started_at=c["started_at"],
                duration_s=c["duration_s"],
                outcome=c["outcome"],
                identity_verified=bool(c["identity_verified"]),
                handover_reason=c["recording"]["handover_reason"] if c["recording"] else None,
                transcript_url=f"/api/v1/voice-calls/{c['attempt_id']}/transcript",
                recording_url=(
                    f"/api/v1/voice-calls/{c['attempt_id']}/recording" if c["recording"] else None
                ),
            )
            for c in voice_calls.voice_calls_of_loans(
                get_engine(request), [v.loan_id for v in b.loans]
            )
        ],
    )


class RevealRequest(BaseModel):
    field: str = Field(pattern=r"^(mobile|id_number|address|contact:[a-z-]{1,16})$")


class Revealed(BaseModel):
    field: str
    value: str


@router.post("/borrowers/{borrower_id}/reveal", response_model=Revealed, responses=ERRORS)
def api_reveal(request: Request, borrower: RevealedBorrower, body: RevealRequest) -> Revealed:
    """显示一项个人信息 (记入审计日志) / reveal one personal-data field (audited)."""
    value = reveal_field(request, borrower, body.field)
    return Revealed(field=body.field, value=value)


# -- audit ------------------------------------------------------------------------------------
class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str | None
    role: str | None
    action: str
    target_type: str | None
    target_id: str | None
    branch_code: str | None
    ip: str | None
    detail: dict[str, object]


@router.get("/audit", response_model=list[AuditOut], responses=ERRORS)
def api_audit(
    request: Request,
    who: Annotated[str | None, Query(max_length=60)] = None,
    action: Annotated[str | None, Query(max_length=40)] = None,
    branch: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    principal: Principal = require(Permission.AUDIT_READ),
) -> list[AuditOut]:
    """审计日志查询 / search the audit log (your branches' entries)."""
    rows = search_audit(request, principal, who, action, branch, limit)
    return [AuditOut(**r.__dict__) for r in rows]


class ChainOut(BaseModel):
    entries: int
    ok: bool
    first_bad_id: int | None
    problem: str | None


@router.get("/audit/verify", response_model=ChainOut, responses=ERRORS)
def api_audit_verify(
    request: Request,
    branch: Annotated[str | None, Query(max_length=32)] = None,
    principal: Principal = require(Permission.AUDIT_READ),
) -> ChainOut:
    """校验审计日志哈希链 (只返回条数与结果) / verify the hash chain (counts only)."""
    guard_branch_filter(principal, branch)
    r = audit.verify_chain(get_engine(request))
    return ChainOut(entries=r.entries, ok=r.ok, first_bad_id=r.first_bad_id, problem=r.problem)


# -- users ------------------------------------------------------------------------------------
class UserOut(BaseModel):
    username: str
    display_name: str
    role: str
    branches: str
    active: bool
    locked_until: datetime | None
    last_login_at: datetime | None


class NewUser(BaseModel):
    username: str = Field(min_length=3, max_length=60)
    password: str = Field(min_length=1, max_length=200)
    role: Role
    display_name: str | None = Field(default=None, max_length=100)
    branches: list[Annotated[str, Field(max_length=32)]] = Field(default=[], max_length=200)
    all_branches: bool = False


@router.get("/users", response_model=list[UserOut], responses=ERRORS)
def api_users(
    request: Request, principal: Principal = require(Permission.USERS_MANAGE)
) -> list[UserOut]:
    """用户列表 / list users."""
    return [UserOut(**u.__dict__) for u in accounts.list_users(get_engine(request))]


@router.post(
    "/users",
    response_model=Me,
    status_code=201,
    responses={**ERRORS, 400: {"model": ErrorBody, "description": "输入有误 / bad input"}},
)
def api_create_user(
    request: Request, body: NewUser, principal: Principal = require(Permission.USERS_MANAGE)
) -> Response | Me:
    """新建用户 / create a user."""
    try:
        created = accounts.create_user(
            get_engine(request),
            body.username,
            body.password,
            body.role,
            display_name=body.display_name,
            branch_codes=body.branches,
            all_branches=body.all_branches,
            actor=actor(request, principal),
        )
    except accounts.UserError as exc:
        return JSONResponse(
            {"error": {"status": 400, "zh": str(exc), "en": str(exc)}}, status_code=400
        )
    return _me(created)
