"""The online follow-up questionnaire (在线回访) on the borrower's self-service link, as a use
case: the loan's open follow-up task is worked by the borrower in the browser with the task's
own script, one answer at a time, on the same runner as an agent's call screen
(`domain.scripts`; the state is stored in `selfservice_runs` so any web process serves the next
answer and a reload resumes). The link's identity check stands for the script's
(`domain.questionnaire.answer_verified_identity`).

When the run ends, its completion is recorded exactly like an agent's visit: an attempt on the
task (channel ``self-service-link``, the borrower's role, outcome right-party contact, the
script id/version and typed answers, identity verified), the visit with the same answers, the
finding rules' risk events (`followup_attempts._complete`) and the early-warning rules for
the loan (`risk.evaluate_alerts`), so an income drop typed online raises the same alert as one
said on the phone. The borrower started this contact, so the compliance guard's calling
windows and caps — rules for contacts the lender makes — are not applied; the attempt is not
counted as a voice conversation. A run that ends handed over (the borrower asked for a
person) is recorded as an attempt asking for a callback and leaves the task open for an agent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from huifang.domain import scripts as sc
from huifang.domain.compliance import Channel, Outcome, PartyRole
from huifang.domain.questionnaire import answer_verified_identity
from huifang.finding_rules import load_finding_rules
from huifang.security import audit, pii
from huifang.services import configs, followup, loan_views, risk
from huifang.services.calls import script_context
from huifang.services.followup import TaskError, local_date, utc
from huifang.services.followup_attempts import _complete, answers_to_json
from huifang.store.db import transaction
from huifang.store.followup_models import ContactAttempt, FollowupTask
from huifang.store.models import Borrower, Loan
from huifang.store.selfservice_models import SelfServiceRun

AGENT_NAME = "在线服务"  # what {agent_name} reads on the page (no agent is involved)
NOTE = "借款人在线填写回访问卷 / follow-up questionnaire completed online by the borrower"


class QuestionnaireError(TaskError):
    """The questionnaire cannot go on as asked (none open, finished), bilingual."""


@dataclass(frozen=True)
class Questionnaire:
    """Where the borrower's questionnaire stands: the task, the run and its state, and —
    once finished — the attempt, the visit and the alerts its answers raised."""

    task_id: int
    run_id: int
    state: sc.RunState
    attempt_id: int | None = None
    visit_id: int | None = None
    new_alerts: tuple[risk.AlertView, ...] = ()

    @property
    def prompt(self) -> sc.Prompt:
        return sc.prompt(self.state)

    @property
    def finished(self) -> bool:
        return sc.is_finished(self.state)


def _script(s: Session, script_id: str, version: int | None = None) -> sc.Script:
    """The script in force (`version` None: a new run), or exactly the version a stored run
    started with (`services/configs.py`)."""
    bind = s.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    script = configs.script(engine, script_id, version, session=s)
    if script is None:
        raise QuestionnaireError(f"没有话术 {script_id} / no script {script_id!r}")
    return script


def _task(s: Session, loan_id: int) -> FollowupTask | None:
    """The loan's open follow-up task the borrower can answer online: the most urgent one."""
    return s.scalar(
        select(FollowupTask)
        .where(FollowupTask.loan_id == loan_id, FollowupTask.closed_at.is_(None))
        .order_by(FollowupTask.priority, FollowupTask.due_on, FollowupTask.id)
        .limit(1)
    )


def _run(s: Session, task_id: int) -> SelfServiceRun | None:
    return s.scalar(
        select(SelfServiceRun)
        .where(SelfServiceRun.task_id == task_id)
        .order_by(SelfServiceRun.id.desc())
        .limit(1)
    )


def current(engine: Engine, loan_id: int) -> Questionnaire | None:
    """The questionnaire last worked on for the loan's open task, or the finished one of the
    most recent run (None when the loan has no open task and nothing was filled in)."""
    with transaction(engine) as s:
        task = _task(s, loan_id)
        run = (
            _run(s, task.id)
            if task is not None
            else s.scalar(
                select(SelfServiceRun)
                .where(SelfServiceRun.loan_id == loan_id)
                .order_by(SelfServiceRun.id.desc())
                .limit(1)
            )
        )
        if run is None:
            return None
        state = sc.state_from_dict(run.state, _script(s, run.script_id, run.script_version))
        return Questionnaire(run.task_id, run.id, state, run.attempt_id, run.visit_id)


def open_questionnaire(
    engine: Engine, loan_id: int, today: date, now: datetime | None = None
) -> Questionnaire | None:
    """The questionnaire of the loan's open follow-up task: resumed, or started on the task's
    script with the loan's variables and the identity questions answered by the link's check.
    None when the loan has no open task (nothing is due)."""
    at = now or datetime.now(UTC)
    with transaction(engine) as s:
        task = _task(s, loan_id)
        if task is None:
            return None
        run = _run(s, task.id)
        if run is not None and run.closed_at is None:
            state = sc.state_from_dict(run.state, _script(s, run.script_id, run.script_version))
            return Questionnaire(task.id, run.id, state)
        task_id, script = task.id, _script(s, task.script)
    state = answer_verified_identity(
        sc.start(script, script_context(engine, loan_id, AGENT_NAME, today))
    )
    with transaction(engine) as s:
        row = SelfServiceRun(
            loan_id=loan_id,
            task_id=task_id,
            script_id=script.id,
            script_version=script.version,
            state=sc.state_to_dict(state),
            started_at=utc(at),
            updated_at=utc(at),
        )
        s.add(row)
        s.flush()
        run_id = row.id
    return Questionnaire(task_id, run_id, state)


