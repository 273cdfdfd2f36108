# ruff: noqa: B008  (FastAPI dependencies are declared as parameter defaults)
"""The manager's dashboard (charts, filters by period and branch, XLSX export) and the risk
officer's alert actions (acknowledge, resolve with a note), as pages and `/api/v1`
endpoints over `services/workspace.py` and `services/risk.py`.

The dashboard counts only the branches in the caller's scope (or the one `?branch=` names,
after checking it); an alert action checks the alert's loan branch."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from huifang.domain.early_warning import AlertTransitionError
from huifang.domain.followup_metrics import Metrics
from huifang.security.roles import Permission, Principal
from huifang.services import followup_corrections, loan_views, risk, workspace
from huifang.web.deps import get_engine, require
from huifang.web.rendering import lang_of, render
from huifang.web.routes.api import ERRORS, ErrorBody
from huifang.web.routes.common import (
    Format,
    InScope,
    branch_scope,
    in_scope,
    period,
    refused,
    table_download,
    xlsx_response,
)

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["dashboard", "alerts"])
CONFLICT: dict[int | str, dict[str, object]] = {
    **ERRORS,
    409: {"model": ErrorBody, "description": "状态不允许此操作 / conflict"},
}


def _board(
    request: Request, principal: Principal, start: date | None, end: date | None, branch: str | None
) -> workspace.Dashboard:
    first, last = period(request, start, end)
    return workspace.dashboard(
        get_engine(request), first, last, branch_scope(request, principal, branch)
    )


AlertInScope = Annotated[
    InScope, in_scope(Permission.ALERTS_MANAGE, "alert_id", workspace.alert_branch)
]
CorrectionInScope = Annotated[
    InScope, in_scope(Permission.QUEUE_MANAGE, "correction_id", workspace.correction_branch)
]


CORRECTION_COLUMNS = (
    ("id", "编号", "#"),
    ("contract_no", "合同号", "Contract"),
    ("branch", "机构", "Branch"),
    ("maker", "更正人", "Maker"),
    ("made_at", "更正时间", "Made at"),
    ("reason", "原因", "Reason"),
    ("changes", "变更 (个人信息已脱敏)", "Changes (personal data masked)"),
)


def _rate(value: Any) -> float | None:
    return None if value is None else round(float(value) * 100, 1)


def _charts(board: workspace.Dashboard, lang: str) -> dict[str, dict[str, Any]]:
    """ECharts options (rendered as data-chart JSON, no inline script)."""
    en = lang == "en"
    names = (
        ("coverage", "覆盖率", "coverage"),
        ("connection_rate", "接通率", "connection rate"),
        ("right_party_rate", "本人接通率", "right-party rate"),
    )

    def compare(rows: tuple[Metrics, ...]) -> dict[str, Any]:
        return {
            "animation": False,
            "tooltip": {"trigger": "axis"},
            "legend": {},
            "xAxis": {"type": "category", "data": [m.group for m in rows]},
            "yAxis": {"type": "value", "axisLabel": {"formatter": "{value}%"}},
            "series": [
                {
                    "type": "bar",
                    "name": en_ if en else zh,
                    "data": [_rate(getattr(m, key)) for m in rows],
                }
                for key, zh, en_ in names
            ],
        }

    return {
        "branches": compare(board.by_branch),
        "agents": compare(board.by_agent),
        "tiers": {
            "animation": False,
            "tooltip": {},
            "series": [
                {
                    "type": "pie",
                    "radius": "65%",
                    "data": [{"name": k, "value": v} for k, v in board.open_by_tier.items()],
                }
            ],
        },
        "alerts": {
            "animation": False,
            "tooltip": {"trigger": "axis"},
            "xAxis": {"type": "category", "data": [d.isoformat() for d, _n in board.alerts_by_day]},
            "yAxis": {"type": "value", "minInterval": 1},
            "series": [
                {
                    "type": "line",
                    "name": "new alerts" if en else "新增预警",
                    "data": [n for _d, n in board.alerts_by_day],
                }
            ],
        },
    }


# -- dashboard --------------------------------------------------------------------------------
@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(
    request: Request,
    start: Annotated[date | None, Query()] = None,
    end: Annotated[date | None, Query()] = None,
    branch: Annotated[str | None, Query(max_length=32)] = None,
    principal: Principal = require(Permission.DASHBOARD_READ),
) -> Response:
    """管理看板 / the manager's dashboard."""
    try:
        board = _board(request, principal, start, end, branch)
    except ValueError as exc:  # a BadRequest period, or the service refusing one
        return refused(request, exc)
    return render(
        request,
        "dashboard.html",
        board=board,
        charts=_charts(board, lang_of(request)),
        columns=workspace.METRIC_COLUMNS,
        rates={"coverage", "connection_rate", "right_party_rate", "on_time_rate"},
        branch=branch or "",
        branch_choices=principal.visible(loan_views.branch_codes(get_engine(request))),
    )


