# ruff: noqa: B008  (FastAPI dependencies are declared as parameter defaults)
"""Borrower self-service through a signed, expiring link: identity check (last four ID
characters and date of birth), then the schedule and an early-repayment quote — the same
`loan_views.loan_payoff_quote` the CLI's `huifang prepay-quote` prints — a change of phone or
address (pending an agent's confirmation, `services.contact_changes`), the online follow-up
questionnaire (the task's script on the same runner, `services.online_followup`) and the FAQ
box (`services.faq`: the borrower's own figures only after the identity check).

The link pages and the borrower's JSON endpoints (`/api/v1/self-service/{token}/…`) are public:
the signed token is the credential, and everything personal also needs the proof of a passed
identity check — the `huifang_self` cookie on the pages (HttpOnly, SameSite=Strict, which
also keeps other sites from posting to them), the `X-Huifang-Proof` header on the API (the
proof `POST /api/v1/self-service/{token}/verify` returns). Staff create links with
`POST /api/v1/loans/{loan_id}/self-service-link` (quotes.read, branch-scoped), review
contact changes on the borrower 360 (`/contact-changes/{id}/review`, queue.work)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from html import escape
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from huifang.domain import scripts as sc
from huifang.domain.money import format_cny
from huifang.security import audit
from huifang.security.roles import Permission, Principal
from huifang.services import (
    contact_changes,
    faq,
    online_followup,
    self_service,
)
from huifang.services.self_service import LinkInvalid
from huifang.web.deps import actor, get_engine, public, require
from huifang.web.pii import mask
from huifang.web.rendering import lang_of, render
from huifang.web.routes.api import ERRORS
from huifang.web.routes.common import guard_borrower, guard_loan, today

router = APIRouter(include_in_schema=False)
ObjectId = Annotated[int, Path(ge=1, le=2**62)]
api = APIRouter(prefix="/api/v1", tags=["self-service"])
PROOF_COOKIE = "huifang_self"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _key(request: Request) -> bytes:
    return self_service.link_key(request.app.state.settings.home)


def _invalid(request: Request, exc: LinkInvalid) -> Response:
    message = exc.en if lang_of(request) == "en" else exc.zh
    return render(request, "self_service.html", 403, error=message, token=None)


def _page(request: Request, token: str, claims: self_service.LinkClaims, as_of: date) -> Response:
    engine = get_engine(request)
    view = self_service.borrower_view(engine, claims, as_of)
    questionnaire = online_followup.open_questionnaire(engine, claims.loan_id, today(request))
    if questionnaire is None:
        questionnaire = online_followup.current(engine, claims.loan_id)
    return render(
        request,
        "self_service.html",
        view=view,
        token=token,
        as_of=as_of,
        error=None,
        qn=questionnaire,
        changes=_changes(engine, claims),
    )


def _changes(engine: Any, claims: self_service.LinkClaims) -> list[dict[str, str]]:
    """The borrower's own contact changes, masked (the page is on a phone others may see)."""
    return [
        {
            "field": c.field,
            "new": mask(c.field, c.new_value),
            "status": c.status,
            "at": c.requested_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"),
        }
        for c in contact_changes.borrower_changes(engine, claims.borrower_id, limit=5)
    ]


def _verified(request: Request, token: str) -> self_service.LinkClaims | None:
    """The link's claims when the identity check passed (the proof cookie), else None."""
    now = datetime.now(UTC)
    try:
        claims = self_service.read_link(_key(request), token, now)
    except LinkInvalid:
        return None
    if self_service.proof_holds(_key(request), token, request.cookies.get(PROOF_COOKIE), now):
        return claims
    return None


def _fragment_refused(request: Request) -> Response:
    message = (
        "Please open the link again and confirm your identity"
        if lang_of(request) == "en"
        else "请重新打开链接并核验身份"
    )
    return HTMLResponse(f'<p class="error" id="self-expired">{message}</p>', 403)


