"""Origination tier and risk tier: thresholds, reasons, seasoning, tier changes."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from huifang.domain.tiering import (
    DEFAULT_RISK_TIER_RULES,
    BehaviourScore,
    RiskInputs,
    RiskTier,
    RiskTierRules,
    TierThresholds,
    down_payment_ratio,
    origination_tier,
    risk_tier,
    tier_change,
)

D = Decimal
LOW, MEDIUM, HIGH = RiskTier.LOW, RiskTier.MEDIUM, RiskTier.HIGH


@pytest.mark.parametrize(
    ("score", "down", "tier"),
    [
        (700, "0.3000", LOW),
        (650, "0.3000", LOW),  # at the threshold: not below it
        (649, "0.3000", MEDIUM),
        (550, "0.5000", MEDIUM),
        (549, "0.5000", HIGH),
        (800, "0.2999", MEDIUM),
        (800, "0.2000", MEDIUM),
        (800, "0.1999", HIGH),
        (None, "0.4000", MEDIUM),  # thin file
        (520, "0.1500", HIGH),
    ],
)
def test_origination_tier_thresholds(score: int | None, down: str, tier: RiskTier) -> None:
    result = origination_tier(score, D(down))
    assert result.tier is tier
    assert result.reasons[0].tier is tier and len(result.reasons) == 2


def test_origination_reasons_name_both_factors_worst_first() -> None:
    result = origination_tier(600, D("0.15"))
    assert [r.code for r in result.reasons] == ["down-payment-high-risk", "score-medium-risk"]
    assert "15.00%" in result.reasons[0].zh and "20.00%" in result.reasons[0].en


def test_origination_thresholds_are_settings() -> None:
    strict = TierThresholds(high_score_below=600, medium_score_below=700)
    assert origination_tier(599, D("0.4"), strict).tier is HIGH
    assert origination_tier(650, D("0.4"), strict).tier is MEDIUM
    with pytest.raises(ValueError):
        TierThresholds(high_score_below=700, medium_score_below=600)
    with pytest.raises(ValueError):
        TierThresholds(high_down_payment_below=D("0.4"), medium_down_payment_below=D("0.3"))
    with pytest.raises(ValueError):
        origination_tier(-1, D("0.3"))
    with pytest.raises(ValueError):
        origination_tier(700, D("1.2"))


def test_down_payment_ratio() -> None:
    assert down_payment_ratio(D("30000"), D("150000")) == D("0.2000")
    assert down_payment_ratio(D("1"), D("3")) == D("0.3333")
    with pytest.raises(ValueError):
        down_payment_ratio(D("200000"), D("150000"))


def inputs(**kw: object) -> RiskInputs:
    base: dict[str, object] = {"origination": LOW, "months_on_book": 3, "dpd": 0}
    base.update(kw)
    return RiskInputs(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kw", "tier", "code"),
    [
        ({}, LOW, "origination"),
        ({"origination": HIGH}, HIGH, "origination"),
        ({"origination": HIGH, "months_on_book": 12}, MEDIUM, "origination-seasoned"),
        ({"origination": HIGH, "months_on_book": 12, "dpd": 1}, HIGH, "origination"),
        ({"behaviour": BehaviourScore(D("0.15"))}, HIGH, "behaviour-pd-high"),
        ({"behaviour": BehaviourScore(D("0.1499"))}, MEDIUM, "behaviour-pd-medium"),
        ({"behaviour": BehaviourScore(D("0.0499"))}, LOW, "origination"),
        ({"behaviour": BehaviourScore(points=537)}, HIGH, "behaviour-points-high"),
        ({"behaviour": BehaviourScore(points=538)}, MEDIUM, "behaviour-points-medium"),
        ({"behaviour": BehaviourScore(points=572)}, MEDIUM, "behaviour-points-medium"),
        ({"behaviour": BehaviourScore(points=573)}, LOW, "origination"),
        ({"dpd": 1}, MEDIUM, "dpd-medium"),
        ({"dpd": 30}, MEDIUM, "dpd-medium"),
        ({"dpd": 31}, HIGH, "dpd-high"),
        ({"ltv": D("0.8000")}, LOW, "origination"),
        ({"ltv": D("0.8001")}, MEDIUM, "ltv-medium"),
        ({"ltv": D("1.0000")}, MEDIUM, "ltv-medium"),
        ({"ltv": D("1.0001")}, HIGH, "ltv-high"),
        ({"open_alert_severities": ("low",)}, LOW, "origination"),
        ({"open_alert_severities": ("medium", "low")}, MEDIUM, "alerts-medium"),
        ({"open_alert_severities": ("critical",)}, HIGH, "alerts-high"),
        ({"open_alert_severities": ("low", "low", "low")}, HIGH, "alerts-many"),
    ],
)
def test_risk_tier_thresholds(kw: dict[str, object], tier: RiskTier, code: str) -> None:
    result = risk_tier(inputs(**kw))
    assert result.tier is tier
    assert result.reasons[0].code == code
    assert all(r.tier.rank <= tier.rank for r in result.reasons)


def test_probability_decides_over_points_and_missing_score_is_said() -> None:
    both = risk_tier(inputs(behaviour=BehaviourScore(D("0.01"), points=300)))
    assert both.tier is LOW and "behaviour-pd-ok" in [r.code for r in both.reasons]
    missing = risk_tier(inputs())
    assert "behaviour-missing" in [r.code for r in missing.reasons]
    assert "ltv-ok" not in [r.code for r in missing.reasons]  # never valued: no LTV reason


def test_all_reasons_are_kept_worst_first_and_deciding_ones_named() -> None:
    result = risk_tier(
        inputs(
            origination=MEDIUM,
            dpd=45,
            ltv=D("1.10"),
            behaviour=BehaviourScore(D("0.08")),
            open_alert_severities=("high",),
        )
    )
    assert result.tier is HIGH
    assert [r.code for r in result.deciding] == ["dpd-high", "ltv-high", "alerts-high"]
    assert [r.tier for r in result.reasons] == [HIGH, HIGH, HIGH, MEDIUM, MEDIUM]


def test_rules_are_settings_and_validated() -> None:
    lenient = RiskTierRules(dpd_high_from=61)
    assert risk_tier(inputs(dpd=45), lenient).tier is MEDIUM
    with pytest.raises(ValueError):
        RiskTierRules(pd_medium_at=D("0.2"), pd_high_at=D("0.1"))
    with pytest.raises(ValueError):
        RiskTierRules(dpd_medium_from=0)
    with pytest.raises(ValueError):
        RiskTierRules(severity_tiers={"low": LOW})
    with pytest.raises(ValueError, match="未知预警"):
        risk_tier(inputs(open_alert_severities=("urgent",)), DEFAULT_RISK_TIER_RULES)
    with pytest.raises(ValueError):
        BehaviourScore()
    with pytest.raises(ValueError):
        BehaviourScore(D("1.5"))


def test_tier_change_records_only_changes() -> None:
    high = risk_tier(inputs(dpd=40))
    first = tier_change(None, high)
    assert first is not None and first.direction == "initial"
    assert tier_change(HIGH, high) is None
    down = tier_change(HIGH, risk_tier(inputs()))
    assert down is not None and down.direction == "down" and down.current is LOW
    up = tier_change(LOW, high)
    assert up is not None and up.direction == "up" and "逾期 40 天" in up.zh


@settings(max_examples=200)
@given(
    origination=st.sampled_from(list(RiskTier)),
    months=st.integers(0, 120),
    dpd=st.integers(0, 400),
    more_dpd=st.integers(0, 100),
    ltv=st.none() | st.decimals(0, 3, places=4),
    more_ltv=st.decimals(0, 1, places=4),
    pd=st.none() | st.decimals(0, 1, places=4),
)
def test_worse_inputs_never_give_a_better_tier(
    origination: RiskTier,
    months: int,
    dpd: int,
    more_dpd: int,
    ltv: Decimal | None,
    more_ltv: Decimal,
    pd: Decimal | None,
) -> None:
    score = BehaviourScore(pd) if pd is not None else None
    base = risk_tier(RiskInputs(origination, months, dpd, score, ltv))
    worse = risk_tier(
        RiskInputs(
            origination,
            months,
            dpd + more_dpd,
            score,
            None if ltv is None else ltv + more_ltv,
            ("medium",),
        )
    )
    assert worse.tier.rank >= base.tier.rank
