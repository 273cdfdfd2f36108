"""Borrower self-service links: a signed, expiring link (sent by SMS) that opens the
borrower's schedule and early-repayment quote after an identity check by the last four
characters of the ID number and the date of birth.

The link is `<payload>.<signature>`: the payload names the borrower and the loan and the
expiry (Unix seconds), the signature is HMAC-SHA256 under the link key. The key is
`HUIFANG_LINK_SECRET` when set, else derived from the data key ring's index key (so a
deployment has one secret to keep, and rotating the index key invalidates old links).
After a successful check the browser gets a short proof (same HMAC, 15 minutes) so that
changing the quote date does not ask again. Every check, passed or failed, is audited.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from pathlib import Path

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from huifang.domain.followup_policy import EventKind
from huifang.security import audit, pii
from huifang.security.crypto import load_keyring
from huifang.services import loan_views
from huifang.services.followup_attempts import raise_risk_event
from huifang.store.db import transaction
from huifang.store.models import Borrower, Branch, Loan
from huifang.store.security_models import AuditEntry

LINK_VALIDITY = timedelta(days=7)
PROOF_VALIDITY = timedelta(minutes=15)
MAX_FAILURES = 5  # failed identity checks in a row for one borrower...
LOCKOUT = timedelta(minutes=15)  # ...lock the check for this long (as staff logins)


class LinkInvalid(ValueError):
    """A tampered, malformed or expired link (the page says which, never whose)."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.zh, self.en = zh, en


def link_key(home: Path) -> bytes:
    """The link-signing key (see the module docstring)."""
    secret = os.environ.get("HUIFANG_LINK_SECRET")
    if secret:
        return hashlib.sha256(secret.encode()).digest()
    ring = load_keyring(home)
    return hmac.new(ring.index_key, b"huifang self-service link v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison of a signature from the request (any text, also non-ASCII
    bytes from a forged URL) with the expected one."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode())


def _sign(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())


@dataclass(frozen=True)
class LinkClaims:
    borrower_id: int
    loan_id: int
    expires_at: datetime


def loan_borrower(engine: Engine, loan_id: int) -> int:
    """The borrower of a loan (NotFound when there is no such loan)."""
    with transaction(engine) as s:
        loan = s.get(Loan, loan_id)
        if loan is None:
            raise loan_views.NotFound(f"no loan {loan_id}")
        return loan.borrower_id


def make_link(
    key: bytes, borrower_id: int, loan_id: int, now: datetime, validity: timedelta = LINK_VALIDITY
) -> str:
    """A link token for one loan of one borrower, valid for `validity` from `now`."""
    exp = int((now + validity).timestamp())
    payload = _b64(json.dumps({"b": borrower_id, "l": loan_id, "e": exp}).encode())
    return f"{payload}.{_sign(key, payload)}"


def read_link(key: bytes, token: str, now: datetime) -> LinkClaims:
    """The claims of a genuine, unexpired link; LinkInvalid otherwise."""
    payload, _, signature = token.partition(".")
    genuine = _same(signature, _sign(key, payload))
    if not payload or not signature or not genuine:
        raise LinkInvalid("链接无效", "the link is not valid")
    try:
        data = json.loads(_unb64(payload))
        claims = LinkClaims(
            int(data["b"]), int(data["l"]), datetime.fromtimestamp(int(data["e"]), UTC)
        )
    except (ValueError, KeyError, TypeError):
        raise LinkInvalid("链接无效", "the link is not valid") from None
    if claims.expires_at <= now:
        raise LinkInvalid(
            "链接已过期, 请联系客服重新发送", "the link has expired; ask for a new one"
        )
    return claims


def make_proof(key: bytes, token: str, now: datetime) -> str:
    """A short-lived proof that the identity check for `token` passed."""
    exp = str(int((now + PROOF_VALIDITY).timestamp()))
    return f"{exp}.{_sign(key, 'proof:' + exp + ':' + token)}"


def proof_holds(key: bytes, token: str, proof: str | None, now: datetime) -> bool:
    if not proof:
        return False
    exp, _, signature = proof.partition(".")
    if not (exp.isascii() and exp.isdigit()):
        return False
    genuine = _same(signature, _sign(key, "proof:" + exp + ":" + token))
    return genuine and int(exp) > now.timestamp()


def _locked(session: Session, borrower_id: int, now: datetime) -> bool:
    """Whether the borrower's last MAX_FAILURES identity checks (all links and channels)
    failed within LOCKOUT: guessing the ID suffix and birth date is then refused for a
    while. Counted from the audit log, where every check is written."""
    recent = list(
        session.scalars(
            select(AuditEntry.action)
            .where(
                AuditEntry.action.startswith("selfservice.identity"),
                AuditEntry.target_type == "borrower",
                AuditEntry.target_id == str(borrower_id),
                AuditEntry.at > now - LOCKOUT,
            )
            .order_by(AuditEntry.id.desc())
            .limit(MAX_FAILURES)
        )
    )
    return len(recent) >= MAX_FAILURES and all(a == "selfservice.identity_failed" for a in recent)


def locked_out(engine: Engine, borrower_id: int, now: datetime) -> bool:
    """`_locked` on its own (an inbound call says so before asking for the details)."""
    with transaction(engine) as s:
        return _locked(s, borrower_id, now)


