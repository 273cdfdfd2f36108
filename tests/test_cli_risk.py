"""`huifang alerts …`, `huifang collateral …` and `huifang risk tiers` over a real database."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner

from huifang import cli_risk
from huifang.domain.schedule import build_schedule
from huifang.security.pii import current_ring, seal
from huifang.services.loan_views import loan_terms
from huifang.store.db import make_engine, transaction
from huifang.store.models import Borrower, Branch, Loan, Payment, Product, Vehicle
from huifang.store.risk_models import CollateralValuation

D = Decimal
runner = CliRunner()
app = typer.Typer()
cli_risk.register(app)


@pytest.fixture
def db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """One loan, HF-9, that paid 30 of 60 installments and stopped (overdue from 2024-01-15)."""
    monkeypatch.setenv("HUIFANG_DATABASE_URL", db_url)
    engine = make_engine(db_url)
    with transaction(engine) as s:
        branch = Branch(code="SZ01", name="深圳南山支行")
        product = Product(
            code="EI60",
            name="等额本息60期",
            repayment_method="equal-installment",
            annual_rate=D("0.049"),
            min_term_months=12,
            max_term_months=60,
        )
        loan = Loan(
            contract_no="HF-9",
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
                industry="房地产开发",
            ),
            product=product,
            branch=branch,
            vehicle=Vehicle(
                vin="LSVAA2180E2100001",
                brand="比亚迪",
                model="汉",
                segment="中型车",
                condition="new",
                fuel_type="bev",
                price=D("200000.00"),
            ),
            principal=D("170000.00"),
            annual_rate=D("0.049"),
            term_months=60,
            repayment_method="equal-installment",
            disbursement_date=date(2021, 6, 15),
            repayment_day=15,
            down_payment=D("30000.00"),
            vehicle_price=D("200000.00"),
            credit_score=700,
        )
        s.add(loan)
        s.flush()
        for inst in build_schedule(loan_terms(loan, loan.product)).installments[:30]:
            s.add(Payment(loan_id=loan.id, txn_ref=f"P{inst.period}", paid_on=inst.due_date,
                          amount=inst.payment))  # fmt: skip
    engine.dispose()
    return db_url


def run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_revalue_evaluate_list_ack_resolve(db: str) -> None:
    out = run("collateral", "revalue", "--as-of", "2024-06-20")
    assert "已估值 1 笔" in out and "抵押率分布" in out
    engine = make_engine(db)
    with transaction(engine) as s:
        row = s.scalar(select(CollateralValuation))
        assert row is not None and row.as_of == date(2024, 6, 20) and row.curve == "bev/default"
    engine.dispose()

    out = run("alerts", "evaluate", "--as-of", "2024-06-20")
    assert "新增预警" in out
    listed = json.loads(run("alerts", "list", "--status", "open", "--format", "json"))
    rules = {a["rule"] for a in listed}
    # overdue 36 days, a BEV financed at 85 % is under water, and 餐饮 is on the watch list
    assert {"any-dpd", "dpd-m2", "industry-watchlist", "ltv-above-band"} <= rules
    assert listed[0]["severity"] in ("critical", "high")
    assert all(a["status"] == "open" for a in listed)
    table = run("alerts", "list")
    assert "HF-9" in table and "待处理" in table

    first = listed[0]["id"]
    assert "已确认" in run("alerts", "ack", str(first), "--by", "李风控")
    again = runner.invoke(app, ["alerts", "ack", str(first), "--by", "李风控"])
    assert again.exit_code == 1 and "只有待处理的预警可以确认" in again.output
    no_note = runner.invoke(app, ["alerts", "resolve", str(first), "--note", " "])
    assert no_note.exit_code == 1 and "处理说明" in no_note.output
    assert "已解决" in run("alerts", "resolve", str(first), "--note", "已上门, 承诺还款")
    still_open = json.loads(run("alerts", "list", "--status", "open", "--format", "json"))
    assert first not in {a["id"] for a in still_open}
    missing = runner.invoke(app, ["alerts", "ack", "424242"])
    assert missing.exit_code == 1 and "没有预警" in missing.output


def test_inspect_and_tiers(db: str) -> None:
    out = run(
        "collateral", "inspect", "HF-9", "--inspector", "王检", "--condition", "damaged",
        "--on", "2023-06-01", "--mileage", "40000", "--photo", "hf9/front.jpg",
    )  # fmt: skip
    assert "检查记录" in out and "车况系数" in out
    bad = runner.invoke(app, ["collateral", "inspect", "HF-9", "--inspector", " ",
                              "--condition", "good", "--on", "2023-06-02"])  # fmt: skip
    assert bad.exit_code == 1 and "检查人" in bad.output
    out = run("risk", "tiers", "--as-of", "2024-02-20")
    assert "评估 1 笔" in out and "high: 1" in out


def test_bad_dates_are_refused(db: str) -> None:
    result = runner.invoke(app, ["collateral", "revalue", "--as-of", "20/02/2024"])
    assert result.exit_code != 0 and "YYYY-MM-DD" in result.output