@router.post("/s/{token}/contact", response_class=HTMLResponse)
def self_service_contact(
    request: Request,
    token: str,
    field: Annotated[str, Form(max_length=16)],
    value: Annotated[str, Form(max_length=300)],
    _: None = public(),
) -> Response:
    """提交新的手机号或地址 (待工作人员电话确认) / submit a new phone number or address."""
    claims = _verified(request, token)
    if claims is None:
        return _fragment_refused(request)
    engine = get_engine(request)
    try:
        change = contact_changes.request_change(
            engine,
            claims.borrower_id,
            field,
            value,
            loan_id=claims.loan_id,
            actor=actor(request, None),
        )
    except contact_changes.ChangeError as exc:
        return render(
            request,
            "_self_contact.html",
            400,
            error=exc.en if lang_of(request) == "en" else exc.zh,
            change=None,
        )
    return render(
        request,
        "_self_contact.html",
        error=None,
        change={"field": change.field, "new": mask(change.field, change.new_value)},
    )


@router.post("/s/{token}/questionnaire", response_class=HTMLResponse)
def self_service_answer(
    request: Request,
    token: str,
    value: Annotated[str, Form(max_length=500)] = "",
    _: None = public(),
) -> Response:
    """在线回访问卷: 回答当前问题 / answer the questionnaire's current question."""
    claims = _verified(request, token)
    if claims is None:
        return _fragment_refused(request)
    try:
        q = online_followup.answer_questionnaire(
            get_engine(request), claims.loan_id, value, actor=actor(request, None)
        )
    except online_followup.QuestionnaireError as exc:
        return render(
            request, "_self_questionnaire.html", 409, qn=None, token=token, error=str(exc)
        )
    return render(request, "_self_questionnaire.html", qn=q, token=token, error=None)


@router.post("/s/{token}/questionnaire/person", response_class=HTMLResponse)
def self_service_person(request: Request, token: str, _: None = public()) -> Response:
    """需要人工联系 / ask for a person instead of the questionnaire (an agent calls back)."""
    claims = _verified(request, token)
    if claims is None:
        return _fragment_refused(request)
    try:
        q = online_followup.request_person(
            get_engine(request), claims.loan_id, actor=actor(request, None)
        )
    except online_followup.QuestionnaireError as exc:
        return render(
            request, "_self_questionnaire.html", 409, qn=None, token=token, error=str(exc)
        )
    return render(request, "_self_questionnaire.html", qn=q, token=token, error=None)


@router.post("/s/{token}/prepay", response_class=HTMLResponse)
def self_service_prepay(
    request: Request,
    token: str,
    on: Annotated[date, Form()],
    _: None = public(),
) -> Response:
    """申请提前结清 (工作人员将致电确认) / request a full early repayment on a date."""
    claims = _verified(request, token)
    if claims is None:
        return _fragment_refused(request)
    en = lang_of(request) == "en"
    try:
        made = self_service.request_prepayment(
            get_engine(request), claims, on, today(request), actor(request, None)
        )
    except ValueError as exc:  # PrepaymentRefused is a ValueError too
        return HTMLResponse(f'<p class="error" id="prepay-error">{escape(str(exc))}</p>', 400)
    amount = format_cny(made.quote_total)
    text = (
        f"Request received: full repayment of {amount} on {made.requested_date}. "
        "A colleague will call you to confirm."
        if en
        else f"已收到您的申请: {made.requested_date} 提前结清 {amount}。工作人员将致电与您确认。"
    )
    return HTMLResponse(f'<p class="ok" id="prepay-requested">{escape(text)}</p>')


@router.post("/s/{token}/faq", response_class=HTMLResponse)
def self_service_faq(
    request: Request,
    token: str,
    question: Annotated[str, Form(min_length=1, max_length=300)],
    _: None = public(),
) -> Response:
    """常见问题: 核验身份后可引用本人数据 / the FAQ box (own figures after the identity check)."""
    now = datetime.now(UTC)
    try:
        claims = self_service.read_link(_key(request), token, now)
    except LinkInvalid as exc:
        return _invalid(request, exc)
    verified = self_service.proof_holds(
        _key(request), token, request.cookies.get(PROOF_COOKIE), now
    )
    reply = faq.ask(
        get_engine(request),
        question,
        language="en" if lang_of(request) == "en" else "zh",
        loan_id=claims.loan_id,
        verified=verified,
        today=today(request),
        channel="web",
        actor=actor(request, None),
    )
    return render(request, "_self_faq.html", reply=reply, question=question, hotline=faq.HOTLINE)


