"""The online follow-up questionnaire: the task's own script on the same runner, identity
taken from the link's check, and a completion recorded like an agent's visit — attempt,
visit, findings, risk events and alerts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from selfservice_book import AS_OF, book_engine  # noqa: F401
from sqlalchemy import Engine, select

from huifang.cli_voice import DEMO_CONTEXT
from huifang.domain import scripts as sc
from huifang.domain.questionnaire import answer_verified_identity, identity_answers
from huifang.script_files import load_standard_scripts
from huifang.security import audit
from huifang.services import followup, risk
from huifang.services import online_followup as of
from huifang.services.followup_attempts import task_attempts
from huifang.store.db import transaction
from huifang.store.followup_models import ContactAttempt, FollowupTask, RiskEvent, Visit
from huifang.store.models import Borrower, Loan

NOW = datetime(2026, 11, 2, 13, 30, tzinfo=UTC)  # 21:30 in Shanghai: after calling hours


def reply(q: of.Questionnaire) -> object:
    """A borrower whose income went down (an income-drop finding), nothing else changed."""
    prompt = q.prompt
    if prompt.answer_type is sc.AnswerType.YES_NO:
        step = q.state.position or ""
        return "否" if step.endswith("_changed") or "difficulty" in step else "是"
    if prompt.answer_type is sc.AnswerType.CHOICE:
        codes = [o.code for o in prompt.options]
        return next((c for c in ("income_drop", "down", "normal") if c in codes), codes[0])
    if prompt.answer_type is sc.AnswerType.MONEY:
        return "1000"
    if prompt.answer_type is sc.AnswerType.NUMBER:
        return "1"
    if prompt.answer_type is sc.AnswerType.DATE:
        return "2026-11-05"
    return "无"


def _task_loan(engine: Engine) -> int:
    followup.generate_tasks(engine, AS_OF)
    with transaction(engine) as s:
        # an individual: the standard scripts' ID check reads a resident ID's last four
        loan_id = s.scalar(
            select(FollowupTask.loan_id)
            .join(Loan, Loan.id == FollowupTask.loan_id)
            .join(Borrower, Borrower.id == Loan.borrower_id)
            .where(
                FollowupTask.closed_at.is_(None),
                FollowupTask.script.in_(["routine", "first_visit"]),
                Borrower.kind == "individual",
            )
            .order_by(FollowupTask.id)
            .limit(1)
        )
    if loan_id is None:
        pytest.skip("no open routine or first-visit task")
    return int(loan_id)


def test_identity_answers_come_from_the_scripts_own_check() -> None:
    script = load_standard_scripts()["routine"]
    assert identity_answers(script, {"id_last4": "123X"}) == {
        "identity_confirmed": True,
        "id_last4": "123X",
    }
    assert identity_answers(script, {}) == {}


def test_questionnaire_completes_like_an_agents_visit(book_engine: Engine) -> None:  # noqa: F811
    loan_id = _task_loan(book_engine)
    q = of.open_questionnaire(book_engine, loan_id, AS_OF, now=NOW)
    assert q is not None and not q.finished
    assert q.state.identity_verified  # answered by the link's check
    first_question = q.prompt.question
    assert first_question is not None and "身份证" not in first_question.zh
    again = of.open_questionnaire(book_engine, loan_id, AS_OF, now=NOW)
    assert again is not None and again.run_id == q.run_id  # resumed, not restarted

    assert q.prompt.answer_type is not sc.AnswerType.FREE_TEXT
    rejected = of.answer_questionnaire(book_engine, loan_id, "¥¥¥", now=NOW)
    assert rejected.state.error is not None and not rejected.finished
    assert rejected.state.position == q.state.position  # asked again, with the reason
    for _ in range(40):
        current = of.current(book_engine, loan_id)
        assert current is not None
        if current.finished:
            break
        q = of.answer_questionnaire(book_engine, loan_id, reply(current), now=NOW)
        if q.finished:
            break
    assert q.finished and q.attempt_id is not None and q.visit_id is not None
    with transaction(book_engine) as s:
        attempt = s.get(ContactAttempt, q.attempt_id)
        visit = s.get(Visit, q.visit_id)
        task = s.get(FollowupTask, q.task_id)
        events = list(s.scalars(select(RiskEvent).where(RiskEvent.visit_id == q.visit_id)))
        assert attempt is not None and visit is not None and task is not None
        assert attempt.channel == "self-service-link" and attempt.contact_role == "borrower"
        assert attempt.outcome == "right-party-contact" and attempt.identity_verified
        assert attempt.script_id == visit.script_id and attempt.answers == visit.answers
        assert visit.channel == "self-service-link" and visit.outcome == "completed"
        assert task.status == "done" and task.closed_at is not None
    assert "income-drop" in {e.kind for e in events}
    assert any(a.contract_no for a in q.new_alerts) or risk.list_alerts(book_engine)
    assert [a["channel"] for a in task_attempts(book_engine, q.task_id)][-1] == "self-service-link"
    assert audit.search(book_engine, action="selfservice.questionnaire", limit=1)
    with pytest.raises(of.QuestionnaireError):
        of.answer_questionnaire(book_engine, loan_id, "是", now=NOW)


def test_borrower_asks_for_a_person(book_engine: Engine) -> None:  # noqa: F811
    loan_id = _task_loan(book_engine)
    q = of.open_questionnaire(book_engine, loan_id, AS_OF, now=NOW)
    assert q is not None
    done = of.request_person(book_engine, loan_id, now=NOW)
    assert done.state.handed_over and done.visit_id is None
    with transaction(book_engine) as s:
        task = s.get(FollowupTask, done.task_id)
        attempt = s.get(ContactAttempt, done.attempt_id)
        assert task is not None and task.closed_at is None  # an agent calls back
        assert attempt is not None and attempt.outcome == "callback-requested"


def test_verified_identity_walks_the_check_without_asking() -> None:
    script = load_standard_scripts()["first_visit"]
    state = sc.start(script, _context(script))
    state = answer_verified_identity(state)
    assert state.identity_verified and not state.finished


def _context(script: sc.Script) -> sc.ScriptContext:
    values = {k: v for k, v in DEMO_CONTEXT.items() if k in script.variables}
    return sc.ScriptContext(AS_OF, values)  # type: ignore[arg-type]