class IdentityCheck(Enum):
    PASSED = "passed"
    FAILED = "failed"
    LOCKED = "locked"  # too many failures in a row: not checked at all


def check_identity(
    engine: Engine,
    claims: LinkClaims,
    id_suffix: str | None,
    birth_date: date | None,
    now: datetime,
    actor: audit.Actor,
    detail: dict[str, object] | None = None,
) -> IdentityCheck:
    """The borrower's identity check (ID suffix and date of birth) for a link, an API call or
    an inbound voice call, with its lockout and its audit entry, in one transaction.

    Concurrent checks for one borrower queue on the borrower's row (an update of nothing
    takes its write lock), so each sees the failures written before it: the lockout after
    MAX_FAILURES cannot be outrun by sending many guesses at once. A missing suffix or date
    (the caller did not understand one) is a failed check like a wrong one."""
    with transaction(engine) as s:
        s.execute(update(Borrower).where(Borrower.id == claims.borrower_id).values(id=Borrower.id))
        borrower = s.get(Borrower, claims.borrower_id)
        if borrower is None:
            raise LinkInvalid("链接无效", "the link is not valid")
        if _locked(s, claims.borrower_id, now):
            return IdentityCheck.LOCKED
        id_number = pii.reveal(pii.current_ring(), borrower, "id_number") or ""
        suffix = (id_suffix or "").strip().upper()
        ok = (
            len(suffix) == 4
            and bool(id_number)
            and borrower.birth_date is not None
            and hmac.compare_digest(id_number.upper()[-4:].encode(), suffix.encode())
            and borrower.birth_date == birth_date
        )
        branch = s.get(Branch, borrower.branch_id)
        audit.record(
            s,
            actor,
            "selfservice.identity" if ok else "selfservice.identity_failed",
            target_type="borrower",
            target_id=claims.borrower_id,
            branch_code=branch.code if branch else None,
            detail={"loan_id": claims.loan_id, **(detail or {})},
        )
        return IdentityCheck.PASSED if ok else IdentityCheck.FAILED


@dataclass(frozen=True)
class SelfServiceView:
    """What the borrower sees: the loan with its schedule and position, and the quote (or
    why there is none)."""

    borrower_name: str
    loan: loan_views.LoanView
    quote: loan_views.LoanQuote | None
    refusal: str | None


def borrower_view(engine: Engine, claims: LinkClaims, as_of: date) -> SelfServiceView:
    view = loan_views.borrower_360(engine, claims.borrower_id, as_of)
    loans = [v for v in view.loans if v.loan_id == claims.loan_id]
    if not loans:
        raise LinkInvalid("链接无效", "the link is not valid")
    quote: loan_views.LoanQuote | None = None
    refusal: str | None = None
    try:
        quote = loan_views.loan_payoff_quote(engine, claims.loan_id, as_of)
    except ValueError as exc:  # PrepaymentRefused is a ValueError too
        refusal = str(exc)
    # the borrower sees the first character of the name only (shared screens)
    return SelfServiceView(view.name[:1] + "*" * (len(view.name) - 1), loans[0], quote, refusal)


@dataclass(frozen=True)
class PrepaymentRequest:
    """A full early repayment the borrower asked for on the link: the date, the quote it was
    made on, and the risk event that opens the confirmation task."""

    loan_id: int
    requested_date: date
    quote_total: Decimal
    event_id: int


def request_prepayment(
    engine: Engine,
    claims: LinkClaims,
    on: date,
    today: date,
    actor: audit.Actor,
    now: datetime | None = None,
) -> PrepaymentRequest:
    """Ask for a full early repayment on `on` (today or later): the quote must be possible
    (outside the lock-in period; PrepaymentRefused otherwise). The request is the follow-up
    policy's ``early-repayment-request`` event: the next task generation opens an
    early-repayment confirmation task (script ``early_repayment_confirmation``) in which an
    agent confirms the date and the amount with the borrower. Asking twice for the same date
    records one request."""
    at = now or datetime.now(UTC)
    if on < today:
        raise ValueError("还款日期不能早于今天 / the date cannot be in the past")
    if on > today + timedelta(days=90):
        raise ValueError("只能预约 90 天内的日期 / choose a date within 90 days")
    quote = loan_views.loan_payoff_quote(engine, claims.loan_id, on).quote
    with transaction(engine) as s:
        event_id = raise_risk_event(
            s,
            claims.loan_id,
            EventKind.EARLY_REPAYMENT_REQUEST.value,
            today,
            source="self-service",
            ref=f"prepay-request:{claims.loan_id}:{on.isoformat()}",
            severity="low",
            details={"requested_date": on.isoformat(), "quote_total": str(quote.total)},
        )
        loan = s.get(Loan, claims.loan_id)
        audit.record(
            s,
            actor,
            "selfservice.prepayment_request",
            target_type="loan",
            target_id=claims.loan_id,
            branch_code=loan.branch.code if loan is not None else None,
            detail={"requested_date": on.isoformat(), "event_id": event_id},
            at=at,
        )
    return PrepaymentRequest(claims.loan_id, on, quote.total, event_id)
