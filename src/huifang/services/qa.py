"""The auditor's use cases: the compliance guard's refusals, and quality review (质检) of a
reproducible random sample of contacts, with the scores summarized per agent and criterion.

Every function takes the caller's branch scope (a list of branch codes) and returns only
rows of those branches; the web layer checks a `branch` filter or an attempt's branch
against the scope before calling. Personal data the contact holds (the number dialled, a new
phone or address given in the answers) is returned masked: auditors do not need it in clear.
Saving a review is one transaction with its audit entry (scores before and after).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, String, cast, func, select
from sqlalchemy.orm import Session

from huifang.domain import qa
from huifang.domain.compliance import Channel, RefusalCode
from huifang.domain.identifiers import mask_phone
from huifang.security import audit
from huifang.services.answer_masking import AnswerMask, MaskBook
from huifang.store.call_models import CallRun
from huifang.store.db import transaction
from huifang.store.followup_models import Agent, ContactAttempt, RiskEvent, Visit
from huifang.store.models import Borrower, Branch, Loan
from huifang.store.qa_models import QaReview
from huifang.store.voice_models import CallRecording, CallTranscriptTurn

TZ = ZoneInfo("Asia/Shanghai")
MAX_PERIOD_DAYS = 366


class QaNotFound(LookupError):
    """No such attempt (or not a contact that can be reviewed)."""


def _utc(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def period_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, end+1 00:00) in the lender's time zone, as UTC instants."""
    if end < start:
        raise qa.QaError("结束日期早于开始日期", "the end date is before the start date")
    if (end - start).days > MAX_PERIOD_DAYS:
        raise qa.QaError(
            f"期间最长 {MAX_PERIOD_DAYS} 天", f"the period is limited to {MAX_PERIOD_DAYS} days"
        )
    try:
        first = datetime.combine(start, time(0), TZ).astimezone(UTC)
        last = datetime.combine(end + timedelta(days=1), time(0), TZ).astimezone(UTC)
    except OverflowError:  # 0001-01-01 or 9999-12-31: outside what a time can hold
        raise qa.QaError("日期超出范围", "the date is out of range") from None
    return first, last


# --------------------------------------------------------------------------------------------
# refusals
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefusalRow:
    attempt_id: int
    at: datetime
    branch: str
    contract_no: str
    channel: str
    role: str
    agent: str | None
    codes: tuple[str, ...]
    reason: str


REFUSAL_CODES = tuple(c.value for c in RefusalCode)


