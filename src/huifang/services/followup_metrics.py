"""Follow-up metrics over the stored tasks, attempts and visits (definitions in
`huifang.domain.followup_metrics`)."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

from huifang.domain.followup_metrics import (
    AttemptFact,
    Dimension,
    Metrics,
    TaskFact,
    compute_metrics,
)
from huifang.services.followup import DEFAULT_TZ, local_date
from huifang.store.db import transaction
from huifang.store.followup_models import Agent, ContactAttempt, FollowupTask, Visit
from huifang.store.models import Branch


def load_facts(
    engine: Engine, start: date, end: date, tz: ZoneInfo = DEFAULT_TZ
) -> tuple[list[TaskFact], list[AttemptFact]]:
    """Every task and attempt as facts (the domain picks what falls in [start, end])."""
    with transaction(engine) as session:
        branches = {i: c for i, c in session.execute(select(Branch.id, Branch.code))}
        agents = {i: u for i, u in session.execute(select(Agent.id, Agent.username))}
        visits = {v.task_id: v for v in session.scalars(select(Visit))}
        tasks: list[TaskFact] = []
        tiers: dict[int, str] = {}
        for t in session.scalars(select(FollowupTask)):
            v = visits.get(t.id)
            completed = local_date(v.completed_at, tz) if v is not None else None
            tiers[t.id] = t.tier
            agent_id = v.agent_id if v is not None and v.agent_id else t.assigned_agent_id
            tasks.append(
                TaskFact(
                    task_id=t.id,
                    branch=branches.get(t.branch_id, str(t.branch_id)),
                    tier=t.tier,
                    agent=agents.get(agent_id) if agent_id else None,
                    channel=v.channel if v is not None else None,
                    due_on=t.due_on,
                    deadline=t.deadline,
                    status=t.status,
                    completed_on=completed,
                )
            )
        task_branch = {t.task_id: t.branch for t in tasks}
        attempts = [
            AttemptFact(
                task_id=a.task_id,
                branch=task_branch.get(a.task_id, "-"),
                tier=tiers.get(a.task_id, "-"),
                agent=agents.get(a.agent_id) if a.agent_id else None,
                channel=a.channel,
                on=local_date(a.started_at, tz),
                outcome=a.outcome if a.status == "made" else None,
            )
            for a in session.scalars(select(ContactAttempt))
        ]
    return tasks, attempts


def followup_metrics(
    engine: Engine, start: date, end: date, by: Dimension = Dimension.TOTAL
) -> tuple[Metrics, ...]:
    tasks, attempts = load_facts(engine, start, end)
    return compute_metrics(tasks, attempts, start, end, by)