def answer_questionnaire(
    engine: Engine,
    loan_id: int,
    value: object,
    *,
    actor: audit.Actor | None = None,
    now: datetime | None = None,
) -> Questionnaire:
    """Apply one answer (text parsed for the question's type, or a typed value) to the stored
    run; when the run ends, record the attempt, the visit, findings and alerts. A rejected
    answer keeps the position and carries the reason (`state.error`)."""
    at = now or datetime.now(UTC)
    with transaction(engine) as s:
        task = _task(s, loan_id)
        run = _run(s, task.id) if task is not None else None
        if task is None or run is None or run.closed_at is not None:
            raise QuestionnaireError("没有进行中的回访问卷 / there is no questionnaire in progress")
        state = sc.state_from_dict(run.state, _script(s, run.script_id, run.script_version))
        if sc.is_finished(state):
            raise QuestionnaireError("问卷已完成 / the questionnaire is finished")
        state = sc.answer(state, value)
        run.state = sc.state_to_dict(state)
        run.updated_at = utc(at)
        task_id, run_id = task.id, run.id
        if not sc.is_finished(state):
            return Questionnaire(task_id, run_id, state)
        attempt_id, visit_id = _record(s, task, run, state, at)
        contract = _contract(s, loan_id)
        branch = _branch(s, loan_id)
        audit.record(
            s,
            actor or audit.Actor(None, None, None),
            "selfservice.questionnaire",
            target_type="loan",
            target_id=loan_id,
            branch_code=branch,
            detail={
                "task_id": task_id,
                "attempt_id": attempt_id,
                "visit_id": visit_id,
                "script": f"{run.script_id} v{run.script_version}",
                "outcome": state.outcome,
            },
            at=at,
        )
    alerts: tuple[risk.AlertView, ...] = ()
    if visit_id is not None:
        alerts = tuple(risk.evaluate_loan_alerts(engine, local_date(at), contract))
    return Questionnaire(task_id, run_id, state, attempt_id, visit_id, alerts)


def _contract(s: Session, loan_id: int) -> str:
    loan = s.get(Loan, loan_id)
    if loan is None:
        raise loan_views.NotFound(f"贷款不存在 / no loan {loan_id}")
    return loan.contract_no


def _branch(s: Session, loan_id: int) -> str | None:
    loan = s.get(Loan, loan_id)
    return loan.branch.code if loan is not None and loan.branch is not None else None


def _record(
    s: Session, task: FollowupTask, run: SelfServiceRun, state: sc.RunState, at: datetime
) -> tuple[int, int | None]:
    """The attempt (and, for a completed run, the visit) of a finished questionnaire."""
    result = sc.result(state)
    loan = s.get(Loan, task.loan_id)
    assert loan is not None
    borrower = s.get(Borrower, loan.borrower_id)
    assert borrower is not None
    started = followup.aware(run.started_at) or at
    handed_over = result.handed_over
    row = ContactAttempt(
        task_id=task.id,
        loan_id=task.loan_id,
        agent_id=None,
        channel=Channel.SELF_SERVICE_LINK.value,
        contact_role=PartyRole.BORROWER.value,
        contact_number=pii.reveal(pii.current_ring(), borrower, "mobile") or "",
        status="made",
        outcome=(Outcome.CALLBACK_REQUESTED if handed_over else Outcome.RIGHT_PARTY_CONTACT).value,
        started_at=utc(started),
        ended_at=utc(at),
        duration_s=int((at - started).total_seconds()),
        script_id=result.script_id,
        script_version=result.script_version,
        answers=answers_to_json(result.answers),
        identity_verified=result.identity_verified,
        was_conversation=False,  # not a voice conversation (the daily cap counts those)
        callback_at=utc(at) if handed_over else None,
        note=NOTE,
        created_at=utc(at),
    )
    s.add(row)
    s.flush()
    run.closed_at = utc(at)
    run.attempt_id = row.id
    if handed_over:
        # an agent calls back: the task stays open and is due now
        task.next_attempt_at = utc(at)
        task.next_role = PartyRole.BORROWER.value
        task.status_reason = "借款人在线问卷中要求人工联系 / the borrower asked for a person online"
        return row.id, None
    visit_id = _complete(
        s,
        task,
        row,
        Channel.SELF_SERVICE_LINK,
        None,
        result.answers,
        result.script_id,
        result.script_version,
        result.outcome or "completed",
        NOTE,
        at,
        (),
        load_finding_rules(),
    )
    run.visit_id = visit_id
    return row.id, visit_id


def request_person(
    engine: Engine, loan_id: int, *, actor: audit.Actor | None = None, now: datetime | None = None
) -> Questionnaire:
    """The borrower asks for a person instead of the questionnaire (PIPL art. 24): the run ends
    handed over and the task waits for an agent's callback."""
    at = now or datetime.now(UTC)
    with transaction(engine) as s:
        task = _task(s, loan_id)
        run = _run(s, task.id) if task is not None else None
        if task is None or run is None or run.closed_at is not None:
            raise QuestionnaireError("没有进行中的回访问卷 / there is no questionnaire in progress")
        state = sc.state_from_dict(run.state, _script(s, run.script_id, run.script_version))
        state = sc.request_handover(
            state, sc.Text("借款人在线要求人工联系", "the borrower asked for a person online")
        )
        run.state = sc.state_to_dict(state)
        run.updated_at = utc(at)
        attempt_id, _ = _record(s, task, run, state, at)
        audit.record(
            s,
            actor or audit.Actor(None, None, None),
            "selfservice.questionnaire",
            target_type="loan",
            target_id=loan_id,
            branch_code=_branch(s, loan_id),
            detail={"task_id": task.id, "attempt_id": attempt_id, "outcome": state.outcome},
            at=at,
        )
        return Questionnaire(task.id, run.id, state, attempt_id)
