"""schemathesis generates requests from the OpenAPI schema of /api/v1 and finds no server
error (5xx) and no response that breaks the schema, as a risk officer (loans, quotes,
reveals) and as an administrator (users, audit)."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine
from web_helpers import login_client, seed

from huifang.store.db import make_engine, upgrade
from huifang.web.app import create_app

SESSION_ROUTES = ("/api/v1/session",)  # logging in/out would change the caller's own session


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp: Path = tmp_path_factory.mktemp("schema")
    url = f"sqlite:///{tmp / 'huifang.db'}"
    engine: Engine = make_engine(url)
    upgrade(engine)
    seed(engine, url, tmp)
    app = create_app(engine)
    users = {name: login_client(app, name) for name in ("risk", "admin", "auditor")}
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    schema = schema.exclude(path=list(SESSION_ROUTES))
    yield schema, users
    engine.dispose()


def test_api_has_no_server_errors(api) -> None:  # type: ignore[no-untyped-def]
    """Each operation in turn, with hypothesis driving schemathesis' case strategy (the
    schemathesis pytest plugin does not support this pytest version)."""
    schema, users = api
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    statuses: dict[str, set[int]] = {}
    for operation in operations:
        who = (
            "admin"
            if operation.path.startswith(("/api/v1/users", "/api/v1/audit", "/api/v1/config"))
            else "auditor"
            if operation.path.startswith(("/api/v1/qa", "/api/v1/refusals"))
            else "risk"
        )
        client, csrf = users[who]
        seen = statuses.setdefault(operation.label, set())
        _fuzz(operation, {"X-CSRF-Token": csrf}, dict(client.cookies), seen)
    # signed in for real: the listing endpoints answered, not only 401s
    for label in (
        "GET /api/v1/loans",
        "GET /api/v1/me",
        "GET /api/v1/users",
        "GET /api/v1/audit",
        "GET /api/v1/config",
        "GET /api/v1/qa/sample",
        "GET /api/v1/refusals",
    ):
        assert 200 in statuses[label], (label, statuses[label])


def _fuzz(operation, headers: dict[str, str], cookies: dict[str, str], seen: set[int]) -> None:  # type: ignore[no-untyped-def]
    @given(case=operation.as_strategy())
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case) -> None:  # type: ignore[no-untyped-def]
        response = case.call(headers=headers, cookies=cookies)
        seen.add(response.status_code)
        case.validate_response(
            response,
            checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
        )

    check()
