"""Read models of the manager's dashboard and the risk officer's inbox, scoped to branches.

The numbers come from the follow-up metrics (`domain.followup_metrics`, exact definitions
there), the open tasks and the early-warning alerts; the caller passes the branch codes it
may see, and nothing outside them is counted. `metrics_xlsx` writes the metrics table as
an Excel workbook (the rates as numbers formatted as percentages).
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select

from huifang.domain.early_warning import AlertStatus
from huifang.domain.followup_metrics import (
    ChannelCost,
    Dimension,
    Metrics,
    VoiceMetrics,
    compute_metrics,
)
from huifang.security import audit
from huifang.services import followup, followup_corrections, risk
from huifang.services.answer_masking import AnswerMask, MaskBook
from huifang.services.followup_metrics import (
    channel_cost_figures,
    load_facts,
    voice_channel_metrics,
)
from huifang.store.db import transaction
from huifang.store.followup_models import OPEN_STATUSES, FollowupTask
from huifang.store.models import Branch, Loan
from huifang.store.risk_models import RiskAlert


def alert_branch(engine: Engine, alert_id: int) -> str | None:
    """The branch code of an alert's loan (None: no such alert)."""
    with transaction(engine) as s:
        found = s.execute(
            select(Branch.code)
            .join(Loan, Loan.branch_id == Branch.id)
            .join(RiskAlert, RiskAlert.loan_id == Loan.id)
            .where(RiskAlert.id == alert_id)
        ).scalar_one_or_none()
    return found


@dataclass(frozen=True)
class Dashboard:
    """Everything the manager's dashboard shows for a period and a set of branches."""

    start: date
    end: date
    branches: tuple[str, ...]
    total: Metrics
    by_branch: tuple[Metrics, ...]
    by_agent: tuple[Metrics, ...]
    by_tier: tuple[Metrics, ...]
    overdue_tasks: int  # open tasks past their deadline at the end of the period
    open_by_tier: dict[str, int]
    alerts_by_day: tuple[tuple[date, int], ...]  # new alerts per day in the period
    open_alerts: int
    # the voice agent's calls (智能外呼) and the cost per completed contact by call channel
    voice: VoiceMetrics | None = None
    channel_costs: tuple[ChannelCost, ...] = ()


def _empty(group: str) -> Metrics:
    return Metrics(group, 0, 0, 0, 0, 0, 0, 0, 0)


def dashboard(engine: Engine, start: date, end: date, branches: Sequence[str]) -> Dashboard:
    """The dashboard over [start, end] for `branches` (the caller's visible ones)."""
    if end < start:
        raise ValueError("结束日期早于开始日期 / the period ends before it starts")
    if (end - start).days > 366:
        raise ValueError("期间最长一年 / the period is at most a year")
    codes = set(branches)
    tasks, attempts = load_facts(engine, start, end)
    tasks = [t for t in tasks if t.branch in codes]
    attempts = [a for a in attempts if a.branch in codes]

    def by(dim: Dimension) -> tuple[Metrics, ...]:
        return compute_metrics(tasks, attempts, start, end, dim)

    total = by(Dimension.TOTAL)
    with transaction(engine) as s:
        branch_ids = [i for i, c in s.execute(select(Branch.id, Branch.code)) if c in codes]
        open_rows = s.execute(
            select(FollowupTask.tier, FollowupTask.deadline).where(
                FollowupTask.branch_id.in_(branch_ids),
                FollowupTask.status.in_(OPEN_STATUSES),
            )
        ).all()
        alert_rows = s.execute(
            select(RiskAlert.first_seen_on, func.count())
            .join(Loan, Loan.id == RiskAlert.loan_id)
            .where(
                Loan.branch_id.in_(branch_ids),
                RiskAlert.first_seen_on >= start,
                RiskAlert.first_seen_on <= end,
            )
            .group_by(RiskAlert.first_seen_on)
        ).all()
        open_alerts = s.scalar(
            select(func.count())
            .select_from(RiskAlert)
            .join(Loan, Loan.id == RiskAlert.loan_id)
            .where(Loan.branch_id.in_(branch_ids), RiskAlert.status != "resolved")
        )
    per_day = {d: int(n) for d, n in alert_rows}
    days = tuple(
        (start + timedelta(days=i), per_day.get(start + timedelta(days=i), 0))
        for i in range((end - start).days + 1)
    )
    return Dashboard(
        start=start,
        end=end,
        branches=tuple(sorted(codes)),
        total=total[0] if total else _empty("total"),
        by_branch=by(Dimension.BRANCH),
        by_agent=by(Dimension.AGENT),
        by_tier=by(Dimension.TIER),
        overdue_tasks=sum(1 for _tier, deadline in open_rows if deadline < end),
        open_by_tier=dict(sorted(Counter(tier for tier, _d in open_rows).items())),
        alerts_by_day=days,
        open_alerts=int(open_alerts or 0),
        voice=voice_channel_metrics(engine, start, end, "total", codes)[0],
        channel_costs=channel_cost_figures(engine, start, end, codes),
    )