@router.get("/dashboard/metrics.xlsx")
def dashboard_xlsx(
    request: Request,
    start: Annotated[date | None, Query()] = None,
    end: Annotated[date | None, Query()] = None,
    branch: Annotated[str | None, Query(max_length=32)] = None,
    by: Annotated[str, Query(pattern="^(branch|agent|tier)$")] = "branch",
    principal: Principal = require(Permission.DASHBOARD_READ),
) -> Response:
    """指标表导出 Excel / the metrics table as XLSX."""
    try:
        board = _board(request, principal, start, end, branch)
    except ValueError as exc:  # a BadRequest period, or the service refusing one
        return refused(request, exc)
    body = workspace.metrics_xlsx(board, by, lang_of(request))
    return xlsx_response(body, f"huifang-metrics-{board.start}-{board.end}-{by}.xlsx")


class MetricsOut(BaseModel):
    group: str
    due: int
    completed_of_due: int
    completed: int
    attempts: int
    coverage: str | None
    connection_rate: str | None
    right_party_rate: str | None
    on_time_rate: str | None


class VoiceOut(BaseModel):
    """智能外呼 / the voice agent's calls (rates 0–1, seconds, CNY as decimal strings)."""

    calls: int
    connected: int
    completed: int
    handed_over: int
    connection_rate: str | None
    completion_rate: str | None
    handover_rate: str | None
    average_handle_time_s: str | None
    cost: str
    cost_per_completed: str | None


class ChannelCostOut(BaseModel):
    channel: str
    attempts: int
    minutes: int
    cost: str
    completed: int
    cost_per_completed: str | None


class DashboardOut(BaseModel):
    start: date
    end: date
    branches: list[str]
    total: MetricsOut
    by_branch: list[MetricsOut]
    by_agent: list[MetricsOut]
    by_tier: list[MetricsOut]
    overdue_tasks: int
    open_by_tier: dict[str, int]
    alerts_by_day: list[tuple[date, int]]
    open_alerts: int
    voice: VoiceOut | None = None
    channel_costs: list[ChannelCostOut] = Field(default_factory=list)


def _str(v: Any) -> str | None:
    return None if v is None else str(v)


def _voice(board: workspace.Dashboard) -> VoiceOut | None:
    v = board.voice
    if v is None:
        return None
    return VoiceOut(
        calls=v.calls,
        connected=v.connected,
        completed=v.completed,
        handed_over=v.handed_over,
        connection_rate=_str(v.connection_rate),
        completion_rate=_str(v.completion_rate),
        handover_rate=_str(v.handover_rate),
        average_handle_time_s=_str(v.average_handle_time_s),
        cost=str(v.cost),
        cost_per_completed=_str(v.cost_per_completed),
    )


def _metrics(m: Metrics) -> MetricsOut:
    def s(v: Any) -> str | None:
        return None if v is None else str(v)

    return MetricsOut(
        group=m.group,
        due=m.due,
        completed_of_due=m.completed_of_due,
        completed=m.completed,
        attempts=m.attempts,
        coverage=s(m.coverage),
        connection_rate=s(m.connection_rate),
        right_party_rate=s(m.right_party_rate),
        on_time_rate=s(m.on_time_rate),
    )


