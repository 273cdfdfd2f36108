"""Follow-up and collateral features of the behaviour model: contactability, open risk events
by group, latest LTV — and that nothing dated after the observation date leaks in (both DBs)."""

from __future__ import annotations

import math
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from huifang.model import book_features as bf
from huifang.store.db import transaction
from huifang.store.followup_models import ContactAttempt, RiskEvent, Visit
from huifang.store.models import Loan
from huifang.store.risk_models import CollateralValuation

sys.path.insert(0, str(Path(__file__).parents[1] / "services"))
from followup_book import make_book, routine_task

SH = ZoneInfo("Asia/Shanghai")
T = date(2026, 4, 1)
LATER = date(2026, 5, 1)


def _at(d: date, hour: int = 10) -> datetime:
    return datetime(d.year, d.month, d.day, hour, 0, tzinfo=SH).astimezone(UTC)


def _fill(engine: Engine) -> None:
    ids = make_book(engine)
    with transaction(engine) as s:
        loan = s.get(Loan, ids["L-LOW"])
        assert loan is not None
        task = routine_task(s, loan)
        for day, status, outcome, talked in [
            (date(2026, 3, 1), "made", "no-answer", False),
            (date(2026, 3, 2), "refused", None, False),  # the guard's refusal: no attempt
            (date(2026, 3, 5), "made", "right-party-contact", True),
            (date(2026, 3, 6), "made", "third-party-contact", True),  # talked, not RPC
            (date(2026, 5, 1), "made", "no-answer", False),  # after T
        ]:
            s.add(
                ContactAttempt(
                    task_id=task.id,
                    loan_id=loan.id,
                    channel="agent-call",
                    contact_role="borrower",
                    contact_number="13812345670",
                    status=status,
                    outcome=outcome,
                    started_at=_at(day),
                    was_conversation=talked,
                )
            )
        # 23:30 local on 03-20 is 15:30 UTC: the local date counts
        s.add(
            Visit(
                task_id=task.id,
                loan_id=loan.id,
                channel="field-visit",
                completed_at=datetime(2026, 3, 20, 23, 30, tzinfo=SH).astimezone(UTC),
                answers={},
                outcome="completed",
            )
        )
        for kind, on, superseded_on in [
            ("income-drop", date(2026, 3, 5), None),
            ("vehicle-sold", date(2026, 3, 5), "2026-04-10"),  # superseded after T
            ("health-event", date(2026, 3, 6), "2026-03-20"),  # superseded before T
            ("job-loss", date(2026, 4, 15), None),  # after T
            ("income-drop", date(2025, 3, 1), None),  # more than 12 months before T
        ]:
            s.add(
                RiskEvent(
                    loan_id=loan.id,
                    kind=kind,
                    occurred_on=on,
                    source="visit",
                    ref=f"{kind}:{on}",
                    status="superseded" if superseded_on else "open",
                    details={"superseded_on": superseded_on} if superseded_on else {},
                )
            )
        for on, ratio, band in [
            (date(2026, 2, 1), "0.85", "watch"),
            (date(2026, 3, 15), "1.05", "high"),
            (date(2026, 4, 20), "1.25", "critical"),  # after T
        ]:
            s.add(
                CollateralValuation(
                    loan_id=loan.id,
                    vehicle_id=loan.vehicle_id,
                    as_of=on,
                    params_version="test",
                    value=Decimal("90000"),
                    outstanding_principal=Decimal("94500"),
                    ltv=Decimal(ratio),
                    ltv_band=band,
                    curve="bev",
                    age_months=Decimal("3"),
                    mileage_km=5000,
                    mileage_source="norm",
                    base_retention=Decimal("0.7"),
                    mileage_factor=Decimal("1"),
                    condition="good",
                    condition_factor=Decimal("1"),
                    notes=[],
                )
            )


def _history(engine: Engine, as_of: date) -> bf.LoanHistory:
    (h,) = bf.load_histories(engine, as_of, ["L-LOW"])
    return h


def test_followup_features_at_a_date(engine: Engine) -> None:
    _fill(engine)
    f = bf.followup_features(_history(engine, LATER), T)
    assert f == {
        "failed_attempts_90d": 1,
        "days_since_rpc": 12,  # the visit late on 03-20 (local)
        "events_income_job": 1,
        "events_vehicle": 1,  # still open on T
        "events_health": 0,
        "events_business": 0,
        "events_repayment": 0,
        "events_contact": 0,
        "ltv_latest": 1.05,
        "ltv_band_rank": 3,  # low, normal, watch, high, critical
    }
    g = bf.followup_features(_history(engine, LATER), LATER)
    assert (g["failed_attempts_90d"], g["days_since_rpc"]) == (2, 42)
    assert (g["events_income_job"], g["events_vehicle"]) == (2, 0)
    assert (g["ltv_latest"], g["ltv_band_rank"]) == (1.25, 4)
    none = bf.followup_features(_history(engine, LATER), date(2025, 2, 28))
    assert none["failed_attempts_90d"] == 0 and none["events_income_job"] == 0
    assert math.isnan(none["days_since_rpc"]) and math.isnan(none["ltv_band_rank"])
    # part of the full feature row
    row = bf.features_as_of(_history(engine, LATER), T)
    assert set(bf.FEATURES) <= set(row) and row["ltv_band_rank"] == 3


def test_followup_features_use_nothing_after_the_date(engine: Engine) -> None:
    _fill(engine)
    early = _history(engine, T)
    late = _history(engine, LATER)
    assert all(on <= T for on, _t, _r in early.attempts)
    assert all(v[0] <= T for v in early.valuations)
    for t in (date(2026, 3, 3), date(2026, 3, 21), T):
        a, b = bf.followup_features(early, t), bf.followup_features(late, t)
        for key in a:
            assert a[key] == b[key] or (math.isnan(a[key]) and math.isnan(b[key])), (t, key)