METRIC_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("due", "应回访", "due"),
    ("completed_of_due", "按期完成", "completed of due"),
    ("coverage", "覆盖率", "coverage"),
    ("attempts", "联系次数", "attempts"),
    ("connection_rate", "接通率", "connection rate"),
    ("right_party_rate", "本人接通率", "right-party rate"),
    ("completed", "完成", "completed"),
    ("on_time_rate", "按时率", "on-time rate"),
    ("attempts_per_completion", "每次完成联系次数", "attempts per completion"),
)
RATE_KEYS = frozenset({"coverage", "connection_rate", "right_party_rate", "on_time_rate"})
_RATES = RATE_KEYS


def metrics_xlsx(board: Dashboard, dimension: str = "branch", lang: str = "zh") -> bytes:
    """The metrics table (total and one row per branch, agent or tier) as an .xlsx file."""
    from openpyxl import Workbook

    rows = {
        "branch": board.by_branch,
        "agent": board.by_agent,
        "tier": board.by_tier,
    }.get(dimension)
    if rows is None:
        raise ValueError(f"未知维度 {dimension} / unknown dimension (branch, agent, tier)")
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "metrics"
    en = lang == "en"
    _append_text_safe(ws, [f"{board.start} – {board.end}", ", ".join(board.branches)])
    header = ["group" if en else "分组"] + [en_ if en else zh for _k, zh, en_ in METRIC_COLUMNS]
    ws.append(header)
    total = "total" if en else "合计"
    for m in (*rows, board.total):
        line: list[object] = [total if m is board.total else m.group]
        for key, _zh, _en in METRIC_COLUMNS:
            value = getattr(m, key)
            line.append(float(value) if value is not None else None)  # Excel cells are floats
        _append_text_safe(ws, line)
        for col, (key, _zh, _en) in enumerate(METRIC_COLUMNS, start=2):
            if key in _RATES:
                ws.cell(row=ws.max_row, column=col).number_format = "0.0%"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def correction_branch(engine: Engine, correction_id: int) -> str | None:
    """The branch code of a correction's loan (None: no such correction)."""
    from huifang.store.followup_models import Correction, Visit

    with transaction(engine) as s:
        return s.execute(
            select(Branch.code)
            .join(Loan, Loan.branch_id == Branch.id)
            .join(Visit, Visit.loan_id == Loan.id)
            .join(Correction, Correction.visit_id == Visit.id)
            .where(Correction.id == correction_id)
        ).scalar_one_or_none()


@dataclass(frozen=True)
class PendingCorrection:
    """A correction of key answers waiting for a checker (maker-checker)."""

    id: int
    visit_id: int
    contract_no: str
    branch: str
    maker: str
    made_at: object
    reason: str
    changes: tuple[dict[str, object], ...]


def _masked_changes(
    mask: AnswerMask, changes: Sequence[Mapping[str, Any]]
) -> tuple[dict[str, Any], ...]:
    """A correction's changes (question, old → new) with personal answers masked: the checker
    judges the reason and the kind of change; the values are on the visit's record."""
    return tuple(
        {
            **c,
            "old": mask.value(str(c.get("question")), c.get("old")),
            "new": mask.value(str(c.get("question")), c.get("new")),
        }
        for c in changes
    )


def pending_corrections(engine: Engine, branches: Sequence[str]) -> list[PendingCorrection]:
    """Pending corrections of the loans of `branches`, oldest first, personal answers
    masked by the visit's script."""
    from huifang.store.followup_models import Correction, Visit

    with transaction(engine) as s:
        masks = MaskBook(engine, session=s)
        rows = s.execute(
            select(Correction, Loan.contract_no, Branch.code, Visit.script_id, Visit.script_version)
            .join(Visit, Visit.id == Correction.visit_id)
            .join(Loan, Loan.id == Visit.loan_id)
            .join(Branch, Branch.id == Loan.branch_id)
            .where(Correction.status == "pending", Branch.code.in_(list(branches)))
            .order_by(Correction.made_at, Correction.id)
        ).all()
        return [
            PendingCorrection(
                c.id,
                c.visit_id,
                contract,
                code,
                c.maker,
                c.made_at,
                c.reason,
                _masked_changes(masks.for_contact(script_id, version), c.changes),
            )
            for c, contract, code, script_id, version in rows
        ]


def review_correction(
    engine: Engine, correction_id: int, *, reviewer: str, approve: bool, note: str
) -> followup_corrections.CorrectionView:
    """The checker's decision on a correction (the page and the API), returned with the
    personal answers of its changes masked as in the list it was chosen from."""
    from huifang.store.followup_models import Visit

    done = followup_corrections.review_correction(
        engine, correction_id, reviewer=reviewer, approve=approve, note=note
    )
    with transaction(engine) as s:
        visit = s.get(Visit, done.visit_id)
        mask = MaskBook(engine, session=s).for_contact(
            visit.script_id if visit else None, visit.script_version if visit else None
        )
    return replace(done, changes=_masked_changes(mask, done.changes))


