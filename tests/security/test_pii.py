"""Personal data at rest: `huifang keys rotate` re-encrypts the book under the new key id, and
migration 0006 encrypts rows that were stored in plain text (and its downgrade decrypts them),
on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, insert, select, table, text
from sqlalchemy import column as col
from typer.testing import CliRunner

from huifang.security import crypto, pii
from huifang.store.db import alembic_config, transaction, upgrade
from huifang.store.models import Borrower, Branch, Contact, Guarantor, Loan, Product, Vehicle

ID = "11010519491231002X"
MOBILE = "13812345678"
SPOUSE = "13912345678"
GUARANTOR = "13700000000"


def _branch_product_vehicle(session) -> tuple[Branch, Product, Vehicle]:  # type: ignore[no-untyped-def]
    branch = Branch(code="SZ01", name="深圳南山支行")
    product = Product(
        code="EI36",
        name="等额本息36期",
        repayment_method="equal-installment",
        annual_rate=Decimal("0.049"),
        min_term_months=12,
        max_term_months=60,
    )
    vehicle = Vehicle(
        vin="1M8GDM9AXKP042788",
        brand="比亚迪",
        model="汉",
        condition="new",
        fuel_type="bev",
        price=Decimal("259800"),
    )
    session.add_all([branch, product, vehicle])
    session.flush()
    return branch, product, vehicle


def _loan(borrower_id: int, branch: Branch, product: Product, vehicle: Vehicle) -> Loan:
    return Loan(
        contract_no="HF-0001",
        borrower_id=borrower_id,
        product_id=product.id,
        branch_id=branch.id,
        vehicle_id=vehicle.id,
        principal=Decimal("200000"),
        annual_rate=Decimal("0.049"),
        term_months=36,
        repayment_method="equal-installment",
        disbursement_date=date(2024, 1, 15),
        repayment_day=15,
        down_payment=Decimal("59800"),
        vehicle_price=Decimal("259800"),
    )


def _encrypted_values(engine: Engine) -> list[str]:
    out: list[str] = []
    with engine.connect() as conn:
        for tablename, fields in pii.FIELDS.items():
            cols = ", ".join(f"{f}_enc" for f in fields)
            for row in conn.execute(text(f"SELECT {cols} FROM {tablename}")):
                out.extend(v for v in row if v is not None)
    return out


def test_keys_rotate_reencrypts_the_book_under_the_new_key(
    engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = pii.current_ring()
    with transaction(engine) as s:
        branch, product, vehicle = _branch_product_vehicle(s)
        b = Borrower(
            kind="individual",
            name="张伟",
            id_type="resident-id",
            branch_id=branch.id,
            **pii.seal(old, "borrowers", {"id_number": ID, "mobile": MOBILE, "address": "深圳"}),
        )
        b.contacts.append(
            Contact(relation="spouse", **pii.seal(old, "contacts", {"phone": SPOUSE}))
        )
        s.add(b)
        s.flush()
        loan = _loan(b.id, branch, product, vehicle)
        loan.guarantors.append(
            Guarantor(
                kind="individual", name="王芳", **pii.seal(old, "guarantors", {"mobile": GUARANTOR})
            )
        )
        s.add(loan)
    before = _encrypted_values(engine)
    assert len(before) == 5 and all(v.startswith(f"hf1:{old.active}:") for v in before)

    home = tmp_path / "home"
    crypto.write_key_file(crypto.key_file(home), old)
    monkeypatch.delenv(crypto.ENV_VAR)
    monkeypatch.setenv("HUIFANG_HOME", str(home))
    monkeypatch.setenv("HUIFANG_DATABASE_URL", db_url)
    from huifang.cli import app

    result = CliRunner().invoke(app, ["keys", "rotate"])
    assert result.exit_code == 0, result.output
    new = crypto.load_keyring(home, create=False)
    assert new.active != old.active and old.active in new.keys
    after = _encrypted_values(engine)
    assert len(after) == 5 and all(v.startswith(f"hf1:{new.active}:") for v in after)
    assert pii.stale_key_ids(engine, new) == set()
    # Same plain values, same blind index: search keeps working without recomputing hashes.
    with transaction(engine) as s:
        b = s.scalars(
            select(Borrower).where(
                Borrower.mobile_hash == pii.search_hash(new, "borrowers", "mobile", MOBILE)
            )
        ).one()
        assert pii.borrower_pii(new, b)[:3] == (ID, MOBILE, "深圳")
        assert pii.reveal(new, b.contacts[0], "phone") == SPOUSE
    # Running it again (or `keys reencrypt`) has nothing left to do.
    again = CliRunner().invoke(app, ["keys", "reencrypt"])
    assert again.exit_code == 0, again.output
    assert "0 个值" in again.output
    pii.forget_ring()


def test_migration_encrypts_plain_rows_and_downgrade_restores_them(engine: Engine) -> None:
    cfg = alembic_config(engine)
    command.downgrade(cfg, "pii@-1")  # the loan book as it was before 0006, plain text
    borrowers = table(
        "borrowers",
        *(
            col(c)
            for c in (
                "kind",
                "name",
                "id_type",
                "id_number",
                "mobile",
                "address",
                "self_employed",
                "branch_id",
                "legal_rep_id_number",
            )
        ),
    )
    with transaction(engine) as s:
        branch, product, vehicle = _branch_product_vehicle(s)
        bid = s.execute(
            insert(borrowers).returning(text("id")),
            {
                "kind": "individual",
                "name": "张伟",
                "id_type": "resident-id",
                "id_number": ID,
                "mobile": MOBILE,
                "address": "深圳市南山区",
                "self_employed": False,
                "branch_id": branch.id,
                "legal_rep_id_number": None,
            },
        ).scalar_one()
        s.execute(
            insert(table("contacts", col("borrower_id"), col("relation"), col("phone"))),
            {"borrower_id": bid, "relation": "spouse", "phone": SPOUSE},
        )
        loan = _loan(bid, branch, product, vehicle)
        s.add(loan)
        s.flush()
        s.execute(
            insert(
                table(
                    "guarantors",
                    col("loan_id"),
                    col("kind"),
                    col("name"),
                    col("mobile"),
                    col("id_number"),
                )
            ),
            {
                "loan_id": loan.id,
                "kind": "individual",
                "name": "王芳",
                "mobile": GUARANTOR,
                "id_number": "",
            },
        )

    upgrade(engine)
    ring = pii.current_ring()
    with engine.connect() as conn:
        dump = "\n".join(
            str(v)
            for t in ("borrowers", "contacts", "guarantors")
            for row in conn.execute(text(f"SELECT * FROM {t}"))
            for v in row
        )
        if engine.dialect.name == "sqlite":  # enforcement is back on after the rebuild
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        # the loan still points at its borrower after SQLite rebuilt the table
        assert conn.execute(text("SELECT borrower_id FROM loans")).scalar_one() == bid
    for secret in (ID, MOBILE, SPOUSE, GUARANTOR, "南山"):
        assert secret not in dump
    with transaction(engine) as s:
        b = s.scalars(
            select(Borrower).where(
                Borrower.id_number_hash == pii.search_hash(ring, "borrowers", "id_number", ID)
            )
        ).one()
        assert pii.borrower_pii(ring, b) == (ID, MOBILE, "深圳市南山区", None)
        assert pii.reveal(ring, b.contacts[0], "phone") == SPOUSE
        g = s.scalars(select(Guarantor)).one()
        assert (pii.reveal(ring, g, "mobile"), g.id_number_enc) == (GUARANTOR, None)

    command.downgrade(cfg, "pii@-1")
    with engine.connect() as conn:
        row = conn.execute(text("SELECT id_number, mobile, address FROM borrowers")).one()
        assert tuple(row) == (ID, MOBILE, "深圳市南山区")
        assert conn.execute(text("SELECT phone FROM contacts")).scalar_one() == SPOUSE
    upgrade(engine)
