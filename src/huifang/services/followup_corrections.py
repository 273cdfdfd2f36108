"""Corrections (回访说错怎么办): amend a completed visit without ever editing it.

A correction is appended with who made it, when, why and which answers change (old → new).
Answers the policy names as key (`corrections.key_answers`: identity, vehicle, income, job,
fund use, promises…) need a reviewer who is not the maker (maker-checker) before they take
effect; other corrections apply at once. Approving a correction of an answer listed in
`corrections.reverify_answers` — or any correction made with ``reverify=True`` — opens a
re-verification task for the loan. Once in effect, the finding rules run again over the
answers now in effect: a finding the corrected answers raise that the visit's open events
lack becomes a new risk event (source ``correction``), and an open finding event of the visit
whose basis was corrected away is marked ``superseded`` — kept, never deleted, and no longer
read by the early-warning rules or task generation. `visit_history` shows the original
answers, every correction with its status, and the answers in effect.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from huifang.finding_rules import load_finding_rules
from huifang.policy_files import LoadedPolicy
from huifang.services import configs
from huifang.services.followup import TaskError, aware, ensure_task, local_date, utc
from huifang.services.followup_attempts import (
    FINDING_EVENT_KINDS,
    answers_to_json,
    check_script,
    findings_for,
    raise_risk_event,
)
from huifang.store.db import transaction
from huifang.store.followup_models import Correction, FollowupTask, RiskEvent, Visit
from huifang.store.models import Loan

EFFECTIVE = ("applied", "approved")


class CorrectionError(TaskError):
    """A correction that cannot be made or reviewed."""


@dataclass(frozen=True)
class CorrectionView:
    id: int
    visit_id: int
    maker: str
    made_at: datetime
    reason: str
    changes: tuple[dict[str, Any], ...]
    needs_review: bool
    status: str
    reviewer: str | None
    reviewed_at: datetime | None
    review_note: str | None
    reverify_task_id: int | None


@dataclass(frozen=True)
class VisitHistory:
    visit_id: int
    loan_id: int
    completed_at: datetime
    original: dict[str, Any]
    corrections: tuple[CorrectionView, ...]
    effective: dict[str, Any]


def _view(c: Correction) -> CorrectionView:
    made = aware(c.made_at)
    assert made is not None
    return CorrectionView(
        c.id,
        c.visit_id,
        c.maker,
        made,
        c.reason,
        tuple(c.changes),
        c.needs_review,
        c.status,
        c.reviewer,
        aware(c.reviewed_at),
        c.review_note,
        c.reverify_task_id,
    )


def _effective(session: Session, visit: Visit) -> dict[str, Any]:
    answers = dict(visit.answers or {})
    for c in session.scalars(
        select(Correction).where(Correction.visit_id == visit.id).order_by(Correction.id)
    ):
        if c.status in EFFECTIVE:
            for change in c.changes:
                answers[change["question"]] = change["new"]
    return answers


def propose_correction(
    engine: Engine,
    visit_id: int,
    *,
    maker: str,
    reason: str,
    new_answers: Mapping[str, object],
    reverify: bool = False,
    now: datetime | None = None,
    policy: LoadedPolicy | None = None,
) -> CorrectionView:
    """Append a correction of `visit_id`'s answers. Key answers wait for review."""
    loaded = policy or configs.followup_policy(engine)
    at = utc(now or datetime.now(UTC))
    if not maker.strip():
        raise CorrectionError("必须注明更正人 / the maker is required")
    if not reason.strip():
        raise CorrectionError("必须说明更正原因 / a reason is required")
    with transaction(engine) as session:
        visit = session.get(Visit, visit_id)
        if visit is None:
            raise CorrectionError(f"回访记录 #{visit_id} 不存在 / no such visit")
        current = _effective(session, visit)
        pending = session.scalar(
            select(Correction.id).where(
                Correction.visit_id == visit_id, Correction.status == "pending"
            )
        )
        if pending is not None:
            raise CorrectionError(
                f"更正 #{pending} 尚待复核, 请先处理 / correction #{pending} awaits review first"
            )
        new = answers_to_json(new_answers)
        changes = [
            {"question": q, "old": current.get(q), "new": v}
            for q, v in sorted(new.items())
            if current.get(q) != v
        ]
        if not changes:
            raise CorrectionError("没有任何答案发生变化 / no answer changes")
        key = any(ch["question"] in loaded.policy.key_answers for ch in changes)
        row = Correction(
            visit_id=visit_id,
            maker=maker.strip(),
            made_at=at,
            reason=reason.strip(),
            changes=changes,
            needs_review=key,
            status="pending" if key else "applied",
            reverify_requested=reverify,
        )
        session.add(row)
        session.flush()
        if not key:
            _after_effect(session, visit, row, loaded, at)
        return _view(row)


def review_correction(
    engine: Engine,
    correction_id: int,
    *,
    reviewer: str,
    approve: bool,
    note: str = "",
    now: datetime | None = None,
    policy: LoadedPolicy | None = None,
) -> CorrectionView:
    """Approve or reject a pending correction; the reviewer may not be its maker."""
    loaded = policy or configs.followup_policy(engine)
    at = utc(now or datetime.now(UTC))
    with transaction(engine) as session:
        row = session.get(Correction, correction_id)
        if row is None:
            raise CorrectionError(f"更正 #{correction_id} 不存在 / no such correction")
        if row.status != "pending":
            raise CorrectionError(f"更正 #{correction_id} 已是 {row.status} / already {row.status}")
        if reviewer.strip() == row.maker:
            raise CorrectionError("复核人不能是更正人本人 / the reviewer cannot be the maker")
        if not approve and not note.strip():
            raise CorrectionError("驳回须说明理由 / a rejection needs a note")
        row.status = "approved" if approve else "rejected"
        row.reviewer = reviewer.strip()
        row.reviewed_at = at
        row.review_note = note.strip() or None
        if approve:
            visit = session.get(Visit, row.visit_id)
            assert visit is not None
            _after_effect(session, visit, row, loaded, at)
        return _view(row)


