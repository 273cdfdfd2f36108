# ruff: noqa: B008  (FastAPI dependencies are declared as parameter defaults)
"""The auditor's pages and `/api/v1` endpoints: the compliance guard's refusals, and the
quality review (质检) of a reproducible random sample of contacts, over `services/qa.py`.

Branch-scoped: lists take the caller's branches (or the one `?branch=` names, after checking
it); a contact's page and its review check the contact's loan branch. Reading a contact is
written to the audit log (it holds a conversation with a borrower)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from huifang.domain import qa as qa_rules
from huifang.domain.compliance import Channel
from huifang.security import audit
from huifang.security.roles import Permission, Principal
from huifang.services import loan_views, qa
from huifang.web.deps import actor, get_engine, require
from huifang.web.rendering import lang_of, render
from huifang.web.routes.api import ERRORS, ErrorBody
from huifang.web.routes.calls import OUTCOME_LABELS, ROLE_LABELS
from huifang.web.routes.common import (
    Format,
    InScope,
    branch_scope,
    in_scope,
    period,
    refused,
    table_download,
)

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["qa"])
BAD: dict[int | str, dict[str, object]] = {
    **ERRORS,
    422: {"model": ErrorBody, "description": "参数有误 / invalid request"},
}
CHANNELS = tuple(c.value for c in Channel)
Start = Annotated[date | None, Query()]
End = Annotated[date | None, Query()]
Branch = Annotated[str | None, Query(max_length=32)]
AgentQ = Annotated[str | None, Query(max_length=60)]
ChannelQ = Annotated[str | None, Query(max_length=24)]
Size = Annotated[int, Query(ge=1, le=qa_rules.MAX_SAMPLE)]
Seed = Annotated[int, Query(ge=0, le=2**31)]
REFUSAL_COLUMNS = (
    ("attempt_id", "编号", "#"),
    ("at", "时间", "Time"),
    ("branch", "机构", "Branch"),
    ("contract_no", "合同号", "Contract"),
    ("channel", "渠道", "Channel"),
    ("role", "联系对象", "Contact"),
    ("agent", "坐席", "Agent"),
    ("codes", "拦截代码", "Codes"),
    ("reason", "原因", "Reason"),
)
SAMPLE_COLUMNS = (
    ("attempt_id", "编号", "#"),
    ("at", "时间", "Time"),
    ("branch", "机构", "Branch"),
    ("contract_no", "合同号", "Contract"),
    ("agent", "坐席", "Agent"),
    ("channel", "渠道", "Channel"),
    ("outcome", "结果", "Outcome"),
    ("my_total", "我的评分", "My score"),
    ("reviews", "评分数", "Reviews"),
)


def _scope(request: Request, principal: Principal, branch: str | None) -> tuple[str, ...]:
    return tuple(branch_scope(request, principal, branch))


def _request(
    request: Request,
    principal: Principal,
    start: date | None,
    end: date | None,
    branch: str | None,
    agent: str | None,
    channel: str | None,
    size: int,
    seed: int,
) -> qa.SampleRequest:
    first, last = period(request, start, end)
    return qa.SampleRequest(
        start=first,
        end=last,
        branches=_scope(request, principal, branch),
        agent=(agent or "").strip() or None,
        channel=channel or None,
        size=size,
        seed=seed,
    )


AttemptInScope = Annotated[InScope, in_scope(Permission.QA_REVIEW, "attempt_id", qa.attempt_branch)]


def _read_contact(request: Request, attempt: InScope) -> qa.ContactDetail:
    """One contact for its reviewer (page and API), the read written to the audit log."""
    engine = get_engine(request)
    try:
        detail = qa.contact(engine, attempt.id, attempt.principal.username)
    except qa.QaNotFound:
        raise loan_views.NotFound(f"attempt {attempt.id} is not a contact") from None
    audit.record_now(
        engine,
        actor(request, attempt.principal),
        "read.contact",
        target_type="attempt",
        target_id=attempt.id,
        branch_code=attempt.branch,
    )
    return detail


def _save_review(
    request: Request, attempt: InScope, scores: dict[str, Any], comment: str
) -> qa.ReviewView:
    """Create or update the caller's review of a contact (page and API)."""
    try:
        return qa.save_review(
            get_engine(request),
            attempt.id,
            actor(request, attempt.principal),
            scores,
            comment,
            branch_code=attempt.branch,
        )
    except qa.QaNotFound:
        raise loan_views.NotFound(f"attempt {attempt.id} is not a contact") from None


