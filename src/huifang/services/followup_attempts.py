"""Contact attempts and visits: every attempt passes the compliance guard, then the contact
strategy decides what happens next on the task; a completed contact becomes a visit.

`record_attempt` is one transaction: it checks the request with `compliance.check_contact`
against the loan's whole attempt history and the people's flags; a refusal is recorded as an
attempt with status ``refused``, the guard's reason codes and its explanation (the task then
waits until the guard's `next_allowed_at`). An allowed attempt is recorded with its outcome;
`contact_strategy.next_step` then schedules the retry, moves to an alternate contact, escalates
(SMS with a self-service link, which the guard checks too; a field visit routed to agents with
the ``field`` skill) or gives up (task closed as unreachable, a ``lost-contact`` risk event).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from huifang.calendars import ChineseHolidayCalendar
from huifang.domain.compliance import (
    TIME_BASED_CODES,
    Attempt,
    Channel,
    ContactPolicy,
    ContactRequest,
    Decision,
    HolidayCalendar,
    Outcome,
    Party,
    PartyFlags,
    PartyRole,
    Purpose,
    check_contact,
)
from huifang.domain.contact_strategy import (
    BorrowerProfile,
    NextStep,
    StepKind,
    TaskAttempt,
    next_step,
)
from huifang.domain.findings import FindingKind, FindingRules, evaluate_findings
from huifang.domain.scripts import AnswerType, Script
from huifang.finding_rules import load_finding_rules
from huifang.policy_files import LoadedPolicy
from huifang.security import pii
from huifang.services import configs
from huifang.services.followup import TaskError, _close, _open_task, aware, local_date, utc
from huifang.store.db import transaction
from huifang.store.followup_models import (
    ContactAttempt,
    FollowupTask,
    PartyFlag,
    RiskEvent,
    Visit,
)
from huifang.store.models import Borrower, Branch, Contact, Guarantor, Loan

FIELD_SKILL = "field"
CONVERSATION_OUTCOMES = frozenset(
    {
        Outcome.RIGHT_PARTY_CONTACT,
        Outcome.THIRD_PARTY_CONTACT,
        Outcome.REFUSED,
        Outcome.CALLBACK_REQUESTED,
    }
)
_CALLS = frozenset({Channel.AGENT_CALL, Channel.VOICE_AGENT})
_TIMED = frozenset(c.value for c in TIME_BASED_CODES)
_RELATION_ROLE = {
    "self": PartyRole.BORROWER,
    "spouse": PartyRole.SPOUSE,
    "emergency": PartyRole.EMERGENCY,
    "employer": PartyRole.EMPLOYER,
    "legal-rep": PartyRole.LEGAL_REP,
}
_PURPOSE = {
    "missed-payment": Purpose.OVERDUE,
    "bucket-change": Purpose.OVERDUE,
    "pre-loan-verification": Purpose.VERIFICATION,
    "disbursement-review": Purpose.VERIFICATION,
    "re-verification": Purpose.VERIFICATION,
    "first-visit": Purpose.ROUTINE,
    "routine": Purpose.ROUTINE,
    "inbound-callback": Purpose.CALLBACK,
}


def answers_to_json(answers: Mapping[str, object]) -> dict[str, Any]:
    """Typed script answers as JSON values: money and numbers as strings (exact), dates ISO."""
    out: dict[str, Any] = {}
    for key, value in answers.items():
        if isinstance(value, Decimal):
            out[key] = str(value)
        elif isinstance(value, date):
            out[key] = value.isoformat()
        elif value is None or isinstance(value, bool | int | str):
            out[key] = value
        else:
            raise TaskError(f"答案 {key} 的类型不支持 / unsupported answer type: {value!r}")
    return out


_ANSWER_TYPES = (bool, str, Decimal, date)


def check_script(
    script_id: str | None,
    script_version: int | None,
    *,
    engine: Engine | None = None,
    session: Session | None = None,
) -> Script | None:
    """The script an attempt or visit says it worked with: that exact version, packaged
    (`huifang/scripts/*.yaml`) or stored by the script editor (`services/configs.py`; give
    the engine or the open session to see stored versions).

    Both or neither of id and version must be given; an unknown id or a version that was
    never packaged or stored is refused with the scripts that exist, so a record never
    points at a script nobody can read back."""
    if script_id is None and script_version is None:
        return None
    if script_id is None or script_version is None:
        raise TaskError(
            "话术编号和版本须同时填写 / give both the script id and its version"
            f" (id={script_id!r}, version={script_version!r})"
        )
    if engine is None and session is not None:
        bind = session.get_bind()
        engine = bind if isinstance(bind, Engine) else bind.engine
    script = configs.script(engine, script_id, script_version, session=session)
    if script is not None:
        return script
    scripts = configs.scripts(engine, session=session)
    known = ", ".join(f"{s.id} v{s.version}" for s in sorted(scripts.values(), key=lambda s: s.id))
    if script_id not in scripts:
        raise TaskError(
            f"未知话术 {script_id!r}; 现有: {known}"
            f" / unknown script {script_id!r}; shipped: {known}"
        )
    versions = ", ".join(
        str(v) for v in configs.script_versions(engine, script_id, session=session)
    )
    raise TaskError(
        f"话术 {script_id} 没有版本 {script_version} (现有版本 {versions})"
        f" / script {script_id} has no version {script_version} (versions: {versions})"
    )


def typed_answers(answers: Mapping[str, object], script: Script | None) -> dict[str, object]:
    """Answers as the finding rules read them: numbers and money as Decimal, dates as date.

    Stored answers are JSON (`answers_to_json`: Decimal as text, dates ISO); a form may send
    them that way too. With the script, each question's declared type turns them back;
    without one, whole numbers become Decimal and other values pass as they are."""
    asks = {a.id: a.answer_type for a in script.asks()} if script is not None else {}
    out: dict[str, object] = {}
    for key, value in answers.items():
        kind = asks.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            value = Decimal(value)
        elif isinstance(value, float):
            value = Decimal(str(value))
        if kind in (AnswerType.NUMBER, AnswerType.MONEY) and isinstance(value, str):
            # not a number: the rules see text, which no numeric rule reads
            with contextlib.suppress(ArithmeticError):
                number = Decimal(value.strip().replace(",", ""))
                value = number if number.is_finite() else value
        elif kind is AnswerType.DATE and isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = date.fromisoformat(value.strip())
        if value is None or isinstance(value, _ANSWER_TYPES):
            out[key] = value
    return out


@dataclass(frozen=True)
class AttemptInput:
    """One attempt as the agent, the voice agent or a channel adapter reports it.

    number: the phone number, e-mail or address used; None takes the loan book's for `role`.
    outcome: None only for messages (SMS, e-mail, link) that have no answer.
    """

    channel: Channel
    role: PartyRole
    started_at: datetime
    outcome: Outcome | None = None
    number: str | None = None
    agent_id: int | None = None
    ended_at: datetime | None = None
    recording_ref: str | None = None
    recorded: bool = True
    script_id: str | None = None
    script_version: int | None = None
    answers: Mapping[str, object] | None = None
    identity_verified: bool = False
    was_conversation: bool | None = None
    callback_at: datetime | None = None
    note: str | None = None


@dataclass
class AttemptResult:
    attempt_id: int
    allowed: bool
    refusals: tuple[tuple[str, str, str], ...] = ()  # (code, 中文, English)
    next_allowed_at: datetime | None = None
    next_step: NextStep | None = None
    task_status: str = "open"
    escalation_attempts: list[int] = field(default_factory=list)
    visit_id: int | None = None


def _deployed_contact_policy() -> ContactPolicy:
    """The contact policy file in force (HUIFANG_CONTACT_POLICY, else the shipped default);
    `record_attempt` uses the one in force for its database (`configs.contact_policy`)."""
    return configs.contact_policy(None).policy


@dataclass(frozen=True)
class Guard:
    """The compliance guard's settings for a deployment: contact policy and holiday calendar.

    By default the policy file in force (`compliance_files.load_contact_policy`) and the
    mainland statutory holidays."""

    policy: ContactPolicy = field(default_factory=_deployed_contact_policy)
    calendar: HolidayCalendar = field(default_factory=ChineseHolidayCalendar)

    def check(
        self, request: ContactRequest, history: Sequence[Attempt], flags: PartyFlags
    ) -> Decision:
        return check_contact(request, history, flags, self.policy, self.calendar)


@dataclass
class _Context:
    task: FollowupTask
    loan: Loan
    borrower: Borrower
    timezone: str
    numbers: dict[PartyRole, str]
    history: list[Attempt]
    task_calls: list[TaskAttempt]
    flags: PartyFlags
    escalated: list[Channel]
    blocked: set[PartyRole]


def _context(session: Session, task: FollowupTask) -> _Context:
    loan = session.get(Loan, task.loan_id)
    assert loan is not None
    borrower = session.get(Borrower, loan.borrower_id)
    assert borrower is not None
    branch = session.get(Branch, loan.branch_id)
    tz = borrower.timezone or (branch.timezone if branch else None) or "Asia/Shanghai"
    # The loan book's numbers are stored encrypted; the dialer gets them decrypted here.
    ring = pii.current_ring()
    numbers: dict[PartyRole, str] = {PartyRole.BORROWER: pii.reveal(ring, borrower, "mobile") or ""}
    for c in session.scalars(select(Contact).where(Contact.borrower_id == borrower.id)):
        role = _RELATION_ROLE.get(c.relation)
        if role is not None and role not in numbers:
            numbers[role] = pii.reveal(ring, c, "phone") or ""
    for g in session.scalars(select(Guarantor).where(Guarantor.loan_id == loan.id)):
        mobile = pii.reveal(ring, g, "mobile")
        if mobile and PartyRole.GUARANTOR not in numbers:
            numbers[PartyRole.GUARANTOR] = mobile
    history: list[Attempt] = []
    task_calls: list[TaskAttempt] = []
    escalated: list[Channel] = []
    # the contacts we made: a call the borrower makes to us (inbound) is not one the
    # frequency caps or the contact strategy count
    for a in session.scalars(
        select(ContactAttempt)
        .where(
            ContactAttempt.loan_id == loan.id,
            ContactAttempt.status == "made",
            ContactAttempt.direction == "outbound",
        )
        .order_by(ContactAttempt.started_at, ContactAttempt.id)
    ):
        at = aware(a.started_at)
        assert at is not None
        channel, role = Channel(a.channel), PartyRole(a.contact_role)
        if a.task_id == task.id and channel in (Channel.SMS, Channel.FIELD_VISIT):
            escalated.append(channel)
        if a.outcome is None:
            continue
        outcome = Outcome(a.outcome)
        history.append(Attempt(at, channel, role, a.contact_number, outcome, a.was_conversation))
        if a.task_id == task.id and channel in _CALLS:
            task_calls.append(TaskAttempt(at, role, channel, outcome, aware(a.callback_at)))
    blocked: set[PartyRole] = set()
    for role, codes in session.execute(
        select(ContactAttempt.contact_role, ContactAttempt.refusal_codes).where(
            ContactAttempt.task_id == task.id, ContactAttempt.status == "refused"
        )
    ):
        if role != PartyRole.BORROWER.value and any(c not in _TIMED for c in codes or []):
            blocked.add(PartyRole(role))
    flags = _flags(session, borrower.id)
    return _Context(
        task, loan, borrower, tz, numbers, history, task_calls, flags, escalated, blocked
    )


def _flags(session: Session, borrower_id: int) -> PartyFlags:
    dnc: set[str] = set()
    sets: dict[str, set[Party]] = {
        "consent-withdrawn": set(),
        "third-party-refused": set(),
        "consent-outside-hours": set(),
        "human-requested": set(),
    }
    for f in session.scalars(select(PartyFlag).where(PartyFlag.borrower_id == borrower_id)):
        if f.flag == "do-not-call" and f.number:
            dnc.add(f.number)
        elif f.flag in sets:
            sets[f.flag].add(Party(PartyRole(f.role)))
    return PartyFlags(
        do_not_call=frozenset(dnc),
        consent_withdrawn=frozenset(sets["consent-withdrawn"]),
        third_party_refused=frozenset(sets["third-party-refused"]),
        consent_outside_hours=frozenset(sets["consent-outside-hours"]),
        human_requested=frozenset(sets["human-requested"]),
    )


def set_party_flag(
    engine: Engine,
    borrower_id: int,
    role: PartyRole,
    flag: str,
    source: str,
    number: str | None = None,
    now: datetime | None = None,
) -> None:
    """Record do-not-call, withdrawn consent, a human requested (PIPL art. 24) …"""
    allowed = {
        "do-not-call",
        "consent-withdrawn",
        "third-party-refused",
        "consent-outside-hours",
        "human-requested",
    }
    if flag not in allowed:
        raise TaskError(f"未知的标记 {flag!r} / unknown flag (allowed: {sorted(allowed)})")
    if flag == "do-not-call" and not number:
        raise TaskError("免打扰需要号码 / do-not-call needs the number")
    with transaction(engine) as session:
        session.add(
            PartyFlag(
                borrower_id=borrower_id,
                role=role.value,
                number=number,
                flag=flag,
                set_at=utc(now or datetime.now(UTC)),
                source=source,
            )
        )


def _purpose(ctx: _Context) -> Purpose:
    if ctx.task_calls and ctx.task_calls[-1].outcome is Outcome.CALLBACK_REQUESTED:
        return Purpose.CALLBACK
    return _PURPOSE.get(ctx.task.purpose, Purpose.EVENT)


def _request(ctx: _Context, inp: AttemptInput, number: str) -> ContactRequest:
    debtor = frozenset(
        n
        for r, n in ctx.numbers.items()
        if r in (PartyRole.BORROWER, PartyRole.GUARANTOR, PartyRole.LEGAL_REP)
    )
    return ContactRequest(
        at=inp.started_at,
        channel=inp.channel,
        party_role=inp.role,
        number=number,
        purpose=_purpose(ctx),
        timezone=ctx.timezone,
        debtor_numbers=debtor,
        recorded=inp.recorded,
    )


def _refusal_text(decision: Decision) -> str:
    return "；".join(f"{r.message_zh} / {r.message_en}" for r in decision.reasons)


def callback_due_at(session: Session, task: FollowupTask, at: datetime, guard: Guard) -> datetime:
    """The first moment at or after `at` at which the guard lets an agent call the borrower
    back on `task` (purpose callback): the calling window in the borrower's zone, holidays and
    caps as the guard sees them. `at` itself when the guard refuses for a reason that waiting
    does not lift (do-not-call…): the agent sees the refusal when dialing."""
    ctx = _context(session, task)
    number = ctx.numbers.get(PartyRole.BORROWER) or ""
    request = replace(
        _request(ctx, AttemptInput(Channel.AGENT_CALL, PartyRole.BORROWER, at), number),
        purpose=Purpose.CALLBACK,
    )
    decision = guard.check(request, ctx.history, ctx.flags)
    if decision.allowed or decision.next_allowed_at is None:
        return at
    return decision.next_allowed_at


def check_before_contact(
    engine: Engine, task_id: int, inp: AttemptInput, *, guard: Guard | None = None
) -> tuple[Decision, str]:
    """The compliance guard's decision on an attempt about to be made (before dialing) and
    the number it would use; nothing is written. `record_attempt` checks again when the
    attempt is recorded (a refusal is recorded there)."""
    guard = guard or Guard(policy=configs.contact_policy(engine).policy)
    if inp.started_at.tzinfo is None:
        raise TaskError("开始时间必须带时区 / started_at must be timezone-aware")
    with transaction(engine) as session:
        task = _open_task(session, task_id)
        ctx = _context(session, task)
        number = inp.number or ctx.numbers.get(inp.role)
        if not number:
            raise TaskError(f"贷款没有{inp.role.value}的联系方式 / no number on file for this role")
        return guard.check(_request(ctx, inp, number), ctx.history, ctx.flags), number


def record_attempt(
    engine: Engine,
    task_id: int,
    inp: AttemptInput,
    *,
    guard: Guard | None = None,
    policy: LoadedPolicy | None = None,
    complete: bool = True,
) -> AttemptResult:
    """Check, record and follow up one attempt on an open task.

    With `complete` (default) a right-party contact completes the task at once with the
    attempt's answers; pass False to complete it later with `complete_visit`.
    """
    guard = guard or Guard(policy=configs.contact_policy(engine).policy)
    loaded = policy or configs.followup_policy(engine)
    if inp.started_at.tzinfo is None:
        raise TaskError("开始时间必须带时区 / started_at must be timezone-aware")
    if inp.outcome is None and inp.channel in _CALLS | {Channel.FIELD_VISIT}:
        raise TaskError("电话和外访必须有结果代码 / calls and visits need an outcome")
    check_script(inp.script_id, inp.script_version, engine=engine)
    with transaction(engine) as session:
        task = _open_task(session, task_id)
        ctx = _context(session, task)
        number = inp.number or ctx.numbers.get(inp.role)
        if not number:
            raise TaskError(f"贷款没有{inp.role.value}的联系方式 / no number on file for this role")
        request = _request(ctx, inp, number)
        decision = guard.check(request, ctx.history, ctx.flags)
        row = ContactAttempt(
            task_id=task.id,
            loan_id=task.loan_id,
            agent_id=inp.agent_id,
            channel=inp.channel.value,
            contact_role=inp.role.value,
            contact_number=number,
            started_at=utc(inp.started_at),
            created_at=utc(inp.started_at),
        )
        if not decision.allowed:
            row.status = "refused"
            row.refusal_codes = [r.code.value for r in decision.reasons]
            row.refusal_reason = _refusal_text(decision)
            session.add(row)
            session.flush()
            result = AttemptResult(
                row.id,
                False,
                tuple((r.code.value, r.message_zh, r.message_en) for r in decision.reasons),
                decision.next_allowed_at,
                task_status=task.status,
            )
            task.claimed_by_id = None
            task.claim_expires_at = None
            if decision.next_allowed_at is not None:
                task.next_attempt_at = utc(decision.next_allowed_at)
            elif inp.role is PartyRole.BORROWER:
                # do-not-call, withdrawn consent…: people must look at it; not before tomorrow
                task.next_attempt_at = utc(inp.started_at + timedelta(days=1))
                task.status_reason = f"合规拦截 / refused: {row.refusal_reason}"
            else:
                # this third party is out for the task: the strategy moves on
                ctx.blocked.add(inp.role)
                _follow(session, ctx, loaded, guard, inp.started_at, result, complete, None, inp)
            result.task_status = task.status
            return result
        conversation = (
            inp.was_conversation
            if inp.was_conversation is not None
            else inp.outcome in CONVERSATION_OUTCOMES
        )
        row.status = "made"
        row.outcome = inp.outcome.value if inp.outcome else None
        row.ended_at = utc(inp.ended_at) if inp.ended_at else None
        row.duration_s = (
            int((inp.ended_at - inp.started_at).total_seconds()) if inp.ended_at else None
        )
        row.recording_ref = inp.recording_ref
        row.script_id = inp.script_id
        row.script_version = inp.script_version
        row.answers = answers_to_json(inp.answers) if inp.answers is not None else None
        row.identity_verified = inp.identity_verified
        row.was_conversation = conversation
        row.callback_at = utc(inp.callback_at) if inp.callback_at else None
        row.note = inp.note
        session.add(row)
        session.flush()
        result = AttemptResult(row.id, True, task_status=task.status)
        if inp.outcome is None:
            return result
        if inp.outcome is Outcome.REFUSED and inp.role not in (
            PartyRole.BORROWER,
            PartyRole.GUARANTOR,
            PartyRole.LEGAL_REP,
        ):
            session.add(
                PartyFlag(
                    borrower_id=ctx.borrower.id,
                    role=inp.role.value,
                    number=number,
                    flag="third-party-refused",
                    set_at=utc(inp.started_at),
                    source=f"attempt:{row.id}",
                )
            )
        at = aware(row.started_at)
        assert at is not None
        if inp.channel in _CALLS:
            ctx.task_calls.append(
                TaskAttempt(at, inp.role, inp.channel, inp.outcome, aware(row.callback_at))
            )
        now = inp.ended_at or inp.started_at
        _follow(session, ctx, loaded, guard, now, result, complete, row, inp)
        result.task_status = task.status
        return result


def _follow(
    session: Session,
    ctx: _Context,
    loaded: LoadedPolicy,
    guard: Guard,
    now: datetime,
    result: AttemptResult,
    complete: bool,
    row: ContactAttempt | None,
    inp: AttemptInput,
) -> None:
    """Apply the contact strategy's next step to the task."""
    task = ctx.task
    if row is not None and inp.outcome is Outcome.RIGHT_PARTY_CONTACT:
        step = NextStep(StepKind.COMPLETE, now, inp.role, (), "已接通本人", "right party reached")
    else:
        step = next_step(
            loaded.strategy,
            ctx.task_calls,
            [r for r in ctx.numbers if r is not PartyRole.BORROWER],
            _profile(ctx),
            now,
            ctx.escalated,
            blocked=ctx.blocked,
            timezone=ctx.timezone,
        )
    result.next_step = step
    if step.kind is StepKind.COMPLETE:
        task.next_attempt_at = None
        task.next_role = None
        if complete and row is not None:
            result.visit_id = _complete(
                session,
                task,
                row,
                inp.channel,
                inp.agent_id,
                inp.answers or {},
                inp.script_id,
                inp.script_version,
                "completed",
                inp.note,
                now,
                (),
                load_finding_rules(),
            )
    elif step.kind is StepKind.CALL:
        task.next_attempt_at = utc(step.at) if step.at else None
        task.next_role = step.role.value if step.role else None
        task.claimed_by_id = None
        task.claim_expires_at = None
    elif step.kind is StepKind.ESCALATE:
        result.escalation_attempts = _escalate(session, ctx, step, guard, loaded, now)
    else:
        _give_up(session, ctx, step, now)


