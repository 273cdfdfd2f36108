"""Follow-up tasks: generate from the policy, route to queues and agents, claim, reassign,
snooze, cancel. Each use case is one transaction.

Generation is idempotent twice over: the policy's `tasks_due` is deterministic, and a task is
only inserted when its loan has no open task of that purpose (a unique partial index on
``(loan_id, purpose) WHERE closed_at IS NULL`` makes that hold under concurrency too, via
INSERT … ON CONFLICT DO NOTHING) and no task at all for that purpose and due date (so a task
closed as cancelled or unreachable is not recreated for the same occasion).

Claiming takes a lease under a row lock: ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL
(each claimer skips rows another is deciding on), ``BEGIN IMMEDIATE`` on SQLite (one writer at
a time), and a compare-and-set UPDATE on both, so two agents can never hold one task.

All instants are stored in UTC (SQLite keeps no offset) and returned timezone-aware.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, Select, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased

from huifang.domain.delinquency import bucket_for, days_past_due_since
from huifang.domain.followup_policy import (
    TIERS,
    CompletedContact,
    DueTask,
    EventKind,
    LoanEvent,
    LoanPhase,
    LoanSnapshot,
    tasks_due,
)
from huifang.domain.posting import Payment as LedgerPayment
from huifang.domain.posting import position_as_of
from huifang.domain.schedule import LoanTerms, RepaymentMethod, Schedule, build_schedule
from huifang.domain.tiering import down_payment_ratio, origination_tier
from huifang.policy_files import LoadedPolicy
from huifang.security import audit
from huifang.services import configs
from huifang.store.db import transaction
from huifang.store.followup_models import (
    OPEN_STATUSES,
    Agent,
    FollowupTask,
    RiskEvent,
    Visit,
)
from huifang.store.models import Borrower, Branch, Loan, Payment
from huifang.store.risk_models import RiskTierChange

DEFAULT_TZ = ZoneInfo("Asia/Shanghai")


class TaskError(ValueError):
    """A task operation that cannot be done (unknown task, closed task, missing reason…)."""


def utc(t: datetime) -> datetime:
    if t.tzinfo is None:
        raise ValueError(f"时间必须带时区 / must be timezone-aware: {t.isoformat()}")
    return t.astimezone(UTC)


def aware(t: datetime | None) -> datetime | None:
    """A stored instant back as aware UTC (SQLite returns it naive)."""
    if t is None:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def local_date(t: datetime, tz: ZoneInfo = DEFAULT_TZ) -> date:
    stored = aware(t)
    assert stored is not None
    return stored.astimezone(tz).date()


# --------------------------------------------------------------------------------------------
# loan snapshots and events from the loan book
# --------------------------------------------------------------------------------------------


class DelinquencyTracker:
    """Oldest overdue due date per loan as of a date, recomputed only when it can change.

    The domain's `position_as_of` is exact but costs a few milliseconds a loan; the answer
    only changes the day after a due date or on a payment date, so a tracker walking forward
    through days (the simulation, a nightly run) recomputes a loan only then.
    """

    def __init__(self) -> None:
        self._schedules: dict[int, Schedule | None] = {}
        self._due_dates: dict[int, list[date]] = {}
        self._known: dict[int, tuple[date, date | None]] = {}

    def oldest_overdue(self, loan: Loan, payments: Sequence[Payment], as_of: date) -> date | None:
        schedule = self._schedule(loan)
        if schedule is None:
            return None
        cached = self._known.get(loan.id)
        if cached is not None and cached[0] <= as_of:
            since, oldest = cached
            paid = any(since < p.paid_on <= as_of for p in payments)
            if not paid and oldest is not None:
                # Only a payment settles an installment, and held credit is never left over
                # while one is overdue: the oldest overdue stays, whatever falls due now.
                return oldest
            # an installment falls overdue on the day after its due date: due in [since, as_of)
            dues = self._due_dates[loan.id]
            falls_due = bisect_left(dues, since) < bisect_left(dues, as_of)
            if not paid and not falls_due:
                return oldest
        reversed_ids = {p.reverses_id for p in payments if p.payment_type == "reversal"}
        events = [
            LedgerPayment(p.txn_ref, p.paid_on, p.amount)
            for p in payments
            if p.payment_type != "reversal" and p.id not in reversed_ids
        ]
        try:
            oldest = position_as_of(schedule, events, as_of).oldest_overdue_due_date
        except ValueError:
            oldest = None
        self._known[loan.id] = (as_of, oldest)
        return oldest

    def _schedule(self, loan: Loan) -> Schedule | None:
        if loan.id not in self._schedules:
            try:
                terms = LoanTerms(
                    principal=loan.principal,
                    annual_rate=loan.annual_rate,
                    term_months=loan.term_months,
                    method=RepaymentMethod(loan.repayment_method),
                    disbursement_date=loan.disbursement_date,
                    repayment_day=loan.repayment_day,
                    balloon_pct=loan.balloon_pct or 0,
                )
                schedule = build_schedule(terms)
                self._schedules[loan.id] = schedule
                self._due_dates[loan.id] = [i.due_date for i in schedule.installments]
            except ValueError:
                self._schedules[loan.id] = None
        return self._schedules[loan.id]


def delinquency_events(oldest_overdue: date | None, as_of: date) -> list[LoanEvent]:
    """A missed payment the day after the oldest unpaid due date, and a bucket change on the
    first day of every bucket from M2 on (the bucket path follows from that date alone)."""
    if oldest_overdue is None:
        return []
    dpd = days_past_due_since(oldest_overdue, as_of)
    if dpd <= 0:
        return []
    first = oldest_overdue + timedelta(days=1)
    out = [LoanEvent(EventKind.MISSED_PAYMENT, first, f"missed:{oldest_overdue}")]
    bucket_index = (dpd - 1) // 30
    for k in range(1, min(bucket_index, 6) + 1):
        entered = oldest_overdue + timedelta(days=30 * k + 1)
        name = bucket_for(30 * k + 1).value
        out.append(LoanEvent(EventKind.BUCKET_CHANGE, entered, f"bucket:{name}:{oldest_overdue}"))
    return out


def loan_tier(loan: Loan, dpd: int, assessed: str | None = None) -> str:
    """Origination tier (credit score, down payment), worsened by behaviour: any overdue
    makes a loan at least medium, more than 30 days overdue makes it high; and never better
    than `assessed`, the latest risk tier recorded by the risk run (`risk_tier_history`,
    which weighs findings, alerts, LTV and the behaviour score), so a tier raised by a
    finding switches the routine cadence to that tier's."""
    price = loan.vehicle_price or loan.down_payment
    ratio = down_payment_ratio(loan.down_payment, price) if price else None
    tier = origination_tier(loan.credit_score, ratio).tier.value if ratio is not None else "medium"
    behaviour = "high" if dpd > 30 else "medium" if dpd > 0 else "low"
    candidates = [tier, behaviour] + ([assessed] if assessed in TIERS else [])
    return max(candidates, key=TIERS.index)