def _refusals(
    request: Request,
    principal: Principal,
    start: date | None,
    end: date | None,
    branch: str | None,
    code: str | None,
    contract: str | None,
    limit: int = 200,
    offset: int = 0,
) -> tuple[date, date, list[qa.RefusalRow], int]:
    """The refusals a page or the API lists (raises QaError or BadRequest)."""
    scope = _scope(request, principal, branch)
    first, last = period(request, start, end)
    rows, total = qa.refusals(
        get_engine(request),
        scope,
        start=first,
        end=last,
        code=code or None,
        contract=contract or None,
        limit=limit,
        offset=offset,
    )
    return first, last, list(rows), total


def _sample(
    request: Request, req: qa.SampleRequest, principal: Principal
) -> tuple[list[qa.ContactRow], int, tuple[qa_rules.SummaryRow, ...]]:
    """The sample and the summary (page and API)."""
    rows, pool = qa.draw(get_engine(request), req, principal.username)
    return list(rows), pool, tuple(qa.summary(get_engine(request), req))


# -- refusals ---------------------------------------------------------------------------------
@router.get("/refusals", response_class=HTMLResponse)
def refusals_page(
    request: Request,
    start: Start = None,
    end: End = None,
    branch: Branch = None,
    code: Annotated[str | None, Query(max_length=60)] = None,
    contract: Annotated[str | None, Query(max_length=60)] = None,
    format: Format = "html",
    principal: Principal = require(Permission.COMPLIANCE_READ),
) -> Response:
    """合规拦截记录 (format=xlsx: 导出 Excel) / the compliance guard's refusals."""
    try:
        first, last, rows, total = _refusals(request, principal, start, end, branch, code, contract)
    except ValueError as exc:  # QaError, BadRequest
        return refused(request, exc)
    if format == "xlsx":
        return table_download(request, "refusals", REFUSAL_COLUMNS, (r.__dict__ for r in rows))
    return render(
        request,
        "refusals.html",
        rows=rows,
        total=total,
        start=first,
        end=last,
        branch=branch or "",
        code=code or "",
        contract=contract or "",
        codes=qa.REFUSAL_CODES,
        roles=ROLE_LABELS,
        branch_choices=principal.visible(loan_views.branch_codes(get_engine(request))),
    )


class RefusalOut(BaseModel):
    attempt_id: int
    at: str
    branch: str
    contract_no: str
    channel: str
    role: str
    agent: str | None
    codes: list[str]
    reason: str


class RefusalsOut(BaseModel):
    start: date
    end: date
    total: int
    rows: list[RefusalOut]


