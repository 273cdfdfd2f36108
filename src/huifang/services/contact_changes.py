"""Changes of a borrower's phone or address submitted through the self-service link.

The borrower submits a new mobile or address after the link's identity check
(`request_change`): it is validated (a mainland mobile, `domain.identifiers.validate_mobile`;
an address of 5–200 characters), compared with the value on file, and stored sealed
(`store.selfservice_models.ContactChange`: old and new value encrypted, a blind index of the
new one) as **pending** — there is no SMS gateway to send a one-time code to the new number,
so an agent confirms the change with the borrower by phone (`review_change`; the request
raises the follow-up policy's ``contact-changed`` event, so the next task generation opens a
contact-change task for the loan), which applies it
to the loan book (sealed as every borrower field, `security.pii.seal`) in the same
transaction, or rejects it. A newer request for the same field supersedes a pending one.
Every request and review is written to the audit log without the values; the borrower 360
lists the changes with both values masked (`borrower_changes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from huifang.domain.followup_policy import EventKind
from huifang.domain.identifiers import InvalidIdentifier, validate_mobile
from huifang.security import audit, pii
from huifang.services import loan_views
from huifang.services.followup import aware, local_date, utc
from huifang.services.followup_attempts import raise_risk_event
from huifang.store.db import transaction
from huifang.store.models import Borrower, Branch
from huifang.store.selfservice_models import ContactChange

FIELDS = ("mobile", "address")
ADDRESS_MIN, ADDRESS_MAX = 5, 200
SOURCE = "self-service"


class ChangeError(ValueError):
    """A change that cannot be made as asked, with a bilingual reason."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.zh, self.en = zh, en


class ChangeClosed(ChangeError):
    """The change was already confirmed, rejected or superseded (HTTP 409)."""


@dataclass(frozen=True)
class ChangeView:
    """A contact change with its values in clear (pages and API mask them by role)."""

    id: int
    borrower_id: int
    loan_id: int | None
    field: str
    old_value: str | None
    new_value: str
    status: str
    source: str
    requested_at: datetime
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_note: str | None


def _view(c: ContactChange) -> ChangeView:
    requested = aware(c.requested_at)
    assert requested is not None
    return ChangeView(
        c.id,
        c.borrower_id,
        c.loan_id,
        c.field,
        c.old_value,
        c.new_value,
        c.status,
        c.source,
        requested,
        c.reviewed_by,
        aware(c.reviewed_at),
        c.review_note,
    )


def clean_value(field: str, value: str) -> str:
    """The value as it will be stored, or ChangeError saying what is wrong with it."""
    if field == "mobile":
        try:
            return validate_mobile(value)
        except InvalidIdentifier as exc:
            raise ChangeError(exc.message_zh, exc.message_en) from None
    if field == "address":
        text = " ".join(value.split())
        if not ADDRESS_MIN <= len(text) <= ADDRESS_MAX:
            raise ChangeError(
                f"地址应为 {ADDRESS_MIN}–{ADDRESS_MAX} 个字符",
                f"an address has {ADDRESS_MIN}–{ADDRESS_MAX} characters",
            )
        return text
    raise ChangeError(f"不能修改 {field}", f"{field!r} cannot be changed here")


def _branch_code(engine: Engine, borrower_id: int) -> str | None:
    return loan_views.borrower_branch(engine, borrower_id)


