"""Loan-book features against the domain's own arithmetic, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from huifang.demo.generator import generate, loan_terms
from huifang.domain.delinquency import days_past_due
from huifang.domain.posting import Payment, position_as_of
from huifang.domain.schedule import add_months, build_schedule
from huifang.model import book_features as bf
from huifang.services.demo_data import write_demo_files
from huifang.services.importing import import_files
from huifang.store.db import upgrade

AS_OF = date(2026, 6, 30)
N_LOANS = 80
SEED = 11


@pytest.fixture
def book(engine: Engine, tmp_path: Path) -> Engine:
    upgrade(engine)
    files = write_demo_files(tmp_path / "demo", loans=N_LOANS, seed=SEED, as_of=AS_OF)
    report = import_files(engine, files.paths, write_reports=False)
    assert report.ok, report.errors[:3]
    return engine


def _domain_dpd(loan: dict, payments: list[dict], t: date) -> int:
    """DPD straight from the domain: schedule, posting as of t, days_past_due."""
    events = [
        Payment(p["txn_ref"], p["paid_on"], p["amount"])
        for p in payments
        if p["payment_type"] != "reversal"
    ]
    return days_past_due(position_as_of(build_schedule(loan_terms(loan)), events, t))


def test_dpd_and_windows_agree_with_the_domain(book: Engine) -> None:
    histories = {h.contract_no: h for h in bf.load_histories(book, AS_OF)}
    assert len(histories) == N_LOANS
    checked = overdue_seen = 0
    for loan, payments in generate(N_LOANS, SEED, AS_OF).loans():
        h = histories[loan["contract_no"]]
        for k in (0, 3, 7, 12, 20):
            t = add_months(AS_OF, -k, AS_OF.day)
            if t < loan["disbursement_date"]:
                continue
            expected = _domain_dpd(loan, payments, t)
            assert bf.dpd_at(h, t) == expected, (loan["contract_no"], t)
            overdue_seen += expected > 0
            checked += 1
        # the closed-form worst DPD equals a day-by-day walk over the last 12 months
        start = add_months(AS_OF, -12, AS_OF.day)
        walk = max(bf.dpd_at(h, start + timedelta(days=d)) for d in range((AS_OF - start).days + 1))
        assert bf.max_dpd(h, start, AS_OF) == walk, loan["contract_no"]
    assert checked > 150 and overdue_seen > 5  # the sample has delinquent loans in it


def test_target_population_and_features(book: Engine) -> None:
    histories = list(bf.load_histories(book, AS_OF))
    dates = bf.observation_dates(AS_OF, 4)
    assert dates[-1] == date(2025, 6, 30) and dates[0] == date(2024, 9, 30)
    table = bf.training_table(histories, dates)
    assert list(table.columns[:3]) == ["contract_no", "observation_date", "target"]
    assert set(bf.FEATURES) <= set(table.columns)
    by_no = {h.contract_no: h for h in histories}
    for row in table.itertuples():
        h = by_no[row.contract_no]
        t = row.observation_date
        assert not bf.is_closed(h, t) and bf.dpd_at(h, t) < 90
        end = add_months(t, 12, t.day)
        walk = max(bf.dpd_at(h, t + timedelta(days=d)) for d in range(1, (end - t).days + 1))
        assert row.target == int(walk >= 90)
        assert row.dpd_now == bf.dpd_at(h, t)
        assert row.max_dpd_12m >= row.max_dpd_6m >= row.dpd_now
        assert 0 <= row.worst_bucket_12m <= 7
        assert 0 < row.down_payment_ratio < 1
    assert table["target"].sum() > 0


def test_features_use_nothing_after_the_observation_date(book: Engine) -> None:
    t = date(2025, 3, 31)
    early = {h.contract_no: h for h in bf.load_histories(book, t)}
    late = {h.contract_no: h for h in bf.load_histories(book, AS_OF)}
    for no, h in early.items():
        if not bf.eligible(late[no], t):
            continue
        a = bf.features_as_of(h, t)
        b = bf.features_as_of(late[no], t)
        for key in bf.FEATURES:
            same = a[key] == b[key] or (
                isinstance(a[key], float) and math.isnan(a[key]) and math.isnan(b[key])
            )
            assert same, (no, key, a[key], b[key])


def test_positions_follow_the_products_penalty_multiplier(book: Engine) -> None:
    """Settlement dates come from the product's posting rules, not the default ones.

    Late payments first pay penalty interest, so a larger multiplier settles installments
    later; the histories must agree with the domain under the product's own rules.
    """
    from sqlalchemy import update

    from huifang.domain.posting import PostingRules
    from huifang.store import models as m

    multiplier = Decimal("4")
    with book.begin() as conn:
        conn.execute(update(m.Product).values(penalty_rate_multiplier=multiplier))
    histories = {h.contract_no: h for h in bf.load_histories(book, AS_OF)}
    differs = 0
    for loan, payments in generate(N_LOANS, SEED, AS_OF).loans():
        events = [
            Payment(p["txn_ref"], p["paid_on"], p["amount"])
            for p in payments
            if p["payment_type"] != "reversal"
        ]
        schedule = build_schedule(loan_terms(loan))
        own = position_as_of(schedule, events, AS_OF, PostingRules(penalty_multiplier=multiplier))
        default = position_as_of(schedule, events, AS_OF)
        settled = [d.settled_on for d in histories[loan["contract_no"]].dues]
        assert settled == [i.settled_on for i in own.installments], loan["contract_no"]
        differs += settled != [i.settled_on for i in default.installments]
    assert differs > 0  # the multiplier matters on this book, so the check can fail
