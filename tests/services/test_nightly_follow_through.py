"""The nightly run from the database, then its follow-through into the workspace tables:
what `generate_tasks` and `evaluate_alerts` would add is there, once — on SQLite and
PostgreSQL, re-run, forced and interrupted."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from followup_book import make_book
from sqlalchemy import Engine, func, select

from huifang.batch import follow_through as ft
from huifang.batch.follow_through import follow_through
from huifang.batch.followup_inputs import read_database_followup
from huifang.batch.inputs import read_database_inputs
from huifang.batch.output import DatabaseSink
from huifang.batch.risk_inputs import read_database_risk
from huifang.batch.runner import RunContext, run
from huifang.batch.templates import TemplateCache
from huifang.services import configs
from huifang.services.followup import generate_tasks
from huifang.services.risk import evaluate_alerts
from huifang.store.db import transaction
from huifang.store.followup_models import FollowupTask, RiskEvent
from huifang.store.risk_models import RiskAlert, RiskTierChange

AS_OF = date(2026, 3, 21)
NOW = datetime(2026, 3, 22, 1, 0, tzinfo=UTC)


def _nightly(engine: Engine, force: bool = False) -> RunContext:
    ctx = RunContext(
        as_of=AS_OF,
        load=lambda: read_database_inputs(engine),
        load_risk=lambda: read_database_risk(engine),
        load_followup=lambda: read_database_followup(engine),
        followup_policy=configs.followup_policy(engine),
        sink=DatabaseSink(engine),
        cache=TemplateCache(),
        force=force,
    )
    return run(ctx)


def _counts(engine: Engine) -> tuple[int, int, int]:
    with transaction(engine) as s:
        return (
            s.scalar(select(func.count()).select_from(RiskAlert)) or 0,
            s.scalar(select(func.count()).select_from(FollowupTask)) or 0,
            s.scalar(select(func.count()).select_from(RiskTierChange)) or 0,
        )


def test_follow_through_writes_what_the_services_would_once(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = make_book(engine)
    with transaction(engine) as s:  # a finding: an alert and an event-triggered task
        for kind in ("income-drop", "risk-finding"):
            s.add(
                RiskEvent(
                    loan_id=ids["L-LOW"],
                    kind=kind,
                    occurred_on=date(2026, 3, 1),
                    source="visit",
                    ref=f"visit:test:{kind}",
                    details={},
                )
            )
    ctx = _nightly(engine)
    summary = ctx.summary
    assert summary["alerts"]["new"] > 0 and summary["tasks"]["new"] > 0
    assert summary["alerts"]["new_by_rule"]["income-or-job"] == 1
    # a crash in the middle of the follow-through leaves nothing behind
    real = ft.text

    def failing(sql: str):  # type: ignore[no-untyped-def]
        if "risk_tier_history" in sql:
            raise RuntimeError("killed")
        return real(sql)

    monkeypatch.setattr(ft, "text", failing)
    with pytest.raises(RuntimeError):
        follow_through(engine, AS_OF, now=NOW)
    assert _counts(engine) == (0, 0, 0)
    monkeypatch.setattr(ft, "text", real)
    done = follow_through(engine, AS_OF, now=NOW)
    assert (done.alerts, done.tasks) == (summary["alerts"]["new"], summary["tasks"]["new"])
    assert done.tier_changes == sum(summary["tasks"]["tier_changes"].values()) > 0
    written = _counts(engine)
    assert written == (done.alerts, done.tasks, done.tier_changes)
    # again, and a forced re-run of the date: nothing twice
    again = follow_through(engine, AS_OF, now=NOW)
    assert (again.alerts, again.tasks, again.tier_changes) == (0, 0, 0)
    forced = _nightly(engine, force=True)
    assert forced.summary["alerts"]["new"] == 0 and forced.summary["tasks"]["new"] == 0
    assert forced.summary["tasks"]["already_open"] > 0
    assert sum(forced.summary["tasks"]["tier_changes"].values()) == 0
    follow_through(engine, AS_OF, now=NOW)
    assert _counts(engine) == written
    # the services find nothing the run left out
    assert generate_tasks(engine, AS_OF, now=NOW).created == 0
    report = evaluate_alerts(engine, AS_OF)
    assert not report.by_rule
    with transaction(engine) as s:
        task = s.scalars(
            select(FollowupTask).where(
                FollowupTask.loan_id == ids["L-LOW"], FollowupTask.purpose == "risk-finding"
            )
        ).one()
        assert task.required_skills == [] and task.trigger_ref.startswith("risk:")
        alert = s.scalars(select(RiskAlert).where(RiskAlert.rule_id == "income-or-job")).one()
        assert alert.actions and alert.facts["latest_on"] == "2026-03-01"
