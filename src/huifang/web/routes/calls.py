# ruff: noqa: B008  (FastAPI dependencies are declared as parameter defaults)
"""The agent's call screen (pages and `/api/v1/calls`): take the top task of my queue, the
borrower 360° beside the script runner (one question at a time, each answer posted with
HTMX and applied on the server), and the outcome — through the compliance guard, whose
refusal is shown with its reason. All rules live in `services/calls.py`.

Every route needs `queue.work` and checks the task's branch against the caller's scope;
a task the caller does not hold answers 409 (claim it from the queue first)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from huifang.domain import scripts as sc
from huifang.domain.compliance import Outcome, PartyRole
from huifang.security.roles import Permission, Principal
from huifang.services import calls, followup, loan_views, risk
from huifang.services.followup import TaskError
from huifang.services.followup_attempts import answers_to_json, task_attempts
from huifang.web.deps import check_branch, get_engine, require
from huifang.web.rendering import lang_of, render
from huifang.web.routes.api import ERRORS, ErrorBody
from huifang.web.routes.common import guard_branch_filter, read_borrower_360, today

router = APIRouter(include_in_schema=False)
ObjectId = Annotated[int, Path(ge=1, le=2**62)]
api = APIRouter(prefix="/api/v1", tags=["calls"])
CALL_ERRORS: dict[int | str, dict[str, object]] = {
    **ERRORS,
    409: {"model": ErrorBody, "description": "任务未由您领取, 已关闭, 或请求不成立 / conflict"},
}

OUTCOME_LABELS: dict[str, tuple[str, str]] = {
    "right-party-contact": ("本人接通", "right party reached"),
    "third-party-contact": ("他人接听", "third party answered"),
    "no-answer": ("无人接听", "no answer"),
    "busy": ("占线", "busy"),
    "switched-off": ("关机/停机", "switched off"),
    "invalid-number": ("空号", "invalid number"),
    "refused": ("拒绝沟通", "refused"),
    "callback-requested": ("约定回电", "callback requested"),
    "hung-up": ("接通后挂断", "hung up"),
    "wrong-person": ("非本人号码", "wrong person"),
}
ROLE_LABELS: dict[str, tuple[str, str]] = {
    "borrower": ("借款人本人", "borrower"),
    "spouse": ("配偶", "spouse"),
    "emergency": ("紧急联系人", "emergency contact"),
    "employer": ("单位", "employer"),
    "guarantor": ("担保人", "guarantor"),
    "legal-rep": ("法定代表人", "legal representative"),
}


def _agent(request: Request, principal: Principal) -> int:
    known = getattr(request.state, "agent_id", None)  # read with the task by `_guard_task`
    if isinstance(known, int):
        return known
    codes = principal.branch_codes if not principal.all_branches else frozenset()
    return calls.ensure_agent(
        get_engine(request), principal.username, principal.display_name, codes
    )


def _guard_task(request: Request, principal: Principal, task_id: ObjectId) -> followup.TaskView:
    try:
        view, agent = calls.task_and_agent(get_engine(request), task_id, principal.username)
    except TaskError:
        raise loan_views.NotFound(f"no task {task_id}") from None
    check_branch(principal, view.branch)
    if agent is not None:
        request.state.agent_id = agent
    return view


def _conflict(request: Request, exc: Exception, *, page: bool) -> Response:
    text = str(exc)
    zh, _, en = text.partition(" / ")
    if page:
        lang = lang_of(request)
        return render(request, "_call_error.html", 409, message=(en or zh) if lang == "en" else zh)
    return JSONResponse({"error": {"status": 409, "zh": zh, "en": en or zh}}, status_code=409)


@dataclass(frozen=True)
class _Side:
    """The borrower 360° beside the runner: the borrower, the task's loan, the task's
    attempts so far and the loan's open alerts."""

    borrower: loan_views.BorrowerView
    loan: loan_views.LoanView
    attempts: list[dict[str, Any]]
    alerts: list[risk.AlertView]


def _side(request: Request, principal: Principal, screen: calls.CallScreen) -> _Side:
    engine = get_engine(request)
    view = read_borrower_360(
        request,
        engine,
        principal,
        screen.borrower_id,
        screen.task.branch,
        detail={"via": f"call:{screen.task.id}"},
        view=screen.view,
    )
    loan = next(v for v in view.loans if v.loan_id == screen.task.loan_id)
    alerts = [
        a
        for a in risk.list_alerts(engine, contract_no=screen.task.contract_no)
        if a.status != "resolved"
    ]
    return _Side(view, loan, task_attempts(engine, screen.task.id), alerts)


