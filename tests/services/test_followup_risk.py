"""From a visit's answers to findings, risk events, alerts, the risk tier and the next tasks
(`services.followup_risk.follow_through`), and corrections that change the findings — on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from followup_book import make_book
from sqlalchemy import Engine, select

from huifang.domain.compliance import Channel, Outcome, PartyRole
from huifang.services.followup import TaskError, generate_tasks, list_tasks
from huifang.services.followup_attempts import (
    AttemptInput,
    check_script,
    complete_visit,
    record_attempt,
    typed_answers,
)
from huifang.services.followup_corrections import propose_correction, review_correction
from huifang.services.followup_risk import follow_through
from huifang.services.risk import tier_history
from huifang.store.db import transaction
from huifang.store.followup_models import ContactAttempt, RiskEvent
from huifang.store.models import Borrower, Loan
from huifang.store.risk_models import RiskAlert

SH = ZoneInfo("Asia/Shanghai")
VISITED = datetime(2026, 3, 24, 10, 0, tzinfo=SH)
# as a web form or the stored visit has them: money as text, choices as codes
ANSWERS = {
    "identity_confirmed": True,
    "monthly_income": "4500.00",  # declared 9,000: down 50 %
    "vehicle_status": "sold",
    "job_status": "unchanged",
}


def _book_with_visit(engine: Engine, answers: dict[str, object] = ANSWERS) -> tuple[int, int]:
    """L-LOW (low tier) with a declared income of 9,000, its tier recorded on 2026-03-21,
    and its first visit completed on 2026-03-24 with `answers`; (loan id, visit id)."""
    ids = make_book(engine)
    with transaction(engine) as s:
        loan = s.get(Loan, ids["L-LOW"])
        assert loan is not None
        borrower = s.get(Borrower, loan.borrower_id)
        assert borrower is not None
        borrower.monthly_income = Decimal("9000.00")
    before = follow_through(
        engine, date(2026, 3, 21), contract_nos=["L-LOW"], now=datetime(2026, 3, 21, tzinfo=UTC)
    )
    assert before.tiers.by_tier == {"low": 1}
    task = next(
        t.id for t in list_tasks(engine) if t.contract_no == "L-LOW" and t.purpose == "first-visit"
    )
    visit = complete_visit(
        engine,
        task,
        channel=Channel.FIELD_VISIT,
        completed_at=VISITED,
        answers=answers,
        script_id="first_visit",
        script_version=1,
    )
    return ids["L-LOW"], visit


def _events(engine: Engine, loan_id: int) -> list[tuple[str, str, str]]:
    with transaction(engine) as s:
        return sorted(
            (e.kind, e.status, e.source)
            for e in s.scalars(select(RiskEvent).where(RiskEvent.loan_id == loan_id))
        )


def test_visit_findings_raise_alerts_tier_and_tasks(engine: Engine) -> None:
    loan_id, _ = _book_with_visit(engine)
    # findings → risk events (income typed as money from its JSON text, by the script)
    assert _events(engine, loan_id) == [
        ("income-drop", "open", "visit"),
        ("risk-finding", "open", "visit"),
        ("vehicle-sold", "open", "visit"),
    ]
    with transaction(engine) as s:
        drop = s.scalar(select(RiskEvent).where(RiskEvent.kind == "income-drop"))
        assert drop is not None
        assert (drop.severity, drop.details["drop_pct"]) == ("high", "50.0")

    day = date(2026, 3, 26)
    first = follow_through(
        engine, day, contract_nos=["L-LOW"], now=datetime(2026, 3, 26, tzinfo=UTC)
    )
    # early-warning alerts from the finding events
    assert first.alerts.by_rule == {"income-or-job": 1, "vehicle-at-risk": 1}
    with transaction(engine) as s:
        alerts = sorted(
            (a.rule_id, a.severity, a.status)
            for a in s.scalars(select(RiskAlert).where(RiskAlert.loan_id == loan_id))
        )
    assert alerts == [("income-or-job", "high", "open"), ("vehicle-at-risk", "critical", "open")]
    # the risk tier rises, with its reasons recorded
    assert first.tiers.changes == [("L-LOW", "risk", "low", "high")]
    risk_changes = [h for h in tier_history(engine, "L-LOW") if h["kind"] == "risk"]
    assert [(h["previous_tier"], h["tier"]) for h in risk_changes] == [
        (None, "low"),
        ("low", "high"),
    ]
    reasons = risk_changes[-1]["reasons"]
    assert isinstance(reasons, list)
    assert reasons[0]["tier"] == "high" and "alert" in reasons[0]["code"]
    # an event-triggered task with its deadline (event + 2 days, SLA 5 days)
    finding_tasks = [t for t in list_tasks(engine) if t.purpose == "risk-finding"]
    assert [(t.contract_no, t.due_on, t.deadline, t.tier) for t in finding_tasks] == [
        ("L-LOW", date(2026, 3, 26), date(2026, 3, 31), "high")
    ]

    # re-run: alerts deduplicated (refreshed, none new), no tier change, no new task
    again = follow_through(
        engine, day, contract_nos=["L-LOW"], now=datetime(2026, 3, 26, tzinfo=UTC)
    )
    assert (again.alerts.new, again.alerts.refreshed) == (0, 2)
    assert again.tiers.changes == [] and again.tasks.created == 0
    with transaction(engine) as s:
        assert len(list(s.scalars(select(RiskAlert)))) == 2

    # routine cadence is now the high tier's: monthly from the visit (low would be 3 months)
    generate_tasks(engine, date(2026, 4, 23), loan_ids=[loan_id])
    assert not [t for t in list_tasks(engine) if t.purpose == "routine"]
    generate_tasks(engine, date(2026, 4, 24), loan_ids=[loan_id])
    routine = [t for t in list_tasks(engine) if t.purpose == "routine"]
    assert [(t.contract_no, t.due_on, t.tier) for t in routine] == [
        ("L-LOW", date(2026, 4, 24), "high")
    ]


def test_without_the_recorded_tier_the_cadence_stays_low(engine: Engine) -> None:
    """The control: the same visit with no findings leaves the loan low (next routine in
    three months), so the monthly task above comes from the raised tier."""
    loan_id, _ = _book_with_visit(engine, {"monthly_income": "9000.00", "vehicle_status": "normal"})
    report = follow_through(engine, date(2026, 3, 26), contract_nos=["L-LOW"])
    assert report.alerts.new == 0 and report.tiers.changes == []
    generate_tasks(engine, date(2026, 4, 24), loan_ids=[loan_id])
    assert not [t for t in list_tasks(engine) if t.purpose in ("routine", "risk-finding")]


def test_approved_correction_reruns_the_findings(engine: Engine) -> None:
    loan_id, visit = _book_with_visit(engine)
    at = datetime(2026, 3, 25, 9, 0, tzinfo=SH)
    c = propose_correction(
        engine,
        visit,
        maker="wang",
        reason="录入错误: 车辆正常, 实为失业",
        new_answers={"vehicle_status": "normal", "job_status": "lost"},
        now=at,
    )
    assert c.status == "pending"
    assert _events(engine, loan_id) == [  # nothing changes before the review
        ("income-drop", "open", "visit"),
        ("risk-finding", "open", "visit"),
        ("vehicle-sold", "open", "visit"),
    ]
    review_correction(engine, c.id, reviewer="zhao", approve=True, note="核对录音", now=at)
    assert _events(engine, loan_id) == [
        ("income-drop", "open", "visit"),  # still holds: kept as it was
        ("job-loss", "open", "correction"),  # new
        ("risk-finding", "open", "correction"),
        ("risk-finding", "open", "visit"),
        ("vehicle-sold", "superseded", "visit"),  # kept, never deleted
        ("visit-corrected", "open", "correction"),
    ]
    with transaction(engine) as s:
        sold = s.scalar(select(RiskEvent).where(RiskEvent.kind == "vehicle-sold"))
        loss = s.scalar(select(RiskEvent).where(RiskEvent.kind == "job-loss"))
        assert sold is not None and loss is not None
        assert sold.details["superseded_by"] == f"correction:{c.id}"
        assert (loss.occurred_on, loss.severity, loss.visit_id) == (
            date(2026, 3, 25),
            "high",
            visit,
        )
    # the early-warning rules no longer see the superseded event
    report = follow_through(engine, date(2026, 3, 26), contract_nos=["L-LOW"])
    assert report.alerts.by_rule == {"income-or-job": 1}

    # correcting everything away supersedes the rest, the visit's risk-finding included
    c2 = propose_correction(
        engine,
        visit,
        maker="wang",
        reason="收入也记错了",
        new_answers={"monthly_income": "9000.00", "job_status": "unchanged"},
        now=at,
    )
    review_correction(engine, c2.id, reviewer="zhao", approve=True, now=at)
    statuses = {(k, src): st for k, st, src in _events(engine, loan_id)}
    assert statuses[("income-drop", "visit")] == "superseded"
    assert statuses[("job-loss", "correction")] == "superseded"
    assert statuses[("vehicle-sold", "visit")] == "superseded"


def test_rejected_correction_leaves_the_findings(engine: Engine) -> None:
    loan_id, visit = _book_with_visit(engine)
    c = propose_correction(
        engine, visit, maker="wang", reason="x", new_answers={"vehicle_status": "normal"}
    )
    review_correction(engine, c.id, reviewer="zhao", approve=False, note="录音显示已卖")
    assert ("vehicle-sold", "open", "visit") in _events(engine, loan_id)


def test_attempt_scripts_are_checked_against_the_shipped_files(engine: Engine) -> None:
    assert check_script(None, None) is None
    assert check_script("routine", 1) is not None
    with pytest.raises(TaskError, match=r"unknown script 'routin'.*routine v1"):
        check_script("routin", 1)
    with pytest.raises(TaskError, match="no version 2"):
        check_script("routine", 2)
    with pytest.raises(TaskError, match="both the script id and its version"):
        check_script("routine", None)
    ids = make_book(engine)
    generate_tasks(engine, date(2026, 3, 20), now=datetime(2026, 3, 20, tzinfo=UTC))
    task = next(
        t.id for t in list_tasks(engine) if t.contract_no == "L-LOW" and t.purpose == "first-visit"
    )
    attempt = AttemptInput(
        channel=Channel.AGENT_CALL,
        role=PartyRole.BORROWER,
        started_at=datetime(2026, 3, 23, 10, 0, tzinfo=SH),
        outcome=Outcome.NO_ANSWER,
        script_id="first_visit",
        script_version=7,
    )
    with pytest.raises(TaskError, match="first_visit has no version 7"):
        record_attempt(engine, task, attempt)
    with transaction(engine) as s:  # nothing recorded
        assert list(s.scalars(select(ContactAttempt))) == []
    with pytest.raises(TaskError, match="unknown script"):
        complete_visit(
            engine,
            task,
            channel=Channel.FIELD_VISIT,
            completed_at=VISITED,
            answers={},
            script_id="nope",
            script_version=1,
        )
    ok = record_attempt(
        engine,
        task,
        AttemptInput(
            channel=Channel.AGENT_CALL,
            role=PartyRole.BORROWER,
            started_at=datetime(2026, 3, 23, 10, 0, tzinfo=SH),
            outcome=Outcome.NO_ANSWER,
            script_id="first_visit",
            script_version=1,
        ),
    )
    with transaction(engine) as s:
        row = s.get(ContactAttempt, ok.attempt_id)
        assert row is not None and (row.script_id, row.script_version) == ("first_visit", 1)
    assert ids["L-LOW"]


def test_typed_answers_follow_the_script() -> None:
    script = check_script("first_visit", 1)
    typed = typed_answers(
        {"monthly_income": "4,500.50", "vehicle_status": "sold", "x": 3, "bad": "三千"}, script
    )
    assert typed == {
        "monthly_income": Decimal("4500.50"),
        "vehicle_status": "sold",
        "x": Decimal(3),
        "bad": "三千",
    }
    assert typed_answers({"monthly_income": "4500"}, None) == {"monthly_income": "4500"}
