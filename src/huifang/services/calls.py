"""The agent's call screen as a use case: take the top task, run its script one question at
a time with the runner state kept on the server, record the outcome through the compliance
guard, and let a completed visit's findings become risk events and alerts.

The web pages and the `/api/v1/calls` endpoints both call these functions; the rules stay
in the follow-up services (`followup`, `followup_attempts`), the script runner
(`domain.scripts`) and the risk service (`risk.evaluate_alerts`).

A signed-in web user works the queue as the follow-up agent of the same user name; an agent
row is created on first use in the first branch of the user's scope (`ensure_agent`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from huifang.domain import scripts as sc
from huifang.domain.compliance import Channel, Outcome, PartyRole
from huifang.domain.posting import LoanPosition
from huifang.domain.schedule import Schedule
from huifang.services import configs, followup, loan_views, risk
from huifang.services.followup import TaskError, TaskUnavailable, TaskView
from huifang.services.followup_attempts import AttemptInput, AttemptResult, record_attempt
from huifang.store.call_models import CallRun
from huifang.store.db import single_statement_session, transaction
from huifang.store.followup_models import Agent, FollowupTask
from huifang.store.models import Loan

LENDER_NAME = os.environ.get("HUIFANG_LENDER_NAME", "汇方汽车金融")
HOTLINE = os.environ.get("HUIFANG_HOTLINE", "400-000-0000")


class CallError(TaskError):
    """The call cannot go on as asked (no run, run finished, task not held by this agent)."""


def ensure_agent(engine: Engine, username: str, name: str, branch_codes: Iterable[str]) -> int:
    """The follow-up agent id of a web user; created in the first of `branch_codes` when the
    user has none yet (TaskError when the user has no branch to work in)."""
    with transaction(engine) as s:
        found = s.scalar(select(Agent.id).where(Agent.username == username))
    if found is not None:
        return int(found)
    codes = sorted(branch_codes)
    if not codes:
        raise TaskError("用户没有可工作的机构 / the user has no branch to work in")
    return followup.add_agent(engine, followup.AgentSpec(username, name or username, codes[0]))


def task_and_agent(engine: Engine, task_id: int, username: str) -> tuple[TaskView, int | None]:
    """The task (`followup.get_task`) and the web user's follow-up agent id (None when the
    user has none yet: `ensure_agent` creates it), in one statement outside a transaction —
    every request of the call screen needs both before its own transaction."""
    with single_statement_session(engine) as s:
        return followup.read_task_and_agent(s, task_id, username)


def take_top_task(engine: Engine, agent_id: int, now: datetime | None = None) -> TaskView | None:
    """Claim the most urgent task the agent may work now (the claim lease of `claim_next`)."""
    return followup.claim_next(engine, agent_id, now=now)


def _held(s: Session, task_id: int, agent_id: int, now: datetime) -> FollowupTask:
    task = s.get(FollowupTask, task_id)
    if task is None:
        raise loan_views.NotFound(f"no task {task_id}")
    expires = followup.aware(task.claim_expires_at)
    if (
        task.closed_at is not None
        or task.claimed_by_id != agent_id
        or not expires
        or expires <= now
    ):
        raise TaskUnavailable(
            f"任务 #{task_id} 未由您领取或已关闭, 请从队列领取 / "
            "the task is not held by you (claim it from the queue) or is closed"
        )
    return task


def _first_open(position: LoanPosition | None, schedule: Schedule) -> tuple[date, Decimal]:
    if position is not None:
        for inst in position.installments:
            if inst.settled_on is None:
                return inst.due_date, inst.outstanding
    last = schedule.installments[-1]
    return last.due_date, Decimal("0.00")


def script_context(
    engine: Engine,
    loan_id: int,
    agent_name: str,
    today: date,
    view: loan_views.BorrowerView | None = None,
) -> sc.ScriptContext:
    """The standard variables of a stored loan for its follow-up scripts (`view`: the loan's
    borrower 360° as of `today`, when the caller has it already)."""
    if view is None:
        with transaction(engine) as s:
            loan = s.get(Loan, loan_id)
            if loan is None:
                raise loan_views.NotFound(f"no loan {loan_id}")
            borrower_id = loan.borrower_id
        view = loan_views.borrower_360(engine, borrower_id, today)
    lv = next(v for v in view.loans if v.loan_id == loan_id)
    due_on, amount_due = _first_open(lv.position, lv.schedule)
    overdue = (
        sum((i.outstanding for i in lv.position.overdue_installments), Decimal("0.00"))
        if lv.position is not None
        else Decimal("0.00")
    )
    plate = str(lv.vehicle.get("plate") or "")
    # The person on the line proves who they are with their own ID number: for a business
    # borrower registered by its credit code that is its legal representative's (the code is
    # not an ID the person knows by heart, and its tail may hold letters the ID-tail question
    # refuses). Without a recorded representative ID the check cannot pass: identity_failed.
    by_code = view.kind == "business" and view.id_type != "resident-id"
    person = (view.legal_rep_name or view.name) if view.kind == "business" else view.name
    person_id = (view.legal_rep_id_number or "") if by_code else view.id_number
    values: dict[str, sc.ContextValue] = {
        "borrower_name": person,
        "company_name": view.name,
        "agent_name": agent_name,
        "lender_name": LENDER_NAME,
        "branch_name": lv.branch_name,
        "hotline": HOTLINE,
        "loan_amount": lv.principal,
        "term_months": lv.term_months,
        "repayment_day": lv.schedule.installments[0].due_date.day,
        "installment_amount": lv.schedule.installments[0].payment,
        "account_tail": "未登记",
        "disbursement_date": lv.disbursement_date,
        "amount_due": amount_due,
        "due_date": due_on,
        "overdue_amount": overdue,
        "days_past_due": lv.dpd,
        "outstanding_principal": lv.schedule.installments[0].balance
        + lv.schedule.installments[0].principal
        if lv.position is None
        else sum((i.principal_outstanding for i in lv.position.installments), Decimal("0.00")),
        "masked_plate": sc.mask_plate(plate) if plate else "未登记",
        "vehicle_model": f"{lv.vehicle.get('brand', '')} {lv.vehicle.get('model', '')}".strip(),
        "id_last4": person_id[-4:].upper(),
    }
    if view.monthly_income is not None:
        values["declared_monthly_income"] = view.monthly_income
    try:
        quote = loan_views.loan_payoff_quote(engine, loan_id, today).quote
        values.update(
            request_date=today,
            payoff_date=quote.as_of,
            payoff_amount=quote.total,
            prepayment_fee=quote.fee.net,
            interest_saved=quote.interest_saved,
        )
    except (ValueError, LookupError):
        pass  # no quote (lock-in, closed loan): only the early-repayment script needs it
    return sc.ScriptContext(today, values)


@dataclass(frozen=True)
class CallScreen:
    """What the call screen shows: the task, the borrower it is about, the runner state."""

    task: TaskView
    borrower_id: int
    run_id: int
    state: sc.RunState
    # the borrower 360° as of the call's day when this open built it (a new run), so the
    # call screen shows it without building it again
    view: loan_views.BorrowerView | None = None

    @property
    def prompt(self) -> sc.Prompt:
        return sc.prompt(self.state)


def _script(s: Session, script_id: str, version: int | None = None) -> sc.Script:
    """The script in force (`version` None: a new run), or exactly the version a stored run
    started with, so a run keeps its version when a manager activates another."""
    bind = s.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    script = configs.script(engine, script_id, version, session=s)
    if script is None:
        v = "" if version is None else f" v{version}"
        raise CallError(f"没有话术 {script_id}{v} / no script {script_id!r}{v}")
    return script


def _open_run(s: Session, task_id: int, agent_id: int) -> CallRun | None:
    return s.scalar(
        select(CallRun)
        .where(
            CallRun.task_id == task_id, CallRun.agent_id == agent_id, CallRun.closed_at.is_(None)
        )
        .order_by(CallRun.id.desc())
        .limit(1)
    )


def open_call(
    engine: Engine,
    task_id: int,
    agent_id: int,
    agent_name: str,
    today: date,
    now: datetime | None = None,
) -> CallScreen:
    """The call on a task this agent holds: resumes the stored run, or starts the task's
    script on the loan's variables."""
    at = now or datetime.now(UTC)
    view: loan_views.BorrowerView | None = None
    with transaction(engine) as s:
        task = _held(s, task_id, agent_id, at)
        loan_id, script_id = task.loan_id, task.script
        loan = s.get(Loan, loan_id)
        borrower = loan.borrower_id if loan else 0
        run = _open_run(s, task_id, agent_id)
        if run is not None:
            script = _script(s, run.script_id, run.script_version)
            state = sc.state_from_dict(run.state, script)
            run_id = run.id
        else:
            script = _script(s, script_id)
    if run is None:
        view = loan_views.borrower_360(engine, borrower, today) if borrower else None
        state = sc.start(script, script_context(engine, loan_id, agent_name, today, view))
        with transaction(engine) as s:
            _held(s, task_id, agent_id, at)
            row = CallRun(
                task_id=task_id,
                agent_id=agent_id,
                script_id=script.id,
                script_version=script.version,
                state=sc.state_to_dict(state),
                started_at=at,
                updated_at=at,
            )
            s.add(row)
            s.flush()
            run_id = row.id
    return CallScreen(followup.get_task(engine, task_id), borrower, run_id, state, view)