def _phase(loan: Loan) -> LoanPhase:
    if loan.status in ("closed", "written-off"):
        return LoanPhase.CLOSED
    if loan.status == "applied":
        return LoanPhase.APPLIED
    if loan.status == "approved":
        return LoanPhase.APPROVED
    return LoanPhase.ACTIVE


@dataclass
class _Book:
    """What generation reads, in bulk."""

    loans: list[Loan]
    borrowers: dict[int, Borrower]
    payments: dict[int, list[Any]]  # rows with Payment's columns
    contacts: dict[int, list[CompletedContact]]
    events: dict[int, list[LoanEvent]]
    open_tasks: dict[tuple[int, str], FollowupTask]
    open_by_loan: dict[int, list[FollowupTask]]
    seen: set[tuple[int, str, date]]
    tiers: dict[int, str] = field(default_factory=dict)  # latest recorded risk tier


def assessed_tiers(session: Session, loan_ids: Sequence[int], as_of: date) -> dict[int, str]:
    """Each loan's latest risk tier recorded on or before `as_of` (`risk_tier_history`)."""
    out: dict[int, str] = {}
    for start in range(0, len(loan_ids), 5000):
        rows = session.execute(
            select(RiskTierChange.loan_id, RiskTierChange.tier)
            .where(
                RiskTierChange.loan_id.in_(loan_ids[start : start + 5000]),
                RiskTierChange.kind == "risk",
                RiskTierChange.as_of <= as_of,
            )
            .order_by(RiskTierChange.as_of, RiskTierChange.id)
        )
        for loan_id, tier in rows:
            out[loan_id] = tier
    return out