# -- pages ------------------------------------------------------------------------------------
@router.post("/queue/next", response_class=HTMLResponse)
def take_next_page(
    request: Request,
    branch: Annotated[str | None, Query(max_length=32)] = None,
    principal: Principal = require(Permission.QUEUE_WORK),
) -> Response:
    """领取队列中最紧急的任务 / take the top task (HTMX: redirects to the call screen)."""
    guard_branch_filter(principal, branch)
    try:
        task = calls.take_top_task(get_engine(request), _agent(request, principal))
    except TaskError as exc:
        return _conflict(request, exc, page=True)
    if task is None:
        return render(
            request,
            "_call_error.html",
            200,
            message=_t(request, "队列中没有可领取的任务", "nothing to take in the queue"),
        )
    response = render(request, "_call_taken.html", task=task)
    response.headers["HX-Redirect"] = f"/calls/{task.id}"
    return response


def _t(request: Request, zh: str, en: str) -> str:
    return en if lang_of(request) == "en" else zh


@router.get("/calls/{task_id}", response_class=HTMLResponse)
def call_page(
    request: Request, task_id: ObjectId, principal: Principal = require(Permission.QUEUE_WORK)
) -> Response:
    """通话页: 借款人360° + 话术 + 结果登记 / the call screen."""
    _guard_task(request, principal, task_id)
    try:
        screen = calls.open_call(
            get_engine(request),
            task_id,
            _agent(request, principal),
            principal.display_name,
            today(request),
        )
    except TaskError as exc:
        return _conflict(request, exc, page=True)
    return render(
        request,
        "call.html",
        screen=screen,
        side=_side(request, principal, screen),
        p=screen.prompt,
        state=screen.state,
        outcomes=OUTCOME_LABELS,
        roles=ROLE_LABELS,
    )


@router.post("/calls/{task_id}/answer", response_class=HTMLResponse)
def answer_page(
    request: Request,
    task_id: ObjectId,
    value: Annotated[str, Form(max_length=500)] = "",
    principal: Principal = require(Permission.QUEUE_WORK),
) -> Response:
    """一个回答 (HTMX) / post one answer; returns the runner panel."""
    view = _guard_task(request, principal, task_id)
    try:
        state = calls.answer_call(get_engine(request), task_id, _agent(request, principal), value)
    except TaskError as exc:
        return _conflict(request, exc, page=True)
    return render(request, "_runner.html", task=view, p=sc.prompt(state), state=state)


def _callback(request: Request, text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise TaskError("回电时间格式应为 YYYY-MM-DDTHH:MM / callback time must be ISO") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=ZoneInfo(request.app.state.settings.timezone))
    return at


@router.post("/calls/{task_id}/outcome", response_class=HTMLResponse)
def outcome_page(
    request: Request,
    task_id: ObjectId,
    outcome: Annotated[Outcome, Form()],
    role: Annotated[PartyRole, Form()] = PartyRole.BORROWER,
    callback_at: Annotated[str | None, Form(max_length=40)] = None,
    note: Annotated[str | None, Form(max_length=500)] = None,
    principal: Principal = require(Permission.QUEUE_WORK),
) -> Response:
    """登记通话结果 / record the outcome; returns the result (or the guard's refusal)."""
    _guard_task(request, principal, task_id)
    try:
        done = calls.finish_call(
            get_engine(request),
            task_id,
            _agent(request, principal),
            outcome=outcome,
            role=role,
            callback_at=_callback(request, callback_at),
            note=note or None,
        )
    except TaskError as exc:
        return _conflict(request, exc, page=True)
    return render(request, "_call_result.html", done=done, r=done.result)


@router.post("/calls/{task_id}/release", response_class=HTMLResponse)
def release_page(
    request: Request, task_id: ObjectId, principal: Principal = require(Permission.QUEUE_WORK)
) -> Response:
    """放回队列 / give the task back to the queue."""
    _guard_task(request, principal, task_id)
    followup.release_task(get_engine(request), task_id, _agent(request, principal))
    response = render(
        request, "_call_error.html", 200, message=_t(request, "已放回队列", "returned to the queue")
    )
    response.headers["HX-Redirect"] = "/queue"
    return response


# -- API --------------------------------------------------------------------------------------
class PromptOut(BaseModel):
    task_id: int
    script_id: str
    lines: list[str]
    question: str | None
    answer_type: str | None
    options: list[dict[str, str]]
    error: str | None
    finished: bool
    identity_verified: bool
    answers: dict[str, Any]


