"""After the nightly run commits: its new alerts, due tasks and tier changes into the
workspace tables the web workspace reads (`risk_alerts`, `followup_tasks`,
`risk_tier_history`).

One transaction, three set-based ``INSERT … SELECT`` statements from the committed run's
tables (`batch_loan_alerts`, `batch_loan_tasks`, `batch_loan_tier_changes`, already bulk-
written by the run: PostgreSQL COPY, SQLite batched inserts) - no ORM object per row. Each
statement inserts only what is not there yet, so the step is idempotent:

* an alert whose key is stored, or whose loan already has an unresolved alert of the rule,
  is skipped (the `plan_alerts` rule, re-checked at write time);
* a task whose loan already has an open task of the purpose, or ever had one for the
  purpose and due date, is skipped (`generate_tasks`' rule; the unique partial index on
  open tasks backs it under concurrency: ``ON CONFLICT DO NOTHING``);
* a tier change is recorded only when the latest recorded tier on or before the date
  differs.

So re-running it, running it after a crash half-way (nothing was committed), or after a
forced re-run of the date (whose inputs then hold what was written) adds nothing twice.
`huifang run` calls it after every database run, and also when the date was already run,
which completes a follow-through that a crash cut off after the run's commit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Engine, select, text

from huifang.store.batch_models import BatchRun


@dataclass(frozen=True)
class FollowThroughReport:
    as_of: date
    run_id: int | None  # the committed run written from (None: no committed run)
    alerts: int = 0
    tasks: int = 0
    tier_changes: int = 0


def _actions_sql() -> str:
    """Each rule's recommended actions as JSON text (the rule file in force)."""
    from huifang.risk_rules import load_rule_set

    cases = " ".join(
        "WHEN '{}' THEN '{}'".format(
            r.id.replace("'", "''"), json.dumps([a.value for a in r.actions])
        )
        for r in load_rule_set().rules
    )
    return f"CASE b.rule_id {cases} ELSE '[]' END"


def follow_through(
    engine: Engine, as_of: date, *, now: datetime | None = None
) -> FollowThroughReport:
    """Write the committed run of `as_of` into the workspace tables (module docstring)."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC)
    pg = engine.dialect.name == "postgresql"
    json_of = (lambda sql: f"CAST({sql} AS JSON)") if pg else (lambda sql: sql)
    distinct = "IS DISTINCT FROM" if pg else "IS NOT"
    with engine.begin() as conn:
        row = conn.execute(
            select(BatchRun.id, BatchRun.summary).where(
                BatchRun.as_of == as_of, BatchRun.status == "committed"
            )
        ).first()
        if row is None:
            return FollowThroughReport(as_of, None)
        run_id, summary = row.id, row.summary or {}
        params = {"run": run_id, "as_of": as_of, "now": stamp}
        alerts = conn.execute(
            text(f"""
                INSERT INTO risk_alerts (key, loan_id, contract_no, rule_id, rule_version,
                    episode, severity, actions, title_zh, title_en, facts, status,
                    first_seen_on, last_seen_on, opened_at)
                SELECT b.key, b.loan_id, b.contract_no, b.rule_id, b.rule_version, b.episode,
                    b.severity, {json_of(_actions_sql())}, b.title_zh, b.title_en,
                    {json_of("b.facts")}, 'open', :as_of, :as_of, :now
                FROM batch_loan_alerts b
                WHERE b.run_id = :run
                  AND NOT EXISTS (SELECT 1 FROM risk_alerts a WHERE a.key = b.key)
                  AND NOT EXISTS (SELECT 1 FROM risk_alerts a WHERE a.loan_id = b.loan_id
                                  AND a.rule_id = b.rule_id AND a.status <> 'resolved')
                ON CONFLICT DO NOTHING"""),
            params,
        ).rowcount
        tasks = conn.execute(
            text(f"""
                INSERT INTO followup_tasks (loan_id, branch_id, purpose, stage, due_on,
                    deadline, priority, status, tier, required_skills, script, reason,
                    trigger_ref, policy_version, created_at, updated_at)
                SELECT b.loan_id, b.branch_id, b.purpose, b.stage, b.due_on, b.deadline,
                    b.priority, 'open', b.tier, {json_of("b.required_skills")}, b.script,
                    b.reason, b.trigger_ref, b.policy_version, :now, :now
                FROM batch_loan_tasks b
                WHERE b.run_id = :run
                  AND NOT EXISTS (SELECT 1 FROM followup_tasks t WHERE t.loan_id = b.loan_id
                                  AND t.purpose = b.purpose AND t.closed_at IS NULL)
                  AND NOT EXISTS (SELECT 1 FROM followup_tasks t WHERE t.loan_id = b.loan_id
                                  AND t.purpose = b.purpose AND t.due_on = b.due_on)
                ON CONFLICT DO NOTHING"""),
            params,
        ).rowcount
        version = str((summary.get("tiers") or {}).get("settings_version", ""))
        reasons = (
            '\'[{"code": "\' || b.reason || \'", "tier": "\' || b.tier || '
            '\'", "zh": "夜间批处理: \' || b.reason || \'", "en": "nightly run: \' || '
            "b.reason || '\"}]'"
        )
        tiers = conn.execute(
            text(f"""
                INSERT INTO risk_tier_history (loan_id, kind, as_of, previous_tier, tier,
                    reasons, settings_version, created_at)
                SELECT b.loan_id, b.kind, :as_of, b.previous_tier, b.tier, {json_of(reasons)},
                    :version, :now
                FROM batch_loan_tier_changes b
                WHERE b.run_id = :run
                  AND (SELECT h.tier FROM risk_tier_history h
                       WHERE h.loan_id = b.loan_id AND h.kind = b.kind AND h.as_of <= :as_of
                       ORDER BY h.as_of DESC, h.id DESC LIMIT 1) {distinct} b.tier"""),
            {**params, "version": version},
        ).rowcount
    return FollowThroughReport(as_of, run_id, alerts, tasks, tiers)
