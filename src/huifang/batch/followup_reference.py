"""The follow-up stages per loan with the domain and service functions: what
`followup_stage` must equal.

* alerts: per loan, the early-warning `LoanSnapshot` as `services.risk.snapshot` builds it
  (the position from `reference.loan_position`; each installment's cash of its own period
  from the allocations as `services.risk.loan_state` counts it; the LTV history of the
  stored valuations plus this run's own; findings and attempts in date, then id order),
  `early_warning.evaluate` and `plan_alerts` against the stored alerts;
* tasks: per loan, `services.followup.loan_tier`, `delinquency_events` and the policy's
  `tasks_due`, then the open-task and seen-occasion filters of `generate_tasks`.

Slow on purpose (a Python loop per loan): the agreement tests use it.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections import defaultdict
from datetime import date
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pyarrow as pa

from huifang.batch.followup_inputs import FollowupBook
from huifang.batch.reference import loan_position
from huifang.domain import early_warning as ew
from huifang.domain import followup_policy as fp
from huifang.domain.delinquency import days_past_due
from huifang.policy_files import LoadedPolicy
from huifang.services.followup import delinquency_events, loan_tier


def _by_loan(table: pa.Table) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in table.to_pylist():
        out[row["loan_id"]].append(row)
    return out


def _positions(
    states: pa.Table, loans: pa.Table, payments: pa.Table, as_of: date
) -> dict[int, Any]:
    rows = {r["loan_id"]: r for r in loans.to_pylist()}
    paid = _by_loan(payments)
    return {
        loan_id: loan_position(rows[loan_id], paid.get(loan_id, []), as_of)
        for loan_id in states.column("loan_id").to_pylist()
    }


def _installments(position: Any, as_of: date) -> tuple[ew.InstallmentRecord, ...]:
    due_dates = [i.due_date for i in position.installments]
    received: dict[int, Decimal] = defaultdict(Decimal)
    for allocation in position.allocations:
        if allocation.amount <= 0:
            continue
        index = bisect_left(due_dates, allocation.posted_on)
        if index < len(due_dates):
            received[position.installments[index].period] += allocation.amount
    return tuple(
        ew.InstallmentRecord(
            period=i.period,
            due_date=i.due_date,
            amount_due=i.principal_due + i.interest_due,
            received=received[i.period],
            settled_on=i.settled_on,
        )
        for i in position.installments
        if i.due_date <= as_of
    )


def new_alerts(
    states: pa.Table,
    loans: pa.Table,
    payments: pa.Table,
    book: FollowupBook,
    as_of: date,
    rules: ew.RuleSet,
    context: ew.EvaluationContext,
    collateral: pa.Table | None = None,
) -> list[ew.AlertHit]:
    """The new alerts of every loan of `states`, in loan and rule order."""
    contract = dict(
        zip(*(loans.column(c).to_pylist() for c in ("loan_id", "contract_no")), strict=True)
    )
    industry = {r["loan_id"]: r["industry"] for r in book.borrowers.to_pylist()}
    events: dict[int, list[tuple[date, int, ew.RiskEvent]]] = defaultdict(list)
    for e in book.events.to_pylist():
        finding = e["source"] == "risk" and e["kind"] in {k.value for k in ew.FINDING_KINDS}
        if finding or e["source"] == "attempt":
            kind = ew.EventKind(e["kind"])
        else:
            continue
        if e["occurred_on"] <= as_of:
            events[e["loan_id"]].append(
                (e["occurred_on"], e["event_id"], ew.RiskEvent(kind, e["occurred_on"]))
            )
    history: dict[int, dict[date, tuple[int, Decimal]]] = defaultdict(dict)
    for v in book.ltv_history.to_pylist():
        if v["valued_on"] <= as_of and v["ltv"] is not None:
            before = history[v["loan_id"]].get(v["valued_on"])
            if before is None or before[0] < v["valuation_id"]:
                history[v["loan_id"]][v["valued_on"]] = (v["valuation_id"], v["ltv"])
    if collateral is not None:
        for c in collateral.select(["loan_id", "ltv"]).to_pylist():
            if c["ltv"] is not None:
                history[c["loan_id"]][as_of] = (0, c["ltv"])
    positions = _positions(states, loans, payments, as_of)
    hits: list[ew.AlertHit] = []
    for loan_id, position in positions.items():
        dpd = days_past_due(position)
        snap = ew.LoanSnapshot(
            contract_no=contract[loan_id],
            as_of=as_of,
            dpd=dpd,
            oldest_overdue_due_date=position.oldest_overdue_due_date if dpd else None,
            installments=_installments(position, as_of),
            ltv_history=tuple((d, v) for d, (_, v) in sorted(history[loan_id].items())),
            industry=industry.get(loan_id),
            events=tuple(e for _, _, e in sorted(events[loan_id], key=lambda t: t[:2])),
        )
        hits.extend(ew.evaluate(rules, snap, context))
    stored = [
        ew.StoredAlert(a["key"], contract[a["loan_id"]], a["rule_id"], ew.AlertStatus(a["status"]))
        for a in book.stored_alerts.to_pylist()
        if a["loan_id"] in contract
    ]
    return list(ew.plan_alerts(hits, stored).new)


def due_tasks(
    states: pa.Table,
    loans: pa.Table,
    payments: pa.Table,
    book: FollowupBook,
    as_of: date,
    loaded: LoadedPolicy,
    tiers: pa.Table | None = None,
) -> list[dict[str, Any]]:
    """The task rows `generate_tasks` would insert for the loans of `states`."""
    loan_rows = {r["loan_id"]: r for r in loans.to_pylist()}
    borrowers = {r["loan_id"]: r for r in book.borrowers.to_pylist()}
    assessed: dict[int, str] = {}
    for t in sorted(book.tier_history.to_pylist(), key=lambda t: (t["as_of"], t["change_id"])):
        if t["kind"] == "risk" and t["as_of"] <= as_of:
            assessed[t["loan_id"]] = t["tier"]
    if tiers is not None:
        now = (tiers.column(c).to_pylist() for c in ("loan_id", "risk_tier"))
        assessed.update(zip(*now, strict=True))
    contacts: dict[int, list[fp.CompletedContact]] = defaultdict(list)
    for c in book.contacts.to_pylist():
        contacts[c["loan_id"]].append(fp.CompletedContact(c["purpose"], c["completed_on"]))
    kinds = {k.value for k in fp.EventKind}
    stored: dict[int, list[fp.LoanEvent]] = defaultdict(list)
    for e in sorted(book.events.to_pylist(), key=lambda e: e["event_id"]):
        if e["source"] == "risk" and e["kind"] in kinds:
            stored[e["loan_id"]].append(
                fp.LoanEvent(fp.EventKind(e["kind"]), e["occurred_on"], f"risk:{e['event_id']}")
            )
    open_tasks = {(t["loan_id"], t["purpose"]) for t in book.stored_tasks.to_pylist() if t["open"]}
    seen = {(t["loan_id"], t["purpose"], t["due_on"]) for t in book.stored_tasks.to_pylist()}
    rows: list[dict[str, Any]] = []
    for loan_id, position in _positions(states, loans, payments, as_of).items():
        b = borrowers.get(loan_id)
        if b is None:
            continue
        dpd = days_past_due(position)
        oldest = position.oldest_overdue_due_date if dpd else None
        facts = SimpleNamespace(
            vehicle_price=b["vehicle_price"],
            down_payment=b["down_payment"],
            credit_score=b["credit_score"],
        )
        try:
            tier = loan_tier(facts, dpd, assessed.get(loan_id))  # type: ignore[arg-type]
        except (ValueError, TypeError):
            continue
        loan = loan_rows[loan_id]
        snapshot = fp.LoanSnapshot(
            loan_id=loan_id,
            phase=fp.LoanPhase.ACTIVE,
            opened_on=loan["disbursement_date"],
            tier=tier,
            borrower_kind=b["borrower_kind"],
            self_employed=bool(b["self_employed"]),
            industry=b["industry"],
        )
        events = delinquency_events(oldest, as_of) + stored.get(loan_id, [])
        events = [e for e in events if e.occurred_on <= as_of]
        for due in fp.tasks_due(loaded.policy, snapshot, contacts.get(loan_id, []), events, as_of):
            if (loan_id, due.purpose) in open_tasks:
                continue
            if (loan_id, due.purpose, due.due_on) in seen:
                continue
            rows.append(
                {
                    "loan_id": loan_id,
                    "branch_id": loan["branch_id"],
                    "purpose": due.purpose,
                    "stage": due.stage.value,
                    "due_on": due.due_on,
                    "deadline": due.deadline,
                    "priority": due.priority,
                    "tier": tier,
                    "required_skills": json.dumps(list(due.skills), ensure_ascii=False),
                    "script": due.script,
                    "reason": f"{due.reason_zh} / {due.reason_en}",
                    "trigger_ref": due.trigger_ref or None,
                    "policy_version": loaded.version,
                }
            )
    return sorted(rows, key=lambda r: (r["loan_id"], r["purpose"]))