def _profile(ctx: _Context) -> BorrowerProfile:
    return BorrowerProfile(
        tier=ctx.task.tier,
        self_employed=bool(ctx.borrower.self_employed),
        business=ctx.borrower.kind == "business",
    )


def _escalate(
    session: Session,
    ctx: _Context,
    step: NextStep,
    guard: Guard,
    loaded: LoadedPolicy,
    now: datetime,
) -> list[int]:
    """Send the SMS with the self-service link (if the guard allows it now, else at the
    guard's next allowed moment by whoever works the task) and/or route to a field visit."""
    task = ctx.task
    ids: list[int] = []
    used = list(ctx.escalated)
    if Channel.SMS in step.channels:
        number = ctx.numbers[PartyRole.BORROWER]
        request = ContactRequest(
            at=now,
            channel=Channel.SMS,
            party_role=PartyRole.BORROWER,
            number=number,
            purpose=_purpose(ctx),
            timezone=ctx.timezone,
            recorded=True,
        )
        decision = guard.check(request, ctx.history, ctx.flags)
        row = ContactAttempt(
            task_id=task.id,
            loan_id=task.loan_id,
            channel=Channel.SMS.value,
            contact_role=PartyRole.BORROWER.value,
            contact_number=number,
            started_at=utc(now),
            created_at=utc(now),
            note="短信含自助链接 (问卷、联系方式更新、还款计划) / SMS with self-service link",
        )
        if decision.allowed:
            row.status = "made"
            used.append(Channel.SMS)
        else:
            row.status = "refused"
            row.refusal_codes = [r.code.value for r in decision.reasons]
            row.refusal_reason = _refusal_text(decision)
        session.add(row)
        session.flush()
        ids.append(row.id)
    wants_field = Channel.FIELD_VISIT in step.channels
    task.status = "escalated"
    task.escalation = ",".join(c.value for c in step.channels)
    task.status_reason = f"升级 / escalated: {step.reason_zh}"
    task.claimed_by_id = None
    task.claim_expires_at = None
    if wants_field:
        skills = set(task.required_skills or [])
        skills.add(FIELD_SKILL)
        task.required_skills = sorted(skills)
        task.assigned_agent_id = None
        task.next_role = PartyRole.BORROWER.value
        task.next_attempt_at = None
    else:
        wait = loaded.strategy.escalation.wait_days_after_sms
        task.next_attempt_at = utc(now + timedelta(days=wait))
        task.next_role = PartyRole.BORROWER.value
    return ids