def _read_book(session: Session, loan_ids: Iterable[int] | None, as_of: date) -> _Book:
    q = select(Loan).order_by(Loan.id)
    if loan_ids is not None:
        q = q.where(Loan.id.in_(list(loan_ids)))
    loans = list(session.scalars(q))
    ids = [loan.id for loan in loans]
    borrowers = {
        b.id: b
        for b in session.scalars(
            select(Borrower).where(Borrower.id.in_({loan.borrower_id for loan in loans}))
        )
    }
    payments: dict[int, list[Any]] = defaultdict(list)
    for p in session.execute(
        select(
            Payment.id,
            Payment.loan_id,
            Payment.txn_ref,
            Payment.paid_on,
            Payment.amount,
            Payment.payment_type,
            Payment.reverses_id,
        )
        .where(Payment.loan_id.in_(ids))
        .order_by(Payment.paid_on, Payment.id)
    ):
        payments[p.loan_id].append(p)
    contacts: dict[int, list[CompletedContact]] = defaultdict(list)
    for loan_id, purpose, completed_at in session.execute(
        select(Visit.loan_id, FollowupTask.purpose, Visit.completed_at)
        .join(FollowupTask, FollowupTask.id == Visit.task_id)
        .where(Visit.loan_id.in_(ids))
    ):
        contacts[loan_id].append(CompletedContact(purpose, local_date(completed_at)))
    events: dict[int, list[LoanEvent]] = defaultdict(list)
    kinds = {k.value for k in EventKind}
    for ev in session.scalars(
        select(RiskEvent).where(
            RiskEvent.loan_id.in_(ids),
            RiskEvent.kind.in_(kinds),
            RiskEvent.status != "superseded",
        )
    ):
        events[ev.loan_id].append(LoanEvent(EventKind(ev.kind), ev.occurred_on, f"risk:{ev.id}"))
    open_tasks: dict[tuple[int, str], FollowupTask] = {}
    open_by_loan: dict[int, list[FollowupTask]] = defaultdict(list)
    seen: set[tuple[int, str, date]] = set()
    # every task's occasion as plain rows; ORM objects only for the open ones (generation
    # may close them), not for the whole, ever-growing history
    for loan_id, purpose, due_on in session.execute(
        select(FollowupTask.loan_id, FollowupTask.purpose, FollowupTask.due_on).where(
            FollowupTask.loan_id.in_(ids)
        )
    ):
        seen.add((loan_id, purpose, due_on))
    for t in session.scalars(
        select(FollowupTask)
        .where(FollowupTask.loan_id.in_(ids), FollowupTask.closed_at.is_(None))
        .order_by(FollowupTask.id)
    ):
        open_tasks[(t.loan_id, t.purpose)] = t
        open_by_loan[t.loan_id].append(t)
    tiers = assessed_tiers(session, ids, as_of)
    return _Book(
        loans, borrowers, payments, contacts, events, open_tasks, open_by_loan, seen, tiers
    )


# --------------------------------------------------------------------------------------------
# generation
# --------------------------------------------------------------------------------------------


@dataclass
class GenerationReport:
    as_of: date
    loans: int = 0
    created: int = 0
    already_open: int = 0
    cancelled: int = 0
    by_purpose: dict[str, int] = field(default_factory=dict)


