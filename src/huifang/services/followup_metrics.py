"""Follow-up metrics over the stored tasks, attempts and visits (definitions in
`huifang.domain.followup_metrics`)."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

from huifang.domain.compliance import Channel
from huifang.domain.followup_metrics import (
    AttemptCost,
    AttemptFact,
    CallFact,
    ChannelCost,
    Dimension,
    Metrics,
    Rates,
    TaskFact,
    VoiceMetrics,
    channel_costs,
    compute_metrics,
    voice_metrics,
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
            # the contacts we made; a borrower's call to the voice assistant is on no task
            for a in session.scalars(
                select(ContactAttempt).where(ContactAttempt.direction == "outbound")
            )
        ]
    return tasks, attempts


def followup_metrics(
    engine: Engine, start: date, end: date, by: Dimension = Dimension.TOTAL
) -> tuple[Metrics, ...]:
    tasks, attempts = load_facts(engine, start, end)
    return compute_metrics(tasks, attempts, start, end, by)


# --------------------------------------------------------------------------------------------
# the voice channel and cost per completed contact by channel
# --------------------------------------------------------------------------------------------

# What an agent's call costs, for comparison with the voice agent's (CNY). Assumptions a
# lender replaces: an agent at about ¥10,500 a month loaded (¥7,000 salary × 1.5) works
# 21.75 days × 8 h, ≈ ¥1.0 a paid minute, ≈ ¥1.5 a handled minute at 65 % occupancy, plus
# ¥0.10 a minute for the line; dialing and wrap-up ≈ 30 s of agent time an attempt.
AGENT_RATES = Rates(Decimal("0.50"), Decimal("1.60"))
# The voice agent when a call's cost is not stored: line + ASR/TTS compute.
VOICE_RATES = Rates(Decimal("0.02"), Decimal("0.12"))


def _rates_from_env(prefix: str, default: Rates) -> Rates:
    try:
        return Rates(
            Decimal(os.environ.get(f"{prefix}_PER_ATTEMPT", default.per_attempt)),
            Decimal(os.environ.get(f"{prefix}_PER_MINUTE", default.per_minute)),
        )
    except ArithmeticError:
        raise ValueError(f"{prefix}_PER_ATTEMPT / _PER_MINUTE 应为金额 / must be amounts") from None


def channel_rates() -> dict[str, Rates]:
    """Rates per call channel: HUIFANG_AGENT_COST_PER_ATTEMPT / _PER_MINUTE and
    HUIFANG_VOICE_COST_PER_ATTEMPT / _PER_MINUTE override the defaults."""
    return {
        Channel.AGENT_CALL.value: _rates_from_env("HUIFANG_AGENT_COST", AGENT_RATES),
        Channel.VOICE_AGENT.value: _rates_from_env("HUIFANG_VOICE_COST", VOICE_RATES),
    }


def load_call_facts(engine: Engine, tz: ZoneInfo = DEFAULT_TZ) -> list[CallFact]:
    """Every recorded voice-agent call of every campaign."""
    from huifang.store.campaign_models import Campaign, CampaignCall

    with transaction(engine) as session:
        names = dict(session.execute(select(Campaign.id, Campaign.name)).all())
        branches = {i: c for i, c in session.execute(select(Branch.id, Branch.code))}
        rows = session.execute(
            select(CampaignCall, FollowupTask.branch_id, FollowupTask.tier, Visit.attempt_id)
            .join(FollowupTask, FollowupTask.id == CampaignCall.task_id)
            .outerjoin(Visit, Visit.task_id == CampaignCall.task_id)
            .where(CampaignCall.status != "dialing")
        ).all()
        return [
            CallFact(
                campaign=names.get(c.campaign_id, str(c.campaign_id)),
                branch=branches.get(branch_id, str(branch_id)),
                tier=tier,
                on=local_date(c.dialed_at, tz),
                outcome=c.outcome,
                connected=bool(c.connected),
                completed=visit_attempt is not None and visit_attempt == c.attempt_id,
                handed_over=c.handover_reason is not None,
                duration_s=c.duration_s or 0,
                cost=c.cost if c.cost is not None else Decimal("0.00"),
            )
            for c, branch_id, tier, visit_attempt in rows
        ]


def voice_channel_metrics(
    engine: Engine,
    start: date,
    end: date,
    by: str = "total",
    branches: Collection[str] | None = None,
) -> tuple[VoiceMetrics, ...]:
    """Connection, completion and handover rates, average handle time and cost per completed
    contact of the voice agent's calls in [start, end] (only `branches`, when given)."""
    calls = load_call_facts(engine)
    if branches is not None:
        calls = [c for c in calls if c.branch in branches]
    return voice_metrics(calls, start, end, by)


def channel_cost_figures(
    engine: Engine,
    start: date,
    end: date,
    branches: Collection[str] | None = None,
    rates: Mapping[str, Rates] | None = None,
    tz: ZoneInfo = DEFAULT_TZ,
) -> tuple[ChannelCost, ...]:
    """Cost per completed contact of agent calls and voice-agent calls in [start, end]."""
    from huifang.store.campaign_models import CampaignCall

    rates = rates or channel_rates()
    tasks, _attempts = load_facts(engine, start, end, tz)
    if branches is not None:
        tasks = [t for t in tasks if t.branch in branches]
    keep = {t.task_id for t in tasks}
    with transaction(engine) as session:
        voice_cost = {
            a: c
            for a, c in session.execute(
                select(CampaignCall.attempt_id, CampaignCall.cost).where(
                    CampaignCall.attempt_id.is_not(None)
                )
            )
        }
        costed = [
            AttemptCost(
                a.channel,
                local_date(a.started_at, tz),
                a.duration_s or 0,
                voice_cost.get(a.id),
            )
            for a in session.scalars(
                select(ContactAttempt).where(
                    ContactAttempt.status == "made",
                    ContactAttempt.outcome.is_not(None),
                    ContactAttempt.channel.in_(list(rates)),
                )
            )
            if a.task_id in keep
        ]
    return channel_costs(tasks, costed, start, end, rates)