def _give_up(session: Session, ctx: _Context, step: NextStep, now: datetime) -> None:
    task = ctx.task
    _close(task, "unreachable", f"失联 / unreachable: {step.reason_zh}", now)
    raise_risk_event(
        session,
        task.loan_id,
        "lost-contact",
        local_date(now),
        source="system",
        ref=f"lost-contact:task:{task.id}",
        severity="high",
        details={"task_id": task.id, "reason": step.reason_zh},
    )


def raise_risk_event(
    session: Session,
    loan_id: int,
    kind: str,
    occurred_on: date,
    *,
    source: str,
    ref: str,
    severity: str = "medium",
    visit_id: int | None = None,
    details: Mapping[str, Any] | None = None,
) -> int:
    """Insert a risk event unless one with the same `ref` exists for the loan; its id."""
    existing = session.scalar(
        select(RiskEvent.id).where(RiskEvent.loan_id == loan_id, RiskEvent.ref == ref)
    )
    if existing is not None:
        return existing
    ev = RiskEvent(
        loan_id=loan_id,
        kind=kind,
        occurred_on=occurred_on,
        source=source,
        ref=ref,
        severity=severity,
        visit_id=visit_id,
        details=dict(details or {}),
        status="open",
    )
    session.add(ev)
    session.flush()
    return ev.id


