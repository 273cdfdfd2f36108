"""The loop from follow-up back to risk and again to follow-up, for a date.

A visit's findings are stored as `risk_events` when it is completed
(`followup_attempts.complete_visit`); from there three use cases owned by other modules take
it on, and they must run in this order, because each reads what the previous one wrote:

1. `risk.evaluate_alerts` — the early-warning `finding` rules (income-or-job,
   vehicle-at-risk, health-event) read the finding events and raise alerts, deduplicated
   (a second run only refreshes them);
2. `risk.assess_tiers` — open alerts, DPD, LTV and the behaviour score set the risk tier;
   a change is recorded in `risk_tier_history` with its reasons;
3. `followup.generate_tasks` — the ``risk-finding`` event opens an event-triggered task
   (due and deadline from the policy), and the recorded tier sets the routine cadence.

`follow_through` runs the three for a date (optionally for some loans), each in its own
transactions, all idempotent, so a run that stops half-way is simply run again. The nightly
run calls it after the book's own updates; a workspace may call it for one loan right after
a visit so the agent sees the alert and the next task at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Engine, select

from huifang.domain.tiering import BehaviourScore
from huifang.policy_files import LoadedPolicy
from huifang.services.followup import GenerationReport, generate_tasks
from huifang.services.risk import (
    AlertRunReport,
    RiskConfig,
    TierRunReport,
    assess_tiers,
    evaluate_alerts,
    load_risk_config,
)
from huifang.store.db import transaction
from huifang.store.models import Loan


@dataclass(frozen=True)
class FollowThroughReport:
    """What each of the three steps did."""

    alerts: AlertRunReport
    tiers: TierRunReport
    tasks: GenerationReport


def follow_through(
    engine: Engine,
    as_of: date,
    *,
    contract_nos: Sequence[str] | None = None,
    config: RiskConfig | None = None,
    behaviour: Mapping[str, BehaviourScore] | None = None,
    policy: LoadedPolicy | None = None,
    now: datetime | None = None,
) -> FollowThroughReport:
    """Alerts, then tiers, then tasks as of `as_of` (see the module docstring)."""
    config = config or load_risk_config()
    alerts = evaluate_alerts(engine, as_of, config, contract_nos=contract_nos)
    tiers = assess_tiers(engine, as_of, config, behaviour=behaviour, contract_nos=contract_nos)
    loan_ids = None
    if contract_nos is not None:
        with transaction(engine) as s:
            loan_ids = list(
                s.scalars(select(Loan.id).where(Loan.contract_no.in_(list(contract_nos))))
            )
    tasks = generate_tasks(engine, as_of, policy=policy, loan_ids=loan_ids, now=now)
    return FollowThroughReport(alerts, tiers, tasks)


__all__ = ["FollowThroughReport", "follow_through"]