@router.get("/s/{token}", response_class=HTMLResponse)
def self_service_page(
    request: Request,
    token: str,
    as_of: Annotated[date | None, Query()] = None,
    _: None = public(),
) -> Response:
    """自助服务: 核验身份 / the borrower's page: identity check, then schedule and quote."""
    now = datetime.now(UTC)
    try:
        claims = self_service.read_link(_key(request), token, now)
    except LinkInvalid as exc:
        return _invalid(request, exc)
    if self_service.proof_holds(_key(request), token, request.cookies.get(PROOF_COOKIE), now):
        return _page(request, token, claims, as_of or today(request))
    return render(request, "self_service.html", view=None, token=token, error=None, ask=True)


@router.post("/s/{token}", response_class=HTMLResponse)
def self_service_verify(
    request: Request,
    token: str,
    id_suffix: Annotated[str, Form(max_length=8)],
    birth_date: Annotated[date, Form()],
    _: None = public(),
) -> Response:
    """核验身份证后四位和出生日期 / check the ID suffix and the date of birth."""
    now = datetime.now(UTC)
    engine = get_engine(request)
    try:
        claims = self_service.read_link(_key(request), token, now)
    except LinkInvalid as exc:
        return _invalid(request, exc)
    checked = self_service.check_identity(
        engine, claims, id_suffix, birth_date, now, actor(request, None)
    )
    if checked is self_service.IdentityCheck.LOCKED:
        message = (
            "Too many failed attempts; try again in 15 minutes"
            if lang_of(request) == "en"
            else "核验失败次数过多, 请 15 分钟后再试"
        )
        return render(
            request, "self_service.html", 429, view=None, token=token, error=message, ask=True
        )
    if checked is not self_service.IdentityCheck.PASSED:
        message = (
            "The details do not match" if lang_of(request) == "en" else "身份信息不符, 请核对后重试"
        )
        return render(
            request, "self_service.html", 403, view=None, token=token, error=message, ask=True
        )
    response = _page(request, token, claims, today(request))
    response.set_cookie(
        PROOF_COOKIE,
        self_service.make_proof(_key(request), token, now),
        max_age=int(self_service.PROOF_VALIDITY.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.app.state.secure_cookies,
        path="/s/",
    )
    return response


class LinkOut(BaseModel):
    url: str
    expires_at: datetime


@api.post("/loans/{loan_id}/self-service-link", response_model=LinkOut, responses=ERRORS)
def create_link_api(
    request: Request, loan_id: ObjectId, principal: Principal = require(Permission.QUOTES_READ)
) -> Any:
    """生成借款人自助链接 (7 天有效, 短信发送) / a signed self-service link for the borrower."""
    engine = get_engine(request)
    branch = guard_loan(engine, principal, loan_id)
    borrower_id = self_service.loan_borrower(engine, loan_id)
    now = datetime.now(UTC)
    token = self_service.make_link(_key(request), borrower_id, loan_id, now)
    audit.record_now(
        engine,
        actor(request, principal),
        "selfservice.link",
        target_type="loan",
        target_id=loan_id,
        branch_code=branch,
    )
    return LinkOut(url=f"/s/{token}", expires_at=now + self_service.LINK_VALIDITY)


# --------------------------------------------------------------------------------------------
# The borrower's JSON API: the link's token is the credential, the proof of a passed identity
# check (from /verify) goes in the X-Huifang-Proof header.
# --------------------------------------------------------------------------------------------

PROOF_HEADER = "X-Huifang-Proof"


class VerifyIn(BaseModel):
    id_suffix: str = Field(min_length=4, max_length=4)
    birth_date: date


class ProofOut(BaseModel):
    proof: str
    expires_at: datetime


class ContactChangeIn(BaseModel):
    field: Literal["mobile", "address"]
    value: str = Field(min_length=1, max_length=300)


class ContactChangeOut(BaseModel):
    id: int
    field: str
    new_value_masked: str
    status: str
    requested_at: datetime


class OptionOut(BaseModel):
    code: str
    label: str


class QuestionnaireOut(BaseModel):
    available: bool
    task_id: int | None = None
    script: str | None = None
    lines: list[str] = []
    question: str | None = None
    answer_type: str | None = None
    options: list[OptionOut] = []
    required: bool = False
    error: str | None = None
    finished: bool = False
    outcome: str | None = None
    attempt_id: int | None = None
    visit_id: int | None = None
    new_alerts: int = 0


class AnswerIn(BaseModel):
    value: str = Field(max_length=500)


class FaqIn(BaseModel):
    question: str = Field(min_length=1, max_length=300)
    lang: Literal["zh", "en"] = "zh"


class FaqOut(BaseModel):
    answer: str
    kind: str
    entry_id: str | None
    personal: bool
    handover: bool
    knowledge_id: str
    knowledge_version: int
    confidence: float


class SelfServiceDenied(Exception):
    """A link that is not valid, or a request without a valid identity proof."""

    def __init__(self, status: int, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.status, self.zh, self.en = status, zh, en


def _api_claims(request: Request, token: str, *, proof: bool) -> self_service.LinkClaims:
    now = datetime.now(UTC)
    try:
        claims = self_service.read_link(_key(request), token, now)
    except LinkInvalid as exc:
        raise SelfServiceDenied(403, exc.zh, exc.en) from None
    if proof and not self_service.proof_holds(
        _key(request), token, request.headers.get(PROOF_HEADER), now
    ):
        raise SelfServiceDenied(
            401,
            "请先核验身份 (POST …/verify), 并在 X-Huifang-Proof 头中附上凭证",
            "verify identity first (POST …/verify) and send the proof in X-Huifang-Proof",
        )
    return claims


def _deny(exc: SelfServiceDenied) -> JSONResponse:
    return JSONResponse({"detail": exc.en, "detail_zh": exc.zh}, status_code=exc.status)


def _questionnaire_out(q: online_followup.Questionnaire | None, lang: str) -> QuestionnaireOut:
    if q is None:
        return QuestionnaireOut(available=False)
    L: sc.Language = "en" if lang == "en" else "zh"
    p = q.prompt
    return QuestionnaireOut(
        available=True,
        task_id=q.task_id,
        script=f"{q.state.script.id} v{q.state.script.version}",
        lines=[t.get(L) for t in p.lines],
        question=p.question.get(L) if p.question else None,
        answer_type=p.answer_type.value if p.answer_type else None,
        options=[OptionOut(code=o.code, label=o.label.get(L)) for o in p.options],
        required=p.required,
        error=p.error.get(L) if p.error else None,
        finished=q.finished,
        outcome=q.state.outcome,
        attempt_id=q.attempt_id,
        visit_id=q.visit_id,
        new_alerts=len(q.new_alerts),
    )


SELF_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "bad value"},
    401: {"description": "identity not verified"},
    403: {"description": "invalid or expired link"},
    409: {"description": "nothing to answer"},
    429: {"description": "too many failed identity checks"},
}