def _after_effect(
    session: Session,
    visit: Visit,
    row: Correction,
    loaded: LoadedPolicy,
    at: datetime,
) -> None:
    """Once a correction is in effect: the findings again over the corrected answers; a
    re-verification task when it touches an answer that needs one (or was asked for), and
    a risk event so the change is seen."""
    refresh_findings(session, visit, row, at)
    touched = {ch["question"] for ch in row.changes}
    if not (row.reverify_requested or touched & loaded.policy.reverify_answers):
        return
    loan = session.get(Loan, visit.loan_id)
    assert loan is not None
    task = session.get(FollowupTask, visit.task_id)
    tier = task.tier if task else "medium"
    row.reverify_task_id = ensure_task(
        session,
        loan,
        loaded.policy.reverify_purpose,
        local_date(at),
        f"回访更正 #{row.id} 后复核 / re-verification after correction #{row.id}",
        f"correction:{row.id}",
        loaded,
        tier,
        at,
    )
    raise_risk_event(
        session,
        visit.loan_id,
        "visit-corrected",
        local_date(at),
        source="correction",
        ref=f"correction:{row.id}",
        severity="medium",
        visit_id=visit.id,
        details={"changes": row.changes, "reason": row.reason},
    )


@dataclass(frozen=True)
class FindingChange:
    """What re-running the finding rules on a corrected visit did (kinds, sorted)."""

    raised: tuple[str, ...]
    superseded: tuple[str, ...]


def refresh_findings(
    session: Session, visit: Visit, row: Correction, at: datetime
) -> FindingChange:
    """Re-run the finding rules in force on the visit's answers in effect after `row`.

    The visit's open finding events (raised by a finding rule, at the visit or by an
    earlier correction; events a caller raised by hand are left alone) are compared by kind
    with what the corrected answers raise: a kind no longer raised is marked ``superseded``
    (status and details name the correction); a kind newly raised is stored as a risk event
    dated the day the correction took effect (when the lender learned it), with a
    ``risk-finding`` event so the next generation opens a
    follow-up contact. A kind raised before and after keeps its event."""
    try:
        script = check_script(visit.script_id, visit.script_version, session=session)
    except TaskError:
        script = None  # a script no longer shipped: answers are read as stored
    effective = _effective(session, visit)
    found = {
        f.kind: f
        for f in findings_for(session, visit.loan_id, effective, script, load_finding_rules())
    }
    events = list(
        session.scalars(
            select(RiskEvent)
            .where(
                RiskEvent.visit_id == visit.id,
                RiskEvent.status != "superseded",
                RiskEvent.kind.in_(FINDING_EVENT_KINDS | {"risk-finding"}),
            )
            .order_by(RiskEvent.id)
        )
    )
    open_kinds = {e.kind for e in events if e.kind != "risk-finding"}
    superseded: list[str] = []
    for ev in events:
        if ev.kind == "risk-finding":
            continue
        if ev.kind not in found and "rule" in (ev.details or {}):  # raised by a rule
            ev.status = "superseded"
            ev.details = {
                **(ev.details or {}),
                "superseded_by": f"correction:{row.id}",
                "superseded_on": local_date(at).isoformat(),
            }
            superseded.append(ev.kind)
    raised = sorted(set(found) - open_kinds)
    on = local_date(at)
    for kind in raised:
        f = found[kind]
        raise_risk_event(
            session,
            visit.loan_id,
            kind,
            on,
            source="correction",
            ref=f"correction:{row.id}:{kind}",
            severity=f.severity,
            visit_id=visit.id,
            details={**f.details, "correction_id": row.id},
        )
    if not (set(found) & open_kinds) and not raised:
        # nothing found remains: the visit's pending risk-finding contact has no basis
        for ev in events:
            if ev.kind == "risk-finding":
                ev.status = "superseded"
                ev.details = {
                    **(ev.details or {}),
                    "superseded_by": f"correction:{row.id}",
                    "superseded_on": on.isoformat(),
                }
    if raised:
        raise_risk_event(
            session,
            visit.loan_id,
            "risk-finding",
            on,
            source="correction",
            ref=f"correction:{row.id}:risk-finding",
            severity="medium",
            visit_id=visit.id,
            details={"kinds": raised, "correction_id": row.id},
        )
    session.flush()
    return FindingChange(tuple(raised), tuple(sorted(superseded)))


def visit_history(engine: Engine, visit_id: int) -> VisitHistory:
    """The visit as first recorded, its corrections (all statuses) and the answers in effect."""
    with transaction(engine) as session:
        visit = session.get(Visit, visit_id)
        if visit is None:
            raise CorrectionError(f"回访记录 #{visit_id} 不存在 / no such visit")
        corrections = tuple(
            _view(c)
            for c in session.scalars(
                select(Correction).where(Correction.visit_id == visit_id).order_by(Correction.id)
            )
        )
        completed = aware(visit.completed_at)
        assert completed is not None
        return VisitHistory(
            visit.id,
            visit.loan_id,
            completed,
            dict(visit.answers or {}),
            corrections,
            _effective(session, visit),
        )
