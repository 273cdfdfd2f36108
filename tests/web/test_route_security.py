"""Every route of the app declares its permission, and each protected route rejects an
anonymous caller, a role without the permission, and a user of another branch.

The route table is enumerated from the app itself, so a new route without a declared
permission, or one that forgets its branch check, fails here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Mount, Route
from voice_helpers import stored_voice_call
from web_helpers import HOME, login_client

from huifang.domain import qa as qa_rules
from huifang.domain.compliance import Channel, Outcome, PartyRole
from huifang.security import audit
from huifang.security.roles import ROLE_PERMISSIONS, Permission, Principal, Role
from huifang.services import configs, followup, risk
from huifang.services.contact_changes import request_change
from huifang.services.followup_attempts import AttemptInput, complete_visit, record_attempt
from huifang.services.followup_corrections import propose_correction
from huifang.services.restructuring import request_restructuring
from huifang.store.db import make_engine
from huifang.web.app import create_app

AS_OF = date(2026, 11, 1)  # the demo book's data date

# Routes anyone may call, by (method, path): the login page, the API login, the schema.
PUBLIC = {
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/api/v1/session"),
    ("GET", "/s/{token}"),  # borrower self-service: the signed link is the credential
    ("POST", "/s/{token}"),
    ("POST", "/s/{token}/contact"),  # ...and these also need the identity proof cookie
    ("POST", "/s/{token}/questionnaire"),
    ("POST", "/s/{token}/questionnaire/person"),
    ("POST", "/s/{token}/faq"),
    ("POST", "/s/{token}/prepay"),
    ("POST", "/api/v1/self-service/{token}/verify"),  # the borrower's API: token + proof
    ("POST", "/api/v1/self-service/{token}/contact-changes"),
    ("GET", "/api/v1/self-service/{token}/questionnaire"),
    ("POST", "/api/v1/self-service/{token}/questionnaire/answer"),
    ("POST", "/api/v1/self-service/{token}/faq"),
    ("POST", "/api/v1/self-service/{token}/early-repayment-request"),
}
PUBLIC_STARLETTE = {"/api/v1/openapi.json", "/api/v1/docs"}
# Protected routes with no branch dimension: the session itself and the user admin (only
# admins, who always have every branch).
BRANCHLESS = {
    ("POST", "/logout"),
    ("DELETE", "/api/v1/session"),
    ("GET", "/api/v1/me"),
    ("GET", "/admin/users"),
    ("POST", "/admin/users"),
    ("GET", "/api/v1/users"),
    ("POST", "/api/v1/users"),
}
# Lender-wide configuration (the policy and script editor): no branch dimension, so only
# principals scoped to every branch may use them; a branch-scoped manager is refused.
HEAD_OFFICE_PREFIXES = ("/config", "/api/v1/config")
_ROUTINE_V1 = configs.packaged_text(configs.SCRIPT, "routine") or ""
_ZERO_SCORES = {c.code: 0 for c in qa_rules.CRITERIA}
# a restructuring from a week ahead (the service refuses effective dates in the past)
_RESTRUCTURE_ON = (date.today() + timedelta(days=7)).isoformat()
# A valid body for each route that takes one (so checks are not short-circuited by 422).
FORM_BODIES: dict[tuple[str, str], dict[str, str]] = {
    ("POST", "/calls/{task_id}/answer"): {"value": "是"},
    ("POST", "/calls/{task_id}/outcome"): {"outcome": "no-answer", "role": "borrower"},
    ("POST", "/alerts/{alert_id}/resolve"): {"note": "已核实 / checked"},
    ("POST", "/corrections/{correction_id}/review"): {"decision": "approve"},
    ("POST", "/borrowers/{borrower_id}/reveal"): {"field": "mobile"},
    # not raised above the packaged version: the editor answers with the problem (200 / 409)
    ("POST", "/config/{kind}/{name}/versions"): {"content": _ROUTINE_V1, "comment": "test"},
    ("POST", "/config/{kind}/{name}/validate"): {"content": _ROUTINE_V1},
    ("POST", "/config/{kind}/{name}/activate"): {"version_id": "999999999"},
    ("POST", "/qa/attempts/{attempt_id}/review"): {
        **{f"score_{k}": str(v) for k, v in _ZERO_SCORES.items()},
        "comment": "测试",
    },
    ("POST", "/contact-changes/{change_id}/review"): {"decision": "confirm"},
    # no such agent: the assignment is refused (409) after the permission and branch checks
    ("POST", "/tasks/{task_id}/assign"): {"agent": "nobody", "reason": "测试"},
    # the same inspection as the API's below (recorded again: a no-op, not a conflict)
    ("POST", "/loans/{loan_id}/collateral/inspections"): {
        "condition": "good",
        "mileage_km": "12000",
        "notes": "外观良好 / looks fine",
    },
    ("POST", "/loans/{loan_id}/restructuring"): {
        "effective_on": _RESTRUCTURE_ON,
        "extend_months": "6",
        "capitalize_arrears": "true",
        "reason": "路由测试 / route test",
    },
    ("POST", "/restructurings/{restructuring_id}/decision"): {"decision": "approve"},
    ("POST", "/admin/users"): {
        "username": "x-new",
        "password": "Aa123456789",
        "role": "agent",
        "branches": "SZ01",
    },
}
JSON_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/calls/{task_id}/answer"): {"value": "是"},
    ("POST", "/api/v1/calls/{task_id}/outcome"): {"outcome": "no-answer"},
    ("POST", "/api/v1/alerts/{alert_id}/resolve"): {"note": "已核实 / checked"},
    ("POST", "/api/v1/corrections/{correction_id}/review"): {"approve": True},
    ("POST", "/api/v1/borrowers/{borrower_id}/reveal"): {"field": "mobile"},
    ("POST", "/api/v1/config/{kind}/{name}/versions"): {"content": _ROUTINE_V1, "comment": "t"},
    ("POST", "/api/v1/config/{kind}/{name}/validate"): {"content": _ROUTINE_V1},
    ("POST", "/api/v1/config/{kind}/{name}/activate"): {"version_id": None},
    ("PUT", "/api/v1/qa/attempts/{attempt_id}/review"): {"scores": _ZERO_SCORES, "comment": ""},
    ("POST", "/api/v1/contact-changes/{change_id}/review"): {"approve": True},
    ("POST", "/api/v1/tasks/{task_id}/assign"): {"agent": "nobody", "reason": "test"},
    ("POST", "/api/v1/loans/{loan_id}/collateral/revalue"): {},
    ("POST", "/api/v1/loans/{loan_id}/collateral/inspections"): {
        "condition": "good",
        "mileage_km": 12000,
        "notes": "外观良好 / looks fine",
    },
    ("POST", "/api/v1/loans/{loan_id}/restructurings"): {
        "effective_on": _RESTRUCTURE_ON,
        "changes": [{"kind": "term-extension", "months": 6}],
        "reason": "路由测试 / route test",
    },
    ("POST", "/api/v1/restructurings/{restructuring_id}/decision"): {"approve": True},
    ("POST", "/api/v1/users"): {
        "username": "y-new",
        "password": "Aa123456789",
        "role": "agent",
        "branches": ["SZ01"],
    },
}


def permission_of(route: APIRoute) -> Permission | str | None:
    """The permission declared by the route's `require`/`public` marker ('missing' if none)."""
    found: list[Permission | None] = []

    def walk(dep: Any) -> None:
        call = getattr(dep, "call", None)
        if call is not None and hasattr(call, "huifang_permission"):
            found.append(call.huifang_permission)
        for sub in dep.dependencies:
            walk(sub)

    walk(route.dependant)
    assert len(found) <= 1, f"{route.path} declares {len(found)} permissions"
    return found[0] if found else "missing"


