"""A small loan book for the follow-up service tests (both databases)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from huifang.security.pii import current_ring, seal
from huifang.store.db import transaction
from huifang.store.followup_models import FollowupTask
from huifang.store.models import (
    Borrower,
    Branch,
    Contact,
    Guarantor,
    Loan,
    Payment,
    Product,
    Vehicle,
)

_IDS = [
    "11010519491231002X",
    "110105194912310037",
    "110105194912310053",
    "11010519491231007X",
    "110105194912310096",
    "110105194912310115",
    "110105194912310131",
    "110105194912310158",
]


def make_book(engine: Engine) -> dict[str, int]:
    """Loans (contract → id):

    L-LOW   low tier (score 720, 40 % down), disbursed 2026-01-10, paying on time
    L-HIGH  high tier (score 500), disbursed 2026-01-10, business borrower
    L-LATE  medium tier, disbursed 2025-11-05, never paid (overdue from 2025-12-05)
    L-DONE  closed
    L-BJ    another branch
    """
    out: dict[str, int] = {}
    with transaction(engine) as s:
        sz = Branch(code="SZ01", name="深圳南山支行", timezone="Asia/Shanghai")
        bj = Branch(code="BJ01", name="北京朝阳支行", timezone="Asia/Shanghai")
        product = Product(
            code="EI36",
            name="等额本息36期",
            repayment_method="equal-installment",
            annual_rate=Decimal("0.06"),
            min_term_months=12,
            max_term_months=60,
        )
        s.add_all([sz, bj, product])
        specs = [
            ("L-LOW", sz, 720, "individual", False, date(2026, 1, 10), "active"),
            ("L-HIGH", sz, 500, "business", False, date(2026, 1, 10), "active"),
            ("L-LATE", sz, 700, "individual", True, date(2025, 11, 5), "active"),
            ("L-DONE", sz, 720, "individual", False, date(2025, 6, 1), "closed"),
            ("L-BJ", bj, 720, "individual", False, date(2026, 1, 10), "active"),
        ]
        for i, (contract, branch, score, kind, self_emp, disbursed, status) in enumerate(specs):
            borrower = Borrower(
                kind=kind,
                name=f"借款人{i}",
                id_type="resident-id",
                **seal(
                    current_ring(), "borrowers", {"id_number": _IDS[i], "mobile": f"1381234567{i}"}
                ),
                branch=branch,
                self_employed=self_emp,
            )
            borrower.contacts.append(
                Contact(
                    relation="spouse",
                    name="配偶",
                    **seal(current_ring(), "contacts", {"phone": f"1391234567{i}"}),
                )
            )
            borrower.contacts.append(
                Contact(
                    relation="emergency",
                    name="紧急",
                    **seal(current_ring(), "contacts", {"phone": f"1371234567{i}"}),
                )
            )
            vehicle = Vehicle(
                vin=f"LVSHCAMB1CE0{i:05d}",
                brand="比亚迪",
                model="秦",
                condition="new",
                fuel_type="bev",
                price=Decimal("150000"),
            )
            loan = Loan(
                contract_no=contract,
                borrower=borrower,
                product=product,
                branch=branch,
                vehicle=vehicle,
                principal=Decimal("100000"),
                annual_rate=Decimal("0.06"),
                term_months=36,
                repayment_method="equal-installment",
                disbursement_date=disbursed,
                repayment_day=disbursed.day,
                down_payment=Decimal("60000") if contract != "L-LATE" else Decimal("40000"),
                vehicle_price=Decimal("150000"),
                credit_score=score,
                status=status,
            )
            if contract == "L-HIGH":
                loan.guarantors.append(
                    Guarantor(
                        kind="individual",
                        name="担保",
                        **seal(current_ring(), "guarantors", {"mobile": "13600000000"}),
                    )
                )
            if contract in ("L-LOW", "L-HIGH", "L-BJ"):
                for k, paid in enumerate([date(2026, 2, 10), date(2026, 3, 10)]):
                    loan.payments.append(
                        Payment(txn_ref=f"{contract}-{k}", paid_on=paid, amount=Decimal("3042.19"))
                    )
            s.add(loan)
            s.flush()
            out[contract] = loan.id
        out["SZ01"] = sz.id
        out["BJ01"] = bj.id
    return out


def routine_task(session: Session, loan: Loan) -> FollowupTask:
    """An open routine follow-up task on `loan` (due 2026-03-01), flushed so it has an id:
    for tests that record attempts or visits against a task by hand."""
    task = FollowupTask(
        loan_id=loan.id,
        branch_id=loan.branch_id,
        purpose="routine",
        stage="post-loan",
        due_on=date(2026, 3, 1),
        deadline=date(2026, 3, 16),
        priority=4,
        tier="low",
        required_skills=[],
        script="routine",
        reason="test",
        policy_version=1,
    )
    session.add(task)
    session.flush()
    return task