def request_change(
    engine: Engine,
    borrower_id: int,
    field: str,
    value: str,
    *,
    loan_id: int | None = None,
    actor: audit.Actor | None = None,
    now: datetime | None = None,
) -> ChangeView:
    """Record a change the borrower asks for (pending an agent's confirmation)."""
    at = now or datetime.now(UTC)
    new = clean_value(field, value)
    ring = pii.current_ring()
    with transaction(engine) as s:
        borrower = s.get(Borrower, borrower_id)
        if borrower is None:
            raise loan_views.NotFound(f"借款人不存在 / no borrower {borrower_id}")
        old = pii.reveal(ring, borrower, field)
        if old is not None and " ".join(old.split()) == new:
            raise ChangeError("与现有信息相同, 无需修改", "that is already the value on file")
        for pending in s.scalars(
            select(ContactChange).where(
                ContactChange.borrower_id == borrower_id,
                ContactChange.field == field,
                ContactChange.status == "pending",
            )
        ):
            pending.status = "superseded"
            pending.reviewed_at = utc(at)
            pending.review_note = "被新的申请取代 / superseded by a newer request"
        row = ContactChange(
            borrower_id=borrower_id,
            loan_id=loan_id,
            field=field,
            old_value=old,
            new_value=new,
            new_value_hash=pii.search_hash(ring, "contact_changes", "new_value", new),
            status="pending",
            source=SOURCE,
            requested_at=utc(at),
        )
        s.add(row)
        s.flush()
        if loan_id is not None:
            # the follow-up policy's "contact-changed" event: the next task generation opens
            # a contact-change task, so an agent calls the borrower to confirm
            raise_risk_event(
                s,
                loan_id,
                EventKind.CONTACT_CHANGED.value,
                local_date(at),
                source="self-service",
                ref=f"contact-change:{row.id}",
                severity="low",
                details={"change_id": row.id, "field": field},
            )
        branch = s.get(Branch, borrower.branch_id)
        audit.record(
            s,
            actor or audit.Actor(None, None, None),
            "selfservice.contact_change",
            target_type="borrower",
            target_id=borrower_id,
            branch_code=branch.code if branch else None,
            detail={"change_id": row.id, "field": field, "loan_id": loan_id},
            at=at,
        )
        return _view(row)


def borrower_changes(engine: Engine, borrower_id: int, limit: int = 20) -> list[ChangeView]:
    """The borrower's contact changes, newest first (values in clear: mask them for display)."""
    with transaction(engine) as s:
        rows = s.scalars(
            select(ContactChange)
            .where(ContactChange.borrower_id == borrower_id)
            .order_by(ContactChange.requested_at.desc(), ContactChange.id.desc())
            .limit(limit)
        )
        return [_view(c) for c in rows]


def change_borrower(engine: Engine, change_id: int) -> int:
    """The borrower a change belongs to (NotFound when there is none)."""
    with transaction(engine) as s:
        row = s.get(ContactChange, change_id)
        if row is None:
            raise loan_views.NotFound(f"变更申请不存在 / no contact change {change_id}")
        return row.borrower_id


def review_change(
    engine: Engine,
    change_id: int,
    *,
    approve: bool,
    reviewer: audit.Actor,
    note: str | None = None,
    now: datetime | None = None,
) -> ChangeView:
    """Confirm (apply to the loan book) or reject a pending change; ChangeClosed when it is
    no longer pending (a retried click does not apply it twice)."""
    at = now or datetime.now(UTC)
    if not approve and not (note and note.strip()):
        raise ChangeError("驳回须说明原因", "a rejection needs a note")
    ring = pii.current_ring()
    with transaction(engine) as s:
        row = s.get(ContactChange, change_id, with_for_update=True)
        if row is None:
            raise loan_views.NotFound(f"变更申请不存在 / no contact change {change_id}")
        if row.status != "pending":
            raise ChangeClosed(
                f"该申请已{_STATUS_ZH.get(row.status, row.status)}",
                f"the change is already {row.status}",
            )
        borrower = s.get(Borrower, row.borrower_id)
        assert borrower is not None
        if approve:
            for column, value in pii.seal(ring, "borrowers", {row.field: row.new_value}).items():
                setattr(borrower, column, value)
        row.status = "confirmed" if approve else "rejected"
        row.reviewed_by = reviewer.username
        row.reviewed_at = utc(at)
        row.review_note = note.strip() if note else None
        branch = s.get(Branch, borrower.branch_id)
        audit.record(
            s,
            reviewer,
            "contact_change.confirmed" if approve else "contact_change.rejected",
            target_type="borrower",
            target_id=row.borrower_id,
            branch_code=branch.code if branch else None,
            detail={"change_id": row.id, "field": row.field},
            at=at,
        )
        s.flush()
        return _view(row)


_STATUS_ZH = {"confirmed": "确认", "rejected": "驳回", "superseded": "被取代"}
