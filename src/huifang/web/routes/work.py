# ruff: noqa: B008  (FastAPI dependencies are declared as parameter defaults)
"""Pages and `/api/v1` twins over the follow-up and risk services: the agent's queue, the
alerts inbox (each page exports its table with ``?format=xlsx``) and the manager's task
assignment (转派: a task to another agent of its branch, with a reason, audited).

Both are branch-scoped: the follow-up tasks are listed per branch in the caller's scope,
and alerts (keyed by contract) are kept only for loans of those branches."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from huifang.domain.early_warning import AlertStatus
from huifang.security.roles import Permission, Principal
from huifang.services import followup, risk, workspace
from huifang.web.deps import actor, get_engine, require
from huifang.web.rendering import lang_of, render
from huifang.web.routes.api import ERRORS, ErrorBody
from huifang.web.routes.common import (
    Format,
    InScope,
    branch_scope,
    in_scope,
    refused,
    table_download,
)

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["queue", "alerts"])
CONFLICT: dict[int | str, dict[str, object]] = {
    **ERRORS,
    409: {"model": ErrorBody, "description": "无法转派 / cannot assign"},
}


QUEUE_COLUMNS = (
    ("priority", "优先级", "Priority"),
    ("contract_no", "合同号", "Contract"),
    ("branch", "机构", "Branch"),
    ("purpose", "回访类型", "Purpose"),
    ("due_on", "应访日", "Due"),
    ("deadline", "截止日", "Deadline"),
    ("tier", "风险等级", "Tier"),
    ("reason", "原因", "Reason"),
    ("assigned_to", "分配给", "Assigned to"),
    ("status", "状态", "Status"),
)
ALERT_COLUMNS = (
    ("severity", "严重程度", "Severity"),
    ("contract_no", "合同号", "Contract"),
    ("branch", "机构", "Branch"),
    ("rule_id", "规则", "Rule"),
    ("title", "预警", "Alert"),
    ("first_seen_on", "首次发现", "First seen"),
    ("last_seen_on", "最近发现", "Last seen"),
    ("status", "状态", "Status"),
    ("acknowledged_by", "确认人", "Acknowledged by"),
    ("resolved_by", "处理人", "Resolved by"),
    ("resolution_note", "处理说明", "Resolution note"),
)


def _queue(
    request: Request, principal: Principal, branch: str | None, mine: bool
) -> list[followup.TaskView]:
    return workspace.open_queue(
        get_engine(request),
        branch_scope(request, principal, branch),
        agent=principal.username if mine else None,
    )


def _alerts(
    request: Request, principal: Principal, branch: str | None, status: AlertStatus | None
) -> tuple[list[risk.AlertView], dict[str, str]]:
    scope = branch_scope(request, principal, branch)
    return workspace.alerts_inbox(get_engine(request), scope, status)


@router.get("/queue", response_class=HTMLResponse)
def queue_page(
    request: Request,
    branch: Annotated[str | None, Query(max_length=32)] = None,
    mine: Annotated[bool, Query()] = False,
    format: Format = "html",
    principal: Principal = require(Permission.QUEUE_WORK),
) -> Response:
    """待办回访: 最紧急的在前 (format=xlsx: 导出 Excel) / open tasks, most urgent first."""
    tasks = _queue(request, principal, branch, mine)
    if format == "xlsx":
        return table_download(request, "queue", QUEUE_COLUMNS, (t.__dict__ for t in tasks))
    return render(request, "queue.html", tasks=tasks, branch=branch or "", mine=mine)


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(
    request: Request,
    branch: Annotated[str | None, Query(max_length=32)] = None,
    status: Annotated[AlertStatus | None, Query()] = AlertStatus.OPEN,
    format: Format = "html",
    principal: Principal = require(Permission.ALERTS_READ),
) -> Response:
    """风险预警: 最严重的在前 (format=xlsx: 导出 Excel) / risk alerts, most severe first."""
    alerts, where = _alerts(request, principal, branch, status)
    if format == "xlsx":
        en = lang_of(request) == "en"
        rows = (
            {
                **a.__dict__,
                "branch": where.get(a.contract_no, ""),
                "title": a.title_en if en else a.title_zh,
            }
            for a in alerts
        )
        return table_download(request, "alerts", ALERT_COLUMNS, rows)
    return render(
        request,
        "alerts.html",
        alerts=alerts,
        branches=where,
        branch=branch or "",
        status=status.value if status else "",
    )


class TaskOut(BaseModel):
    id: int
    contract_no: str
    branch: str
    purpose: str
    priority: int
    due_on: date
    deadline: date
    tier: str
    reason: str
    script: str
    assigned_to: str | None
    claimed_by: str | None
    status: str


@api.get("/queue", response_model=list[TaskOut], responses=ERRORS)
def queue_api(
    request: Request,
    branch: Annotated[str | None, Query(max_length=32)] = None,
    mine: Annotated[bool, Query()] = False,
    principal: Principal = require(Permission.QUEUE_WORK),
) -> Any:
    """待办回访 (最紧急的在前) / open follow-up tasks, most urgent first."""
    return [
        TaskOut(**{k: getattr(t, k) for k in TaskOut.model_fields})
        for t in _queue(request, principal, branch, mine)
    ]


class AlertListOut(BaseModel):
    id: int
    contract_no: str
    branch: str
    rule_id: str
    severity: str
    status: str
    title_zh: str
    title_en: str
    first_seen_on: date
    last_seen_on: date
    acknowledged_by: str | None
    resolved_by: str | None
    resolution_note: str | None


@api.get("/alerts", response_model=list[AlertListOut], responses=ERRORS)
def alerts_api(
    request: Request,
    branch: Annotated[str | None, Query(max_length=32)] = None,
    status: Annotated[AlertStatus | None, Query()] = AlertStatus.OPEN,
    principal: Principal = require(Permission.ALERTS_READ),
) -> Any:
    """风险预警收件箱 (最严重的在前) / the alerts inbox, most severe first."""
    alerts, where = _alerts(request, principal, branch, status)
    return [
        AlertListOut(
            **{k: getattr(a, k) for k in AlertListOut.model_fields if k != "branch"},
            branch=where.get(a.contract_no, ""),
        )
        for a in alerts
    ]


# -- assignment (managers) ---------------------------------------------------------------------
TaskInScope = Annotated[
    InScope, in_scope(Permission.QUEUE_MANAGE, "task_id", workspace.task_branch)
]


@router.get("/assignments", response_class=HTMLResponse)
def assignments_page(
    request: Request,
    branch: Annotated[str | None, Query(max_length=32)] = None,
    principal: Principal = require(Permission.QUEUE_MANAGE),
) -> Response:
    """任务分配: 待办任务及各坐席的负荷, 转派须说明原因 / assign open tasks to agents."""
    scope = branch_scope(request, principal, branch)
    agents = workspace.branch_agents(get_engine(request), scope)
    by_branch: dict[str, list[workspace.AgentLoad]] = {}
    for a in agents:
        by_branch.setdefault(a.branch, []).append(a)
    return render(
        request,
        "assignments.html",
        tasks=workspace.open_queue(get_engine(request), scope),
        agents=agents,
        by_branch=by_branch,
        branch=branch or "",
    )


def _assign(request: Request, task: InScope, agent: str, reason: str) -> followup.TaskView:
    return workspace.assign_task(
        get_engine(request), task.id, agent, reason, actor(request, task.principal)
    )


@router.post("/tasks/{task_id}/assign", response_class=HTMLResponse)
def assign_page(
    request: Request,
    task: TaskInScope,
    agent: Annotated[str, Form(max_length=60)],
    reason: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """转派 (HTMX, 返回该行) / assign a task to an agent; returns the task's row."""
    try:
        view = _assign(request, task, agent, reason)
    except followup.TaskError as exc:
        return refused(request, exc, 409)
    agents = workspace.branch_agents(get_engine(request), [task.branch])
    return render(
        request, "_assignment_row.html", task=view, by_branch={task.branch: agents}, done=True
    )


class AssignIn(BaseModel):
    agent: str = Field(min_length=1, max_length=60)
    reason: str = Field(min_length=1, max_length=200)


@api.post("/tasks/{task_id}/assign", response_model=TaskOut, responses=CONFLICT)
def assign_api(request: Request, task: TaskInScope, body: AssignIn) -> Any:
    """转派任务给本机构的坐席 (须说明原因) / assign a task to an agent of its branch."""
    try:
        view = _assign(request, task, body.agent, body.reason)
    except followup.TaskError as exc:
        return refused(request, exc, 409)
    return TaskOut(**{k: getattr(view, k) for k in TaskOut.model_fields})


class AgentLoadOut(BaseModel):
    username: str
    name: str
    branch: str
    open_tasks: int


@api.get("/agents", response_model=list[AgentLoadOut], responses=ERRORS)
def agents_api(
    request: Request,
    branch: Annotated[str | None, Query(max_length=32)] = None,
    principal: Principal = require(Permission.QUEUE_MANAGE),
) -> Any:
    """本机构坐席及其待办任务数 / the agents of your branches and their open tasks."""
    scope = branch_scope(request, principal, branch)
    return [AgentLoadOut(**a.__dict__) for a in workspace.branch_agents(get_engine(request), scope)]
