"""Jinja2 rendering with the request's language, principal and CSRF token in every page."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from huifang.domain.money import format_cny
from huifang.web import i18n, pii

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def _pct(value: Decimal | None, places: int = 2) -> str:
    if value is None:
        return ""
    return f"{value * 100:.{places}f}%"


def _local(at: datetime | None, tz: str = "Asia/Shanghai") -> str:
    if at is None:
        return ""
    if at.tzinfo is None:  # SQLite hands back the stored UTC time without its zone
        at = at.replace(tzinfo=UTC)
    return at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S")


TEMPLATES.env.filters["cny"] = format_cny
TEMPLATES.env.filters["pct"] = _pct
TEMPLATES.env.filters["local"] = _local
TEMPLATES.env.globals["mask"] = pii.mask


def lang_of(request: Request) -> str:
    default = request.app.state.settings.language
    return i18n.pick_lang(
        request.query_params.get("lang"), request.cookies.get(i18n.COOKIE), default
    )


def lang_switch_url(request: Request, lang: str) -> str:
    """This page in `lang`: the same query (filters, period, page) with only `lang` changed."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return "?" + urlencode([*query, ("lang", lang)])


def export_url(request: Request) -> str:
    """This page's table as Excel: the same filters (all pages of it), ``format=xlsx``."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k not in ("format", "page")]
    return "?" + urlencode([*query, ("format", "xlsx")])


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    lang = lang_of(request)
    principal = getattr(request.state, "principal", None)

    def t(key: str, **values: object) -> str:
        return i18n.translate(key, lang, **values)

    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "lang": lang,
            "t": t,
            "principal": principal,
            "csrf_token": getattr(request.state, "csrf_token", None),
            "lang_switch": lang_switch_url(request, "zh" if lang == "en" else "en"),
            "export_url": export_url(request),
            **context,
        },
        status_code=status_code,
    )
    if request.query_params.get("lang") in i18n.LANGS:
        response.set_cookie(i18n.COOKIE, lang, max_age=365 * 86400, samesite="lax", httponly=True)
    # Pages may hold personal data: never cache them in shared or browser caches.
    response.headers["Cache-Control"] = "no-store"
    return response
