"""The borrower's identity check on a link, the API or an inbound call: right details pass,
wrong ones fail, and the lockout after MAX_FAILURES holds even against guesses sent all at
once (each check queues on the borrower's row), on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from threading import Barrier

from selfservice_book import book_engine  # noqa: F401
from sqlalchemy import Engine, select

from huifang.security import audit, pii
from huifang.services import self_service as ss
from huifang.store.db import transaction
from huifang.store.models import Borrower, Loan

BORROWER = audit.Actor(None, None, "127.0.0.1")


def _details(engine: Engine, borrower_id: int) -> tuple[str, object]:
    with transaction(engine) as s:
        b = s.get(Borrower, borrower_id)
        assert b is not None and b.birth_date is not None
        return (pii.reveal(pii.current_ring(), b, "id_number") or "")[-4:], b.birth_date


def _loan(engine: Engine, n: int) -> int:
    """The n-th loan of a person with a date of birth (each test its own borrower: the
    audit log, which holds the failures, is append-only)."""
    with transaction(engine) as s:
        rows = s.execute(
            select(Loan.id, Loan.borrower_id)
            .join(Borrower)
            .where(Borrower.birth_date.is_not(None))
            .order_by(Loan.id)
        ).all()
    seen: list[int] = []
    for loan_id, borrower_id in rows:
        if borrower_id not in seen:
            seen.append(borrower_id)
            if len(seen) == n + 1:
                return int(loan_id)
    raise AssertionError("not enough borrowers in the book")


def test_right_details_pass_and_wrong_ones_fail(book_engine: Engine) -> None:  # noqa: F811
    loan_id = _loan(book_engine, 0)
    claims = ss.LinkClaims(ss.loan_borrower(book_engine, loan_id), loan_id, datetime.now(UTC))
    suffix, born = _details(book_engine, claims.borrower_id)
    now = datetime.now(UTC)
    assert (
        ss.check_identity(book_engine, claims, "0000", born, now, BORROWER)
        in (ss.IdentityCheck.FAILED,)
        or suffix == "0000"
    )
    assert ss.check_identity(book_engine, claims, None, None, now, BORROWER) is (
        ss.IdentityCheck.FAILED
    )
    assert ss.check_identity(book_engine, claims, suffix.lower(), born, now, BORROWER) is (
        ss.IdentityCheck.PASSED
    )


def test_lockout_holds_against_parallel_guesses(book_engine: Engine) -> None:  # noqa: F811
    loan_id = _loan(book_engine, 1)
    claims = ss.LinkClaims(ss.loan_borrower(book_engine, loan_id), loan_id, datetime.now(UTC))
    suffix, born = _details(book_engine, claims.borrower_id)
    wrong = "0000" if suffix != "0000" else "1111"
    now = datetime.now(UTC)

    start = Barrier(12)

    def guess(_: int) -> ss.IdentityCheck:
        start.wait()  # all at once, as a script sending parallel requests would
        return ss.check_identity(book_engine, claims, wrong, born, now, BORROWER)

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(guess, range(24)))
    assert results.count(ss.IdentityCheck.FAILED) == ss.MAX_FAILURES
    assert results.count(ss.IdentityCheck.LOCKED) == 24 - ss.MAX_FAILURES
    # locked means not checked: the right details are refused too until the lockout ends
    right = ss.check_identity(book_engine, claims, suffix, born, now, BORROWER)
    assert right is ss.IdentityCheck.LOCKED