def generate_tasks(
    engine: Engine,
    as_of: date,
    *,
    policy: LoadedPolicy | None = None,
    loan_ids: Iterable[int] | None = None,
    tracker: DelinquencyTracker | None = None,
    now: datetime | None = None,
) -> GenerationReport:
    """Create the tasks due on `as_of` that are not there yet; close the open tasks of
    closed loans (follow-up ends). Re-running on the same data changes nothing."""
    loaded = policy or configs.followup_policy(engine)
    tracker = tracker or DelinquencyTracker()
    stamp = utc(now) if now else datetime.now(UTC)
    report = GenerationReport(as_of)
    with transaction(engine) as session:
        book = _read_book(session, loan_ids, as_of)
        rows: list[dict[str, object]] = []
        for loan in book.loans:
            report.loans += 1
            borrower = book.borrowers[loan.borrower_id]
            phase = _phase(loan)
            if phase is LoanPhase.CLOSED:
                for task in book.open_by_loan.get(loan.id, []):
                    _close(task, "cancelled", "贷款已结清, 回访结束 / loan closed", stamp)
                    report.cancelled += 1
                continue
            oldest = tracker.oldest_overdue(loan, book.payments.get(loan.id, []), as_of)
            dpd = days_past_due_since(oldest, as_of)
            snapshot = LoanSnapshot(
                loan_id=loan.id,
                phase=phase,
                opened_on=loan.disbursement_date,
                tier=loan_tier(loan, dpd, book.tiers.get(loan.id)),
                borrower_kind=borrower.kind,
                self_employed=bool(borrower.self_employed),
                industry=borrower.industry,
            )
            events = delinquency_events(oldest, as_of) + book.events.get(loan.id, [])
            events = [e for e in events if e.occurred_on <= as_of]
            for due in tasks_due(
                loaded.policy, snapshot, book.contacts.get(loan.id, []), events, as_of
            ):
                if (loan.id, due.purpose) in book.open_tasks:
                    report.already_open += 1
                    continue
                if (loan.id, due.purpose, due.due_on) in book.seen:
                    continue
                rows.append(_task_row(due, loan, snapshot.tier, loaded.version, stamp))
        report.created = _insert_tasks(session, rows)
        for row in rows:
            purpose = str(row["purpose"])
            report.by_purpose[purpose] = report.by_purpose.get(purpose, 0) + 1
    return report


def _task_row(
    due: DueTask, loan: Loan, tier: str, version: int, stamp: datetime
) -> dict[str, object]:
    return {
        "loan_id": loan.id,
        "branch_id": loan.branch_id,
        "purpose": due.purpose,
        "stage": due.stage.value,
        "due_on": due.due_on,
        "deadline": due.deadline,
        "priority": due.priority,
        "status": "open",
        "tier": tier,
        "required_skills": list(due.skills),
        "script": due.script,
        "reason": f"{due.reason_zh} / {due.reason_en}",
        "trigger_ref": due.trigger_ref or None,
        "policy_version": version,
        "created_at": stamp,
        "updated_at": stamp,
    }


