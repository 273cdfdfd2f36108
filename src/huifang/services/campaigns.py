"""Voice-agent campaigns: create, run, status and report (`huifang campaign …`).

A run dials the campaign's eligible tasks (`domain.campaigns.eligibility`: voice allowed by
the policy, inside the borrower's local window, the compliance guard's caps and flags, the
strategy's retry time, the campaign's attempts and spacing) with at most `max_concurrent`
calls in flight on an asyncio loop, through a `Dialer` — the live SIP call or the simulated
borrower (`huifang.voice.campaign_dialer`). Each dial:

1. takes the task's lease for the campaign's voice-agent line with the same compare-and-set
   as an agent's claim (`followup._take`, under ``FOR UPDATE SKIP LOCKED`` on PostgreSQL,
   ``BEGIN IMMEDIATE`` on SQLite), so an agent and the bot never hold one task, and writes a
   `campaign_calls` row (status ``dialing``, unique per task and sequence number) in the
   same transaction — *before* the call is placed;
2. places the call (the dialer runs the task's script through `voice.dialogue.Dialogue`);
3. records the call with `followup_attempts.record_attempt` on channel ``voice-agent``, as an
   agent's call is recorded: the guard again, the strategy's next step (retry, callback,
   next contact, escalation); a right-party contact completes the visit and its findings;
   a handover becomes a callback for an agent, and a request for a human sets the person's
   ``human-requested`` flag (PIPL art. 24: no more bot calls to them).

A run stops dialing at the campaign window's end; calls in progress finish. A run that died
mid-call leaves ``dialing`` rows: the next run settles each one — linking the attempt if
the dialer stored it, else storing an attempt "interrupted, outcome unknown" counted as an
unanswered call (the strict reading for the caps) — and never dials it again at once.

The database work of a run is synchronous on the event loop (short transactions); the
dialer's calls are what run concurrently.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from huifang.domain import scripts as sc
from huifang.domain.campaigns import (
    CallSetup,
    CampaignError,
    CampaignSpec,
    CampaignStatus,
    Candidate,
    Eligibility,
    GuardInputs,
    call_cost,
    call_outcome,
    eligibility,
    strategy_defaults,
    window_end,
)
from huifang.domain.compliance import Channel, Outcome, PartyRole
from huifang.domain.followup_metrics import CONNECTED
from huifang.policy_files import LoadedPolicy
from huifang.services import configs
from huifang.services.followup import TaskError, _take, aware, utc
from huifang.services.followup_attempts import (
    AttemptInput,
    Guard,
    _context,
    _purpose,
    record_attempt,
    set_party_flag,
)
from huifang.store.campaign_models import Campaign, CampaignCall, CampaignRun
from huifang.store.db import transaction
from huifang.store.followup_models import Agent, ContactAttempt, FollowupTask
from huifang.store.models import Borrower, Branch, Loan

BOT_USERNAME = "voice-bot"
LEASE = timedelta(minutes=15)
HANDOVER_CALLBACK = timedelta(minutes=15)  # an agent calls back this soon after a handover
REAL_RECHECK = timedelta(minutes=5)  # a live run looks for new work at least this often


# --------------------------------------------------------------------------------------------
# the dialer interface
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DialRequest:
    """One call to place: the task, whom, the number, the script run to drive."""

    call_id: int  # campaign_calls.id: the dialer's idempotency key
    task_id: int
    loan_id: int
    tier: str
    role: PartyRole
    number: str
    script: sc.Script
    context: sc.ScriptContext
    language: sc.Language
    at: datetime


@dataclass(frozen=True)
class TurnRecord:
    """One line of the call's transcript (speaker, text, confidence, seconds from the start)."""

    speaker: str
    text: str
    confidence: float | None = None
    at_s: float = 0.0


@dataclass(frozen=True)
class DialResult:
    """What the dialer saw.

    state: the script run's final state (None when nobody answered).
    attempt_id: set when the dialer stored the attempt itself (the live SIP call does);
    the runner then links it instead of recording the call a second time.
    """

    setup: CallSetup
    started_at: datetime
    ended_at: datetime
    state: sc.RunState | None = None
    turns: tuple[TurnRecord, ...] = ()
    handover_reason: str | None = None
    hung_up: bool = False
    recording_ref: str | None = None
    attempt_id: int | None = None


class Dialer(Protocol):
    """Places one call and runs its dialogue; many calls may be in flight at once."""

    name: str

    async def dial(self, request: DialRequest) -> DialResult: ...


# --------------------------------------------------------------------------------------------
# clocks: the real one, and a discrete-event one for dry runs, tests and the simulation
# --------------------------------------------------------------------------------------------