def flat_routes(routes: list[Any]) -> Iterator[Any]:
    """The app's routes with included routers flattened (FastAPI >= 0.160 keeps included
    routers as one entry each; their routes carry the full path, prefix included)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            assert not route.include_context.prefix if hasattr(route, "include_context") else True
            yield from flat_routes(inner.routes)
        else:
            yield route


def endpoints(app: Any) -> Iterator[tuple[str, str, APIRoute]]:
    for route in flat_routes(app.routes):
        if isinstance(route, APIRoute):
            for method in sorted(route.methods):
                yield method, route.path, route


def test_every_route_declares_a_permission() -> None:
    app = create_app(make_engine("sqlite://"))
    others = set()
    api_routes = 0
    for route in flat_routes(app.routes):
        if isinstance(route, APIRoute):
            perm = permission_of(route)
            api_routes += 1
            assert perm != "missing", f"{route.path} has no require()/public() dependency"
            for method in route.methods:
                assert (perm is None) == ((method, route.path) in PUBLIC), (method, route.path)
        elif isinstance(route, Mount):
            assert route.path == "/static"
        elif isinstance(route, Route):
            others.add(route.path)
    assert others <= PUBLIC_STARLETTE
    assert api_routes >= 18


def _path(template: str, objects: dict[str, int | str]) -> str:
    """The template with each `{name}` replaced by that object of one branch."""
    for name, value in objects.items():
        template = template.replace("{" + name + "}", str(value))
    assert "{" not in template, f"no test object for {template}"
    return template


def _objects(book: Any, code: str, version_id: int, recordings: Path) -> dict[str, int | str]:
    """One object of each kind in branch `code`: loan, borrower, open follow-up task, alert,
    contact attempt, voice-agent attempt with a recording; and the (branchless) script
    document and stored version."""
    loan, borrower = (
        (book.home_loan, book.home_borrower)
        if code == HOME
        else (book.other_loan, book.other_borrower)
    )
    tasks = [t for t in followup.list_tasks(book.engine, branch=code, status="open", limit=5)]
    contract = f"HF{code}"
    alerts = [a for a in risk.list_alerts(book.engine) if a.contract_no.startswith(contract)]
    assert len(tasks) >= 2 and alerts, f"the book needs tasks and an alert in {code}"
    # a contact with a conversation (for quality review), completed as a visit whose key
    # answer was corrected: the correction waits for a checker
    attempt = record_attempt(
        book.engine,
        tasks[0].id,
        AttemptInput(
            Channel.AGENT_CALL,
            PartyRole.BORROWER,
            datetime(2026, 11, 2, 2, 0, tzinfo=UTC),  # Monday 10:00 in Shanghai
            Outcome.RIGHT_PARTY_CONTACT,
            answers={"monthly_income": Decimal("9000")},
        ),
        complete=False,
    )
    assert attempt.allowed
    visit = complete_visit(
        book.engine,
        tasks[0].id,
        attempt_id=attempt.attempt_id,
        channel=Channel.AGENT_CALL,
        completed_at=datetime.now(UTC),
        answers={"monthly_income": Decimal("9000")},
        findings=False,
    )
    correction = propose_correction(
        book.engine,
        visit,
        maker="maker-test",
        reason="录入错误 / typo",
        new_answers={"monthly_income": Decimal("8000")},
    )
    assert len(tasks) >= 3, f"the book needs three open tasks in {code}"
    # an address change the borrower submitted through self-service, pending an agent
    change = request_change(book.engine, borrower, "address", f"测试地址 {code} 路 {visit} 号")
    # a restructuring request by another risk officer, waiting for a checker
    maker = Principal(0, "maker-test", "maker-test", Role.RISK, True, frozenset())
    restructure = request_restructuring(
        book.engine,
        loan,
        maker,
        effective_on=date.today() + timedelta(days=7),
        changes=[{"kind": "term-extension", "months": 3}],
        reason="路由测试 / route test",
    )
    return {
        "change_id": change.id,
        "loan_id": loan,
        "borrower_id": borrower,
        "task_id": tasks[-1].id,
        "alert_id": alerts[-1].id,
        "correction_id": correction.id,
        "restructuring_id": restructure.id,
        "attempt_id": attempt.attempt_id,
        "kind": configs.SCRIPT,
        "name": "routine",
        "version_id": version_id,
        "voice_attempt_id": stored_voice_call(book.engine, tasks[1].id, recordings),
    }


def _call(client: TestClient, method: str, template: str, path: str, **extra: Any) -> Any:
    key = (method, template)
    kwargs: dict[str, Any] = {"follow_redirects": False, **extra}
    headers = dict(kwargs.pop("headers", {}))
    if key in FORM_BODIES:
        data = dict(FORM_BODIES[key])
        if "csrf" in kwargs:
            data["csrf_token"] = kwargs["csrf"]
        kwargs["data"] = data
    if key in JSON_BODIES:
        kwargs["json"] = JSON_BODIES[key]
    csrf = kwargs.pop("csrf", None)
    if csrf and method not in ("GET", "HEAD"):
        headers["X-CSRF-Token"] = csrf
    return client.request(method, path, headers=headers, **kwargs)


def _denied(response: Any) -> bool:
    return response.status_code in (403, 404)


def test_each_route_rejects_anonymous_wrong_role_and_wrong_branch(  # type: ignore[no-untyped-def]
    book, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    followup.generate_tasks(book.engine, AS_OF)
    risk.evaluate_alerts(book.engine, AS_OF)
    stored = configs.save_version(
        book.engine,
        configs.SCRIPT,
        "routine",
        configs.next_draft(_ROUTINE_V1, 5),
        "route test",
        audit.Actor("admin", "admin"),
    )
    monkeypatch.setenv("HUIFANG_RECORDINGS_DIR", str(tmp_path))
    home_objects = _objects(book, HOME, stored.id, tmp_path)
    other_objects = _objects(book, "GZ01", stored.id, tmp_path)
    app = create_app(book.engine)
    clients = {role.value: login_client(app, role.value) for role in Role}
    anonymous = TestClient(app)
    checked = 0
    for method, template, route in endpoints(app):
        perm = permission_of(route)
        if perm is None:
            continue
        assert isinstance(perm, Permission)
        checked += 1
        home = _path(template, home_objects)
        other = _path(template, other_objects)

        # 1. anonymous: 401 for the API and HTMX, a redirect to the login page for pages.
        r = _call(anonymous, method, template, home)
        if template.startswith("/api/") or method != "GET":
            assert r.status_code in (401, 303), (method, template, r.status_code)
        else:
            assert r.status_code == 303 and r.headers["location"].startswith("/login")
        if r.status_code == 303:
            assert r.headers["location"].startswith("/login")

        # 2. every role without the permission gets 403 on its own branch's objects.
        lacking = [r_ for r_ in Role if perm not in ROLE_PERMISSIONS[r_]]
        if perm is Permission.AUTHENTICATED:
            assert not lacking
        for role in lacking:
            client, csrf = clients[role.value]
            r = _call(client, method, template, home, csrf=csrf)
            assert r.status_code == 403, (method, template, role, r.status_code)

        # 3. a role with the permission, scoped to SZ01, is refused GZ01's objects.
        if (method, template) in BRANCHLESS:
            continue
        if template.startswith(HEAD_OFFICE_PREFIXES):
            # lender-wide: refused to every branch-scoped role, allowed to all-branch admins
            assert perm is Permission.CONFIG_MANAGE, template
            for role in Role:
                if perm in ROLE_PERMISSIONS[role] and role is not Role.ADMIN:
                    client, csrf = clients[role.value]
                    r = _call(client, method, template, home, csrf=csrf)
                    assert r.status_code == 403, (method, template, role, r.status_code)
            client, csrf = clients[Role.ADMIN.value]
            ok = _call(client, method, template, home, csrf=csrf)
            assert ok.status_code in (200, 201, 409), (method, template, ok.status_code, ok.text)
            continue
        for role in Role:
            if perm not in ROLE_PERMISSIONS[role] or role is Role.ADMIN:
                continue
            client, csrf = clients[role.value]
            if "{" in template:
                r = _call(client, method, template, other, csrf=csrf)
            else:
                r = _call(client, method, template, home, csrf=csrf, params={"branch": "GZ01"})
            assert _denied(r), (method, template, role, r.status_code)
            # ...and the same request on its own branch is allowed (the check is not vacuous).
            if "{" in template:
                ok = _call(client, method, template, home, csrf=csrf)
            else:
                ok = _call(client, method, template, home, csrf=csrf, params={"branch": "SZ01"})
            assert ok.status_code in (200, 409), (method, template, role, ok.status_code)
    assert checked >= 15


def test_branchless_routes_are_admin_only_or_session(book) -> None:  # type: ignore[no-untyped-def]
    app = create_app(book.engine)
    for method, template, route in endpoints(app):
        if (method, template) in BRANCHLESS:
            assert permission_of(route) in (Permission.AUTHENTICATED, Permission.USERS_MANAGE)
            assert "{" not in template


def test_state_changing_requests_need_the_csrf_token(book) -> None:  # type: ignore[no-untyped-def]
    app = create_app(book.engine)
    client, csrf = login_client(app, "agent")
    url = f"/api/v1/borrowers/{book.home_borrower}/reveal"
    assert client.post(url, json={"field": "mobile"}).status_code == 403
    assert (
        client.post(url, json={"field": "mobile"}, headers={"X-CSRF-Token": "x"}).status_code == 403
    )
    r = client.post(url, json={"field": "mobile"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and re.fullmatch(r"1\d{10}", r.json()["value"])
    form = client.post(f"/borrowers/{book.home_borrower}/reveal", data={"field": "mobile"})
    assert form.status_code == 403
    # the login form itself is protected by a double-submit token
    anon = TestClient(app)
    r = anon.post("/login", data={"username": "agent", "password": "x", "csrf_token": "forged"})
    assert r.status_code == 403


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_role_home_pages(book, role: str) -> None:  # type: ignore[no-untyped-def]
    app = create_app(book.engine)
    client, _ = login_client(app, role)
    page = client.get("/")
    assert page.status_code == 200 and 'id="home-title"' in page.text
    assert "English" in page.text and "贷款查询" in page.text
    english = client.get("/?lang=en")
    assert "Welcome" in english.text and client.cookies.get("huifang_lang") == "en"
