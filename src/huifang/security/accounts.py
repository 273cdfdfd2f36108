"""Use cases for users and sessions: create and list users, log in (with lockout), resolve
and revoke sessions. Every login, failure, lockout and logout goes to the audit log.

Lockout: after `MAX_FAILURES` wrong passwords in a row an account is locked for
`LOCKOUT`; a correct password during the lock is refused too (so guessing cannot continue)
and a success resets the count. Unknown usernames get the same answer and take the same
time as wrong passwords.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, bindparam, select, update

from huifang.security import audit
from huifang.security.passwords import (
    DUMMY_HASH,
    hash_password,
    needs_rehash,
    verify_password,
)
from huifang.security.roles import Principal, Role
from huifang.store.db import single_statements, transaction
from huifang.store.models import Branch
from huifang.store.security_models import User, WebSession

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
SESSION_IDLE = timedelta(hours=2)
SESSION_MAX = timedelta(hours=12)
_TOUCH_EVERY = timedelta(minutes=1)
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{3,60}$")


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def principal_of(user: User) -> Principal:
    return Principal(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=Role(user.role),
        all_branches=user.all_branches,
        branch_codes=frozenset(user.branch_codes or ()),
    )


class UserError(ValueError):
    """Bad input to a user-management command (clear message, nothing written)."""


def create_user(
    engine: Engine,
    username: str,
    password: str,
    role: Role | str,
    *,
    display_name: str | None = None,
    branch_codes: list[str] | tuple[str, ...] = (),
    all_branches: bool = False,
    actor: audit.Actor = audit.SYSTEM,
) -> Principal:
    """Add a user; branch codes must exist. Admins always see all branches."""
    if not _USERNAME.match(username):
        raise UserError("用户名应为 3-60 位字母、数字或 _.@- / username: 3-60 of A-Z a-z 0-9 _.@-")
    try:
        role = Role(role)
    except ValueError:
        raise UserError(f"未知角色 / unknown role: {role}") from None
    all_branches = all_branches or role is Role.ADMIN
    if not all_branches and not branch_codes:
        raise UserError("请指定所属机构或 --all-branches / give branches or --all-branches")
    try:
        password_hash = hash_password(password)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    with transaction(engine) as s:
        if s.scalar(select(User.id).where(User.username == username)) is not None:
            raise UserError(f"用户名已存在 / username taken: {username}")
        codes = sorted(set(branch_codes))
        known = set(s.scalars(select(Branch.code).where(Branch.code.in_(codes))))
        missing = [c for c in codes if c not in known]
        if missing:
            raise UserError(f"机构不存在 / unknown branches: {', '.join(missing)}")
        user = User(
            username=username,
            display_name=display_name or username,
            password_hash=password_hash,
            role=role.value,
            all_branches=all_branches,
            branch_codes=[] if all_branches else codes,
            active=True,
            failed_logins=0,
        )
        s.add(user)
        s.flush()
        audit.record(
            s,
            actor,
            "user.create",
            target_type="user",
            target_id=username,
            detail={"role": role.value, "branches": user.branch_codes, "all": all_branches},
        )
        return principal_of(user)


@dataclass(frozen=True)
class UserRow:
    username: str
    display_name: str
    role: str
    branches: str
    active: bool
    locked_until: datetime | None
    last_login_at: datetime | None


def list_users(engine: Engine) -> list[UserRow]:
    with transaction(engine) as s:
        return [
            UserRow(
                u.username,
                u.display_name,
                u.role,
                "*" if u.all_branches else ",".join(u.branch_codes or ()),
                u.active,
                _aware(u.locked_until),
                _aware(u.last_login_at),
            )
            for u in s.scalars(select(User).order_by(User.username))
        ]


@dataclass(frozen=True)
class LoginResult:
    """`token` goes into the cookie; `csrf_token` into every form and unsafe request."""

    ok: bool
    principal: Principal | None = None
    token: str | None = None
    csrf_token: str | None = None
    locked_until: datetime | None = None


def login(
    engine: Engine,
    username: str,
    password: str,
    *,
    ip: str | None = None,
    user_agent: str | None = None,
) -> LoginResult:
    """Check the password, apply the lockout, and open a server-side session."""
    now = _now()
    with transaction(engine) as s:
        user = s.scalars(select(User).where(User.username == username)).one_or_none()
        if user is None or not user.active:
            verify_password(DUMMY_HASH, password)
            audit.record(
                s,
                audit.Actor(username[:60] or None, None, ip),
                "login.failed",
                detail={"reason": "unknown-user" if user is None else "inactive"},
            )
            return LoginResult(False)
        actor = audit.Actor(user.username, user.role, ip)
        locked = _aware(user.locked_until)
        if locked is not None and locked > now:
            verify_password(DUMMY_HASH, password)
            audit.record(s, actor, "login.locked", target_type="user", target_id=user.username)
            return LoginResult(False, locked_until=locked)
        if not verify_password(user.password_hash, password):
            user.failed_logins = (user.failed_logins or 0) + 1
            detail: dict[str, object] = {"failures": user.failed_logins}
            if user.failed_logins >= MAX_FAILURES:
                user.locked_until = now + LOCKOUT
                user.failed_logins = 0
                detail["locked_until"] = user.locked_until.isoformat()
            audit.record(
                s,
                actor,
                "login.failed",
                target_type="user",
                target_id=user.username,
                detail=detail,
            )
            return LoginResult(False, locked_until=_aware(user.locked_until))
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        user.failed_logins = 0
        user.locked_until = None
        user.last_login_at = now
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        s.add(
            WebSession(
                id=token_digest(token),
                user_id=user.id,
                csrf_token=csrf,
                created_at=now,
                last_seen_at=now,
                expires_at=now + SESSION_IDLE,
                ip=ip,
                user_agent=(user_agent or "")[:200] or None,
            )
        )
        audit.record(s, actor, "login", target_type="user", target_id=user.username)
        return LoginResult(True, principal_of(user), token, csrf)


@dataclass(frozen=True)
class ActiveSession:
    principal: Principal
    csrf_token: str
    session_id: str


_SESSION_AND_USER = (
    select(
        WebSession.revoked_at,
        WebSession.expires_at,
        WebSession.created_at,
        WebSession.last_seen_at,
        WebSession.csrf_token,
        User.id,
        User.username,
        User.display_name,
        User.role,
        User.all_branches,
        User.branch_codes,
        User.active,
    )
    .join(User, User.id == WebSession.user_id)
    .where(WebSession.id == bindparam("digest"))
)


def resolve_session(engine: Engine, token: str | None) -> ActiveSession | None:
    """The session behind a cookie, if it is live; slides the idle expiry (at most once a
    minute, so reads do not write on every request).

    Every request runs this, so it is one statement outside a transaction (the session row
    and its user read together are consistent by themselves; the occasional slide of the
    expiry is a single UPDATE of its own)."""
    if not token or len(token) > 200:
        return None
    now = _now()
    digest = token_digest(token)
    with single_statements(engine) as conn:
        row = conn.execute(_SESSION_AND_USER, {"digest": digest}).one_or_none()
        if row is None:
            return None
        (revoked, expires_at, created_at, last_seen, csrf,
         user_id, username, display_name, role, all_branches, codes, active) = row  # fmt: skip
        expires = _aware(expires_at)
        created = _aware(created_at)
        if (
            revoked is not None
            or not active
            or expires is None
            or expires <= now
            or created is None
            or created + SESSION_MAX <= now
        ):
            return None
        last = _aware(last_seen)
        if last is None or now - last >= _TOUCH_EVERY:
            conn.execute(
                update(WebSession)
                .where(WebSession.id == digest, WebSession.revoked_at.is_(None))
                .values(last_seen_at=now, expires_at=min(now + SESSION_IDLE, created + SESSION_MAX))
            )
    principal = Principal(
        user_id=user_id,
        username=username,
        display_name=display_name,
        role=Role(role),
        all_branches=all_branches,
        branch_codes=frozenset(codes or ()),
    )
    return ActiveSession(principal, csrf, digest)


def logout(engine: Engine, token: str | None, *, ip: str | None = None) -> bool:
    """Revoke the session behind `token`; returns whether there was a live one."""
    active = resolve_session(engine, token)
    if active is None:
        return False
    with transaction(engine) as s:
        s.execute(
            update(WebSession).where(WebSession.id == active.session_id).values(revoked_at=_now())
        )
        p = active.principal
        audit.record(s, audit.Actor(p.username, p.role.value, ip), "logout")
    return True
