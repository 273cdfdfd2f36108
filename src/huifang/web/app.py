"""The FastAPI application factory."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from huifang.security.roles import AccessDenied
from huifang.services.loan_views import LoanFilterError, NotFound
from huifang.settings import Settings, load_settings
from huifang.store.db import make_engine
from huifang.web.deps import AuthRequired, CsrfFailed
from huifang.web.rendering import lang_of, render
from huifang.web.routes import (
    api,
    calls,
    collateral,
    config_editor,
    manage,
    pages,
    qa_pages,
    recordings,
    reports,
    restructuring,
    self_service,
    work,
)

STATIC = Path(__file__).parent / "static"

_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'"
)


_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)


class SecurityHeaders:
    """Security headers on every response (a header the route set itself is kept).

    A plain ASGI middleware: Starlette's BaseHTTPMiddleware runs each request through an
    extra task and a memory stream, a cost every request of the agent's journey paid."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with_csp = not scope["path"].startswith(("/docs", "/redoc"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _HEADERS:
                    if name.decode() not in headers:
                        headers.raw.append((name, value))
                if with_csp and "content-security-policy" not in headers:
                    headers.raw.append((b"content-security-policy", _CSP.encode()))
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or (
        "text/html" not in request.headers.get("accept", "") and request.method != "GET"
    )


def _error(request: Request, status: int, zh: str, en: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": {"status": status, "zh": zh, "en": en}}, status_code=status)
    lang = lang_of(request)
    return render(request, "error.html", status, status=status, message=en if lang == "en" else zh)


def create_app(
    engine: Engine | None = None,
    settings: Settings | None = None,
    *,
    secure_cookies: bool | None = None,
) -> FastAPI:
    """The web app over `engine` (default: the configured database, already migrated).

    `secure_cookies` (default HUIFANG_SECURE_COOKIES=1) marks cookies Secure; turn it on
    whenever the app is served over HTTPS."""
    settings = settings or load_settings()
    app = FastAPI(
        title="Huifang 回访 API",
        version="1",
        description="贷后管理与回访平台 JSON API. 登录: POST /api/v1/session; 之后的写请求"
        "须带 X-CSRF-Token 请求头. / Sign in with POST /api/v1/session, then send the "
        "X-CSRF-Token header on every state-changing request.",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.engine = engine or make_engine(settings.database_url)
    app.state.settings = settings
    if secure_cookies is None:
        secure_cookies = os.environ.get("HUIFANG_SECURE_COOKIES", "") in ("1", "true", "yes")
    app.state.secure_cookies = secure_cookies
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(pages.router)
    app.include_router(work.router)
    app.include_router(work.api)
    app.include_router(api.router)
    app.include_router(calls.router)
    app.include_router(calls.api)
    app.include_router(manage.router)
    app.include_router(manage.api)
    app.include_router(reports.router)
    app.include_router(reports.api)
    app.include_router(self_service.router)
    app.include_router(self_service.api)
    app.include_router(config_editor.router)
    app.include_router(config_editor.api)
    app.include_router(qa_pages.router)
    app.include_router(qa_pages.api)
    app.include_router(recordings.api)
    app.include_router(collateral.router)
    app.include_router(collateral.api)
    app.include_router(restructuring.router)
    app.include_router(restructuring.api)

    @app.exception_handler(AuthRequired)
    async def _auth(request: Request, exc: AuthRequired) -> Response:
        if _wants_json(request) or request.headers.get("hx-request"):
            return JSONResponse(
                {"error": {"status": 401, "zh": "请先登录", "en": "sign in first"}},
                status_code=401,
            )
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    @app.exception_handler(CsrfFailed)
    async def _csrf(request: Request, exc: CsrfFailed) -> Response:
        return _error(request, 403, "CSRF 校验失败, 请刷新页面", "CSRF check failed, reload")

    @app.exception_handler(AccessDenied)
    async def _denied(request: Request, exc: AccessDenied) -> Response:
        return _error(request, 403, exc.message_zh, exc.message_en)

    @app.exception_handler(NotFound)
    async def _missing(request: Request, exc: NotFound) -> Response:
        return _error(request, 404, "未找到", "not found")

    @app.exception_handler(LoanFilterError)
    async def _bad_filter(request: Request, exc: LoanFilterError) -> Response:
        return _error(request, 422, exc.zh, exc.en)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)
        return _error(request, 422, "请求参数有误", "invalid request parameters")

    return app