def answer_call(
    engine: Engine, task_id: int, agent_id: int, value: str, now: datetime | None = None
) -> sc.RunState:
    """Apply one answer (raw text, parsed for the question's type) to the stored run.

    A rejected answer keeps the position and carries the reason (`state.error`)."""
    at = now or datetime.now(UTC)
    with transaction(engine) as s:
        _held(s, task_id, agent_id, at)
        run = _open_run(s, task_id, agent_id)
        if run is None:
            raise CallError("通话尚未开始 / the call has not been opened")
        state = sc.state_from_dict(run.state, _script(s, run.script_id, run.script_version))
        if sc.is_finished(state):
            raise CallError("话术已结束 / the script has finished")
        state = sc.answer(state, value)
        run.state = sc.state_to_dict(state)
        run.updated_at = at
        return state


@dataclass(frozen=True)
class CallOutcome:
    """What recording the outcome did: the attempt (or the guard's refusal), the visit and
    the alerts its findings raised."""

    result: AttemptResult
    new_alerts: tuple[risk.AlertView, ...]


def finish_call(
    engine: Engine,
    task_id: int,
    agent_id: int,
    *,
    outcome: Outcome,
    role: PartyRole = PartyRole.BORROWER,
    callback_at: datetime | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> CallOutcome:
    """Record the call's outcome with the script's answers so far (compliance guard first).

    A right-party contact completes the visit: the finding rules run over the answers, their
    risk events are raised, and the early-warning rules are evaluated for the loan at once so
    the risk officer sees the alert. A refusal by the guard is returned with its reasons and
    keeps the run (nothing was said)."""
    at = now or datetime.now(UTC)
    if outcome is Outcome.CALLBACK_REQUESTED and callback_at is None:
        raise TaskError("约定回电须填写回电时间 / a callback needs its time")
    if callback_at is not None and callback_at.tzinfo is None:
        raise TaskError("回电时间必须带时区 / callback time must be timezone-aware")
    with transaction(engine) as s:
        task = _held(s, task_id, agent_id, at)
        run = _open_run(s, task_id, agent_id)
        state = (
            sc.state_from_dict(run.state, _script(s, run.script_id, run.script_version))
            if run
            else None
        )
        loan_id = task.loan_id
        loan = s.get(Loan, loan_id)
        contract = loan.contract_no if loan else ""
    result_state = sc.result(state) if state is not None else None
    inp = AttemptInput(
        channel=Channel.AGENT_CALL,
        role=role,
        started_at=followup.aware(run.started_at) or at if run is not None else at,
        ended_at=at,
        outcome=outcome,
        agent_id=agent_id,
        script_id=result_state.script_id if result_state else None,
        script_version=result_state.script_version if result_state else None,
        answers=dict(result_state.answers) if result_state else None,
        identity_verified=bool(result_state and result_state.identity_verified),
        callback_at=callback_at,
        note=note,
    )
    result = record_attempt(engine, task_id, inp)
    if result.allowed and run is not None:
        with transaction(engine) as s:
            row = s.get(CallRun, run.id)
            if row is not None:
                row.closed_at = at
                row.attempt_id = result.attempt_id
                row.updated_at = at
    alerts: tuple[risk.AlertView, ...] = ()
    if result.visit_id is not None:
        alerts = tuple(risk.evaluate_loan_alerts(engine, followup.local_date(at), contract))
    return CallOutcome(result, alerts)
