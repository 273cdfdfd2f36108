"""The models round-trip on SQLite and on a real PostgreSQL server, and migrations match them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, select

from huifang.security.pii import current_ring, reveal, seal
from huifang.store.db import current_revision, transaction
from huifang.store.models import (
    Base,
    Borrower,
    Branch,
    Contact,
    Guarantor,
    Loan,
    Payment,
    Product,
    Vehicle,
)


def _book(session) -> Loan:  # type: ignore[no-untyped-def]
    branch = Branch(code="SZ01", name="深圳南山支行", province="广东", city="深圳")
    product = Product(
        code="EI36",
        name="等额本息36期",
        repayment_method="equal-installment",
        annual_rate=Decimal("0.049"),
        min_term_months=12,
        max_term_months=60,
    )
    borrower = Borrower(
        kind="individual",
        name="张伟",
        id_type="resident-id",
        **seal(
            current_ring(),
            "borrowers",
            {"id_number": "11010519491231002X", "mobile": "13812345678"},
        ),
        monthly_income=Decimal("23456.78"),
        branch=branch,
        birth_date=date(1949, 12, 31),
        gender="F",
    )
    borrower.contacts.append(
        Contact(
            relation="spouse",
            name="李娜",
            **seal(current_ring(), "contacts", {"phone": "13912345678"}),
        )
    )
    vehicle = Vehicle(
        vin="1M8GDM9AXKP042788",
        plate="粤BD12345",
        brand="比亚迪",
        model="汉",
        condition="new",
        fuel_type="bev",
        price=Decimal("259800.00"),
    )
    loan = Loan(
        contract_no="HF-0001",
        borrower=borrower,
        product=product,
        branch=branch,
        vehicle=vehicle,
        principal=Decimal("999999999999.99"),
        annual_rate=Decimal("0.123456"),
        term_months=36,
        repayment_method="equal-installment",
        disbursement_date=date(2023, 7, 31),
        repayment_day=31,
        down_payment=Decimal("0.01"),
        vehicle_price=Decimal("259800.00"),
    )
    loan.guarantors.append(
        Guarantor(
            kind="individual",
            name="王芳",
            **seal(current_ring(), "guarantors", {"mobile": "13700000000"}),
        )
    )
    loan.payments.append(
        Payment(txn_ref="T1", paid_on=date(2023, 8, 31), amount=Decimal("1234567.89"))
    )
    session.add(loan)
    return loan


def test_loan_book_round_trips(engine: Engine) -> None:
    with transaction(engine) as session:
        _book(session)
    with transaction(engine) as session:
        loan = session.scalars(select(Loan).where(Loan.contract_no == "HF-0001")).one()
        assert loan.principal == Decimal("999999999999.99")
        assert isinstance(loan.principal, Decimal)
        assert loan.annual_rate == Decimal("0.123456")
        assert loan.down_payment == Decimal("0.01")
        assert loan.disbursement_date == date(2023, 7, 31)
        assert loan.borrower.name == "张伟"
        assert loan.borrower.monthly_income == Decimal("23456.78")
        assert [c.relation for c in loan.borrower.contacts] == ["spouse"]
        assert reveal(current_ring(), loan.borrower, "mobile") == "13812345678"
        assert reveal(current_ring(), loan.borrower.contacts[0], "phone") == "13912345678"
        assert reveal(current_ring(), loan.guarantors[0], "mobile") == "13700000000"
        assert loan.vehicle.plate == "粤BD12345"
        assert loan.guarantors[0].name == "王芳"
        assert loan.payments[0].amount == Decimal("1234567.89")
        assert loan.branch.name == "深圳南山支行"
        assert loan.created_at is not None


def test_migrations_match_models(engine: Engine) -> None:
    assert current_revision(engine) is not None
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
