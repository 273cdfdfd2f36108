"""Request dependencies: the engine, the signed-in principal, permissions, CSRF, scope.

Every route takes exactly one of `require(permission)` or `public()`; the test of the route
table (tests/web/test_route_security.py) finds that marker on every route and proves that
each protected route rejects anonymous callers, roles without the permission and users of
other branches.

CSRF: state-changing requests (POST, PUT, PATCH, DELETE) must carry the session's token in
the `X-CSRF-Token` header (API, HTMX) or the `csrf_token` form field (plain forms). The
session cookie is SameSite=Lax as a second line.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Depends, Request
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from huifang.security import audit
from huifang.security.accounts import resolve_session
from huifang.security.roles import AccessDenied, Permission, Principal

SESSION_COOKIE = "huifang_session"
LOGIN_CSRF_COOKIE = "huifang_login_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class AuthRequired(Exception):
    """No live session (HTTP 401, or a redirect to the login page for pages)."""


class CsrfFailed(Exception):
    """A state-changing request without the session's CSRF token (HTTP 403)."""


def get_engine(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def actor(request: Request, principal: Principal | None) -> audit.Actor:
    if principal is None:
        return audit.Actor(None, None, client_ip(request))
    return audit.Actor(principal.username, principal.role.value, client_ip(request))


async def _csrf_token_of(request: Request) -> str | None:
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()  # cached by Starlette for the route's own Form params
        value = form.get("csrf_token")
        return value if isinstance(value, str) else None
    return None


def require(permission: Permission) -> Any:
    """Dependency: a live session whose role has `permission`; CSRF-checked when unsafe."""

    async def dependency(request: Request) -> Principal:
        engine = get_engine(request)
        session = await run_in_threadpool(
            resolve_session, engine, request.cookies.get(SESSION_COOKIE)
        )
        if session is None:
            raise AuthRequired()
        request.state.principal = session.principal
        request.state.csrf_token = session.csrf_token
        if request.method not in SAFE_METHODS:
            sent = await _csrf_token_of(request)
            if not sent or not hmac.compare_digest(sent, session.csrf_token):
                raise CsrfFailed()
        if not session.principal.can(permission):
            raise AccessDenied(
                f"当前角色无此权限 ({permission.value})", f"role lacks {permission.value}"
            )
        return session.principal

    dependency.huifang_permission = permission  # type: ignore[attr-defined]
    return Depends(dependency)


def public() -> Any:
    """Marker for the few routes anyone may call (login, static files, the API schema)."""

    async def dependency(request: Request) -> None:
        request.state.principal = None
        request.state.csrf_token = None

    dependency.huifang_permission = None  # type: ignore[attr-defined]
    return Depends(dependency)


def check_branch(principal: Principal, branch_code: str | None) -> None:
    """Raise AccessDenied unless the principal's scope includes the branch."""
    if not principal.sees_branch(branch_code):
        raise AccessDenied("无权访问该机构的数据", "that branch is outside your scope")


def scope_of(principal: Principal) -> frozenset[str] | None:
    return None if principal.all_branches else principal.branch_codes


Handler = Callable[..., Coroutine[Any, Any, Any]]
