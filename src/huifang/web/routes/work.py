# ruff: noqa: B008  (FastAPI dependencies are declared as parameter defaults)
"""Pages over the follow-up and risk services: the agent's queue and the alerts inbox.

Both are branch-scoped: the follow-up tasks are listed per branch in the caller's scope,
and alerts (keyed by contract) are kept only for loans of those branches."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from huifang.domain.early_warning import AlertStatus
from huifang.security.roles import Permission, Principal
from huifang.services import followup, loan_views, risk
from huifang.store.db import transaction
from huifang.store.models import Branch, Loan
from huifang.web.deps import get_engine, require
from huifang.web.rendering import render
from huifang.web.routes.common import guard_branch_filter

router = APIRouter(include_in_schema=False)


def _branches(request: Request, principal: Principal, branch: str | None) -> list[str]:
    guard_branch_filter(principal, branch)
    if branch:
        return [branch]
    return principal.visible(loan_views.branch_codes(get_engine(request)))


@router.get("/queue", response_class=HTMLResponse)
def queue_page(
    request: Request,
    branch: Annotated[str | None, Query(max_length=32)] = None,
    mine: Annotated[bool, Query()] = False,
    principal: Principal = require(Permission.QUEUE_WORK),
) -> Response:
    """待办回访: 最紧急的在前 / open follow-up tasks, most urgent first."""
    engine = get_engine(request)
    tasks: list[followup.TaskView] = []
    for code in _branches(request, principal, branch):
        tasks += followup.list_tasks(
            engine,
            branch=code,
            status="open",
            agent=principal.username if mine else None,
            limit=200,
        )
    tasks.sort(key=lambda t: (t.priority, t.due_on, t.id))
    return render(request, "queue.html", tasks=tasks[:200], branch=branch or "", mine=mine)


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(
    request: Request,
    branch: Annotated[str | None, Query(max_length=32)] = None,
    status: Annotated[AlertStatus | None, Query()] = AlertStatus.OPEN,
    principal: Principal = require(Permission.ALERTS_READ),
) -> Response:
    """风险预警: 最严重的在前 / risk alerts, most severe first."""
    engine = get_engine(request)
    codes = set(_branches(request, principal, branch))
    alerts = risk.list_alerts(engine, status=status)
    contracts = {a.contract_no for a in alerts}
    with transaction(engine) as s:
        where = (
            dict(
                s.execute(
                    select(Loan.contract_no, Branch.code)
                    .join(Branch, Branch.id == Loan.branch_id)
                    .where(Loan.contract_no.in_(sorted(contracts)))
                ).all()
            )
            if contracts
            else {}
        )
    visible = [a for a in alerts if where.get(a.contract_no) in codes]
    return render(
        request,
        "alerts.html",
        alerts=visible[:300],
        branches=where,
        branch=branch or "",
        status=status.value if status else "",
    )
