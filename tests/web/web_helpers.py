"""Shared by the web tests: the seeded demo book with one user per role, and signing a
TestClient in through the JSON API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from huifang.security.accounts import create_user
from huifang.services.demo_data import write_demo_files
from huifang.services.importing import import_files
from huifang.store.db import transaction
from huifang.store.models import Borrower, Branch, Loan

HOME = "SZ01"  # every scoped test user works here
OTHER = "GZ01"  # ...and must never see this branch
PASSWORD = "Huifang-test-2026"
ROLES = ("admin", "manager", "agent", "risk", "auditor")


@dataclass(frozen=True)
class Book:
    engine: Engine
    url: str
    home_loan: int
    home_borrower: int
    other_loan: int
    other_borrower: int


def seed(engine: Engine, url: str, tmp: Path) -> Book:
    files = write_demo_files(tmp / "demo", loans=40, seed=11, as_of=date(2026, 11, 1))
    report = import_files(engine, files.paths)
    assert report.ok, report.errors[:3]
    for role in ROLES:
        create_user(
            engine,
            role,
            PASSWORD,
            role,
            display_name=f"{role} 测试",
            branch_codes=[HOME],
            all_branches=role == "admin",
        )
    create_user(engine, "auditor_all", PASSWORD, "auditor", all_branches=True)

    def first(code: str) -> tuple[int, int]:
        with transaction(engine) as s:
            row = s.execute(
                select(Loan.id, Borrower.id)
                .join(Borrower, Borrower.id == Loan.borrower_id)
                .join(Branch, Branch.id == Loan.branch_id)
                .where(Branch.code == code, Loan.status == "active")
                .order_by(Loan.id)
                .limit(1)
            ).one()
        return int(row[0]), int(row[1])

    home_loan, home_borrower = first(HOME)
    other_loan, other_borrower = first(OTHER)
    return Book(engine, url, home_loan, home_borrower, other_loan, other_borrower)


def login_client(app: Any, username: str, password: str = PASSWORD) -> tuple[TestClient, str]:
    client = TestClient(app)
    r = client.post("/api/v1/session", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return client, r.json()["csrf_token"]
