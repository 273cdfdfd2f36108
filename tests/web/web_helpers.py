"""Signing a TestClient in through the JSON API."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

PASSWORD = "Huifang-test-2026"


def login_client(app: Any, username: str, password: str = PASSWORD) -> tuple[TestClient, str]:
    client = TestClient(app)
    r = client.post("/api/v1/session", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return client, r.json()["csrf_token"]
