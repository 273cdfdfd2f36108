"""Shared route helpers, so that each page and its `/api/v1` twin make the same checks and
call the same service:

* `in_scope` — the dependency of every route about one branch-scoped object (a loan, a
  borrower, an alert, a correction, a contact): the permission, then 404 for a missing
  object, then 403 for another branch; page and API declare the same one.
* `branch_scope` — the branches a list or a dashboard reads (`?branch=` checked).
* `period` — a `start`/`end` filter with its default (the last 30 days).
* `refused` — a service's refusal as JSON (API), an HTMX fragment or an error page.
* today's date in the lender's time zone, the borrower 360° read and the audited reveal.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine

from huifang.security import audit
from huifang.security.roles import Permission, Principal
from huifang.services import loan_views, workspace
from huifang.services.loan_views import NotFound
from huifang.web.deps import actor, check_branch, get_engine, require, scope_of
from huifang.web.rendering import lang_of, render

ObjectId = Annotated[int, Path(ge=1, le=2**62)]
Format = Annotated[str, Query(pattern="^(html|xlsx)$")]  # a page, or its table as Excel
PERIOD_DAYS = 30


@dataclass(frozen=True, slots=True)
class InScope:
    """A caller cleared to act on one object: who, the object's id and its branch code."""

    principal: Principal
    id: int
    branch: str


def in_scope(
    permission: Permission, param: str, branch_of: Callable[[Engine, int], str | None]
) -> Any:
    """Dependency of a route about one branch-scoped object, named by the path parameter
    `param`: the caller's role has `permission` (401/403, through `require`), the object
    exists (`branch_of` returns its branch code; None: 404) and its branch is in the
    caller's scope (403). The route test finds the permission inside it."""

    def dependency(request: Request, principal: Principal, **path: int) -> InScope:
        object_id = path[param]
        code = branch_of(get_engine(request), object_id)
        if code is None:
            raise NotFound(f"no {param.removesuffix('_id')} {object_id}")
        check_branch(principal, code)
        return InScope(principal, object_id, code)

    # FastAPI reads the parameters from the signature: the object id is a validated path
    # parameter under the route's own name for it ({alert_id}, {loan_id} …)
    keyword = inspect.Parameter.KEYWORD_ONLY
    dependency.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                "request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request
            ),
            inspect.Parameter(
                "principal", keyword, annotation=Principal, default=require(permission)
            ),
            inspect.Parameter(param, keyword, annotation=ObjectId),
        ]
    )
    return Depends(dependency)


def branch_scope(request: Request, principal: Principal, branch: str | None) -> list[str]:
    """The branch codes a list or dashboard reads: the one `?branch=` names (after checking
    it is in the caller's scope, else 403), or every branch the caller sees."""
    guard_branch_filter(principal, branch)
    if branch:
        return [branch]
    return principal.visible(loan_views.branch_codes(get_engine(request)))


def _day(text: str | None, zh: str, en: str) -> date | None:
    if not (text or "").strip():
        return None
    try:
        return date.fromisoformat((text or "").strip())
    except ValueError:
        raise loan_views.LoanFilterError(
            f"{zh}应为 YYYY-MM-DD", f"{en} must be YYYY-MM-DD"
        ) from None


def loan_filter(
    q: Annotated[
        str | None, Query(max_length=60, description="合同号/姓名/证件号/手机/车牌/VIN")
    ] = None,
    branch: Annotated[str | None, Query(max_length=32)] = None,
    status: Annotated[
        str | None, Query(max_length=12, description="active|closed|written-off")
    ] = None,
    product: Annotated[
        str | None, Query(max_length=32, description="产品代码 / product code")
    ] = None,
    disbursed_from: Annotated[str | None, Query(max_length=10, description="YYYY-MM-DD")] = None,
    disbursed_to: Annotated[str | None, Query(max_length=10, description="YYYY-MM-DD")] = None,
    bucket: Annotated[str | None, Query(max_length=4, description="逾期档位 M0…M6+")] = None,
    loan_class: Annotated[str | None, Query(max_length=4, description="五级分类 正常…损失")] = None,
    risk_tier: Annotated[str | None, Query(max_length=8, description="low|medium|high")] = None,
    ltv_band: Annotated[
        str | None, Query(max_length=16, description="抵押率分档 / LTV band")
    ] = None,
) -> loan_views.LoanFilter:
    """The loan search's filters from the query string (page, API and Excel export alike);
    an empty field is no filter. A bad value is a `LoanFilterError` (422, both languages)."""
    return loan_views.LoanFilter(
        q=(q or "").strip() or None,
        branch=branch or None,
        status=status or None,
        product=product or None,
        disbursed_from=_day(disbursed_from, "放款起始日期", "disbursed_from"),
        disbursed_to=_day(disbursed_to, "放款截止日期", "disbursed_to"),
        bucket=bucket or None,
        loan_class=loan_class or None,
        risk_tier=risk_tier or None,
        ltv_band=ltv_band or None,
    )