@api.post("/self-service/{token}/verify", response_model=ProofOut, responses=SELF_ERRORS)
def verify_api(request: Request, token: str, body: VerifyIn, _: None = public()) -> Any:
    """核验身份, 返回 15 分钟有效的凭证 / identity check; returns a 15-minute proof."""
    now = datetime.now(UTC)
    engine = get_engine(request)
    try:
        claims = _api_claims(request, token, proof=False)
    except SelfServiceDenied as exc:
        return _deny(exc)
    checked = self_service.check_identity(
        engine,
        claims,
        body.id_suffix,
        body.birth_date,
        now,
        actor(request, None),
        {"channel": "api"},
    )
    if checked is self_service.IdentityCheck.LOCKED:
        return _deny(
            SelfServiceDenied(429, "核验失败次数过多, 请 15 分钟后再试", "too many failed checks")
        )
    if checked is not self_service.IdentityCheck.PASSED:
        return _deny(SelfServiceDenied(403, "身份信息不符", "the details do not match"))
    return ProofOut(
        proof=self_service.make_proof(_key(request), token, now),
        expires_at=now + self_service.PROOF_VALIDITY,
    )


@api.post(
    "/self-service/{token}/contact-changes",
    response_model=ContactChangeOut,
    responses=SELF_ERRORS,
)
def contact_change_api(
    request: Request, token: str, body: ContactChangeIn, _: None = public()
) -> Any:
    """提交新的手机号或地址 (待工作人员确认) / submit a new mobile or address (pending)."""
    try:
        claims = _api_claims(request, token, proof=True)
        change = contact_changes.request_change(
            get_engine(request),
            claims.borrower_id,
            body.field,
            body.value,
            loan_id=claims.loan_id,
            actor=actor(request, None),
        )
    except SelfServiceDenied as exc:
        return _deny(exc)
    except contact_changes.ChangeError as exc:
        return JSONResponse({"detail": exc.en, "detail_zh": exc.zh}, status_code=400)
    return ContactChangeOut(
        id=change.id,
        field=change.field,
        new_value_masked=mask(change.field, change.new_value),
        status=change.status,
        requested_at=change.requested_at,
    )