@api.get("/refusals", response_model=RefusalsOut, responses=BAD)
def refusals_api(
    request: Request,
    start: Start = None,
    end: End = None,
    branch: Branch = None,
    code: Annotated[str | None, Query(max_length=60)] = None,
    contract: Annotated[str | None, Query(max_length=60)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    principal: Principal = require(Permission.COMPLIANCE_READ),
) -> Any:
    """合规拦截记录 (按日期/机构/原因/合同) / refusals by date, branch, reason, contract."""
    try:
        first, last, rows, total = _refusals(
            request, principal, start, end, branch, code, contract, limit, offset
        )
    except ValueError as exc:  # QaError, BadRequest
        return refused(request, exc)
    return RefusalsOut(
        start=first,
        end=last,
        total=total,
        rows=[
            RefusalOut(
                attempt_id=r.attempt_id,
                at=r.at.isoformat(),
                branch=r.branch,
                contract_no=r.contract_no,
                channel=r.channel,
                role=r.role,
                agent=r.agent,
                codes=list(r.codes),
                reason=r.reason,
            )
            for r in rows
        ],
    )


# -- the QA sample ----------------------------------------------------------------------------
@router.get("/qa", response_class=HTMLResponse)
def qa_page(
    request: Request,
    start: Start = None,
    end: End = None,
    branch: Branch = None,
    agent: AgentQ = None,
    channel: ChannelQ = None,
    size: Size = 20,
    seed: Seed = 1,
    format: Format = "html",
    principal: Principal = require(Permission.QA_REVIEW),
) -> Response:
    """质检抽样与汇总 (format=xlsx: 导出样本) / the reproducible sample and the QA summary."""
    try:
        req = _request(request, principal, start, end, branch, agent, channel, size, seed)
        rows, pool, summary = _sample(request, req, principal)
    except ValueError as exc:  # QaError, BadRequest
        return refused(request, exc)
    if format == "xlsx":
        return table_download(request, "qa-sample", SAMPLE_COLUMNS, (r.__dict__ for r in rows))
    return render(
        request,
        "qa_sample.html",
        req=req,
        rows=rows,
        pool=pool,
        summary=summary,
        criteria=qa_rules.CRITERIA,
        max_total=qa_rules.MAX_TOTAL,
        branch=branch or "",
        channels=CHANNELS,
        outcomes=OUTCOME_LABELS,
        branch_choices=principal.visible(loan_views.branch_codes(get_engine(request))),
    )


@router.get("/qa/attempts/{attempt_id}", response_class=HTMLResponse)
def qa_contact_page(request: Request, attempt: AttemptInScope) -> Response:
    """一次回访的记录与评分表 / one contact: transcript, answers, outcome, the scoring form."""
    detail = _read_contact(request, attempt)
    mine = next((r for r in detail.reviews if r.reviewer == attempt.principal.username), None)
    return render(
        request,
        "qa_contact.html",
        d=detail,
        mine=mine,
        criteria=qa_rules.CRITERIA,
        max_total=qa_rules.MAX_TOTAL,
        recording_url=detail.recording_url,
        outcomes=OUTCOME_LABELS,
        roles=ROLE_LABELS,
        message=None,
    )


@router.post("/qa/attempts/{attempt_id}/review", response_class=HTMLResponse)
async def qa_review_page(request: Request, attempt: AttemptInScope) -> Response:
    """保存我的评分 (HTMX, 返回评分表) / save my review; returns the form."""
    form = await request.form()
    scores = {c.code: form.get(f"score_{c.code}", "") for c in qa_rules.CRITERIA}
    comment = form.get("comment", "")
    return await run_in_threadpool(_save_review_form, request, attempt, scores, str(comment))


def _save_review_form(
    request: Request, attempt: InScope, scores: dict[str, Any], comment: str
) -> Response:
    error = None
    review = None
    try:
        review = _save_review(request, attempt, scores, comment)
    except qa_rules.QaError as exc:
        error = exc.en if lang_of(request) == "en" else exc.zh
    return render(
        request,
        "_qa_form.html",
        attempt_id=attempt.id,
        mine=review,
        values={k: str(v) for k, v in scores.items()},
        comment=comment,
        criteria=qa_rules.CRITERIA,
        max_total=qa_rules.MAX_TOTAL,
        error=error,
        saved=review is not None,
        reviews=qa.reviews(get_engine(request), attempt.id) if review is not None else None,
    )


class ReviewIn(BaseModel):
    scores: dict[str, int] = Field(max_length=20)
    comment: str = Field(default="", max_length=qa_rules.MAX_COMMENT)


class ReviewOut(BaseModel):
    id: int
    attempt_id: int
    reviewer: str
    scores: dict[str, int]
    total: int
    max_total: int
    comment: str
    created_at: str
    updated_at: str


def _review_out(r: qa.ReviewView) -> ReviewOut:
    return ReviewOut(
        id=r.id,
        attempt_id=r.attempt_id,
        reviewer=r.reviewer,
        scores=dict(r.scores),
        total=r.total,
        max_total=r.max_total,
        comment=r.comment,
        created_at=r.created_at.isoformat(),
        updated_at=r.updated_at.isoformat(),
    )


class CriterionOut(BaseModel):
    code: str
    zh: str
    en: str
    max_score: int


class ContactOut(BaseModel):
    attempt_id: int
    at: str
    branch: str
    contract_no: str
    agent: str | None
    channel: str
    role: str
    outcome: str | None
    my_total: int | None
    reviews: int
    direction: str  # outbound (we called) | inbound (the borrower called us)


class SummaryOut(BaseModel):
    agent: str
    reviews: int
    averages: dict[str, str]
    average_total: str
    percent: str


class SampleOut(BaseModel):
    start: date
    end: date
    branches: list[str]
    seed: int
    pool: int
    criteria: list[CriterionOut]
    sample: list[ContactOut]
    summary: list[SummaryOut]


def _contact_out(r: qa.ContactRow) -> ContactOut:
    return ContactOut(
        attempt_id=r.attempt_id,
        at=r.at.isoformat(),
        branch=r.branch,
        contract_no=r.contract_no,
        agent=r.agent,
        channel=r.channel,
        role=r.role,
        outcome=r.outcome,
        my_total=r.my_total,
        reviews=r.reviews,
        direction=r.direction,
    )


def _summary_out(rows: tuple[qa_rules.SummaryRow, ...]) -> list[SummaryOut]:
    return [
        SummaryOut(
            agent=s.agent,
            reviews=s.reviews,
            averages={k: str(v) for k, v in s.averages.items()},
            average_total=str(s.average_total),
            percent=str(s.percent),
        )
        for s in rows
    ]


@api.get("/qa/sample", response_model=SampleOut, responses=BAD)
def qa_sample_api(
    request: Request,
    start: Start = None,
    end: End = None,
    branch: Branch = None,
    agent: AgentQ = None,
    channel: ChannelQ = None,
    size: Size = 20,
    seed: Seed = 1,
    principal: Principal = require(Permission.QA_REVIEW),
) -> Any:
    """可复现的随机抽样及质检汇总 / the reproducible sample and the QA summary."""
    try:
        req = _request(request, principal, start, end, branch, agent, channel, size, seed)
        rows, pool, summary = _sample(request, req, principal)
    except ValueError as exc:  # QaError, BadRequest
        return refused(request, exc)
    return SampleOut(
        start=req.start,
        end=req.end,
        branches=list(req.branches),
        seed=req.seed,
        pool=pool,
        criteria=[
            CriterionOut(code=c.code, zh=c.zh, en=c.en, max_score=c.max_score)
            for c in qa_rules.CRITERIA
        ],
        sample=[_contact_out(r) for r in rows],
        summary=_summary_out(summary),
    )


class ContactDetailOut(BaseModel):
    contact: ContactOut
    borrower_name: str
    contact_number: str
    script: str | None
    identity_verified: bool
    answers: dict[str, Any]
    note: str | None
    findings: list[dict[str, Any]]
    transcript: list[dict[str, Any]]
    recording_ref: str | None
    recording_url: str | None
    voice_turns: list[dict[str, Any]]
    reviews: list[ReviewOut]


@api.get("/qa/attempts/{attempt_id}", response_model=ContactDetailOut, responses=ERRORS)
def qa_contact_api(request: Request, attempt: AttemptInScope) -> Any:
    """一次回访的记录 (个人信息已脱敏) 和全部评分 / one contact (personal data masked)."""
    d = _read_contact(request, attempt)
    return ContactDetailOut(
        contact=_contact_out(d.row),
        borrower_name=d.borrower_name,
        contact_number=d.contact_number,
        script=d.script,
        identity_verified=d.identity_verified,
        answers={
            k: v if isinstance(v, bool | int | str) or v is None else str(v)
            for k, v in d.answers.items()
        },
        note=d.note,
        findings=[dict(f) for f in d.findings],
        transcript=[
            {"kind": t.kind, "step": t.step, "zh": t.zh, "en": t.en, "raw": t.raw}
            for t in d.transcript
        ],
        recording_ref=d.recording_ref,
        recording_url=d.recording_url,
        voice_turns=[dict(t.__dict__) for t in d.voice_turns],
        reviews=[_review_out(r) for r in d.reviews],
    )


@api.put("/qa/attempts/{attempt_id}/review", response_model=ReviewOut, responses=BAD)
def qa_review_api(request: Request, attempt: AttemptInScope, body: ReviewIn) -> Any:
    """创建或修改我的评分 (每人每次回访一份) / create or update my review of a contact."""
    try:
        r = _save_review(request, attempt, body.scores, body.comment)
    except qa_rules.QaError as exc:
        return refused(request, exc)
    return _review_out(r)
