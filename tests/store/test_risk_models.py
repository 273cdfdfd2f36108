"""The risk tables enforce their deduplication keys on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from huifang.security.pii import current_ring, seal
from huifang.store.db import transaction
from huifang.store.models import Borrower, Branch, Loan, Product, Vehicle
from huifang.store.risk_models import CollateralValuation, RiskAlert, VehicleInspection

D = Decimal


def _loan(engine: Engine) -> tuple[int, int]:
    with transaction(engine) as s:
        branch = Branch(code="SZ01", name="深圳南山支行")
        loan = Loan(
            contract_no="HF-1",
            borrower=Borrower(
                kind="individual",
                name="张伟",
                id_type="resident-id",
                **seal(
                    current_ring(),
                    "borrowers",
                    {"id_number": "11010519491231002X", "mobile": "13812345678"},
                ),
                branch=branch,
            ),
            product=Product(
                code="P",
                name="P",
                repayment_method="equal-installment",
                annual_rate=D("0.05"),
                min_term_months=12,
                max_term_months=60,
            ),
            branch=branch,
            vehicle=Vehicle(
                vin="LSVAA2180E2100001",
                brand="大众",
                model="朗逸",
                condition="new",
                fuel_type="petrol",
                price=D("100000"),
            ),
            principal=D("80000"),
            annual_rate=D("0.05"),
            term_months=36,
            repayment_method="equal-installment",
            disbursement_date=date(2024, 1, 1),
            repayment_day=1,
            down_payment=D("20000"),
            vehicle_price=D("100000"),
        )
        s.add(loan)
        s.flush()
        return loan.id, loan.vehicle_id


def _alert(loan_id: int) -> RiskAlert:
    return RiskAlert(
        key="HF-1|any-dpd|overdue-since-2024-03-01", loan_id=loan_id, contract_no="HF-1",
        rule_id="any-dpd", rule_version="v", episode="overdue-since-2024-03-01",
        severity="medium", actions=["contact-now"], title_zh="出现逾期", title_en="Past due",
        facts={"dpd": "3"}, status="open", first_seen_on=date(2024, 3, 4),
        last_seen_on=date(2024, 3, 4), opened_at=datetime(2024, 3, 4, tzinfo=UTC),
    )  # fmt: skip


def test_alert_key_is_unique(engine: Engine) -> None:
    loan_id, _ = _loan(engine)
    with transaction(engine) as s:
        s.add(_alert(loan_id))
    with pytest.raises(IntegrityError), transaction(engine) as s:
        s.add(_alert(loan_id))


def test_one_valuation_per_loan_day_and_version(engine: Engine) -> None:
    loan_id, vehicle_id = _loan(engine)

    def row() -> CollateralValuation:
        return CollateralValuation(
            loan_id=loan_id, vehicle_id=vehicle_id, as_of=date(2024, 6, 1),
            params_version="valuation-v1", value=D("90000.00"), outstanding_principal=D("70000"),
            ltv=D("0.7778"), ltv_band="normal", curve="ice/default", age_months=D("5.00"),
            mileage_km=6250, mileage_source="estimated", base_retention=D("0.9063"),
            mileage_factor=D("1"), condition="good", condition_factor=D("1"), notes=[],
        )  # fmt: skip

    with transaction(engine) as s:
        s.add(row())
    with pytest.raises(IntegrityError), transaction(engine) as s:
        s.add(row())


def test_one_inspection_per_vehicle_day_and_inspector(engine: Engine) -> None:
    loan_id, vehicle_id = _loan(engine)

    def row(inspector: str) -> VehicleInspection:
        return VehicleInspection(vehicle_id=vehicle_id, loan_id=loan_id,
                                 inspected_on=date(2024, 6, 1), inspector=inspector,
                                 condition="good", photos=["a.jpg"])  # fmt: skip

    with transaction(engine) as s:
        s.add_all([row("张检"), row("李检")])
    with pytest.raises(IntegrityError), transaction(engine) as s:
        s.add(row("张检"))