@api.get(
    "/self-service/{token}/questionnaire", response_model=QuestionnaireOut, responses=SELF_ERRORS
)
def questionnaire_api(
    request: Request, token: str, lang: Literal["zh", "en"] = "zh", _: None = public()
) -> Any:
    """在线回访问卷: 当前问题 (开始或继续) / the questionnaire's current prompt."""
    try:
        claims = _api_claims(request, token, proof=True)
    except SelfServiceDenied as exc:
        return _deny(exc)
    engine = get_engine(request)
    q = online_followup.open_questionnaire(engine, claims.loan_id, today(request))
    return _questionnaire_out(q or online_followup.current(engine, claims.loan_id), lang)


@api.post(
    "/self-service/{token}/questionnaire/answer",
    response_model=QuestionnaireOut,
    responses=SELF_ERRORS,
)
def questionnaire_answer_api(
    request: Request,
    token: str,
    body: AnswerIn,
    lang: Literal["zh", "en"] = "zh",
    _: None = public(),
) -> Any:
    """回答当前问题; 完成后记录回访 / answer; a finished questionnaire is recorded as a visit."""
    try:
        claims = _api_claims(request, token, proof=True)
        q = online_followup.answer_questionnaire(
            get_engine(request), claims.loan_id, body.value, actor=actor(request, None)
        )
    except SelfServiceDenied as exc:
        return _deny(exc)
    except online_followup.QuestionnaireError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=409)
    return _questionnaire_out(q, lang)


class PrepayIn(BaseModel):
    requested_date: date


class PrepayOut(BaseModel):
    requested_date: date
    quote_total: str
    status: str


@api.post(
    "/self-service/{token}/early-repayment-request", response_model=PrepayOut, responses=SELF_ERRORS
)
def prepay_request_api(request: Request, token: str, body: PrepayIn, _: None = public()) -> Any:
    """申请提前结清 (打开提前还款确认任务) / request a full early repayment on a date."""
    try:
        claims = _api_claims(request, token, proof=True)
        made = self_service.request_prepayment(
            get_engine(request), claims, body.requested_date, today(request), actor(request, None)
        )
    except SelfServiceDenied as exc:
        return _deny(exc)
    except ValueError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=400)
    return PrepayOut(
        requested_date=made.requested_date,
        quote_total=f"{made.quote_total:.2f}",
        status="requested",
    )


@api.post("/self-service/{token}/faq", response_model=FaqOut, responses=SELF_ERRORS)
def faq_api(request: Request, token: str, body: FaqIn, _: None = public()) -> Any:
    """常见问题 (带有效凭证时引用本人数据) / ask the FAQ (own figures with a valid proof)."""
    try:
        claims = _api_claims(request, token, proof=False)
    except SelfServiceDenied as exc:
        return _deny(exc)
    verified = self_service.proof_holds(
        _key(request), token, request.headers.get(PROOF_HEADER), datetime.now(UTC)
    )
    reply = faq.ask(
        get_engine(request),
        body.question,
        language=body.lang,
        loan_id=claims.loan_id,
        verified=verified,
        today=today(request),
        channel="api",
        actor=actor(request, None),
    )
    return FaqOut(
        answer=reply.text,
        kind=reply.kind,
        entry_id=reply.entry_id,
        personal=reply.personal,
        handover=reply.handover,
        knowledge_id=reply.knowledge_id,
        knowledge_version=reply.knowledge_version,
        confidence=reply.confidence,
    )


