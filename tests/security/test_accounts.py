"""Users, login with lockout, sessions that expire and can be revoked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select, update

from huifang.security import accounts, audit
from huifang.security.roles import Role
from huifang.store.db import transaction
from huifang.store.models import Branch
from huifang.store.security_models import User, WebSession

PW = "Correct-horse-42"


@pytest.fixture
def branch(engine: Engine) -> str:
    with transaction(engine) as s:
        s.add(Branch(code="SZ01", name="深圳"))
    return "SZ01"


def test_create_user_validates(engine: Engine, branch: str) -> None:
    p = accounts.create_user(engine, "li.na", PW, "agent", branch_codes=[branch])
    assert p.role is Role.AGENT and p.branch_codes == {"SZ01"} and not p.all_branches
    with transaction(engine) as s:
        stored = s.scalar(select(User.password_hash).where(User.username == "li.na"))
    assert stored.startswith("$argon2id$") and PW not in stored
    for bad in (
        dict(username="li.na", password=PW, role="agent", branch_codes=[branch]),  # taken
        dict(username="wang", password="short1", role="agent", branch_codes=[branch]),
        dict(username="wang", password=PW, role="boss", branch_codes=[branch]),
        dict(username="wang", password=PW, role="agent", branch_codes=["XX99"]),
        dict(username="wang", password=PW, role="agent", branch_codes=[]),
    ):
        with pytest.raises(accounts.UserError):
            accounts.create_user(engine, **bad)  # type: ignore[arg-type]
    assert accounts.create_user(engine, "root", PW, "admin").all_branches


def test_lockout_after_repeated_failures(engine: Engine, branch: str) -> None:
    accounts.create_user(engine, "agent1", PW, "agent", branch_codes=[branch])
    for _ in range(accounts.MAX_FAILURES - 1):
        assert not accounts.login(engine, "agent1", "wrong-password-1").ok
    last = accounts.login(engine, "agent1", "wrong-password-1")
    assert not last.ok and last.locked_until is not None
    # locked: even the right password is refused
    assert not accounts.login(engine, "agent1", PW).ok
    with transaction(engine) as s:
        s.execute(update(User).values(locked_until=datetime.now(UTC) - timedelta(seconds=1)))
    ok = accounts.login(engine, "agent1", PW, ip="127.0.0.1")
    assert ok.ok and ok.token and ok.csrf_token
    actions = [r.action for r in audit.search(engine, actor="agent1")]
    assert actions[0] == "login" and "login.locked" in actions
    assert actions.count("login.failed") == accounts.MAX_FAILURES
    assert not accounts.login(engine, "nobody", PW).ok


def test_sessions_resolve_expire_and_revoke(engine: Engine, branch: str) -> None:
    accounts.create_user(engine, "agent1", PW, "agent", branch_codes=[branch])
    result = accounts.login(engine, "agent1", PW)
    assert result.token
    active = accounts.resolve_session(engine, result.token)
    assert active and active.principal.username == "agent1"
    assert active.csrf_token == result.csrf_token
    with transaction(engine) as s:  # the database holds only the token's digest
        assert s.get(WebSession, result.token) is None
    assert accounts.resolve_session(engine, result.token + "x") is None
    assert accounts.logout(engine, result.token)
    assert accounts.resolve_session(engine, result.token) is None
    second = accounts.login(engine, "agent1", PW)
    with transaction(engine) as s:
        s.execute(update(WebSession).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert accounts.resolve_session(engine, second.token) is None
