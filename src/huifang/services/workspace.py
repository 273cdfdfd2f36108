"""Read models of the manager's dashboard and the risk officer's inbox, scoped to branches.

The numbers come from the follow-up metrics (`domain.followup_metrics`, exact definitions
there), the open tasks and the early-warning alerts; the caller passes the branch codes it
may see, and nothing outside them is counted. `metrics_xlsx` writes the metrics table as
an Excel workbook (the rates as numbers formatted as percentages).
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Engine, func, select

from huifang.domain.followup_metrics import (
    ChannelCost,
    Dimension,
    Metrics,
    VoiceMetrics,
    compute_metrics,
)
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
    ws.append([f"{board.start} – {board.end}", ", ".join(board.branches)])
    header = ["group" if en else "分组"] + [en_ if en else zh for _k, zh, en_ in METRIC_COLUMNS]
    ws.append(header)
    total = "total" if en else "合计"
    for m in (*rows, board.total):
        line: list[object] = [total if m is board.total else m.group]
        for key, _zh, _en in METRIC_COLUMNS:
            value = getattr(m, key)
            line.append(float(value) if value is not None else None)  # Excel cells are floats
        ws.append(line)
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


def pending_corrections(engine: Engine, branches: Sequence[str]) -> list[PendingCorrection]:
    """Pending corrections of the loans of `branches`, oldest first."""
    from huifang.store.followup_models import Correction, Visit

    with transaction(engine) as s:
        rows = s.execute(
            select(Correction, Loan.contract_no, Branch.code)
            .join(Visit, Visit.id == Correction.visit_id)
            .join(Loan, Loan.id == Visit.loan_id)
            .join(Branch, Branch.id == Loan.branch_id)
            .where(Correction.status == "pending", Branch.code.in_(list(branches)))
            .order_by(Correction.made_at, Correction.id)
        ).all()
        return [
            PendingCorrection(
                c.id, c.visit_id, contract, code, c.maker, c.made_at, c.reason, tuple(c.changes)
            )
            for c, contract, code in rows
        ]