@dataclass(frozen=True)
class RaisedEvent:
    """A risk event a finding rule raised from a visit's answers."""

    kind: str
    severity: str = "medium"
    details: Mapping[str, Any] = field(default_factory=dict)


def _complete(
    session: Session,
    task: FollowupTask,
    attempt: ContactAttempt | None,
    channel: Channel,
    agent_id: int | None,
    answers: Mapping[str, object],
    script_id: str | None,
    script_version: int | None,
    outcome: str,
    summary: str | None,
    at: datetime,
    events: Sequence[RaisedEvent] = (),
    rules: FindingRules | None = None,
) -> int:
    visit = Visit(
        task_id=task.id,
        loan_id=task.loan_id,
        attempt_id=attempt.id if attempt else None,
        agent_id=agent_id,
        channel=channel.value,
        completed_at=utc(at),
        script_id=script_id,
        script_version=script_version,
        answers=answers_to_json(answers),
        outcome=outcome,
        summary=summary,
    )
    session.add(visit)
    session.flush()
    _close(task, "done", f"已完成 / completed: {outcome}", at)
    task.completed_at = utc(at)
    if rules is not None and answers:
        script = check_script(script_id, script_version, session=session)
        found = findings_for(session, task.loan_id, answers, script, rules)
        already = {e.kind for e in events}
        events = [*events, *(f for f in found if f.kind not in already)]
    for ev in events:
        raise_risk_event(
            session,
            task.loan_id,
            ev.kind,
            local_date(at),
            source="visit",
            ref=f"visit:{visit.id}:{ev.kind}",
            severity=ev.severity,
            visit_id=visit.id,
            details=ev.details,
        )
    if events:
        # the next generation opens a risk-finding contact (policy event "risk-finding")
        raise_risk_event(
            session,
            task.loan_id,
            "risk-finding",
            local_date(at),
            source="visit",
            ref=f"visit:{visit.id}:risk-finding",
            severity="medium",
            visit_id=visit.id,
            details={"kinds": [e.kind for e in events]},
        )
    return visit.id