@api.get(
    "/dashboard",
    response_model=DashboardOut,
    responses={**ERRORS, 422: {"model": ErrorBody, "description": "参数有误 / bad period"}},
)
def dashboard_api(
    request: Request,
    start: Annotated[date | None, Query()] = None,
    end: Annotated[date | None, Query()] = None,
    branch: Annotated[str | None, Query(max_length=32)] = None,
    principal: Principal = require(Permission.DASHBOARD_READ),
) -> Any:
    """看板数据 (比率为 0–1 的小数字符串) / dashboard figures (rates as decimal strings)."""
    try:
        board = _board(request, principal, start, end, branch)
    except ValueError as exc:  # a BadRequest period, or the service refusing one
        return refused(request, exc)
    return DashboardOut(
        start=board.start,
        end=board.end,
        branches=list(board.branches),
        total=_metrics(board.total),
        by_branch=[_metrics(m) for m in board.by_branch],
        by_agent=[_metrics(m) for m in board.by_agent],
        by_tier=[_metrics(m) for m in board.by_tier],
        overdue_tasks=board.overdue_tasks,
        open_by_tier=board.open_by_tier,
        alerts_by_day=list(board.alerts_by_day),
        open_alerts=board.open_alerts,
        voice=_voice(board),
        channel_costs=[
            ChannelCostOut(
                channel=c.channel,
                attempts=c.attempts,
                minutes=c.minutes,
                cost=str(c.cost),
                completed=c.completed,
                cost_per_completed=_str(c.cost_per_completed),
            )
            for c in board.channel_costs
        ],
    )


# -- alert actions ----------------------------------------------------------------------------
@router.post("/alerts/{alert_id}/acknowledge", response_class=HTMLResponse)
def acknowledge_page(request: Request, alert: AlertInScope) -> Response:
    """确认预警 (HTMX, 返回该行) / acknowledge; returns the alert's row."""
    try:
        view = risk.acknowledge_alert(get_engine(request), alert.id, alert.principal.username)
    except AlertTransitionError as exc:
        return refused(request, exc, 409)
    return render(request, "_alert_row.html", a=view, branch_code=alert.branch, can_act=True)


@router.post("/alerts/{alert_id}/resolve", response_class=HTMLResponse)
def resolve_page(
    request: Request, alert: AlertInScope, note: Annotated[str, Form(max_length=500)] = ""
) -> Response:
    """处理完毕 (须填写说明) / resolve with a note; returns the alert's row."""
    try:
        view = risk.resolve_alert(
            get_engine(request), alert.id, alert.principal.username, note.strip()
        )
    except AlertTransitionError as exc:
        return refused(request, exc, 409)
    return render(request, "_alert_row.html", a=view, branch_code=alert.branch, can_act=True)


class AlertOut(BaseModel):
    id: int
    contract_no: str
    rule_id: str
    severity: str
    status: str
    title_zh: str
    title_en: str
    acknowledged_by: str | None
    resolved_by: str | None
    resolution_note: str | None


def _alert(a: risk.AlertView) -> AlertOut:
    return AlertOut(
        id=a.id,
        contract_no=a.contract_no,
        rule_id=a.rule_id,
        severity=a.severity,
        status=a.status,
        title_zh=a.title_zh,
        title_en=a.title_en,
        acknowledged_by=a.acknowledged_by,
        resolved_by=a.resolved_by,
        resolution_note=a.resolution_note,
    )


@api.post("/alerts/{alert_id}/acknowledge", response_model=AlertOut, responses=CONFLICT)
def acknowledge_api(request: Request, alert: AlertInScope) -> Any:
    """确认预警 / acknowledge an alert (open → acknowledged)."""
    try:
        return _alert(
            risk.acknowledge_alert(get_engine(request), alert.id, alert.principal.username)
        )
    except AlertTransitionError as exc:
        return refused(request, exc, 409)


