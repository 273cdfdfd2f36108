"""Risk services on SQLite and PostgreSQL: revaluation and LTV, inspections, alerts with
deduplication and lifecycle, tier history."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select

from huifang.domain.collateral import Inspection, VehicleCondition, ltv
from huifang.domain.early_warning import AlertStatus, AlertTransitionError
from huifang.domain.schedule import build_schedule
from huifang.domain.tiering import BehaviourScore
from huifang.security.pii import current_ring, seal
from huifang.services.loan_views import loan_terms
from huifang.services.risk import (
    NotFound,
    RiskError,
    acknowledge_alert,
    assess_tiers,
    evaluate_alerts,
    evaluate_loan_alerts,
    list_alerts,
    load_risk_config,
    record_inspection,
    resolve_alert,
    revalue_book,
    revalue_loan,
    tier_history,
)
from huifang.store.db import transaction
from huifang.store.followup_models import RiskEvent
from huifang.store.models import Borrower, Branch, Loan, Payment, Product, Vehicle
from huifang.store.risk_models import CollateralValuation, RiskAlert, VehicleInspection

D = Decimal
CONFIG = load_risk_config()
BOUGHT = date(2021, 6, 15)
THREE_YEARS = date(2024, 6, 15)
IDS = ["11010519491231002X", "110105194912310037", "110105194912310053", "11010519491231007X"]


def _loan(s, n: int, contract: str, *, paid_periods: int, **vehicle_kw: object) -> Loan:  # type: ignore[no-untyped-def]
    branch = s.scalar(select(Branch)) or Branch(code="SZ01", name="深圳南山支行")
    product = s.scalar(select(Product)) or Product(
        code="EI60",
        name="等额本息60期",
        repayment_method="equal-installment",
        annual_rate=D("0.049"),
        min_term_months=12,
        max_term_months=60,
    )
    borrower = Borrower(
        kind="individual",
        name=f"借款人{n}",
        id_type="resident-id",
        **seal(current_ring(), "borrowers", {"id_number": IDS[n], "mobile": "13812345678"}),
        branch=branch,
        industry=vehicle_kw.pop("industry", "制造业"),
    )
    vehicle = Vehicle(
        vin=f"LSVAA2180E21{n:05d}",
        brand=vehicle_kw.pop("brand", "大众"),
        model="途观L",
        segment="紧凑型SUV",
        condition=vehicle_kw.pop("condition", "new"),
        fuel_type="petrol",
        price=D("150000.00"),
        **vehicle_kw,  # type: ignore[arg-type]
    )
    loan = Loan(
        contract_no=contract,
        borrower=borrower,
        product=product,
        branch=branch,
        vehicle=vehicle,
        principal=D("120000.00"),
        annual_rate=D("0.049"),
        term_months=60,
        repayment_method="equal-installment",
        disbursement_date=BOUGHT,
        repayment_day=15,
        down_payment=D("30000.00"),
        vehicle_price=D("150000.00"),
        credit_score=600,
    )
    s.add(loan)
    s.flush()
    schedule = build_schedule(loan_terms(loan, loan.product))
    for inst in schedule.installments[:paid_periods]:
        s.add(
            Payment(
                loan_id=loan.id,
                txn_ref=f"{contract}-{inst.period}",
                paid_on=inst.due_date,
                amount=inst.payment,
            )
        )
    return loan


@pytest.fixture
def book(engine: Engine) -> Engine:
    """HF-GOOD pays every installment on its due date; HF-LATE stopped after 30."""
    with transaction(engine) as s:
        _loan(s, 0, "HF-GOOD", paid_periods=60)
        _loan(s, 1, "HF-LATE", paid_periods=30)
    return engine


def test_revalue_computes_value_ltv_and_is_idempotent(book: Engine) -> None:
    result = revalue_loan(book, "HF-GOOD", THREE_YEARS, CONFIG)
    assert result.valuation.value == D("77550.00")  # docs/collateral.md, no inspection
    with transaction(book) as s:
        loan = s.scalar(select(Loan).where(Loan.contract_no == "HF-GOOD"))
        assert loan is not None
        schedule = build_schedule(loan_terms(loan, loan.product))
    balance = schedule.installments[35].balance  # after the 36th installment
    assert result.outstanding_principal == balance
    assert result.ltv == ltv(balance, result.valuation)
    assert result.band is not None and result.band.code == "normal"  # 0.6647
    revalue_loan(book, "HF-GOOD", THREE_YEARS, CONFIG)
    with transaction(book) as s:
        rows = s.scalars(select(CollateralValuation)).all()
        assert len(rows) == 1
        assert rows[0].value == D("77550.00") and rows[0].base_retention == D("0.5170")


def test_revalue_refuses_unknown_loans_and_dates_before_disbursement(book: Engine) -> None:
    with pytest.raises(NotFound):
        revalue_loan(book, "NOPE", THREE_YEARS, CONFIG)
    with pytest.raises(RiskError, match="早于放款日"):
        revalue_loan(book, "HF-GOOD", date(2021, 1, 1), CONFIG)


def test_inspection_updates_the_valuation_and_is_idempotent(book: Engine) -> None:
    seen = Inspection(
        date(2023, 6, 15), "张检", VehicleCondition.FAIR, 60000, photos=("2023/06/front.jpg",)
    )
    inspection_id, at_inspection = record_inspection(book, "HF-GOOD", seen, CONFIG)
    assert at_inspection.valuation.inspection_date == date(2023, 6, 15)
    again_id, _ = record_inspection(book, "HF-GOOD", seen, CONFIG)
    assert again_id == inspection_id
    later = revalue_loan(book, "HF-GOOD", THREE_YEARS, CONFIG)
    assert later.valuation.value == D("63319.58")  # the worked example of docs/collateral.md
    with transaction(book) as s:
        assert s.scalar(select(func.count()).select_from(VehicleInspection)) == 1
        row = s.scalar(select(CollateralValuation).where(CollateralValuation.as_of == THREE_YEARS))
        assert row is not None and row.inspection_id == inspection_id
        stored = s.get(VehicleInspection, inspection_id)
        assert stored is not None and stored.photos == ["2023/06/front.jpg"]
    changed = Inspection(date(2023, 6, 15), "张检", VehicleCondition.POOR, 60000)
    with pytest.raises(RiskError, match="内容不同"):
        record_inspection(book, "HF-GOOD", changed, CONFIG)
    with pytest.raises(RiskError, match="早于放款日"):
        record_inspection(
            book, "HF-GOOD", Inspection(date(2020, 1, 1), "张检", VehicleCondition.GOOD), CONFIG
        )


def test_revalue_book_reports_failures_and_ltv_alerts(book: Engine) -> None:
    with transaction(book) as s:
        # a used car with neither registration date nor model year cannot be aged
        _loan(s, 2, "HF-USED", paid_periods=0, condition="used")
    seen: list[tuple[int, int]] = []
    report = revalue_book(book, THREE_YEARS, CONFIG, progress=lambda d, t: seen.append((d, t)))
    assert report.valued == 2 and [c for c, _ in report.failed] == ["HF-USED"]
    assert seen[-1] == (3, 3)
    # both loans are covered by their cars (LTV well under 100 %): no LTV alert
    assert report.ltv_alerts == []
    assert sum(report.by_band.values()) == 2


def test_ltv_alert_when_the_band_worsens(book: Engine) -> None:
    # A car written off in an accident: value collapses, LTV far above 100 %.
    wreck = Inspection(date(2022, 6, 15), "李检", VehicleCondition.TOTAL_LOSS)
    revalue_loan(book, "HF-LATE", date(2022, 1, 15), CONFIG)
    _, result = record_inspection(book, "HF-LATE", wreck, CONFIG)
    assert result.band is not None and result.band.code == "critical"
    assert result.ltv_alert is not None and "严重" in result.ltv_alert


def test_alerts_are_raised_deduplicated_and_worked(book: Engine) -> None:
    as_of = date(2024, 2, 1)  # HF-LATE: installments 31.. (from 2024-01-15) unpaid
    first = evaluate_alerts(book, as_of, CONFIG)
    assert first.loans == 2 and first.by_rule == {"any-dpd": 1}
    second = evaluate_alerts(book, date(2024, 2, 20), CONFIG)
    assert second.new == 1 and second.refreshed == 1  # dpd-m2 is new; any-dpd refreshed
    third = evaluate_alerts(book, date(2024, 2, 20), CONFIG)
    assert third.new == 0 and third.refreshed == 2
    alerts = list_alerts(book, AlertStatus.OPEN)
    assert [a.rule_id for a in alerts] == ["dpd-m2", "any-dpd"]  # most severe first
    any_dpd = alerts[1]
    assert any_dpd.key == "HF-LATE|any-dpd|overdue-since-2024-01-15"
    assert any_dpd.first_seen_on == as_of and any_dpd.last_seen_on == date(2024, 2, 20)
    assert any_dpd.actions == ("contact-now", "raise-cadence")

    at = datetime(2024, 2, 21, 9, 0, tzinfo=UTC)
    acked = acknowledge_alert(book, any_dpd.id, "李风控", at)
    assert acked.status == "acknowledged" and acked.acknowledged_by == "李风控"
    with pytest.raises(AlertTransitionError):
        acknowledge_alert(book, any_dpd.id, "王", at)
    with pytest.raises(AlertTransitionError):
        resolve_alert(book, any_dpd.id, "李风控", "  ", at)
    done = resolve_alert(book, any_dpd.id, "李风控", "借款人承诺本月底前还清", at)
    assert done.status == "resolved" and done.resolution_note == "借款人承诺本月底前还清"
    with pytest.raises(AlertTransitionError):
        resolve_alert(book, any_dpd.id, "李风控", "again", at)
    with pytest.raises(NotFound):
        acknowledge_alert(book, 999999, "李风控", at)

    # Same episode again: the resolved alert is not raised again.
    fourth = evaluate_alerts(book, date(2024, 2, 25), CONFIG)
    assert fourth.new == 0 and fourth.already_resolved == 1
    with transaction(book) as s:
        assert s.scalar(select(func.count()).select_from(RiskAlert)) == 2


def test_evaluate_loan_alerts_returns_only_the_alerts_it_opened(book: Engine) -> None:
    first = evaluate_loan_alerts(book, date(2024, 2, 1), "HF-LATE")
    assert [a.rule_id for a in first] == ["any-dpd"]
    assert evaluate_loan_alerts(book, date(2024, 2, 1), "HF-LATE") == []  # refreshed only
    later = evaluate_loan_alerts(book, date(2024, 2, 20), "HF-LATE")
    assert [a.rule_id for a in later] == ["dpd-m2"] and later[0].status == "open"
    assert {a.id for a in list_alerts(book, contract_no="HF-LATE")} == {first[0].id, later[0].id}
    assert evaluate_loan_alerts(book, date(2024, 2, 20), "HF-GOOD") == []


def test_findings_from_follow_up_risk_events_raise_alerts(book: Engine) -> None:
    with transaction(book) as s:
        loan = s.scalar(select(Loan).where(Loan.contract_no == "HF-GOOD"))
        assert loan is not None
        s.add(
            RiskEvent(
                loan_id=loan.id,
                kind="vehicle-sold",
                occurred_on=date(2024, 5, 1),
                source="visit",
                ref="visit:1:vehicle-sold",
                details={"detail": "邻居称车已卖给他人"},
            )
        )
    report = evaluate_alerts(book, date(2024, 5, 2), CONFIG, contract_nos=["HF-GOOD"])
    assert report.by_rule == {"vehicle-at-risk": 1}
    (alert,) = list_alerts(book, contract_no="HF-GOOD")
    assert alert.severity == "critical" and "邻居称车已卖给他人" in alert.title_zh


def test_tiers_record_changes_only(book: Engine) -> None:
    report = assess_tiers(book, date(2021, 9, 1), CONFIG)
    # score 600 → medium at origination; both loans current
    assert report.by_tier == {"medium": 2} and len(report.changes) == 4
    again = assess_tiers(book, date(2021, 10, 1), CONFIG)
    assert again.changes == []
    later = assess_tiers(
        book,
        date(2024, 3, 1),
        CONFIG,
        behaviour={"HF-LATE": BehaviourScore(D("0.30"))},
    )
    # HF-GOOD seasoned and current → low; HF-LATE 46 days past due → high
    assert sorted((c, k, b, a) for c, k, b, a in later.changes) == [
        ("HF-GOOD", "risk", "medium", "low"),
        ("HF-LATE", "risk", "medium", "high"),
    ]
    history = tier_history(book, "HF-LATE")
    assert [h["tier"] for h in history] == ["medium", "medium", "high"]
    last_reasons = history[-1]["reasons"]
    assert isinstance(last_reasons, list)
    assert {r["code"] for r in last_reasons if r["tier"] == "high"} == {
        "behaviour-pd-high",
        "dpd-high",
    }


def test_partial_payments_are_measured_in_cash_not_after_penalty(engine: Engine) -> None:
    with transaction(engine) as s:
        short = _loan(s, 2, "HF-SHORT", paid_periods=10)
        exact = _loan(s, 3, "HF-EXACT", paid_periods=0)
        schedule = build_schedule(loan_terms(short, short.product))
        for inst in schedule.installments[10:12]:  # periods 11 and 12, each ¥500 short
            s.add(Payment(loan_id=short.id, txn_ref=f"S{inst.period}", paid_on=inst.due_date,
                          amount=inst.payment - 500))  # fmt: skip
        # HF-EXACT pays every installment exactly, period 5 ten days late: the penalty
        # interest then comes first out of later payments, but the borrower paid in full.
        for inst in schedule.installments[:12]:
            late = 10 if inst.period == 5 else 0
            s.add(Payment(loan_id=exact.id, txn_ref=f"E{inst.period}",
                          paid_on=date.fromordinal(inst.due_date.toordinal() + late),
                          amount=inst.payment))  # fmt: skip
        twelfth_due = schedule.installments[11].due_date
    as_of = date.fromordinal(twelfth_due.toordinal() + 1)
    report = evaluate_alerts(engine, as_of, CONFIG)
    alerts = {(a.contract_no, a.rule_id): a for a in list_alerts(engine)}
    assert ("HF-SHORT", "partial-payments") in alerts
    assert alerts[("HF-SHORT", "partial-payments")].facts["periods"] == "11,12"
    assert ("HF-EXACT", "partial-payments") not in alerts
    assert report.loans == 2