def _prompt_json(task_id: ObjectId, state: sc.RunState, lang: str) -> PromptOut:
    p = sc.prompt(state)
    language: sc.Language = "en" if lang == "en" else "zh"
    return PromptOut(
        task_id=task_id,
        script_id=state.script.id,
        lines=[line.get(language) for line in p.lines],
        question=p.question.get(language) if p.question else None,
        answer_type=p.answer_type.value if p.answer_type else None,
        options=[{"code": o.code, "label": o.label.get(language)} for o in p.options],
        error=p.error.get(language) if p.error else None,
        finished=p.finished,
        identity_verified=state.identity_verified,
        answers=answers_to_json(sc.answers(state)),
    )


class TaskOut(BaseModel):
    task: dict[str, Any] | None


@api.post("/calls/next", response_model=TaskOut, responses=CALL_ERRORS)
def take_next_api(
    request: Request,
    branch: Annotated[str | None, Query(max_length=32)] = None,
    principal: Principal = require(Permission.QUEUE_WORK),
) -> Any:
    """领取队列中最紧急的任务 (租约 30 分钟) / claim the top task of my queue; null if none."""
    guard_branch_filter(principal, branch)
    try:
        task = calls.take_top_task(get_engine(request), _agent(request, principal))
    except TaskError as exc:
        return _conflict(request, exc, page=False)
    return TaskOut(task=task.as_json() if task else None)


@api.get("/calls/{task_id}", response_model=PromptOut, responses=CALL_ERRORS)
def call_api(
    request: Request,
    task_id: ObjectId,
    lang: Annotated[str, Query(pattern="^(zh|en)$")] = "zh",
    principal: Principal = require(Permission.QUEUE_WORK),
) -> Any:
    """当前话术提示 (首次调用开始话术) / the script's current prompt (starts the run)."""
    _guard_task(request, principal, task_id)
    try:
        screen = calls.open_call(
            get_engine(request),
            task_id,
            _agent(request, principal),
            principal.display_name,
            today(request),
        )
    except TaskError as exc:
        return _conflict(request, exc, page=False)
    return _prompt_json(task_id, screen.state, lang)


class AnswerIn(BaseModel):
    value: str = Field(max_length=500)


@api.post("/calls/{task_id}/answer", response_model=PromptOut, responses=CALL_ERRORS)
def answer_api(
    request: Request,
    task_id: ObjectId,
    body: AnswerIn,
    lang: Annotated[str, Query(pattern="^(zh|en)$")] = "zh",
    principal: Principal = require(Permission.QUEUE_WORK),
) -> Any:
    """回答当前问题 (按题型解析, 拒绝时带原因) / answer the current question."""
    _guard_task(request, principal, task_id)
    try:
        state = calls.answer_call(
            get_engine(request), task_id, _agent(request, principal), body.value
        )
    except TaskError as exc:
        return _conflict(request, exc, page=False)
    return _prompt_json(task_id, state, lang)


class OutcomeIn(BaseModel):
    outcome: Outcome
    role: PartyRole = PartyRole.BORROWER
    callback_at: datetime | None = None
    note: str | None = Field(default=None, max_length=500)


class OutcomeOut(BaseModel):
    attempt_id: int
    allowed: bool
    refusals: list[dict[str, str]]
    next_allowed_at: datetime | None
    task_status: str
    visit_id: int | None
    new_alerts: list[dict[str, Any]]


@api.post("/calls/{task_id}/outcome", response_model=OutcomeOut, responses=CALL_ERRORS)
def outcome_api(
    request: Request,
    task_id: ObjectId,
    body: OutcomeIn,
    principal: Principal = require(Permission.QUEUE_WORK),
) -> Any:
    """登记通话结果 (先经合规检查) / record the outcome (compliance guard first)."""
    _guard_task(request, principal, task_id)
    callback = body.callback_at
    if callback is not None and callback.tzinfo is None:
        callback = callback.replace(tzinfo=ZoneInfo(request.app.state.settings.timezone))
    try:
        done = calls.finish_call(
            get_engine(request),
            task_id,
            _agent(request, principal),
            outcome=body.outcome,
            role=body.role,
            callback_at=callback,
            note=body.note,
        )
    except TaskError as exc:
        return _conflict(request, exc, page=False)
    r = done.result
    return OutcomeOut(
        attempt_id=r.attempt_id,
        allowed=r.allowed,
        refusals=[{"code": c, "zh": zh, "en": en} for c, zh, en in r.refusals],
        next_allowed_at=r.next_allowed_at,
        task_status=r.task_status,
        visit_id=r.visit_id,
        new_alerts=[
            {"id": a.id, "rule_id": a.rule_id, "severity": a.severity, "title_zh": a.title_zh}
            for a in done.new_alerts
        ],
    )