# --------------------------------------------------------------------------------------------
# Staff: contact changes on the borrower 360 (masked), confirmed or rejected by an agent.
# --------------------------------------------------------------------------------------------


class ChangeOut(BaseModel):
    id: int
    field: str
    old_value_masked: str
    new_value_masked: str
    status: str
    source: str
    requested_at: datetime
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_note: str | None


class ReviewIn(BaseModel):
    approve: bool
    note: str | None = Field(default=None, max_length=500)


def change_out(c: contact_changes.ChangeView) -> ChangeOut:
    return ChangeOut(
        id=c.id,
        field=c.field,
        old_value_masked=mask(c.field, c.old_value),
        new_value_masked=mask(c.field, c.new_value),
        status=c.status,
        source=c.source,
        requested_at=c.requested_at,
        reviewed_by=c.reviewed_by,
        reviewed_at=c.reviewed_at,
        review_note=c.review_note,
    )


def _guard_change(request: Request, principal: Principal, change_id: int) -> int:
    engine = get_engine(request)
    borrower_id = contact_changes.change_borrower(engine, change_id)
    guard_borrower(engine, principal, borrower_id)
    return borrower_id


@api.get(
    "/borrowers/{borrower_id}/contact-changes", response_model=list[ChangeOut], responses=ERRORS
)
def contact_changes_api(
    request: Request, borrower_id: ObjectId, principal: Principal = require(Permission.LOANS_READ)
) -> Any:
    """借款人提交的联系方式变更 (脱敏) / the borrower's contact changes, masked."""
    engine = get_engine(request)
    guard_borrower(engine, principal, borrower_id)
    return [change_out(c) for c in contact_changes.borrower_changes(engine, borrower_id)]


@api.post("/contact-changes/{change_id}/review", response_model=ChangeOut, responses=ERRORS)
def review_change_api(
    request: Request,
    change_id: ObjectId,
    body: ReviewIn,
    principal: Principal = require(Permission.QUEUE_WORK),
) -> Any:
    """确认 (电话核实后生效) 或驳回变更 / confirm (applies it) or reject a contact change."""
    _guard_change(request, principal, change_id)
    try:
        change = contact_changes.review_change(
            get_engine(request),
            change_id,
            approve=body.approve,
            reviewer=actor(request, principal),
            note=body.note,
        )
    except contact_changes.ChangeClosed as exc:
        return JSONResponse({"detail": exc.en, "detail_zh": exc.zh}, status_code=409)
    except contact_changes.ChangeError as exc:
        return JSONResponse({"detail": exc.en, "detail_zh": exc.zh}, status_code=400)
    return change_out(change)


@router.post("/contact-changes/{change_id}/review", response_class=HTMLResponse)
def review_change_page(
    request: Request,
    change_id: ObjectId,
    decision: Annotated[Literal["confirm", "reject"], Form()],
    note: Annotated[str, Form(max_length=500)] = "",
    principal: Principal = require(Permission.QUEUE_WORK),
) -> Response:
    """确认或驳回联系方式变更 (HTMX) / confirm or reject from the borrower 360."""
    _guard_change(request, principal, change_id)
    try:
        change = contact_changes.review_change(
            get_engine(request),
            change_id,
            approve=decision == "confirm",
            reviewer=actor(request, principal),
            note=note or None,
        )
    except contact_changes.ChangeError as exc:
        status = 409 if isinstance(exc, contact_changes.ChangeClosed) else 400
        message = exc.en if lang_of(request) == "en" else exc.zh
        return HTMLResponse(f'<p class="error" id="change-error-{change_id}">{message}</p>', status)
    return render(request, "_contact_change_row.html", c=change_out(change), can_review=False)
