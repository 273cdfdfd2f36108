"""DPD (Fineract convention, edge days), M-buckets and five-category classification."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from huifang.domain.delinquency import (
    Bucket,
    ClassificationRules,
    DpdConvention,
    LoanClass,
    bucket_for,
    classify,
    classify_position,
    days_past_due,
    days_past_due_since,
    observation_end,
    worst,
)
from huifang.domain.posting import Payment, position_as_of
from huifang.domain.schedule import LoanTerms, RepaymentMethod, build_schedule

D = Decimal
SCHED = build_schedule(
    LoanTerms(D(12000), D("0.12"), 12, RepaymentMethod.EQUAL_INSTALLMENT, date(2024, 1, 15))
)
I1, I2 = SCHED.installments[:2]


# --- DPD ------------------------------------------------------------------------------------


def test_dpd_edges_fineract() -> None:
    due = date(2024, 2, 15)
    assert days_past_due_since(None, due) == 0
    assert days_past_due_since(due, due - timedelta(days=1)) == 0
    assert days_past_due_since(due, due) == 0  # on the due date nothing is overdue
    assert days_past_due_since(due, due + timedelta(days=1)) == 1
    assert days_past_due_since(due, due + timedelta(days=30)) == 30
    assert days_past_due_since(due, due + timedelta(days=31)) == 31


def test_dpd_inclusive_is_one_more_but_still_zero_on_the_due_date() -> None:
    due = date(2024, 2, 15)
    inclusive = DpdConvention.INCLUSIVE
    assert days_past_due_since(due, due, inclusive) == 0
    assert days_past_due_since(due, due + timedelta(days=1), inclusive) == 2


def test_dpd_from_position_payment_on_due_date_vs_one_day_later() -> None:
    on_time = [Payment("a", I1.due_date, I1.payment)]
    assert days_past_due(position_as_of(SCHED, on_time, I1.due_date)) == 0
    assert days_past_due(position_as_of(SCHED, on_time, I1.due_date + timedelta(days=1))) == 0
    late_day = I1.due_date + timedelta(days=1)
    unpaid = position_as_of(SCHED, [], late_day)
    assert days_past_due(unpaid) == 1
    # paid one day late: 1 DPD that morning; the payment (with penalty) brings it to 0
    with_penalty = I1.payment + unpaid.penalty_outstanding
    assert (
        days_past_due(position_as_of(SCHED, [Payment("a", late_day, with_penalty)], late_day)) == 0
    )
    # paid one day late without the penalty: a few fen of principal stay overdue
    short = position_as_of(SCHED, [Payment("a", late_day, I1.payment)], late_day)
    assert days_past_due(short) == 1


def test_dpd_counts_from_the_oldest_unpaid_installment() -> None:
    on = date(2024, 4, 1)
    nothing = position_as_of(SCHED, [], on)
    assert days_past_due(nothing) == (on - I1.due_date).days == 46
    # paying period 1 in full moves the count to period 2; the default order pays all
    # overdue interest (periods 1 and 2) before overdue principal, so that is needed too
    pos = position_as_of(SCHED, [], date(2024, 3, 20))
    amount = pos.penalty_outstanding + I1.interest + I2.interest + I1.principal
    paid_first = position_as_of(SCHED, [Payment("a", date(2024, 3, 20), amount)], on)
    assert paid_first.installment(1).is_settled
    assert days_past_due(paid_first) == (on - I2.due_date).days == 17
    # a partial payment of the oldest does not reset the count
    partial = position_as_of(SCHED, [Payment("a", date(2024, 3, 20), D("300"))], on)
    assert days_past_due(partial) == 46


@st.composite
def payments(draw: st.DrawFn) -> tuple[list[Payment], date]:
    start = SCHED.terms.disbursement_date
    end = SCHED.installments[-1].due_date + timedelta(days=60)
    span = (end - start).days
    items = [
        Payment(
            f"p{n}",
            start + timedelta(days=draw(st.integers(0, span))),
            D(draw(st.integers(1, 300_000))) / 100,
        )
        for n in range(draw(st.integers(0, 15)))
    ]
    return items, start + timedelta(days=draw(st.integers(0, span)))


@settings(max_examples=150, deadline=None)
@given(payments())
def test_dpd_zero_iff_nothing_overdue(case: tuple[list[Payment], date]) -> None:
    events, as_of = case
    p = position_as_of(SCHED, events, as_of)
    nothing_overdue = all(i.is_settled for i in p.installments if i.due_date < as_of)
    assert (days_past_due(p) == 0) == nothing_overdue
    assert (days_past_due(p, DpdConvention.INCLUSIVE) == 0) == nothing_overdue


# --- buckets ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dpd", "bucket"),
    [
        (0, Bucket.M0),
        (1, Bucket.M1),
        (30, Bucket.M1),
        (31, Bucket.M2),
        (60, Bucket.M2),
        (61, Bucket.M3),
        (90, Bucket.M3),
        (91, Bucket.M4),
        (150, Bucket.M5),
        (151, Bucket.M6),
        (180, Bucket.M6),
        (181, Bucket.M6_PLUS),
        (5000, Bucket.M6_PLUS),
    ],
)
def test_buckets(dpd: int, bucket: Bucket) -> None:
    assert bucket_for(dpd) is bucket


def test_bucket_rejects_negative() -> None:
    with pytest.raises(ValueError):
        bucket_for(-1)
    assert Bucket.M6_PLUS.value == "M6+"


# --- classification ---------------------------------------------------------------------------

AS_OF = date(2024, 6, 30)


@pytest.mark.parametrize(
    ("dpd", "category"),
    [
        (0, LoanClass.NORMAL),
        (1, LoanClass.SPECIAL_MENTION),
        (90, LoanClass.SPECIAL_MENTION),
        (91, LoanClass.SUBSTANDARD),
        (270, LoanClass.SUBSTANDARD),
        (271, LoanClass.DOUBTFUL),
        (360, LoanClass.DOUBTFUL),
        (361, LoanClass.LOSS),
    ],
)
def test_default_thresholds(dpd: int, category: LoanClass) -> None:
    result = classify(dpd, AS_OF)
    assert result.category is category
    assert result.reasons


def test_configurable_thresholds() -> None:
    rules = ClassificationRules(special_mention_over=30, substandard_over=60, doubtful_over=180)
    assert classify(30, AS_OF, rules).category is LoanClass.NORMAL
    assert classify(31, AS_OF, rules).category is LoanClass.SPECIAL_MENTION
    assert classify(61, AS_OF, rules).category is LoanClass.SUBSTANDARD
    assert classify(181, AS_OF, rules).category is LoanClass.DOUBTFUL


def test_thresholds_must_respect_the_regulation() -> None:
    with pytest.raises(ValueError, match="90"):
        ClassificationRules(substandard_over=120)
    with pytest.raises(ValueError):
        ClassificationRules(doubtful_over=50)


def test_restructured_loan_observation_floor() -> None:
    restructured = date(2024, 1, 31)
    ends = observation_end(restructured, ClassificationRules())
    assert ends == date(2025, 1, 31)
    inside = classify(0, date(2025, 1, 30), restructured_on=restructured)
    assert inside.category is LoanClass.SPECIAL_MENTION
    assert inside.observation_ends == ends
    assert any("重组观察期" in r for r in inside.reasons)
    assert classify(0, ends, restructured_on=restructured).category is LoanClass.NORMAL
    # the floor never improves a worse category
    assert classify(100, date(2024, 6, 1), restructured_on=restructured).category is (
        LoanClass.SUBSTANDARD
    )
    # a shorter observation period is a setting
    six = ClassificationRules(restructured_observation_months=6)
    assert classify(0, date(2024, 8, 1), six, restructured_on=restructured).category is (
        LoanClass.NORMAL
    )


def test_manual_floor_with_reason() -> None:
    result = classify(0, AS_OF, floor=LoanClass.SUBSTANDARD, floor_reason="借款人失联")
    assert result.category is LoanClass.SUBSTANDARD
    assert result.reasons == ("借款人失联",)


def test_loan_class_helpers() -> None:
    assert [c.rank for c in LoanClass] == [0, 1, 2, 3, 4]
    assert not LoanClass.SPECIAL_MENTION.non_performing
    assert LoanClass.SUBSTANDARD.non_performing
    assert worst(LoanClass.NORMAL, LoanClass.DOUBTFUL, LoanClass.SUBSTANDARD) is LoanClass.DOUBTFUL
    assert LoanClass.LOSS.english == "loss"
    with pytest.raises(ValueError):
        classify(-1, AS_OF)


def test_classify_position() -> None:
    p = position_as_of(SCHED, [], I1.due_date + timedelta(days=91))
    result = classify_position(p)
    assert result.dpd == 91
    assert result.category is LoanClass.SUBSTANDARD