class Clock(Protocol):
    virtual: bool

    def now(self) -> datetime: ...

    async def sleep_until(self, t: datetime) -> None: ...

    def advance(self) -> None: ...


class RealClock:
    """Wall-clock time."""

    virtual = False

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, t: datetime) -> None:
        await asyncio.sleep(max(0.0, (t - self.now()).total_seconds()))

    def advance(self) -> None:
        """Real time advances by itself."""


class SimClock:
    """Virtual time: `sleep_until` waits until the runner `advance`s the clock to the
    earliest sleeper, so a day of calls runs in moments, in a reproducible order."""

    virtual = True

    def __init__(self, start: datetime) -> None:
        self._now = utc(start)
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> datetime:
        return self._now

    def set(self, t: datetime) -> None:
        """Move the clock forward (never back) — between runs."""
        self._now = max(self._now, utc(t))

    async def sleep_until(self, t: datetime) -> None:
        if utc(t) <= self._now:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (utc(t), next(self._order), future))
        await future

    def advance(self) -> None:
        """Wake the earliest sleeper, moving the clock to its time."""
        while self._sleepers:
            at, _n, future = heapq.heappop(self._sleepers)
            if future.done():
                continue
            self._now = max(self._now, at)
            future.set_result(None)
            return


# --------------------------------------------------------------------------------------------
# campaigns
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignView:
    id: int
    spec: CampaignSpec
    agent_id: int
    created_at: datetime
    created_by: str | None

    def as_json(self) -> dict[str, object]:
        s = self.spec
        return {
            "id": self.id,
            "name": s.name,
            "status": s.status.value,
            "purposes": sorted(s.purposes),
            "branches": sorted(s.branches),
            "tiers": sorted(s.tiers),
            "script": s.script,
            "window": f"{s.window_start:%H:%M}-{s.window_end:%H:%M}",
            "max_concurrent": s.max_concurrent,
            "max_attempts": s.max_attempts,
            "retry_minutes": s.retry_minutes,
            "cost_per_call": str(s.cost_per_call),
            "cost_per_minute": str(s.cost_per_minute),
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
        }