def _insert_tasks(session: Session, rows: Sequence[Mapping[str, object]]) -> int:
    """Insert, skipping any row whose loan already has an open task of its purpose."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    where = FollowupTask.closed_at.is_(None)
    created = 0
    for start in range(0, len(rows), 500):
        stmt = insert(FollowupTask).on_conflict_do_nothing(
            index_elements=["loan_id", "purpose"], index_where=where
        )
        result = session.execute(stmt.returning(FollowupTask.id), list(rows[start : start + 500]))
        created += len(result.all())
    return created


def ensure_task(
    session: Session,
    loan: Loan,
    purpose: str,
    due_on: date,
    reason: str,
    trigger_ref: str | None,
    policy: LoadedPolicy,
    tier: str,
    now: datetime,
) -> int | None:
    """Open a task of `purpose` for `loan` unless one is open; the id of the open task."""
    rule = policy.policy.rule(purpose)
    row = {
        "loan_id": loan.id,
        "branch_id": loan.branch_id,
        "purpose": purpose,
        "stage": rule.stage.value,
        "due_on": due_on,
        "deadline": due_on + timedelta(days=rule.sla_days),
        "priority": rule.priority,
        "status": "open",
        "tier": tier,
        "required_skills": list(rule.skills),
        "script": rule.script,
        "reason": reason,
        "trigger_ref": trigger_ref,
        "policy_version": policy.version,
        "created_at": utc(now),
        "updated_at": utc(now),
    }
    _insert_tasks(session, [row])
    return session.scalar(
        select(FollowupTask.id).where(
            FollowupTask.loan_id == loan.id,
            FollowupTask.purpose == purpose,
            FollowupTask.closed_at.is_(None),
        )
    )


def _close(task: FollowupTask, status: str, reason: str, now: datetime) -> None:
    task.status = status
    task.status_reason = reason
    task.closed_at = utc(now)
    task.claimed_by_id = None
    task.claim_expires_at = None


# --------------------------------------------------------------------------------------------
# routing and claiming
# --------------------------------------------------------------------------------------------


def agent_can_do(agent: Agent, skills: Iterable[str], prefix: str = "lang:") -> bool:
    """Whether the agent has every required skill; ``lang:xx`` is met by language ``xx``."""
    have = set(agent.skills or [])
    languages = set(agent.languages or [])
    for skill in skills:
        if skill in have:
            continue
        if skill.startswith(prefix) and skill[len(prefix) :] in languages:
            continue
        return False
    return True


@dataclass
class RoutingReport:
    assigned: int = 0
    queued: int = 0
    by_agent: dict[str, int] = field(default_factory=dict)


def route_tasks(engine: Engine, *, branch_id: int | None = None) -> RoutingReport:
    """Give each unassigned open task to the least-loaded agent of its branch who has the
    skills and room (open assigned tasks below capacity); the others stay in the branch queue."""
    report = RoutingReport()
    with transaction(engine) as session:
        agents = list(
            session.scalars(select(Agent).where(Agent.active.is_(True)).order_by(Agent.id))
        )
        load: dict[int, int] = dict.fromkeys((a.id for a in agents), 0)
        for agent_id, n in session.execute(
            select(FollowupTask.assigned_agent_id, func.count())
            .where(FollowupTask.closed_at.is_(None), FollowupTask.assigned_agent_id.is_not(None))
            .group_by(FollowupTask.assigned_agent_id)
        ):
            load[agent_id] = n
        by_branch: dict[int, list[Agent]] = defaultdict(list)
        for a in agents:
            by_branch[a.branch_id].append(a)
        q = (
            select(FollowupTask)
            .where(FollowupTask.closed_at.is_(None), FollowupTask.assigned_agent_id.is_(None))
            .order_by(FollowupTask.priority, FollowupTask.due_on, FollowupTask.id)
        )
        if branch_id is not None:
            q = q.where(FollowupTask.branch_id == branch_id)
        for task in session.scalars(q):
            fit = [
                a
                for a in by_branch.get(task.branch_id, [])
                if load.get(a.id, 0) < a.capacity and agent_can_do(a, task.required_skills)
            ]
            if not fit:
                report.queued += 1
                continue
            best = min(fit, key=lambda a: (load.get(a.id, 0) / a.capacity, a.id))
            task.assigned_agent_id = best.id
            load[best.id] = load.get(best.id, 0) + 1
            report.assigned += 1
            report.by_agent[best.username] = report.by_agent.get(best.username, 0) + 1
    return report


@dataclass(frozen=True)
class TaskView:
    id: int
    loan_id: int
    contract_no: str
    branch: str
    purpose: str
    stage: str
    due_on: date
    deadline: date
    priority: int
    status: str
    tier: str
    skills: tuple[str, ...]
    script: str
    reason: str
    assigned_to: str | None
    claimed_by: str | None
    claim_expires_at: datetime | None
    snoozed_until: datetime | None
    next_attempt_at: datetime | None
    next_role: str | None
    escalation: str | None
    status_reason: str | None

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for key, value in self.__dict__.items():
            if isinstance(value, date | datetime):
                out[key] = value.isoformat()
            elif isinstance(value, tuple):
                out[key] = list(value)
            else:
                out[key] = value
        return out


def _view(session: Session, task: FollowupTask) -> TaskView:
    loan = session.get(Loan, task.loan_id)
    branch = session.get(Branch, task.branch_id)
    names = {
        a.id: a.username
        for a in session.scalars(
            select(Agent).where(Agent.id.in_([task.assigned_agent_id, task.claimed_by_id]))
        )
    }
    return _task_view(
        task,
        loan.contract_no if loan else "",
        branch.code if branch else "",
        names.get(task.assigned_agent_id) if task.assigned_agent_id else None,
        names.get(task.claimed_by_id) if task.claimed_by_id else None,
    )


def _task_view(
    task: FollowupTask,
    contract_no: str,
    branch: str,
    assigned_to: str | None,
    claimed_by: str | None,
) -> TaskView:
    return TaskView(
        id=task.id,
        loan_id=task.loan_id,
        contract_no=contract_no,
        branch=branch,
        purpose=task.purpose,
        stage=task.stage,
        due_on=task.due_on,
        deadline=task.deadline,
        priority=task.priority,
        status=task.status,
        tier=task.tier,
        skills=tuple(task.required_skills or ()),
        script=task.script,
        reason=task.reason,
        assigned_to=assigned_to,
        claimed_by=claimed_by,
        claim_expires_at=aware(task.claim_expires_at),
        snoozed_until=aware(task.snoozed_until),
        next_attempt_at=aware(task.next_attempt_at),
        next_role=task.next_role,
        escalation=task.escalation,
        status_reason=task.status_reason,
    )


class TaskUnavailable(TaskError):
    """The task is closed, held by someone else, or not for this agent."""


def _claimable(now: datetime):  # type: ignore[no-untyped-def]
    return and_(
        FollowupTask.closed_at.is_(None),
        or_(FollowupTask.claimed_by_id.is_(None), FollowupTask.claim_expires_at <= now),
        or_(FollowupTask.snoozed_until.is_(None), FollowupTask.snoozed_until <= now),
    )


def _take(session: Session, task_id: int, agent_id: int, now: datetime, lease: timedelta) -> bool:
    """Compare-and-set: take the lease only if nobody holds a live one."""
    result = session.execute(
        update(FollowupTask)
        .where(
            FollowupTask.id == task_id,
            FollowupTask.closed_at.is_(None),
            or_(
                FollowupTask.claimed_by_id.is_(None),
                FollowupTask.claimed_by_id == agent_id,
                FollowupTask.claim_expires_at <= now,
            ),
        )
        .values(claimed_by_id=agent_id, claim_expires_at=now + lease)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def claim_next(
    engine: Engine,
    agent_id: int,
    *,
    now: datetime | None = None,
    lease: timedelta = timedelta(minutes=30),
) -> TaskView | None:
    """The most urgent task this agent may work now (its own first, then its branch's queue),
    held for `lease`; None when there is nothing to do."""
    at = utc(now) if now else datetime.now(UTC)
    with transaction(engine) as session:
        agent = session.get(Agent, agent_id)
        if agent is None or not agent.active:
            raise TaskError(f"未知或已停用的坐席 #{agent_id} / unknown or inactive agent")
        q = (
            select(FollowupTask)
            .where(
                _claimable(at),
                FollowupTask.branch_id == agent.branch_id,
                or_(
                    FollowupTask.assigned_agent_id == agent.id,
                    FollowupTask.assigned_agent_id.is_(None),
                ),
                or_(FollowupTask.next_attempt_at.is_(None), FollowupTask.next_attempt_at <= at),
            )
            .order_by(
                (FollowupTask.assigned_agent_id == agent.id).desc(),
                FollowupTask.priority,
                FollowupTask.due_on,
                FollowupTask.id,
            )
            .limit(25)
        )
        if session.get_bind().dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        for task in session.scalars(q):
            if not agent_can_do(agent, task.required_skills):
                continue
            if _take(session, task.id, agent.id, at, lease):
                session.refresh(task)
                return _view(session, task)
    return None


def claim_task(
    engine: Engine,
    task_id: int,
    agent_id: int,
    *,
    now: datetime | None = None,
    lease: timedelta = timedelta(minutes=30),
) -> TaskView:
    """Take one task (from the workspace list); refused if someone else holds it."""
    at = utc(now) if now else datetime.now(UTC)
    with transaction(engine) as session:
        q = select(FollowupTask).where(FollowupTask.id == task_id)
        if session.get_bind().dialect.name == "postgresql":
            q = q.with_for_update()
        task = session.scalars(q).one_or_none()
        agent = session.get(Agent, agent_id)
        if task is None or agent is None:
            raise TaskError(f"任务 #{task_id} 或坐席 #{agent_id} 不存在 / no such task or agent")
        if not agent_can_do(agent, task.required_skills):
            raise TaskUnavailable(f"坐席缺少技能 {task.required_skills} / agent lacks skills")
        if not _take(session, task_id, agent_id, at, lease):
            raise TaskUnavailable(
                f"任务 #{task_id} 已被他人领取或已关闭 / held by another or closed"
            )
        session.refresh(task)
        return _view(session, task)


def release_task(engine: Engine, task_id: int, agent_id: int) -> None:
    """Give a claimed task back to the queue."""
    with transaction(engine) as session:
        session.execute(
            update(FollowupTask)
            .where(FollowupTask.id == task_id, FollowupTask.claimed_by_id == agent_id)
            .values(claimed_by_id=None, claim_expires_at=None)
        )


def _open_task(session: Session, task_id: int) -> FollowupTask:
    task = session.get(FollowupTask, task_id)
    if task is None:
        raise TaskError(f"任务 #{task_id} 不存在 / no such task")
    if task.closed_at is not None:
        raise TaskUnavailable(f"任务 #{task_id} 已关闭 ({task.status}) / task is closed")
    return task


def _reason(reason: str) -> str:
    if not reason or not reason.strip():
        raise TaskError("必须说明原因 / a reason is required")
    return reason.strip()


def reassign_task(
    engine: Engine,
    task_id: int,
    agent_id: int,
    reason: str,
    *,
    actor: audit.Actor | None = None,
) -> TaskView:
    """Move a task to another agent of its branch (who has the skills); drops any claim.
    With `actor` (a manager in the workspace) the move is an audit entry of the same
    transaction (``task.reassign``: from whom, to whom, why)."""
    why = _reason(reason)
    with transaction(engine) as session:
        task = _open_task(session, task_id)
        agent = session.get(Agent, agent_id)
        if agent is None or not agent.active:
            raise TaskError(f"坐席 #{agent_id} 不存在或已停用 / no such active agent")
        if agent.branch_id != task.branch_id:
            raise TaskError("只能转派给本机构的坐席 / only to an agent of the task's branch")
        if not agent_can_do(agent, task.required_skills):
            raise TaskError(f"坐席缺少技能 {task.required_skills} / agent lacks skills")
        before = task.assigned_agent_id
        task.assigned_agent_id = agent.id
        task.claimed_by_id = None
        task.claim_expires_at = None
        task.status_reason = f"转派 / reassigned: {why}"
        view = _view(session, task)
        if actor is not None:
            previous = session.get(Agent, before) if before is not None else None
            audit.record(
                session,
                actor,
                "task.reassign",
                target_type="task",
                target_id=task_id,
                branch_code=view.branch,
                detail={
                    "from": previous.username if previous else None,
                    "to": agent.username,
                    "reason": why,
                },
            )
        return view


def snooze_task(engine: Engine, task_id: int, until: datetime, reason: str) -> TaskView:
    """Hide a task from the queues until `until` (e.g. the borrower is abroad)."""
    why = _reason(reason)
    with transaction(engine) as session:
        task = _open_task(session, task_id)
        task.snoozed_until = utc(until)
        task.claimed_by_id = None
        task.claim_expires_at = None
        task.status_reason = f"暂缓 / snoozed: {why}"
        return _view(session, task)


def cancel_task(
    engine: Engine, task_id: int, reason: str, *, now: datetime | None = None
) -> TaskView:
    """Close a task without a contact; it is not recreated for the same occasion."""
    why = _reason(reason)
    with transaction(engine) as session:
        task = _open_task(session, task_id)
        _close(task, "cancelled", f"取消 / cancelled: {why}", now or datetime.now(UTC))
        return _view(session, task)


def get_task(engine: Engine, task_id: int) -> TaskView:
    """One task with its loan's contract, its branch and its agents' names, in one query
    (every request on the call screen reads its task first)."""
    with transaction(engine) as session:
        return read_task(session, task_id)


_ASSIGNED, _CLAIMED = aliased(Agent), aliased(Agent)


def _task_query() -> Select[FollowupTask, str, str, str, str]:
    return (
        select(FollowupTask, Loan.contract_no, Branch.code, _ASSIGNED.username, _CLAIMED.username)
        .outerjoin(Loan, Loan.id == FollowupTask.loan_id)
        .outerjoin(Branch, Branch.id == FollowupTask.branch_id)
        .outerjoin(_ASSIGNED, _ASSIGNED.id == FollowupTask.assigned_agent_id)
        .outerjoin(_CLAIMED, _CLAIMED.id == FollowupTask.claimed_by_id)
        .where(FollowupTask.id == bindparam("task_id"))
    )


_TASK = _task_query()
_TASK_AND_AGENT = _task_query().add_columns(
    select(Agent.id).where(Agent.username == bindparam("username")).scalar_subquery()
)


def read_task(session: Session, task_id: int) -> TaskView:
    """`get_task` inside the caller's transaction."""
    row = session.execute(_TASK, {"task_id": task_id}).one_or_none()
    if row is None:
        raise TaskError(f"任务 #{task_id} 不存在 / no such task")
    task, contract_no, branch, assigned_to, claimed_by = row
    return _task_view(task, contract_no or "", branch or "", assigned_to, claimed_by)


def read_task_and_agent(
    session: Session, task_id: int, username: str
) -> tuple[TaskView, int | None]:
    """`read_task` and the follow-up agent id of `username` (None: no agent by that name),
    in one statement."""
    row = session.execute(_TASK_AND_AGENT, {"task_id": task_id, "username": username}).one_or_none()
    if row is None:
        raise TaskError(f"任务 #{task_id} 不存在 / no such task")
    task, contract_no, branch, assigned_to, claimed_by, agent_id = row
    view = _task_view(task, contract_no or "", branch or "", assigned_to, claimed_by)
    return view, None if agent_id is None else int(agent_id)


def list_tasks(
    engine: Engine,
    *,
    branch: str | None = None,
    status: str | None = None,
    agent: str | None = None,
    limit: int = 200,
) -> list[TaskView]:
    """Tasks, most urgent first. status: a task status or ``open`` for every open one."""
    with transaction(engine) as session:
        q = select(FollowupTask).order_by(
            FollowupTask.priority, FollowupTask.due_on, FollowupTask.id
        )
        if branch:
            q = q.join(Branch, Branch.id == FollowupTask.branch_id).where(Branch.code == branch)
        if status == "open":
            q = q.where(FollowupTask.closed_at.is_(None))
        elif status:
            q = q.where(FollowupTask.status == status)
        if agent:
            q = q.join(Agent, Agent.id == FollowupTask.assigned_agent_id).where(
                Agent.username == agent
            )
        return [_view(session, t) for t in session.scalars(q.limit(limit))]


def task_counts(engine: Engine) -> dict[str, int]:
    with transaction(engine) as session:
        return {
            status: n
            for status, n in session.execute(
                select(FollowupTask.status, func.count()).group_by(FollowupTask.status)
            )
        }


def agent_id(engine: Engine, username: str) -> int:
    """The id of the agent with this user name."""
    with transaction(engine) as session:
        found = session.scalar(select(Agent.id).where(Agent.username == username))
    if found is None:
        raise TaskError(f"坐席 {username} 不存在 / no such agent")
    return found


@dataclass(frozen=True)
class AgentSpec:
    username: str
    name: str
    branch_code: str
    skills: tuple[str, ...] = ()
    languages: tuple[str, ...] = ("zh",)
    capacity: int = 40


def add_agent(engine: Engine, spec: AgentSpec) -> int:
    """Create (or update by user name) an agent; its id."""
    if spec.capacity < 1:
        raise TaskError("容量至少为 1 / capacity must be at least 1")
    with transaction(engine) as session:
        branch = session.scalar(select(Branch).where(Branch.code == spec.branch_code))
        if branch is None:
            raise TaskError(f"机构 {spec.branch_code} 不存在 / unknown branch")
        agent = session.scalar(select(Agent).where(Agent.username == spec.username))
        if agent is None:
            agent = Agent(username=spec.username)
            session.add(agent)
        agent.name = spec.name
        agent.branch_id = branch.id
        agent.skills = sorted(spec.skills)
        agent.languages = sorted(spec.languages)
        agent.capacity = spec.capacity
        agent.active = True
        session.flush()
        return agent.id


__all__ = [
    "OPEN_STATUSES",
    "AgentSpec",
    "DelinquencyTracker",
    "GenerationReport",
    "RoutingReport",
    "TaskError",
    "TaskUnavailable",
    "TaskView",
    "add_agent",
    "agent_id",
    "aware",
    "cancel_task",
    "claim_next",
    "claim_task",
    "delinquency_events",
    "ensure_task",
    "generate_tasks",
    "get_task",
    "list_tasks",
    "loan_tier",
    "reassign_task",
    "release_task",
    "route_tasks",
    "snooze_task",
    "task_counts",
    "utc",
]