def findings_for(
    session: Session,
    loan_id: int,
    answers: Mapping[str, object],
    script: Script | None,
    rules: FindingRules,
) -> list[RaisedEvent]:
    """The finding rules over a visit's answers (typed by the script; income compared with
    the borrower's declared monthly income)."""
    loan = session.get(Loan, loan_id)
    borrower = session.get(Borrower, loan.borrower_id) if loan else None
    context: dict[str, object] = {}
    if borrower is not None and borrower.monthly_income is not None:
        context["declared_monthly_income"] = borrower.monthly_income
    typed = typed_answers(answers, script)
    return [
        RaisedEvent(
            f.kind.value,
            f.severity.value,
            {**f.details, "description": f"{f.description.zh} / {f.description.en}"},
        )
        for f in evaluate_findings(rules, typed, context)  # type: ignore[arg-type]
    ]


FINDING_EVENT_KINDS = frozenset(k.value for k in FindingKind)


def complete_visit(
    engine: Engine,
    task_id: int,
    *,
    channel: Channel,
    completed_at: datetime,
    answers: Mapping[str, object],
    agent_id: int | None = None,
    attempt_id: int | None = None,
    script_id: str | None = None,
    script_version: int | None = None,
    outcome: str = "completed",
    summary: str | None = None,
    events: Sequence[RaisedEvent] = (),
    findings: bool = True,
) -> int:
    """Record the completed contact (a field visit, a self-service questionnaire, or a call
    completed after the fact) and close the task. The finding rules in force
    (`finding_rules.load_finding_rules`) run over the typed answers unless `findings` is
    False; their risk events, and any in `events`, are raised."""
    if completed_at.tzinfo is None:
        raise TaskError("完成时间必须带时区 / completed_at must be timezone-aware")
    check_script(script_id, script_version, engine=engine)
    with transaction(engine) as session:
        task = _open_task(session, task_id)
        attempt = session.get(ContactAttempt, attempt_id) if attempt_id else None
        if attempt_id and (attempt is None or attempt.task_id != task.id):
            raise TaskError(f"尝试 #{attempt_id} 不属于任务 #{task_id} / attempt not on this task")
        return _complete(
            session,
            task,
            attempt,
            channel,
            agent_id,
            answers,
            script_id,
            script_version,
            outcome,
            summary,
            completed_at,
            events,
            load_finding_rules() if findings else None,
        )


def task_attempts(engine: Engine, task_id: int) -> list[dict[str, Any]]:
    """The attempts of a task, oldest first, as plain dicts (for the CLI and the workspace)."""
    with transaction(engine) as session:
        rows = session.scalars(
            select(ContactAttempt)
            .where(ContactAttempt.task_id == task_id)
            .order_by(ContactAttempt.started_at, ContactAttempt.id)
        )
        return [
            {
                "id": a.id,
                "channel": a.channel,
                "role": a.contact_role,
                "status": a.status,
                "outcome": a.outcome,
                "started_at": aware(a.started_at),
                "refusal_codes": a.refusal_codes,
                "refusal_reason": a.refusal_reason,
            }
            for a in rows
        ]