class ResolveIn(BaseModel):
    note: str = Field(min_length=1, max_length=500)


@api.post("/alerts/{alert_id}/resolve", response_model=AlertOut, responses=CONFLICT)
def resolve_api(request: Request, alert: AlertInScope, body: ResolveIn) -> Any:
    """处理完毕 / resolve an alert with a note."""
    try:
        return _alert(
            risk.resolve_alert(get_engine(request), alert.id, alert.principal.username, body.note)
        )
    except AlertTransitionError as exc:
        return refused(request, exc, 409)


# -- correction approvals (maker-checker) -------------------------------------------------------
@router.get("/corrections", response_class=HTMLResponse)
def corrections_page(
    request: Request,
    branch: Annotated[str | None, Query(max_length=32)] = None,
    format: Format = "html",
    principal: Principal = require(Permission.QUEUE_MANAGE),
) -> Response:
    """待复核的回访更正 (format=xlsx: 导出) / corrections of key answers waiting for a checker."""
    scope = branch_scope(request, principal, branch)
    rows = workspace.pending_corrections(get_engine(request), scope)
    if format == "xlsx":
        table = (
            {
                **r.__dict__,
                "changes": "; ".join(
                    f"{c['question']}: {c['old']} → {c['new']}" for c in r.changes
                ),
            }
            for r in rows
        )
        return table_download(request, "corrections", CORRECTION_COLUMNS, table)
    return render(request, "corrections.html", rows=rows, branch=branch or "")


@router.post("/corrections/{correction_id}/review", response_class=HTMLResponse)
def review_page(
    request: Request,
    correction: CorrectionInScope,
    decision: Annotated[str, Form(pattern="^(approve|reject)$")],
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """复核: 通过或驳回 (驳回须说明; 更正人不能复核自己) / approve or reject."""
    try:
        done = workspace.review_correction(
            get_engine(request),
            correction.id,
            reviewer=correction.principal.username,
            approve=decision == "approve",
            note=note,
        )
    except followup_corrections.CorrectionError as exc:
        return refused(request, exc, 409)
    return render(request, "_correction_done.html", c=done)


class CorrectionOut(BaseModel):
    id: int
    visit_id: int
    contract_no: str | None = None
    branch: str | None = None
    maker: str
    reason: str
    changes: list[dict[str, Any]]
    status: str
    reviewer: str | None = None
    review_note: str | None = None


@api.get("/corrections", response_model=list[CorrectionOut], responses=ERRORS)
def corrections_api(
    request: Request,
    branch: Annotated[str | None, Query(max_length=32)] = None,
    principal: Principal = require(Permission.QUEUE_MANAGE),
) -> Any:
    """待复核的更正 (个人信息已脱敏) / pending corrections of the caller's branches."""
    rows = workspace.pending_corrections(
        get_engine(request), branch_scope(request, principal, branch)
    )
    return [
        CorrectionOut(
            id=r.id,
            visit_id=r.visit_id,
            contract_no=r.contract_no,
            branch=r.branch,
            maker=r.maker,
            reason=r.reason,
            changes=[dict(c) for c in r.changes],
            status="pending",
        )
        for r in rows
    ]


class ReviewIn(BaseModel):
    approve: bool
    note: str = Field(default="", max_length=500)


@api.post("/corrections/{correction_id}/review", response_model=CorrectionOut, responses=CONFLICT)
def review_api(request: Request, correction: CorrectionInScope, body: ReviewIn) -> Any:
    """复核更正 / approve or reject a pending correction (not one's own)."""
    try:
        c = workspace.review_correction(
            get_engine(request),
            correction.id,
            reviewer=correction.principal.username,
            approve=body.approve,
            note=body.note,
        )
    except followup_corrections.CorrectionError as exc:
        return refused(request, exc, 409)
    return CorrectionOut(
        id=c.id,
        visit_id=c.visit_id,
        maker=c.maker,
        reason=c.reason,
        changes=[dict(x) for x in c.changes],
        status=c.status,
        reviewer=c.reviewer,
        review_note=c.review_note,
    )