def _hm(text: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise CampaignError(f"时间格式应为 HH:MM: {text!r} / time must be HH:MM") from None


def _spec(row: Campaign) -> CampaignSpec:
    return CampaignSpec(
        name=row.name,
        window_start=_hm(row.window_start),
        window_end=_hm(row.window_end),
        max_concurrent=row.max_concurrent,
        max_attempts=row.max_attempts,
        retry_minutes=row.retry_minutes,
        purposes=frozenset(row.purposes or ()),
        branches=frozenset(row.branches or ()),
        tiers=frozenset(row.tiers or ()),
        script=row.script,
        status=CampaignStatus(row.status),
        cost_per_call=Decimal(row.cost_per_call),
        cost_per_minute=Decimal(row.cost_per_minute),
    )


def _view(row: Campaign) -> CampaignView:
    created = aware(row.created_at)
    assert created is not None
    return CampaignView(row.id, _spec(row), row.agent_id, created, row.created_by)


def ensure_bot_agent(session: Session) -> int:
    """The voice agent's line: a `followup_agents` row with the ``voice`` skill whose id is
    the lease holder of every task a campaign dials. It is kept inactive so task routing
    never assigns it work: it takes tasks only through campaigns."""
    found = session.scalar(select(Agent.id).where(Agent.username == BOT_USERNAME))
    if found is not None:
        return int(found)
    branch = session.scalar(select(Branch.id).order_by(Branch.code).limit(1))
    if branch is None:
        raise CampaignError("没有机构, 请先导入贷款 / no branch yet: import the loan book first")
    agent = Agent(
        username=BOT_USERNAME,
        name="智能外呼 / voice agent",
        branch_id=branch,
        skills=["voice"],
        languages=["en", "zh"],
        capacity=1,
        active=False,
    )
    session.add(agent)
    session.flush()
    return agent.id


def create_campaign(
    engine: Engine,
    spec: CampaignSpec,
    *,
    created_by: str | None = None,
    policy: LoadedPolicy | None = None,
    now: datetime | None = None,
) -> CampaignView:
    """Store a new campaign. Its purposes must exist and allow the voice channel, its script
    must be one in force (`configs.scripts`), its branches must exist; the name must be new."""
    loaded = policy or configs.followup_policy(engine)
    for purpose in sorted(spec.purposes):
        if purpose not in loaded.policy.purposes:
            raise CampaignError(f"策略中没有回访目的 {purpose!r} / unknown purpose {purpose!r}")
        if not loaded.policy.rule(purpose).voice_allowed:
            raise CampaignError(
                f"回访策略不允许对 {purpose} 使用智能外呼"
                f" / the policy does not allow the voice channel for {purpose}"
            )
    if spec.purposes == frozenset() and not any(
        r.voice_allowed for r in loaded.policy.purposes.values()
    ):
        raise CampaignError("策略中没有允许智能外呼的回访目的 / no purpose allows the voice agent")
    if spec.script is not None and spec.script not in configs.scripts(engine):
        raise CampaignError(f"没有话术 {spec.script!r} / no script {spec.script!r}")
    with transaction(engine) as s:
        known = set(s.scalars(select(Branch.code)))
        missing = sorted(set(spec.branches) - known)
        if missing:
            raise CampaignError(f"未知机构 {missing} / unknown branches {missing}")
        if s.scalar(select(Campaign.id).where(Campaign.name == spec.name)) is not None:
            raise CampaignError(f"活动 {spec.name!r} 已存在 / campaign {spec.name!r} exists")
        row = Campaign(
            name=spec.name,
            purposes=sorted(spec.purposes),
            branches=sorted(spec.branches),
            tiers=sorted(spec.tiers),
            script=spec.script,
            window_start=spec.window_start.strftime("%H:%M"),
            window_end=spec.window_end.strftime("%H:%M"),
            max_concurrent=spec.max_concurrent,
            max_attempts=spec.max_attempts,
            retry_minutes=spec.retry_minutes,
            cost_per_call=spec.cost_per_call,
            cost_per_minute=spec.cost_per_minute,
            status=spec.status.value,
            agent_id=ensure_bot_agent(s),
            created_at=utc(now or datetime.now(UTC)),
            created_by=created_by,
        )
        s.add(row)
        s.flush()
        return _view(row)


def default_attempts(
    policy: LoadedPolicy | None = None, engine: Engine | None = None
) -> tuple[int, int]:
    """(max attempts, retry minutes) from the contact strategy in force."""
    return strategy_defaults((policy or configs.followup_policy(engine)).strategy)


def _find(s: Session, campaign: int | str) -> Campaign:
    q = select(Campaign)
    q = (
        q.where(Campaign.id == campaign)
        if isinstance(campaign, int)
        else q.where(Campaign.name == campaign)
    )
    row = s.scalar(q)
    if row is None:
        raise CampaignError(f"没有外呼活动 {campaign!r} / no campaign {campaign!r}")
    return row


def get_campaign(engine: Engine, campaign: int | str) -> CampaignView:
    with transaction(engine) as s:
        return _view(_find(s, campaign))


def list_campaigns(engine: Engine) -> list[CampaignView]:
    with transaction(engine) as s:
        return [_view(r) for r in s.scalars(select(Campaign).order_by(Campaign.id))]


def set_status(engine: Engine, campaign: int | str, status: CampaignStatus) -> CampaignView:
    """Pause, resume or finish a campaign."""
    with transaction(engine) as s:
        row = _find(s, campaign)
        row.status = status.value
        return _view(row)


# --------------------------------------------------------------------------------------------
# picking and claiming what to dial
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pick:
    """A task the run claimed and is about to dial."""

    call_id: int
    task_id: int
    loan_id: int
    tier: str
    role: PartyRole
    number: str
    script_id: str
    language: sc.Language
    at: datetime


def _voice_purposes(spec: CampaignSpec, loaded: LoadedPolicy) -> list[str]:
    allowed = [p for p, r in loaded.policy.purposes.items() if r.voice_allowed]
    return sorted(p for p in allowed if not spec.purposes or p in spec.purposes)


def _candidate_query(
    campaign: Campaign, spec: CampaignSpec, loaded: LoadedPolicy, now: datetime
) -> Any:
    """Open tasks of the campaign's filter that may be due for a call at `now`; the rest of
    eligibility is checked task by task."""
    handed = exists().where(
        CampaignCall.task_id == FollowupTask.id,
        or_(CampaignCall.handover_reason.is_not(None), CampaignCall.status == "dialing"),
    )
    other = aliased(FollowupTask)
    loan_busy = exists().where(
        CampaignCall.task_id == other.id,
        other.loan_id == FollowupTask.loan_id,
        CampaignCall.status == "dialing",
    )
    calls = (
        select(func.count())
        .select_from(CampaignCall)
        .where(CampaignCall.task_id == FollowupTask.id)
        .scalar_subquery()
    )
    q = (
        select(FollowupTask, Branch.code)
        .join(Branch, Branch.id == FollowupTask.branch_id)
        .where(
            FollowupTask.closed_at.is_(None),
            FollowupTask.purpose.in_(_voice_purposes(spec, loaded)),
            or_(
                FollowupTask.claimed_by_id.is_(None),
                FollowupTask.claim_expires_at <= now,
                FollowupTask.claimed_by_id == campaign.agent_id,
            ),
            or_(FollowupTask.snoozed_until.is_(None), FollowupTask.snoozed_until <= now),
            or_(FollowupTask.next_attempt_at.is_(None), FollowupTask.next_attempt_at <= now),
            ~handed,
            ~loan_busy,
            calls < spec.max_attempts,
        )
        .order_by(FollowupTask.priority, FollowupTask.due_on, FollowupTask.id)
    )
    if spec.branches:
        q = q.where(Branch.code.in_(sorted(spec.branches)))
    if spec.tiers:
        q = q.where(FollowupTask.tier.in_(sorted(spec.tiers)))
    return q


def _voice_calls(s: Session, task_id: int) -> list[CampaignCall]:
    return list(
        s.scalars(
            select(CampaignCall).where(CampaignCall.task_id == task_id).order_by(CampaignCall.seq)
        )
    )


def _language(skills: Sequence[str]) -> sc.Language:
    return "en" if "lang:en" in skills else "zh"


@dataclass
class _Examined:
    picks: list[Pick] = field(default_factory=list)
    next_at: datetime | None = None  # earliest moment something examined may become eligible
    skipped: dict[int, datetime | None] = field(default_factory=dict)  # task → re-check after


def _evaluate(
    s: Session,
    campaign: Campaign,
    spec: CampaignSpec,
    task: FollowupTask,
    branch: str,
    at: datetime,
    guard: Guard,
    policy: LoadedPolicy,
) -> tuple[Eligibility, str, PartyRole, int]:
    """One task's eligibility now, with the number a call would dial, whom, and how many
    voice calls the task has had."""
    ctx = _context(s, task)
    previous = _voice_calls(s, task.id)
    role = PartyRole(task.next_role) if task.next_role else PartyRole.BORROWER
    others = task.claimed_by_id not in (None, campaign.agent_id)
    candidate = Candidate(
        task_id=task.id,
        purpose=task.purpose,
        branch=branch,
        tier=task.tier,
        timezone=ctx.timezone,
        due_on=task.due_on,
        skills=tuple(task.required_skills or ()),
        status=task.status,
        next_role=role,
        next_attempt_at=aware(task.next_attempt_at),
        snoozed_until=aware(task.snoozed_until),
        held_until=aware(task.claim_expires_at) if others else None,
        voice_calls=tuple(aware(c.dialed_at) or at for c in previous),
        handed_over=any(c.handover_reason for c in previous),
        dial_open=any(c.status == "dialing" for c in previous),
    )
    number = ctx.numbers.get(role, "")
    debtor = frozenset(
        n
        for r, n in ctx.numbers.items()
        if r in (PartyRole.BORROWER, PartyRole.GUARANTOR, PartyRole.LEGAL_REP)
    )
    inputs = GuardInputs(
        number=number,
        history=ctx.history,
        flags=ctx.flags,
        policy=guard.policy,
        calendar=guard.calendar,
        purpose=_purpose(ctx),
        debtor_numbers=debtor,
    )
    voice_ok = policy.policy.rule(task.purpose).voice_allowed
    decision = eligibility(spec, candidate, voice_ok, at, inputs if number else None)
    return decision, number, role, len(previous)


def explain(
    engine: Engine,
    campaign: int | str,
    now: datetime,
    *,
    guard: Guard | None = None,
    policy: LoadedPolicy | None = None,
    limit: int = 500,
) -> dict[str, int]:
    """Why the campaign's open tasks are or are not dialable at `now`: ``eligible`` and one
    count per reason code (a task counts under each of its reasons), over at most `limit`
    open tasks of the campaign's filter. Nothing is claimed."""
    at = utc(now)
    guard = guard or Guard(policy=configs.contact_policy(engine).policy)
    loaded = policy or configs.followup_policy(engine)
    counts: dict[str, int] = {"tasks": 0, "eligible": 0}
    with transaction(engine) as s:
        row = _find(s, campaign)
        spec = _spec(row)
        q = (
            select(FollowupTask, Branch.code)
            .join(Branch, Branch.id == FollowupTask.branch_id)
            .where(
                FollowupTask.closed_at.is_(None),
                FollowupTask.purpose.in_(_voice_purposes(spec, loaded)),
            )
            .order_by(FollowupTask.priority, FollowupTask.due_on, FollowupTask.id)
            .limit(limit)
        )
        if spec.branches:
            q = q.where(Branch.code.in_(sorted(spec.branches)))
        if spec.tiers:
            q = q.where(FollowupTask.tier.in_(sorted(spec.tiers)))
        for task, branch in s.execute(q).all():
            decision, number, _role, _n = _evaluate(s, row, spec, task, branch, at, guard, loaded)
            counts["tasks"] += 1
            if not number:
                counts["no_number"] = counts.get("no_number", 0) + 1
            elif decision.eligible:
                counts["eligible"] += 1
            for code in decision.codes:
                counts[code] = counts.get(code, 0) + 1
    return counts


def claim_batch(
    engine: Engine,
    campaign_id: int,
    run_id: int,
    now: datetime,
    lines: int,
    *,
    guard: Guard,
    policy: LoadedPolicy,
    skip: Sequence[int] = (),
    scan: int = 50,
) -> _Examined:
    """Claim up to `lines` eligible tasks at `now` and write their ``dialing`` rows, in one
    transaction. Tasks found ineligible are reported in `skipped` with when to look again."""
    at = utc(now)
    out = _Examined()
    with transaction(engine) as s:
        campaign = s.get(Campaign, campaign_id)
        assert campaign is not None
        spec = _spec(campaign)
        q = _candidate_query(campaign, spec, policy, at).limit(scan)
        if skip:
            q = q.where(FollowupTask.id.notin_(list(skip)))
        if s.get_bind().dialect.name == "postgresql":
            q = q.with_for_update(of=FollowupTask, skip_locked=True)
        busy: set[int] = set()  # one call at a time to a loan's people
        for task, branch in s.execute(q).all():
            if len(out.picks) >= lines:
                break
            if task.loan_id in busy:
                continue
            decision, number, role, previous = _evaluate(
                s, campaign, spec, task, branch, at, guard, policy
            )
            if not number:
                out.skipped[task.id] = None
                continue
            if not decision.eligible:
                out.skipped[task.id] = decision.next_at
                if decision.next_at is not None:
                    out.next_at = min(filter(None, (out.next_at, decision.next_at)))
                continue
            if not _take(s, task.id, campaign.agent_id, at, LEASE):
                continue
            try:
                with s.begin_nested():
                    row = CampaignCall(
                        campaign_id=campaign.id,
                        run_id=run_id,
                        task_id=task.id,
                        seq=previous + 1,
                        status="dialing",
                        dialed_at=at,
                        connected=False,
                    )
                    s.add(row)
            except IntegrityError:
                continue  # another runner wrote this task's next dial first
            busy.add(task.loan_id)
            out.picks.append(
                Pick(
                    row.id,
                    task.id,
                    task.loan_id,
                    task.tier,
                    role,
                    number,
                    spec.script or task.script,
                    _language(task.required_skills or ()),
                    at,
                )
            )
    return out


def next_retry_at(
    engine: Engine, campaign_id: int, now: datetime, loaded: LoadedPolicy
) -> datetime | None:
    """The earliest later moment an open task of the campaign's filter comes back (the
    strategy's next attempt, a snooze or a lease ending)."""
    at = utc(now)
    with transaction(engine) as s:
        campaign = s.get(Campaign, campaign_id)
        assert campaign is not None
        spec = _spec(campaign)
        purposes = _voice_purposes(spec, loaded)
        found: list[datetime] = []
        for column in (
            FollowupTask.next_attempt_at,
            FollowupTask.snoozed_until,
            FollowupTask.claim_expires_at,
        ):
            value = s.scalar(
                select(func.min(column)).where(
                    FollowupTask.closed_at.is_(None),
                    FollowupTask.purpose.in_(purposes),
                    column > at,
                )
            )
            if value is not None:
                found.append(aware(value) or at)
    return min(found) if found else None


def _zones(engine: Engine, campaign_id: int, loaded: LoadedPolicy) -> set[str]:
    """The borrowers' time zones of the campaign's open tasks."""
    with transaction(engine) as s:
        campaign = s.get(Campaign, campaign_id)
        assert campaign is not None
        spec = _spec(campaign)
        rows = s.execute(
            select(Borrower.timezone, Branch.timezone)
            .select_from(FollowupTask)
            .join(Loan, Loan.id == FollowupTask.loan_id)
            .join(Borrower, Borrower.id == Loan.borrower_id)
            .join(Branch, Branch.id == FollowupTask.branch_id)
            .where(
                FollowupTask.closed_at.is_(None),
                FollowupTask.purpose.in_(_voice_purposes(spec, loaded)),
            )
            .distinct()
        ).all()
    return {b or br or "Asia/Shanghai" for b, br in rows}


# --------------------------------------------------------------------------------------------
# recording a call
# --------------------------------------------------------------------------------------------


def _turns_json(turns: Sequence[TurnRecord]) -> list[dict[str, Any]]:
    return [
        {"speaker": t.speaker, "text": t.text, "confidence": t.confidence, "at_s": t.at_s}
        for t in turns
    ]


@dataclass(frozen=True)
class CallReport:
    call_id: int
    task_id: int
    outcome: Outcome
    attempt_id: int | None
    allowed: bool
    completed: bool
    handover_reason: str | None
    duration_s: int
    cost: Decimal


def record_call(
    engine: Engine,
    pick: Pick,
    result: DialResult,
    *,
    guard: Guard,
    policy: LoadedPolicy,
) -> CallReport:
    """Record a finished call as the task's attempt (channel ``voice-agent``) and complete
    its `campaign_calls` row; a request for a human flags the person."""
    with transaction(engine) as s:
        campaign_call = s.get(CampaignCall, pick.call_id)
        assert campaign_call is not None
        campaign = s.get(Campaign, campaign_call.campaign_id)
        assert campaign is not None
        spec = _spec(campaign)
        agent_id = campaign.agent_id
    state = result.state
    words = [t.text for t in result.turns if t.speaker == "borrower"]
    verified = bool(state and state.identity_verified)
    outcome = call_outcome(
        result.setup,
        state.outcome if state else None,
        identity_verified=verified,
        handover_reason=result.handover_reason,
        hung_up=result.hung_up,
        borrower_words=words,
    )
    duration = max(0, int((result.ended_at - result.started_at).total_seconds()))
    cost = call_cost(duration, spec.cost_per_call, spec.cost_per_minute)
    script_result = sc.result(state) if state is not None else None
    answers = dict(script_result.answers) if script_result and verified else None
    note = None
    if result.handover_reason:
        note = f"智能外呼转人工 / voice agent handed over: {result.handover_reason}"
    attempt_id = result.attempt_id
    allowed, completed = True, False
    if attempt_id is None:
        attempt = record_attempt(
            engine,
            pick.task_id,
            AttemptInput(
                Channel.VOICE_AGENT,
                pick.role,
                result.started_at,
                outcome,
                number=pick.number,
                agent_id=agent_id,
                ended_at=result.ended_at,
                recording_ref=result.recording_ref,
                script_id=script_result.script_id if script_result and answers else None,
                script_version=script_result.script_version if script_result and answers else None,
                answers=answers,
                identity_verified=verified,
                was_conversation=result.setup is CallSetup.ANSWERED and bool(words),
                callback_at=result.ended_at + HANDOVER_CALLBACK if result.handover_reason else None,
                note=note,
            ),
            guard=guard,
            policy=policy,
        )
        attempt_id, allowed = attempt.attempt_id, attempt.allowed
        completed = attempt.visit_id is not None
    if result.handover_reason == "borrower_request":
        with transaction(engine) as s:
            loan = s.get(Loan, pick.loan_id)
            borrower_id = loan.borrower_id if loan else None
        if borrower_id is not None:
            set_party_flag(
                engine,
                borrower_id,
                pick.role,
                "human-requested",
                f"campaign-call:{pick.call_id}",
                now=result.ended_at,
            )
    with transaction(engine) as s:
        row = s.get(CampaignCall, pick.call_id)
        assert row is not None
        row.status = "recorded"
        row.attempt_id = attempt_id
        row.outcome = outcome.value
        row.connected = outcome.value in CONNECTED
        row.handover_reason = result.handover_reason
        row.duration_s = duration
        row.cost = cost
        row.ended_at = utc(result.ended_at)
        row.transcript = _turns_json(result.turns)
    return CallReport(
        pick.call_id,
        pick.task_id,
        outcome,
        attempt_id,
        allowed,
        completed,
        result.handover_reason,
        duration,
        cost,
    )


def settle_open_dials(
    engine: Engine, campaign_id: int, run_id: int, now: datetime, policy: LoadedPolicy
) -> int:
    """Settle the ``dialing`` rows other runs left (a crash mid-call): link the attempt the
    dialer stored, or store an attempt "interrupted, outcome unknown" counted as an
    unanswered call, and keep the task from the bot until the retry spacing has passed.
    Returns how many were settled."""
    at = utc(now)
    settled = 0
    with transaction(engine) as s:
        campaign = s.get(Campaign, campaign_id)
        assert campaign is not None
        spec = _spec(campaign)
        rows = list(
            s.scalars(
                select(CampaignCall)
                .where(
                    CampaignCall.campaign_id == campaign_id,
                    CampaignCall.status == "dialing",
                    CampaignCall.run_id != run_id,
                )
                .order_by(CampaignCall.id)
            )
        )
        for row in rows:
            dialed = aware(row.dialed_at) or at
            stored = s.scalar(
                select(ContactAttempt.id)
                .where(
                    ContactAttempt.task_id == row.task_id,
                    ContactAttempt.channel == Channel.VOICE_AGENT.value,
                    ContactAttempt.agent_id == campaign.agent_id,
                    ContactAttempt.started_at >= dialed,
                )
                .order_by(ContactAttempt.id)
                .limit(1)
            )
            task = s.get(FollowupTask, row.task_id)
            assert task is not None
            if stored is not None:
                attempt = s.get(ContactAttempt, stored)
                assert attempt is not None
                row.status = "recorded"
                row.attempt_id = stored
                row.outcome = attempt.outcome
                row.connected = (attempt.outcome or "") in CONNECTED
                row.duration_s = attempt.duration_s
                row.cost = call_cost(
                    attempt.duration_s or 0, spec.cost_per_call, spec.cost_per_minute
                )
                row.ended_at = attempt.ended_at
            else:
                loan = s.get(Loan, task.loan_id)
                ctx_number = ""
                if loan is not None:
                    ctx_number = _context(s, task).numbers.get(PartyRole.BORROWER, "")
                attempt = ContactAttempt(
                    task_id=task.id,
                    loan_id=task.loan_id,
                    agent_id=campaign.agent_id,
                    channel=Channel.VOICE_AGENT.value,
                    contact_role=task.next_role or PartyRole.BORROWER.value,
                    contact_number=ctx_number,
                    status="made",
                    outcome=Outcome.NO_ANSWER.value,
                    started_at=dialed,
                    identity_verified=False,
                    was_conversation=False,
                    note=(
                        "拨号中断, 结果未知; 按未接通计入频次 / dial interrupted, outcome unknown;"
                        " counted as an unanswered call"
                    ),
                    created_at=at,
                )
                s.add(attempt)
                s.flush()
                row.status = "interrupted"
                row.attempt_id = attempt.id
                row.outcome = Outcome.NO_ANSWER.value
                row.connected = False
                row.cost = Decimal("0.00")
                row.duration_s = 0
            if task.closed_at is None:
                free = dialed + timedelta(minutes=spec.retry_minutes)
                current = aware(task.next_attempt_at)
                if current is None or current < free:
                    task.next_attempt_at = free
                if task.claimed_by_id == campaign.agent_id:
                    task.claimed_by_id = None
                    task.claim_expires_at = None
            settled += 1
    return settled


# --------------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------------


@dataclass
class RunReport:
    run_id: int
    campaign: str
    dialer: str
    started_at: datetime
    ended_at: datetime | None = None
    stop_at: datetime | None = None
    settled: int = 0
    dials: int = 0
    connected: int = 0
    completed: int = 0
    handed_over: int = 0
    refused_by_guard: int = 0
    failed: int = 0
    talk_s: int = 0
    cost: Decimal = Decimal("0.00")
    max_in_flight: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def counts(self) -> dict[str, Any]:
        return {
            "settled": self.settled,
            "dials": self.dials,
            "connected": self.connected,
            "completed": self.completed,
            "handed_over": self.handed_over,
            "refused_by_guard": self.refused_by_guard,
            "failed": self.failed,
            "talk_s": self.talk_s,
            "cost": str(self.cost),
            "max_in_flight": self.max_in_flight,
            "outcomes": dict(sorted(self.outcomes.items())),
        }


ContextFor = Callable[[Engine, int, date], sc.ScriptContext]
BOT_NAME = "智能语音助理"


def bot_context(engine: Engine, loan_id: int, today: date) -> sc.ScriptContext:
    """A loan's script variables for the voice agent (the call screen's, with the bot's name)."""
    from huifang.services.calls import script_context

    return script_context(engine, loan_id, BOT_NAME, today)


def _start_run(engine: Engine, campaign_id: int, now: datetime, dialer: str, dry: bool) -> int:
    with transaction(engine) as s:
        # one runner per campaign: an earlier run still marked running died
        for old in s.scalars(
            select(CampaignRun).where(
                CampaignRun.campaign_id == campaign_id, CampaignRun.status == "running"
            )
        ):
            old.status = "interrupted"
        row = CampaignRun(
            campaign_id=campaign_id,
            started_at=utc(now),
            status="running",
            dry_run=dry,
            dialer=dialer,
            counts={},
        )
        s.add(row)
        s.flush()
        return row.id


async def run_campaign(
    engine: Engine,
    campaign: int | str,
    dialer: Dialer,
    context_for: ContextFor = bot_context,
    *,
    clock: Clock | None = None,
    guard: Guard | None = None,
    policy: LoadedPolicy | None = None,
    once: bool = False,
    dry_run: bool = False,
    until: datetime | None = None,
    on_call: Callable[[CallReport], None] | None = None,
) -> RunReport:
    """Dial the campaign's eligible tasks until its window ends (today, in the borrowers'
    zones) or, with `once`, until nothing more is eligible now.

    context_for(engine, loan_id, today) gives a loan's script variables (the call screen's
    `calls.script_context`). `until` stops earlier than the window's end.
    """
    clock = clock or RealClock()
    guard = guard or Guard(policy=configs.contact_policy(engine).policy)
    loaded = policy or configs.followup_policy(engine)
    scripts = configs.scripts(engine)
    view = get_campaign(engine, campaign)
    if view.spec.status is not CampaignStatus.ACTIVE:
        raise CampaignError(
            f"活动 {view.spec.name} 状态为 {view.spec.status.value}, 不能拨打"
            f" / campaign {view.spec.name} is {view.spec.status.value}"
        )
    start = clock.now()
    run_id = _start_run(engine, view.id, start, dialer.name, dry_run)
    report = RunReport(run_id, view.spec.name, dialer.name, start)
    report.settled = settle_open_dials(engine, view.id, run_id, start, loaded)
    zones = _zones(engine, view.id, loaded)
    first_zone = sorted(zones)[0] if zones else "Asia/Shanghai"
    stop = window_end(view.spec, start.astimezone(ZoneInfo(first_zone)).date(), zones)
    if until is not None:
        stop = min(stop, utc(until))
    report.stop_at = stop
    skip: dict[int, datetime | None] = {}
    in_flight: set[asyncio.Task[None]] = set()

    async def one(pick: Pick) -> None:
        script = scripts[pick.script_id]
        local_day = pick.at.astimezone(ZoneInfo(first_zone)).date()
        request = DialRequest(
            pick.call_id,
            pick.task_id,
            pick.loan_id,
            pick.tier,
            pick.role,
            pick.number,
            script,
            context_for(engine, pick.loan_id, local_day),
            pick.language,
            pick.at,
        )
        try:
            result = await dialer.dial(request)
        except Exception:
            report.failed += 1
            return  # the row stays "dialing": the next run settles it
        try:
            call = record_call(engine, pick, result, guard=guard, policy=loaded)
        except TaskError:
            # the task was closed or taken away during the call (a lease outlived): the
            # row stays "dialing" and the next run settles it as an interrupted dial
            report.failed += 1
            return
        report.dials += 1
        report.outcomes[call.outcome.value] = report.outcomes.get(call.outcome.value, 0) + 1
        report.connected += call.outcome.value in CONNECTED
        report.completed += call.completed
        report.handed_over += call.handover_reason is not None
        report.refused_by_guard += not call.allowed
        report.talk_s += call.duration_s if call.outcome.value in CONNECTED else 0
        report.cost += call.cost
        if on_call is not None:
            on_call(call)

    status = "failed"
    try:
        while True:
            now = clock.now()
            free = view.spec.max_concurrent - len(in_flight)
            if now < stop and free > 0:
                due = {t: u for t, u in skip.items() if u is None or u > now}
                skip = due
                batch = claim_batch(
                    engine,
                    view.id,
                    run_id,
                    now,
                    free,
                    guard=guard,
                    policy=loaded,
                    skip=sorted(due),
                )
                skip.update(batch.skipped)
                for pick in batch.picks:
                    in_flight.add(asyncio.ensure_future(one(pick)))
                report.max_in_flight = max(report.max_in_flight, len(in_flight))
            if in_flight:
                await asyncio.sleep(0)  # let new calls start (and register their sleep)
                clock.advance()
                done, pending = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                in_flight = set(pending)
                for task in done:
                    task.result()
                continue
            if once or now >= stop:
                break
            hints = [u for u in skip.values() if u is not None and u > now]
            retry = next_retry_at(engine, view.id, now, loaded)
            if retry is not None:
                hints.append(retry)
            wake = min(hints) if hints else None
            if not clock.virtual:
                wake = min(wake or now + REAL_RECHECK, now + REAL_RECHECK)
            if wake is None or wake >= stop:
                break
            sleeper = asyncio.ensure_future(clock.sleep_until(wake))
            await asyncio.sleep(0)
            clock.advance()
            await sleeper
        status = "finished"
    finally:
        for task in in_flight:
            task.cancel()
        end = clock.now()
        report.ended_at = end
        with transaction(engine) as s:
            row = s.get(CampaignRun, run_id)
            if row is not None:
                row.status = status
                row.ended_at = utc(end)
                row.counts = report.counts()
    return report
