"""A month of follow-up work on a portfolio, simulated day by day with the real services.

Every day: tasks are generated from the policy (`generate_tasks`), routed (`route_tasks`),
and each agent works the queue from 09:00 to 20:30 local time — claiming the next task
(`claim_next`), calling whom the contact strategy says, recording the attempt through the
compliance guard (`record_attempt`). Only the borrowers' behaviour is simulated: whether they
answer (by tier and time of day), who answers, whether they ask for a callback or refuse, a
dead number now and then, and whether an SMS self-service link gets answered. It is drawn
from `random.Random(seed)` over a deterministic order of work, so a seed reproduces a run.

With a voice channel (`VoiceChannel`), a voice-agent campaign runs first every day, from the
window's start in the borrowers' zones, over the tasks whose purpose allows it (routine and
first contacts, missed payments, changed contact details): the real campaign runner
(`services.campaigns.run_campaign`) with the simulated-borrower dialer the caller passes,
which drives the real dialogue. The agents then work what is left — handovers, the
purposes that need a person, retries the bot gave up.

Loans already on the book when the month starts get a simulated contact history first (a
first visit, then a last routine contact spread over the tier's cadence), as a lender that
has been doing follow-up would have; otherwise every loan would be due a first visit on day
one. Run it on a copy of the database (the CLI does) — it writes tasks, attempts and visits.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, insert, select

from huifang.domain.compliance import Channel, HolidayCalendar, NoHolidays, Outcome, PartyRole
from huifang.domain.followup_metrics import CONNECTED, Metrics
from huifang.policy_files import LoadedPolicy
from huifang.services import configs
from huifang.services.followup import (
    AgentSpec,
    DelinquencyTracker,
    add_agent,
    claim_next,
    generate_tasks,
    loan_tier,
    route_tasks,
    utc,
)
from huifang.services.followup_attempts import (
    AttemptInput,
    Guard,
    complete_visit,
    record_attempt,
)
from huifang.services.followup_metrics import followup_metrics
from huifang.store.db import transaction
from huifang.store.followup_models import Agent, ContactAttempt, FollowupTask, Visit
from huifang.store.models import Branch, Loan

TZ = ZoneInfo("Asia/Shanghai")
DAY_START, DAY_END = time(9, 0), time(20, 30)

# Simulated behaviour (not policy): chance that the borrower's phone is answered, by tier…
ANSWER = {"low": 0.62, "medium": 0.50, "high": 0.36}
# …scaled by time of day (evenings answer best: 接通率 is lowest in working hours)
SLOT_FACTOR = ((time(12, 0), 0.85), (time(18, 0), 1.0), (time(23, 59), 1.25))
ANSWERED = (
    (Outcome.RIGHT_PARTY_CONTACT, 0.76),
    (Outcome.CALLBACK_REQUESTED, 0.08),
    (Outcome.THIRD_PARTY_CONTACT, 0.06),
    (Outcome.HUNG_UP, 0.05),
    (Outcome.REFUSED, 0.03),
    (Outcome.WRONG_PERSON, 0.02),
)
UNANSWERED = ((Outcome.NO_ANSWER, 0.70), (Outcome.BUSY, 0.15), (Outcome.SWITCHED_OFF, 0.15))
DEAD_NUMBER = 0.03
SELF_SERVICE_DAILY = 0.12  # chance a day that an escalated borrower answers the SMS link
FINDING = 0.06  # chance a borrower reports lower income (the finding rules raise income-drop)


@dataclass
class DayStats:
    day: date
    due_open: int = 0
    created: int = 0
    attempts: int = 0
    refused_by_guard: int = 0
    connected: int = 0
    right_party: int = 0
    completed: int = 0
    escalations: int = 0
    unreachable: int = 0
    voice_calls: int = 0
    voice_connected: int = 0
    voice_completed: int = 0
    voice_handovers: int = 0
    voice_cost: Decimal = Decimal("0.00")


@dataclass(frozen=True)
class VoiceChannel:
    """The voice agent in the simulation: a campaign over the routine purposes (first and
    routine contacts, changed contact details — the ones the policy allows the voice
    channel for, less missed payments, whose promises to pay would open risk-finding tasks
    the agents' simulated calls never open), `lines` calls at once, in the window;
    `dialer(clock)` makes the dialer (`huifang.voice.campaign_dialer.SimulatedDialer`)."""

    dialer: Callable[[Any], Any]
    lines: int = 10
    purposes: tuple[str, ...] = ("first-visit", "routine", "contact-change")
    window_start: time = time(9, 0)
    window_end: time = time(20, 30)
    name: str = "模拟智能外呼 / simulated voice campaign"


@dataclass
class SimulationReport:
    start: date
    days: list[DayStats] = field(default_factory=list)
    baseline_visits: int = 0
    agents: int = 0
    totals: Metrics | None = None

    def total(self, name: str) -> int:
        return sum(getattr(d, name) for d in self.days)


def _pick(rng: random.Random, table: tuple[tuple[Outcome, float], ...]) -> Outcome:
    u, acc = rng.random(), 0.0
    for outcome, p in table:
        acc += p
        if u < acc:
            return outcome
    return table[-1][0]


def ensure_agents(engine: Engine, loans_per_agent: int = 120) -> int:
    """If no agent exists: per branch, enough phone agents for its active loans (one with
    the business skill), and one field agent (外访) who also does business loans."""
    with transaction(engine) as session:
        if session.scalar(select(func.count()).select_from(Agent)):
            return int(session.scalar(select(func.count()).select_from(Agent)) or 0)
        rows = session.execute(
            select(Branch.code, func.count(Loan.id))
            .join(Loan, Loan.branch_id == Branch.id)
            .where(Loan.status == "active")
            .group_by(Branch.code)
            .order_by(Branch.code)
        ).all()
    n = 0
    for code, loans in rows:
        phones = max(1, math.ceil(loans / loans_per_agent))
        for i in range(phones):
            skills = ("business",) if i == 0 else ()
            add_agent(
                engine,
                AgentSpec(
                    f"{code.lower()}-a{i + 1}", f"{code}坐席{i + 1}", code, skills, capacity=60
                ),
            )
            n += 1
        add_agent(
            engine,
            AgentSpec(
                f"{code.lower()}-field", f"{code}外访", code, ("business", "field"), capacity=15
            ),
        )
        n += 1
    return n


def seed_history(engine: Engine, start: date, seed: int, policy: LoadedPolicy) -> int:
    """Give loans disbursed more than a month before `start` a plausible contact history."""
    rng = random.Random(seed)
    made = 0
    with transaction(engine) as session:
        if session.scalar(select(func.count()).select_from(Visit)):
            return 0
        loans = list(
            session.scalars(
                select(Loan)
                .where(Loan.status == "active", Loan.disbursement_date < start - timedelta(days=30))
                .order_by(Loan.id)
            )
        )
        tasks: list[dict[str, object]] = []
        for loan in loans:
            tier = loan_tier(loan, 0)
            months = policy.policy.cadence_months[tier]
            first = loan.disbursement_date + timedelta(days=rng.randint(3, 25))
            history = [("first-visit", first)]
            # the last routine contact: somewhere in the cadence window before the start
            last = start - timedelta(days=rng.randint(1, 30 * months))
            if last > first:
                history.append(("routine", last))
            for purpose, on in history:
                at = utc(datetime.combine(on, time(10, 0), TZ))
                rule = policy.policy.rule(purpose)
                tasks.append(
                    {
                        "loan_id": loan.id,
                        "branch_id": loan.branch_id,
                        "purpose": purpose,
                        "stage": rule.stage.value,
                        "due_on": on,
                        "deadline": on,
                        "priority": rule.priority,
                        "status": "done",
                        "tier": tier,
                        "required_skills": [],
                        "script": rule.script,
                        "reason": "模拟历史 / simulated history",
                        "policy_version": policy.version,
                        "completed_at": at,
                        "closed_at": at,
                        "created_at": at,
                        "updated_at": at,
                    }
                )
        if not tasks:
            return 0
        # one multi-row INSERT per table (rows in order, ids returned in that order) instead
        # of a flush per task: the same rows and ids, without the unit of work per row
        ids = list(
            session.scalars(
                insert(FollowupTask).returning(FollowupTask.id, sort_by_parameter_order=True),
                tasks,
            )
        )
        visits = [
            {
                "task_id": task_id,
                "loan_id": row["loan_id"],
                "channel": "agent-call",
                "completed_at": row["completed_at"],
                "answers": {},
                "outcome": "history",
                "summary": "模拟历史 / simulated history",
            }
            for task_id, row in zip(ids, tasks, strict=True)
        ]
        session.execute(insert(Visit), visits)
        made = len(visits)
    return made


def _answer_probability(tier: str, at: datetime) -> float:
    local = at.astimezone(TZ).time()
    factor = next(f for bound, f in SLOT_FACTOR if local < bound)
    return min(0.95, ANSWER.get(tier, 0.5) * factor)


def simulate(
    engine: Engine,
    start: date,
    days: int,
    *,
    seed: int = 2026,
    calendar: HolidayCalendar | None = None,
    policy: LoadedPolicy | None = None,
    progress: Callable[[int, DayStats], None] | None = None,
    voice: VoiceChannel | None = None,
) -> SimulationReport:
    """Simulate `days` days of follow-up from `start` on the database behind `engine`; with
    `voice`, a voice-agent campaign works its tasks first each day."""
    if days < 1:
        raise ValueError("天数至少为 1 / days must be at least 1")
    loaded = policy or configs.followup_policy(engine)
    guard = Guard(configs.contact_policy(engine).policy, calendar or NoHolidays())
    rng = random.Random(seed)
    report = SimulationReport(start)
    report.agents = ensure_agents(engine)
    report.baseline_visits = seed_history(engine, start, seed, loaded)
    dead: dict[tuple[int, str], bool] = {}
    tracker = DelinquencyTracker()
    with transaction(engine) as session:
        agents = [
            (a.id, "field" in (a.skills or []), ZoneInfo(tz or "Asia/Shanghai"))
            for a, tz in session.execute(
                select(Agent, Branch.timezone)
                .join(Branch, Branch.id == Agent.branch_id)
                .where(Agent.active.is_(True))
                .order_by(Agent.id)
            )
        ]
    campaign, clock, dialer = _voice_campaign(engine, voice, start, loaded)
    for offset in range(days):
        day = start + timedelta(days=offset)
        stats = DayStats(day)
        morning = datetime.combine(day, time(7, 0), TZ)
        stats.created = generate_tasks(
            engine, day, policy=loaded, tracker=tracker, now=morning
        ).created
        route_tasks(engine)
        _self_service(engine, day, rng, stats)
        with transaction(engine) as session:
            stats.due_open = int(
                session.scalar(
                    select(func.count())
                    .select_from(FollowupTask)
                    .where(FollowupTask.closed_at.is_(None), FollowupTask.due_on <= day)
                )
                or 0
            )
        if voice is not None and campaign is not None:
            _voice_day(engine, campaign, clock, dialer, voice, day, guard, loaded, stats)
        for agent_id, is_field, zone in agents:
            _work_day(engine, agent_id, is_field, zone, day, rng, guard, loaded, dead, stats)
        report.days.append(stats)
        if progress:
            progress(offset + 1, stats)
    end = start + timedelta(days=days - 1)
    (report.totals,) = followup_metrics(engine, start, end) or (None,)
    return report


def _voice_campaign(
    engine: Engine, voice: VoiceChannel | None, start: date, loaded: LoadedPolicy
) -> tuple[int | None, Any, Any]:
    """The simulation's campaign (created once), its virtual clock and its dialer."""
    if voice is None:
        return None, None, None
    from huifang.domain.campaigns import CampaignSpec
    from huifang.services import campaigns as cs

    attempts, retry = cs.default_attempts(loaded)
    try:
        campaign = cs.get_campaign(engine, voice.name).id
    except cs.CampaignError:
        spec = CampaignSpec(
            voice.name,
            voice.window_start,
            voice.window_end,
            voice.lines,
            attempts,
            retry,
            purposes=frozenset(voice.purposes),
        )
        start_at = datetime.combine(start, time(0), TZ)
        campaign = cs.create_campaign(engine, spec, policy=loaded, now=start_at).id
    clock = cs.SimClock(datetime.combine(start, voice.window_start, TZ))
    return campaign, clock, voice.dialer(clock)


def _voice_day(
    engine: Engine,
    campaign: int,
    clock: Any,
    dialer: Any,
    voice: VoiceChannel,
    day: date,
    guard: Guard,
    loaded: LoadedPolicy,
    stats: DayStats,
) -> None:
    """The voice agent's calling window on `day` (the real campaign runner, virtual time)."""
    from huifang.services import campaigns as cs

    clock.set(datetime.combine(day, voice.window_start, TZ))
    report = asyncio.run(
        cs.run_campaign(engine, campaign, dialer, clock=clock, guard=guard, policy=loaded)
    )
    stats.voice_calls += report.dials
    stats.voice_connected += report.connected
    stats.voice_completed += report.completed
    stats.voice_handovers += report.handed_over
    stats.voice_cost += report.cost
    stats.completed += report.completed


def _self_service(engine: Engine, day: date, rng: random.Random, stats: DayStats) -> None:
    """Borrowers who got the SMS link sometimes answer the online questionnaire."""
    with transaction(engine) as session:
        waiting = list(
            session.scalars(
                select(FollowupTask.id)
                .where(
                    FollowupTask.closed_at.is_(None),
                    FollowupTask.status == "escalated",
                    FollowupTask.escalation.like("sms%"),
                )
                .order_by(FollowupTask.id)
            )
        )
    for task_id in waiting:
        if rng.random() < SELF_SERVICE_DAILY:
            at = datetime.combine(day, time(rng.randint(8, 20), rng.randint(0, 59)), TZ)
            complete_visit(
                engine,
                task_id,
                channel=Channel.SELF_SERVICE_LINK,
                completed_at=at,
                answers={"vehicle_in_use": True},
                outcome="self-service",
                summary="借款人通过自助链接完成问卷 / self-service questionnaire",
            )
            stats.completed += 1


def _work_day(
    engine: Engine,
    agent_id: int,
    is_field: bool,
    zone: ZoneInfo,
    day: date,
    rng: random.Random,
    guard: Guard,
    loaded: LoadedPolicy,
    dead: dict[tuple[int, str], bool],
    stats: DayStats,
) -> None:
    """One agent's working day, 09:00–20:30 on the branch's clock."""
    clock = datetime.combine(day, DAY_START, zone)
    end = datetime.combine(day, DAY_END, zone)
    visits_left = 4
    while clock < end:
        task = claim_next(engine, agent_id, now=clock, lease=timedelta(minutes=20))
        if task is None:
            break
        field_visit = is_field and task.status == "escalated" and "field" in task.skills
        role = PartyRole(task.next_role) if task.next_role else PartyRole.BORROWER
        channel = Channel.FIELD_VISIT if field_visit else Channel.AGENT_CALL
        if field_visit:
            if visits_left == 0:
                break
            visits_left -= 1
        key = (task.loan_id, role.value)
        if key not in dead:
            dead[key] = rng.random() < DEAD_NUMBER
        if dead[key] and channel is Channel.AGENT_CALL:
            outcome = Outcome.INVALID_NUMBER if rng.random() < 0.6 else Outcome.WRONG_PERSON
        elif field_visit:
            outcome = Outcome.RIGHT_PARTY_CONTACT if rng.random() < 0.8 else Outcome.NO_ANSWER
        elif rng.random() < _answer_probability(task.tier, clock):
            outcome = _pick(rng, ANSWERED)
            if role is not PartyRole.BORROWER and outcome is Outcome.RIGHT_PARTY_CONTACT:
                outcome = Outcome.THIRD_PARTY_CONTACT
        else:
            outcome = _pick(rng, UNANSWERED)
        talk = timedelta(minutes=rng.randint(3, 9)) if outcome in _TALKED else timedelta(minutes=1)
        if field_visit:
            talk = timedelta(minutes=rng.randint(60, 120))
        callback = (
            clock + timedelta(hours=rng.choice((2, 4, 24)))
            if outcome is Outcome.CALLBACK_REQUESTED
            else None
        )
        answers = None
        if outcome is Outcome.RIGHT_PARTY_CONTACT:
            answers = {
                "identity_confirmed": True,
                "vehicle_in_use": True,
                "income_change": "down" if rng.random() < FINDING else "same",
            }
        result = record_attempt(
            engine,
            task.id,
            AttemptInput(
                channel,
                role,
                clock,
                outcome,
                agent_id=agent_id,
                ended_at=clock + talk,
                recording_ref=f"sim/{task.id}/{clock:%Y%m%d%H%M}.wav",
                script_id=task.script,
                script_version=1,
                answers=answers,
                identity_verified=outcome is Outcome.RIGHT_PARTY_CONTACT,
                callback_at=callback,
            ),
            guard=guard,
            policy=loaded,
            complete=False,
        )
        if not result.allowed:
            stats.refused_by_guard += 1
            clock += timedelta(minutes=1)
            continue
        stats.attempts += 1
        stats.connected += outcome.value in CONNECTED
        stats.right_party += outcome is Outcome.RIGHT_PARTY_CONTACT
        if result.next_step is not None and result.next_step.kind.value == "complete":
            complete_visit(
                engine,
                task.id,
                channel=channel,
                completed_at=clock + talk,
                answers=answers or {},
                agent_id=agent_id,
                attempt_id=result.attempt_id,
                script_id=task.script,
                script_version=1,
            )
            stats.completed += 1
            # one conversation covers the loan's other contacts due today (one call, not three)
            for other in _other_due_tasks(engine, task.loan_id, task.id, day):
                complete_visit(
                    engine,
                    other,
                    channel=channel,
                    completed_at=clock + talk,
                    answers=answers or {},
                    agent_id=agent_id,
                    script_id=task.script,
                    script_version=1,
                    summary=f"同一通话完成 / same call (attempt #{result.attempt_id})",
                    findings=False,
                )
                stats.completed += 1
        elif result.task_status == "escalated" and result.next_step is not None:
            stats.escalations += 1
        elif result.task_status == "unreachable":
            stats.unreachable += 1
        clock += talk + timedelta(minutes=1)


def _other_due_tasks(engine: Engine, loan_id: int, task_id: int, day: date) -> list[int]:
    with transaction(engine) as session:
        return list(
            session.scalars(
                select(FollowupTask.id)
                .where(
                    FollowupTask.loan_id == loan_id,
                    FollowupTask.id != task_id,
                    FollowupTask.closed_at.is_(None),
                    FollowupTask.due_on <= day,
                )
                .order_by(FollowupTask.id)
            )
        )


_TALKED = frozenset(
    {
        Outcome.RIGHT_PARTY_CONTACT,
        Outcome.THIRD_PARTY_CONTACT,
        Outcome.CALLBACK_REQUESTED,
        Outcome.REFUSED,
    }
)


def attempts_by_outcome(engine: Engine, start: date) -> dict[str, int]:
    with transaction(engine) as session:
        return {
            str(o): int(n)
            for o, n in session.execute(
                select(ContactAttempt.outcome, func.count())
                .where(
                    ContactAttempt.status == "made",
                    ContactAttempt.direction == "outbound",
                    ContactAttempt.outcome.is_not(None),
                    ContactAttempt.started_at >= utc(datetime.combine(start, time(0), TZ)),
                )
                .group_by(ContactAttempt.outcome)
            )
        }