def refusals(
    engine: Engine,
    branches: Collection[str],
    *,
    start: date,
    end: date,
    code: str | None = None,
    contract: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> tuple[list[RefusalRow], int]:
    """The attempts the compliance guard refused in the period, newest first, with the total
    count; optionally only those with one reason code or of one contract."""
    first, last = period_bounds(start, end)
    if code and code not in REFUSAL_CODES:
        raise qa.QaError(f"未知的拦截原因 {code!r}", f"unknown reason code {code!r}")
    where = [
        ContactAttempt.status == "refused",
        ContactAttempt.started_at >= first,
        ContactAttempt.started_at < last,
        Branch.code.in_(list(branches)),
    ]
    if code:
        # codes are stored as a JSON list; the code is one of the enum's values (no wildcards)
        where.append(cast(ContactAttempt.refusal_codes, String).like(f'%"{code}"%'))
    if contract:
        where.append(Loan.contract_no == contract.strip())
    base = (
        select(ContactAttempt, Loan.contract_no, Branch.code, Agent.username)
        .join(Loan, Loan.id == ContactAttempt.loan_id)
        .join(Branch, Branch.id == Loan.branch_id)
        .outerjoin(Agent, Agent.id == ContactAttempt.agent_id)
        .where(*where)
    )
    with transaction(engine) as s:
        total = int(s.scalar(select(func.count()).select_from(base.subquery())) or 0)
        rows = s.execute(
            base.order_by(ContactAttempt.started_at.desc(), ContactAttempt.id.desc())
            .limit(max(1, min(limit, 1000)))
            .offset(max(0, offset))
        ).all()
        out = [
            RefusalRow(
                attempt_id=a.id,
                at=_utc(a.started_at),  # type: ignore[arg-type]
                branch=branch,
                contract_no=contract_no,
                channel=a.channel,
                role=a.contact_role,
                agent=agent,
                codes=tuple(a.refusal_codes or ()),
                reason=a.refusal_reason or "",
            )
            for a, contract_no, branch, agent in rows
        ]
    return out, total


# --------------------------------------------------------------------------------------------
# the sample
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleRequest:
    """Which contacts to draw from: the period, branches (the caller's scope, or the one
    asked for), optionally one agent (username) and one channel; the size and the seed."""

    start: date
    end: date
    branches: tuple[str, ...]
    agent: str | None = None
    channel: str | None = None
    size: int = 20
    seed: int = 1

    def seed_text(self) -> str:
        """The random seed: the filters and the seed number, so the same request redraws
        the same sample."""
        return "|".join(
            [
                self.start.isoformat(),
                self.end.isoformat(),
                ",".join(sorted(self.branches)),
                self.agent or "",
                self.channel or "",
                str(self.seed),
            ]
        )


@dataclass(frozen=True)
class ContactRow:
    attempt_id: int
    at: datetime
    branch: str
    contract_no: str
    agent: str | None
    channel: str
    role: str
    outcome: str | None
    my_total: int | None  # the caller's review, when there is one
    reviews: int
    direction: str = "outbound"  # inbound: the borrower called us (the FAQ assistant)


def _contacts_query(req: SampleRequest) -> Any:
    first, last = period_bounds(req.start, req.end)
    if req.channel and req.channel not in {c.value for c in Channel}:
        raise qa.QaError(f"未知的渠道 {req.channel!r}", f"unknown channel {req.channel!r}")
    q = (
        select(ContactAttempt.id)
        .join(Loan, Loan.id == ContactAttempt.loan_id)
        .join(Branch, Branch.id == Loan.branch_id)
        .where(
            ContactAttempt.status == "made",
            ContactAttempt.was_conversation.is_(True),
            ContactAttempt.started_at >= first,
            ContactAttempt.started_at < last,
            Branch.code.in_(list(req.branches)),
        )
    )
    if req.agent:
        q = q.join(Agent, Agent.id == ContactAttempt.agent_id).where(
            Agent.username == req.agent.strip()
        )
    if req.channel:
        q = q.where(ContactAttempt.channel == req.channel)
    return q


def draw(engine: Engine, req: SampleRequest, reviewer: str) -> tuple[list[ContactRow], int]:
    """The reproducible sample of completed contacts (attempts with a conversation) and the
    number of contacts it was drawn from."""
    with transaction(engine) as s:
        pool = [int(i) for i in s.scalars(_contacts_query(req))]
        chosen = qa.draw_sample(pool, req.size, req.seed_text()) if pool else []
        return _rows(s, chosen, reviewer), len(pool)


def _rows(s: Session, ids: Sequence[int], reviewer: str) -> list[ContactRow]:
    if not ids:
        return []
    rows = s.execute(
        select(ContactAttempt, Loan.contract_no, Branch.code, Agent.username)
        .join(Loan, Loan.id == ContactAttempt.loan_id)
        .join(Branch, Branch.id == Loan.branch_id)
        .outerjoin(Agent, Agent.id == ContactAttempt.agent_id)
        .where(ContactAttempt.id.in_(list(ids)))
        .order_by(ContactAttempt.started_at, ContactAttempt.id)
    ).all()
    counts: dict[int, int] = {}
    mine: dict[int, int] = {}
    for r in s.scalars(select(QaReview).where(QaReview.attempt_id.in_(list(ids)))):
        counts[r.attempt_id] = counts.get(r.attempt_id, 0) + 1
        if r.reviewer == reviewer:
            mine[r.attempt_id] = r.total
    return [
        ContactRow(
            attempt_id=a.id,
            at=_utc(a.started_at),  # type: ignore[arg-type]
            branch=branch,
            contract_no=contract_no,
            agent=agent,
            channel=a.channel,
            role=a.contact_role,
            outcome=a.outcome,
            my_total=mine.get(a.id),
            reviews=counts.get(a.id, 0),
            direction=a.direction,
        )
        for a, contract_no, branch, agent in rows
    ]


# --------------------------------------------------------------------------------------------
# one contact and its reviews
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TranscriptLine:
    kind: str  # say | disclosure | question | answer | rejected | end | handover …
    step: str
    zh: str
    en: str
    raw: str | None


@dataclass(frozen=True)
class VoiceTurn:
    """One turn of a voice-agent call's transcript (`call_transcript_turns`)."""

    speaker: str  # agent | borrower
    text: str
    confidence: float | None
    step: str | None
    start_s: float | None


@dataclass(frozen=True)
class ReviewView:
    id: int
    attempt_id: int
    reviewer: str
    scores: Mapping[str, int]
    total: int
    max_total: int
    comment: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ContactDetail:
    row: ContactRow
    borrower_name: str
    contact_number: str  # masked
    started_at: datetime
    ended_at: datetime | None
    duration_s: int | None
    script: str | None
    identity_verified: bool
    answers: Mapping[str, object]  # masked where personal
    note: str | None
    callback_at: datetime | None
    findings: tuple[Mapping[str, Any], ...]
    transcript: tuple[TranscriptLine, ...]
    # what the channel reported as its recording (a PBX id, a file, a URL): shown as text,
    # never handed to the browser to fetch, so no page loads audio from outside this site
    recording_ref: str | None
    reviews: tuple[ReviewView, ...]
    # a recording Huifang holds (a voice-agent call): played only through the audited,
    # branch-checked /api/v1/voice-calls endpoint; and the per-turn transcript
    recording_url: str | None = None
    recording_seconds: float | None = None
    voice_turns: tuple[VoiceTurn, ...] = ()


def attempt_branch(engine: Engine, attempt_id: int) -> str | None:
    """The branch code of an attempt's loan (None: no such attempt)."""
    with transaction(engine) as s:
        return s.scalar(
            select(Branch.code)
            .join(Loan, Loan.branch_id == Branch.id)
            .join(ContactAttempt, ContactAttempt.loan_id == Loan.id)
            .where(ContactAttempt.id == attempt_id)
        )


def _review(r: QaReview) -> ReviewView:
    return ReviewView(
        id=r.id,
        attempt_id=r.attempt_id,
        reviewer=r.reviewer,
        scores=dict(r.scores),
        total=r.total,
        max_total=r.max_total,
        comment=r.comment,
        created_at=_utc(r.created_at),  # type: ignore[arg-type]
        updated_at=_utc(r.updated_at),  # type: ignore[arg-type]
    )


def _transcript(state: Mapping[str, Any], mask: AnswerMask) -> tuple[TranscriptLine, ...]:
    out: list[TranscriptLine] = []
    for e in state.get("entries") or []:
        text = e.get("text") or {}
        step = str(e.get("step") or "")
        raw = e.get("raw")
        if raw is not None:
            raw = str(mask.value(step, str(raw)))
        out.append(
            TranscriptLine(
                str(e.get("kind")),
                step,
                str(text.get("zh") or ""),
                str(text.get("en") or ""),
                raw,
            )
        )
    return tuple(out)


def contact(engine: Engine, attempt_id: int, reviewer: str) -> ContactDetail:
    """Everything an auditor reviews about one contact: answers, outcome, notes, findings,
    the script transcript when the call screen recorded one, the recording reference and
    every review of it."""
    with transaction(engine) as s:
        a = s.get(ContactAttempt, attempt_id)
        if a is None or a.status != "made":
            raise QaNotFound(attempt_id)
        rows = _rows(s, [attempt_id], reviewer)
        loan = s.get(Loan, a.loan_id)
        borrower = s.get(Borrower, loan.borrower_id) if loan else None
        visit_ids = list(s.scalars(select(Visit.id).where(Visit.attempt_id == attempt_id)))
        findings: list[Mapping[str, Any]] = []
        if visit_ids:
            for ev in s.scalars(
                select(RiskEvent).where(RiskEvent.visit_id.in_(visit_ids)).order_by(RiskEvent.id)
            ):
                findings.append(
                    {
                        "kind": ev.kind,
                        "severity": ev.severity,
                        "status": ev.status,
                        "description": str((ev.details or {}).get("description", "")),
                    }
                )
        run = s.scalars(
            select(CallRun).where(CallRun.attempt_id == attempt_id).order_by(CallRun.id.desc())
        ).first()
        mask = MaskBook(engine, session=s).for_contact(a.script_id, a.script_version)
        transcript = _transcript(run.state, mask) if run is not None else ()
        recording = s.scalars(
            select(CallRecording).where(CallRecording.attempt_id == attempt_id)
        ).first()
        turns = tuple(
            VoiceTurn(
                t.speaker,
                mask.turn(t.speaker, t.step_id, t.text),
                t.confidence,
                t.step_id,
                t.start_s,
            )
            for t in s.scalars(
                select(CallTranscriptTurn)
                .where(CallTranscriptTurn.attempt_id == attempt_id)
                .order_by(CallTranscriptTurn.seq)
            )
        )
        reviews = tuple(
            _review(r)
            for r in s.scalars(
                select(QaReview).where(QaReview.attempt_id == attempt_id).order_by(QaReview.id)
            )
        )
        number = a.contact_number or ""
        return ContactDetail(
            row=rows[0],
            borrower_name=borrower.name if borrower else "",
            contact_number=mask_phone(number) if number.isdigit() and len(number) >= 7 else "***",
            started_at=_utc(a.started_at),  # type: ignore[arg-type]
            ended_at=_utc(a.ended_at),
            duration_s=a.duration_s,
            script=f"{a.script_id} v{a.script_version}" if a.script_id else None,
            identity_verified=a.identity_verified,
            answers=mask.answers(a.answers or {}),
            note=a.note,
            callback_at=_utc(a.callback_at),
            findings=tuple(findings),
            transcript=transcript,
            recording_ref=a.recording_ref,
            reviews=reviews,
            recording_url=(
                f"/api/v1/voice-calls/{attempt_id}/recording" if recording is not None else None
            ),
            recording_seconds=recording.seconds if recording is not None else None,
            voice_turns=turns,
        )


def reviews(engine: Engine, attempt_id: int) -> tuple[ReviewView, ...]:
    """Every review of a contact, oldest first."""
    with transaction(engine) as s:
        return tuple(
            _review(r)
            for r in s.scalars(
                select(QaReview).where(QaReview.attempt_id == attempt_id).order_by(QaReview.id)
            )
        )


def save_review(
    engine: Engine,
    attempt_id: int,
    actor: audit.Actor,
    scores: Mapping[str, object],
    comment: str,
    *,
    branch_code: str | None = None,
    now: datetime | None = None,
) -> ReviewView:
    """Create or update the caller's review of a contact (one per reviewer and attempt);
    the scores are checked against the criteria. Audited with the scores before and after.
    Saving the same scores and comment again changes nothing (no new audit entry)."""
    checked = qa.validate_scores(scores)
    text = qa.validate_comment(comment)
    reviewer = actor.username
    if not reviewer:
        raise qa.QaError("须注明质检人", "the reviewer is required")
    at = now or datetime.now(UTC)
    with transaction(engine) as s:
        a = s.get(ContactAttempt, attempt_id)
        if a is None or a.status != "made":
            raise QaNotFound(attempt_id)
        row = s.scalars(
            select(QaReview).where(QaReview.attempt_id == attempt_id, QaReview.reviewer == reviewer)
        ).first()
        before = None
        if row is None:
            row = QaReview(
                attempt_id=attempt_id,
                reviewer=reviewer,
                scores=checked,
                total=sum(checked.values()),
                max_total=qa.MAX_TOTAL,
                comment=text,
                created_at=at,
                updated_at=at,
            )
            s.add(row)
        else:
            if dict(row.scores) == checked and row.comment == text:
                return _review(row)
            before = {"scores": dict(row.scores), "comment": row.comment}
            row.scores = checked
            row.total = sum(checked.values())
            row.max_total = qa.MAX_TOTAL
            row.comment = text
            row.updated_at = at
        s.flush()
        audit.record(
            s,
            actor,
            "qa.review" if before is None else "qa.review.update",
            target_type="attempt",
            target_id=attempt_id,
            branch_code=branch_code,
            detail={"before": before, "after": {"scores": checked, "comment": text}},
        )
        return _review(row)


def summary(engine: Engine, req: SampleRequest) -> tuple[qa.SummaryRow, ...]:
    """Average scores per agent and criterion over every review of the contacts that match
    the request's filters (period, branches, agent, channel; not the sample size)."""
    ids = _contacts_query(req).subquery()
    with transaction(engine) as s:
        rows = s.execute(
            select(QaReview.scores, Agent.username, Agent.name)
            .join(ContactAttempt, ContactAttempt.id == QaReview.attempt_id)
            .outerjoin(Agent, Agent.id == ContactAttempt.agent_id)
            .where(QaReview.attempt_id.in_(select(ids.c.id)))
        ).all()
    return qa.summarize(
        qa.ScoredReview(username or "(无坐席 / no agent)", dict(scores))
        for scores, username, _name in rows
    )
