"""Shared route helpers: today's date in the lender's time zone, branch-scoped lookups, and
the audited reveal of one personal-data field."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from sqlalchemy import Engine

from huifang.security import audit
from huifang.security.roles import Principal
from huifang.services import loan_views
from huifang.services.loan_views import NotFound
from huifang.web.deps import actor, check_branch


def today(request: Request) -> date:
    return datetime.now(ZoneInfo(request.app.state.settings.timezone)).date()


def guard_loan(engine: Engine, principal: Principal, loan_id: int) -> str:
    """The loan's branch after checking the caller may see it (404 when missing)."""
    code = loan_views.loan_branch(engine, loan_id)
    if code is None:
        raise NotFound(f"no loan {loan_id}")
    check_branch(principal, code)
    return code


def guard_borrower(engine: Engine, principal: Principal, borrower_id: int) -> str:
    code = loan_views.borrower_branch(engine, borrower_id)
    if code is None:
        raise NotFound(f"no borrower {borrower_id}")
    check_branch(principal, code)
    return code


def read_borrower_360(
    request: Request,
    engine: Engine,
    principal: Principal,
    borrower_id: int,
    branch: str,
    detail: dict[str, Any] | None = None,
    view: loan_views.BorrowerView | None = None,
) -> loan_views.BorrowerView:
    """The borrower 360° for a caller already checked against `branch` (`view`: the same
    360° as of today, already built in this request); every read of it is written to the
    audit log."""
    if view is None or view.borrower_id != borrower_id:
        view = loan_views.borrower_360(engine, borrower_id, today(request))
    audit.record_now(
        engine,
        actor(request, principal),
        "read.borrower",
        target_type="borrower",
        target_id=borrower_id,
        branch_code=branch,
        detail=detail,
    )
    return view


def guard_branch_filter(principal: Principal, branch: str | None) -> None:
    if branch:
        check_branch(principal, branch)


REVEALABLE = ("mobile", "id_number", "address")


def reveal_field(
    request: Request, engine: Engine, principal: Principal, borrower_id: int, field: str
) -> str:
    """The plain value of one field of a borrower (or of a contact, `contact:<relation>`),
    written to the audit log before it is returned."""
    branch = guard_borrower(engine, principal, borrower_id)
    view = loan_views.borrower_360(engine, borrower_id, today(request))
    value: str | None
    if field in REVEALABLE:
        value = getattr(view, field)
    elif field.startswith("contact:"):
        relation = field.split(":", 1)[1]
        found = [c for c in view.contacts if c["relation"] == relation]
        if not found:
            raise NotFound(f"no contact {relation}")
        value = str(found[0]["phone"])
    else:
        raise ValueError(f"unknown field {field!r}")
    audit.record_now(
        engine,
        actor(request, principal),
        "pii.reveal",
        target_type="borrower",
        target_id=borrower_id,
        branch_code=branch,
        detail={"field": field},
    )
    return value or ""