LoanFilters = Annotated[loan_views.LoanFilter, Depends(loan_filter)]


class BadRequest(ValueError):
    """A request a page or its API twin cannot answer (422), in Chinese and English."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.zh = zh
        self.en = en


def period(
    request: Request, start: date | None, end: date | None, days: int = PERIOD_DAYS
) -> tuple[date, date]:
    """[start, end] of a report filter: `end` defaults to today, `start` to `days` days
    ending on `end`; a date that cannot be counted back from is a BadRequest."""
    try:
        last = end or today(request)
        return start or last - timedelta(days=days - 1), last
    except OverflowError:
        raise BadRequest("日期超出范围", "date out of range") from None


def refused(request: Request, exc: Exception, status: int = 422) -> Response:
    """A service's refusal (a bad period, a step the record's status does not allow …) for
    the caller: JSON ``{"error": {status, zh, en}}`` for the API, the message as an HTMX
    fragment, else an error page. Messages are ``.zh``/``.en`` or "中文 / English"."""
    zh = getattr(exc, "zh", None)
    en = getattr(exc, "en", None)
    if not isinstance(zh, str) or not isinstance(en, str):
        zh, _, en = str(exc).partition(" / ")
        en = en or zh
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": {"status": status, "zh": zh, "en": en}}, status)
    message = en if lang_of(request) == "en" else zh
    if request.headers.get("hx-request"):
        return render(request, "_call_error.html", status, message=message)
    return render(request, "error.html", status, status=status, message=message)


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


def reveal_field(request: Request, borrower: InScope, field: str) -> str:
    """The plain value of one field of a borrower (or of a contact, `contact:<relation>`),
    written to the audit log before it is returned (the page and the API)."""
    engine = get_engine(request)
    view = loan_views.borrower_360(engine, borrower.id, today(request))
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
        actor(request, borrower.principal),
        "pii.reveal",
        target_type="borrower",
        target_id=borrower.id,
        branch_code=borrower.branch,
        detail={"field": field},
    )
    return value or ""


def read_payoff_quote(request: Request, loan: InScope, on: date) -> loan_views.LoanQuote:
    """The full payoff quote of a loan as of `on` (the page and the API), the read written to
    the audit log first: a refused quote (PrepaymentRefused, ValueError) was still looked up."""
    engine = get_engine(request)
    audit.record_now(
        engine,
        actor(request, loan.principal),
        "read.payoff-quote",
        target_type="loan",
        target_id=loan.id,
        branch_code=loan.branch,
        detail={"as_of": on.isoformat()},
    )
    return loan_views.loan_payoff_quote(engine, loan.id, on)


def search_audit(
    request: Request,
    principal: Principal,
    who: str | None,
    action: str | None,
    branch: str | None,
    limit: int = 200,
) -> list[audit.AuditRow]:
    """Audit entries of the caller's branches (or of the one `?branch=` names, checked)."""
    guard_branch_filter(principal, branch)
    scope = {branch} if branch else scope_of(principal)
    return audit.search(
        get_engine(request), actor=who or None, action=action or None, branches=scope, limit=limit
    )


def xlsx_response(body: bytes, filename: str) -> Response:
    """An Excel download (the export of a page's table), never cached."""
    return Response(
        body,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


Column = tuple[str, str, str]  # key, Chinese header, English header


def masked_search(text: str) -> str:
    """A free-text search as the audit log keeps it: the search box takes an exact ID number
    or mobile, and the log is append-only and shown to auditors, so only the first character
    and the last two survive (enough to tell searches apart, not to recover the number)."""
    text = text.strip()
    return f"{text[:1]}***{text[-2:]}" if len(text) > 4 else "***"


def table_download(
    request: Request, name: str, columns: Sequence[Column], rows: Iterable[Mapping[str, object]]
) -> Response:
    """A page's table as an Excel download (``?format=xlsx``): the same rows the page shows
    (personal data as masked as on the page), headers in the caller's language, times in the
    lender's zone. The export is written to the audit log (what, with which filters, how
    many rows)."""
    en = lang_of(request) == "en"
    table = [[row.get(key) for key, _zh, _en in columns] for row in rows]
    body = workspace.table_xlsx(
        name,
        [col[2] if en else col[1] for col in columns],
        table,
        request.app.state.settings.timezone,
    )
    principal: Principal | None = getattr(request.state, "principal", None)
    query = {k: v for k, v in request.query_params.items() if k not in ("format", "lang")}
    if query.get("q"):
        query["q"] = masked_search(query["q"])
    # the branch the rows come from, when one (so the branch's auditors see the export)
    own = sorted(principal.branch_codes) if principal and not principal.all_branches else []
    branch = query.get("branch") or (own[0] if len(own) == 1 else None)
    audit.record_now(
        get_engine(request),
        actor(request, principal),
        f"export.{name}",
        target_type="table",
        target_id=name,
        branch_code=branch,
        detail={"rows": len(table), "query": query},
    )
    return xlsx_response(body, f"huifang-{name}.xlsx")