# --------------------------------------------------------------------------------------------
# the agent's queue and the alerts inbox (pages, API and their XLSX exports)
# --------------------------------------------------------------------------------------------


def open_queue(
    engine: Engine, branches: Sequence[str], *, agent: str | None = None, limit: int = 200
) -> list[followup.TaskView]:
    """Open follow-up tasks of `branches` (only those assigned to `agent` when given), most
    urgent first: priority, then due date."""
    tasks: list[followup.TaskView] = []
    for code in branches:
        tasks += followup.list_tasks(engine, branch=code, status="open", agent=agent, limit=limit)
    tasks.sort(key=lambda t: (t.priority, t.due_on, t.id))
    return tasks[:limit]


def alerts_inbox(
    engine: Engine, branches: Sequence[str], status: AlertStatus | None, *, limit: int = 300
) -> tuple[list[risk.AlertView], dict[str, str]]:
    """The alerts of loans of `branches` (most severe first) and each contract's branch."""
    alerts = risk.list_alerts(engine, status=status)
    contracts = sorted({a.contract_no for a in alerts})
    where: dict[str, str] = {}
    if contracts:
        with transaction(engine) as s:
            where = {
                contract: code
                for contract, code in s.execute(
                    select(Loan.contract_no, Branch.code)
                    .join(Branch, Branch.id == Loan.branch_id)
                    .where(Loan.contract_no.in_(contracts))
                )
            }
    scope = set(branches)
    return [a for a in alerts if where.get(a.contract_no) in scope][:limit], where


def table_xlsx(
    title: str,
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    timezone: str = "Asia/Shanghai",
) -> bytes:
    """One table as an .xlsx workbook: a header row, then the rows (dates and numbers as
    Excel values, instants in the lender's `timezone`, everything else as text)."""
    from openpyxl import Workbook

    zone = ZoneInfo(timezone)
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = title[:31]  # Excel's limit for a sheet name
    _append_text_safe(ws, list(header))
    for row in rows:
        _append_text_safe(ws, [_cell(v, zone) for v in row])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _append_text_safe(ws: Any, values: list[object]) -> None:
    """Append a row in which every string stays text: openpyxl turns a string that starts
    with "=" into a formula, so a borrower named '=HYPERLINK(…)' or a note typed into a
    form would run in the reader's Excel (formula injection)."""
    ws.append(values)
    for cell in ws[ws.max_row]:
        if cell.data_type == "f":
            cell.data_type = "s"


def _cell(value: object, zone: ZoneInfo) -> object:
    if isinstance(value, datetime):
        # Excel has no time zones: the lender's local time, as the pages show it (a naive
        # value from SQLite is UTC)
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(zone).replace(tzinfo=None)
    if value is None or isinstance(value, bool | int | float | date):
        return value
    if isinstance(value, Decimal):
        return value  # openpyxl writes a Decimal as the number it is, no float on the way
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value)
    return str(value)


# --------------------------------------------------------------------------------------------
# assignment: a manager moves open tasks between the agents of a branch
# --------------------------------------------------------------------------------------------


def task_branch(engine: Engine, task_id: int) -> str | None:
    """The branch code of a follow-up task (None: no such task)."""
    with transaction(engine) as s:
        return s.scalar(
            select(Branch.code)
            .join(FollowupTask, FollowupTask.branch_id == Branch.id)
            .where(FollowupTask.id == task_id)
        )


@dataclass(frozen=True)
class AgentLoad:
    """An active agent a task can be assigned to, with the open tasks assigned to them."""

    username: str
    name: str
    branch: str
    open_tasks: int


def branch_agents(engine: Engine, branches: Sequence[str]) -> list[AgentLoad]:
    """The active agents of `branches` by branch and name, each with their open tasks."""
    from huifang.store.followup_models import Agent

    with transaction(engine) as s:
        load = dict(
            s.execute(
                select(FollowupTask.assigned_agent_id, func.count())
                .where(FollowupTask.status.in_(OPEN_STATUSES))
                .group_by(FollowupTask.assigned_agent_id)
            ).all()
        )
        rows = s.execute(
            select(Agent.id, Agent.username, Agent.name, Branch.code)
            .join(Branch, Branch.id == Agent.branch_id)
            .where(Agent.active.is_(True), Branch.code.in_(list(branches)))
            .order_by(Branch.code, Agent.name, Agent.id)
        ).all()
        return [AgentLoad(u, n, code, int(load.get(i, 0))) for i, u, n, code in rows]


def assign_task(
    engine: Engine, task_id: int, username: str, reason: str, actor: audit.Actor
) -> followup.TaskView:
    """Assign an open task to the agent `username` of its branch (who has its skills), with
    a reason; the claim is dropped and the move audited (`followup.reassign_task`)."""
    from huifang.store.followup_models import Agent

    with transaction(engine) as s:
        agent_id = s.scalar(select(Agent.id).where(Agent.username == username))
    if agent_id is None:
        raise followup.TaskError(f"没有坐席 {username} / no agent {username!r}")
    return followup.reassign_task(engine, task_id, agent_id, reason, actor=actor)
