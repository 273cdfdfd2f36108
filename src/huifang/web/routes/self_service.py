# ruff: noqa: B008  (FastAPI dependencies are declared as parameter defaults)
"""Borrower self-service through a signed, expiring link: identity check (last four ID
characters and date of birth), then the schedule and an early-repayment quote — the same
`loan_views.loan_payoff_quote` the CLI's `huifang prepay-quote` prints.

The link pages are public (the signed token is the credential); staff create links with
`POST /api/v1/loans/{loan_id}/self-service-link` (quotes.read, branch-scoped)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from huifang.security import audit
from huifang.security.roles import Permission, Principal
from huifang.services import loan_views, self_service
from huifang.services.self_service import LinkInvalid
from huifang.web.deps import actor, get_engine, public, require
from huifang.web.rendering import lang_of, render
from huifang.web.routes.api import ERRORS
from huifang.web.routes.common import guard_loan, today

router = APIRouter(include_in_schema=False)
ObjectId = Annotated[int, Path(ge=1, le=2**62)]
api = APIRouter(prefix="/api/v1", tags=["self-service"])
PROOF_COOKIE = "huifang_self"


def _key(request: Request) -> bytes:
    return self_service.link_key(request.app.state.settings.home)


def _invalid(request: Request, exc: LinkInvalid) -> Response:
    message = exc.en if lang_of(request) == "en" else exc.zh
    return render(request, "self_service.html", 403, error=message, token=None)


def _page(request: Request, token: str, claims: self_service.LinkClaims, as_of: date) -> Response:
    view = self_service.borrower_view(get_engine(request), claims, as_of)
    return render(request, "self_service.html", view=view, token=token, as_of=as_of, error=None)


@router.get("/s/{token}", response_class=HTMLResponse)
def self_service_page(
    request: Request,
    token: str,
    as_of: Annotated[date | None, Query()] = None,
    _: None = public(),
) -> Response:
    """自助服务: 核验身份 / the borrower's page: identity check, then schedule and quote."""
    now = datetime.now(UTC)
    try:
        claims = self_service.read_link(_key(request), token, now)
    except LinkInvalid as exc:
        return _invalid(request, exc)
    if self_service.proof_holds(_key(request), token, request.cookies.get(PROOF_COOKIE), now):
        return _page(request, token, claims, as_of or today(request))
    return render(request, "self_service.html", view=None, token=token, error=None, ask=True)


@router.post("/s/{token}", response_class=HTMLResponse)
def self_service_verify(
    request: Request,
    token: str,
    id_suffix: Annotated[str, Form(max_length=8)],
    birth_date: Annotated[date, Form()],
    _: None = public(),
) -> Response:
    """核验身份证后四位和出生日期 / check the ID suffix and the date of birth."""
    now = datetime.now(UTC)
    engine = get_engine(request)
    try:
        claims = self_service.read_link(_key(request), token, now)
    except LinkInvalid as exc:
        return _invalid(request, exc)
    if self_service.locked_out(engine, claims.borrower_id, now):
        message = (
            "Too many failed attempts; try again in 15 minutes"
            if lang_of(request) == "en"
            else "核验失败次数过多, 请 15 分钟后再试"
        )
        return render(
            request, "self_service.html", 429, view=None, token=token, error=message, ask=True
        )
    ok = self_service.identity_matches(engine, claims, id_suffix, birth_date, today(request))
    audit.record_now(
        engine,
        actor(request, None),
        "selfservice.identity" if ok else "selfservice.identity_failed",
        target_type="borrower",
        target_id=claims.borrower_id,
        branch_code=loan_views.borrower_branch(engine, claims.borrower_id),
        detail={"loan_id": claims.loan_id},
    )
    if not ok:
        message = (
            "The details do not match" if lang_of(request) == "en" else "身份信息不符, 请核对后重试"
        )
        return render(
            request, "self_service.html", 403, view=None, token=token, error=message, ask=True
        )
    response = _page(request, token, claims, today(request))
    response.set_cookie(
        PROOF_COOKIE,
        self_service.make_proof(_key(request), token, now),
        max_age=int(self_service.PROOF_VALIDITY.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.app.state.secure_cookies,
        path="/s/",
    )
    return response


class LinkOut(BaseModel):
    url: str
    expires_at: datetime


@api.post("/loans/{loan_id}/self-service-link", response_model=LinkOut, responses=ERRORS)
def create_link_api(
    request: Request, loan_id: ObjectId, principal: Principal = require(Permission.QUOTES_READ)
) -> Any:
    """生成借款人自助链接 (7 天有效, 短信发送) / a signed self-service link for the borrower."""
    engine = get_engine(request)
    branch = guard_loan(engine, principal, loan_id)
    borrower_id = self_service.loan_borrower(engine, loan_id)
    now = datetime.now(UTC)
    token = self_service.make_link(_key(request), borrower_id, loan_id, now)
    audit.record_now(
        engine,
        actor(request, principal),
        "selfservice.link",
        target_type="loan",
        target_id=loan_id,
        branch_code=branch,
    )
    return LinkOut(url=f"/s/{token}", expires_at=now + self_service.LINK_VALIDITY)
