# ruff: noqa: B008  (FastAPI dependencies are declared as parameter defaults)
"""The manager's monthly report as a PDF: the dashboard's download action
(`/dashboard/report.pdf`) and `GET /api/v1/reports/monthly`, both over
`services/monthly_report.py` (the dashboard's figures for a calendar month).

Managers and admins only (`reports.read`); the report counts only the caller's branches, or
the one `?branch=` names after checking it."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from huifang.security.roles import Permission, Principal
from huifang.services import loan_views, monthly_report
from huifang.web.deps import get_engine, require
from huifang.web.rendering import lang_of, render
from huifang.web.routes.api import ERRORS, ErrorBody
from huifang.web.routes.common import guard_branch_filter, today

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["reports"])
Month = Annotated[
    str | None,
    Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM (默认上个月 / default: last month)"),
]
Branch = Annotated[str | None, Query(max_length=32)]
PDF_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    200: {"content": {"application/pdf": {}}, "description": "月度报告 PDF / the report"},
    422: {"model": ErrorBody, "description": "月份有误 / bad month"},
    503: {"model": ErrorBody, "description": "未安装中文字体 / no CJK font on the server"},
}


def _pdf(
    request: Request, principal: Principal, month: str | None, branch: str | None, lang: str
) -> Response:
    guard_branch_filter(principal, branch)
    engine = get_engine(request)
    known = loan_views.branch_codes(engine)
    chosen = month or monthly_report.previous_month(today(request))
    try:
        if branch is not None and branch not in known:
            raise monthly_report.ReportError(f"没有该机构: {branch} / no such branch")
        scope = [branch] if branch else principal.visible(known)
        board = monthly_report.monthly_figures(engine, chosen, scope)
        body = monthly_report.report_pdf(board, chosen, lang=lang)
    except monthly_report.ReportError as exc:
        status = 503 if isinstance(exc, monthly_report.FontMissing) else 422
        zh, _, en = str(exc).partition(" / ")
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": {"status": status, "zh": zh, "en": en or zh}}, status)
        return render(
            request, "error.html", status, status=status, message=en if lang == "en" else zh
        )
    name = f"huifang-monthly-{chosen}{'-' + branch if branch else ''}.pdf"
    return Response(
        body,
        media_type="application/pdf",
        headers={
            # the branch code is checked above, but a header is Latin-1: RFC 5987 for the name
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
            "Cache-Control": "no-store",
        },
    )


@router.get("/dashboard/report.pdf")
def report_page(
    request: Request,
    month: Month = None,
    branch: Branch = None,
    principal: Principal = require(Permission.REPORTS_READ),
) -> Response:
    """月度报告 PDF (看板的下载操作) / the monthly report, downloaded from the dashboard."""
    return _pdf(request, principal, month, branch, lang_of(request))


@api.get("/reports/monthly", response_class=Response, responses=PDF_RESPONSES)
def report_api(
    request: Request,
    month: Month = None,
    branch: Branch = None,
    lang: Annotated[str, Query(pattern="^(zh|en)$")] = "zh",
    principal: Principal = require(Permission.REPORTS_READ),
) -> Response:
    """月度回访报告 PDF (与看板同一口径) / the monthly report as a PDF (dashboard figures)."""
    return _pdf(request, principal, month, branch, lang)
