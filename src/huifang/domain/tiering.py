"""Risk tiers (风险分层): the origination tier, and the risk tier a loan carries on the book.

Part 1, the origination tier (贷前风险分层) from the application credit score and the down
payment.

Why: the seed article's rule — borrowers are sorted into high and low risk by credit score
and down-payment ratio at origination, and high-risk borrowers are followed up more often.
The tier is the worst tier any factor points to, and it comes with the reasons that set it
(code, Chinese, English) so the decision can be explained to a risk officer or, on request,
to the borrower (PIPL art. 24).

Defaults (a `TierThresholds` setting, to be set per lender and score card):

* **high**: credit score < 550, or down payment < 20 % of the vehicle price. 20 % is the
  complement of the 80 % self-use LTV ceiling of 《汽车贷款管理办法》 (2017), so a down payment
  below it is only possible under the NEV (85 %) or lender-set ratios — riskier by design.
* **medium**: credit score < 650, or down payment < 30 % (the complement of the 70 % ceiling
  for used and commercial vehicles).
* **low**: otherwise.
* no score (thin file, 征信白户): medium, since nothing speaks for low.

The score thresholds assume a 300–850-like scale where 550 and 650 sit near the usual
subprime / near-prime / prime cut-offs; a lender using a different score card must set its own.

Part 2, the risk tier (贷后风险等级) of a loan on the book: `risk_tier` combines the origination
tier with what has happened since — the behaviour model's score (a probability of default
or scorecard points; it may be absent), days past due, LTV and the open early-warning alerts.
Each factor points to a tier under `RiskTierRules` (thresholds from the versioned file
``huifang/rules/risk_tiers.yaml``); the loan's tier is the worst of them, and every factor's
reason is kept, worst first. `tier_change` turns two consecutive assessments into the record
the tier history stores (from, to, reasons). The follow-up policy reads the tier to set the
contact cadence (monthly for high risk).

Both functions are pure and every threshold is a parameter, so the nightly portfolio run can
apply the same comparisons as column expressions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from types import MappingProxyType

_RATIO = Decimal("0.0001")


class RiskTier(StrEnum):
    """Risk tier, best to worst; compare with `rank`."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def zh(self) -> str:
        return _ZH[self]


_RANK = {t: i for i, t in enumerate(RiskTier)}
_ZH = {RiskTier.LOW: "低风险", RiskTier.MEDIUM: "中风险", RiskTier.HIGH: "高风险"}


@dataclass(frozen=True)
class TierThresholds:
    """Cut-offs of the origination tier: a value *below* a threshold falls in that tier."""

    high_score_below: int = 550
    medium_score_below: int = 650
    high_down_payment_below: Decimal = Decimal("0.20")
    medium_down_payment_below: Decimal = Decimal("0.30")
    missing_score_tier: RiskTier = RiskTier.MEDIUM

    def __post_init__(self) -> None:
        if not (0 <= self.high_score_below <= self.medium_score_below):
            raise ValueError("评分阈值必须非负, 且高风险阈值不高于中风险阈值")
        if not (
            Decimal(0)
            <= self.high_down_payment_below
            <= self.medium_down_payment_below
            <= Decimal(1)
        ):
            raise ValueError("首付比例阈值必须在 [0, 1] 之内, 且高风险阈值不高于中风险阈值")


DEFAULT_TIER_THRESHOLDS = TierThresholds()


@dataclass(frozen=True)
class TierReason:
    """One factor behind a tier: a stable code for reports, and text in Chinese and English."""

    code: str
    tier: RiskTier
    zh: str
    en: str


@dataclass(frozen=True)
class OriginationTier:
    """The origination tier with every reason, worst first."""

    tier: RiskTier
    reasons: tuple[TierReason, ...]
    credit_score: int | None
    down_payment_ratio: Decimal


def down_payment_ratio(down_payment: Decimal, vehicle_price: Decimal) -> Decimal:
    """Down payment / vehicle price, to 4 decimals, half-up."""
    if vehicle_price <= 0:
        raise ValueError(f"车辆价格必须大于0: {vehicle_price}")
    if not (Decimal(0) <= down_payment <= vehicle_price):
        raise ValueError(f"首付金额必须在 0 与车价之间: {down_payment}")
    return (down_payment / vehicle_price).quantize(_RATIO, rounding=ROUND_HALF_UP)


def _pct(ratio: Decimal) -> str:
    return f"{(ratio * 100).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}%"


def _score_reason(score: int | None, t: TierThresholds) -> TierReason:
    if score is None:
        return TierReason(
            "score-missing",
            t.missing_score_tier,
            "无信用评分 (征信白户)",
            "no credit score (thin file)",
        )
    if score < t.high_score_below:
        return TierReason(
            "score-high-risk",
            RiskTier.HIGH,
            f"信用评分 {score} 低于 {t.high_score_below}",
            f"credit score {score} is below {t.high_score_below}",
        )
    if score < t.medium_score_below:
        return TierReason(
            "score-medium-risk",
            RiskTier.MEDIUM,
            f"信用评分 {score} 低于 {t.medium_score_below}",
            f"credit score {score} is below {t.medium_score_below}",
        )
    return TierReason(
        "score-ok",
        RiskTier.LOW,
        f"信用评分 {score} 不低于 {t.medium_score_below}",
        f"credit score {score} is at least {t.medium_score_below}",
    )


def _down_payment_reason(ratio: Decimal, t: TierThresholds) -> TierReason:
    shown = _pct(ratio)
    if ratio < t.high_down_payment_below:
        limit = _pct(t.high_down_payment_below)
        return TierReason(
            "down-payment-high-risk",
            RiskTier.HIGH,
            f"首付比例 {shown} 低于 {limit}",
            f"down payment {shown} is below {limit}",
        )
    limit = _pct(t.medium_down_payment_below)
    if ratio < t.medium_down_payment_below:
        return TierReason(
            "down-payment-medium-risk",
            RiskTier.MEDIUM,
            f"首付比例 {shown} 低于 {limit}",
            f"down payment {shown} is below {limit}",
        )
    return TierReason(
        "down-payment-ok",
        RiskTier.LOW,
        f"首付比例 {shown} 不低于 {limit}",
        f"down payment {shown} is at least {limit}",
    )


def origination_tier(
    credit_score: int | None,
    down_payment_ratio: Decimal,
    thresholds: TierThresholds = DEFAULT_TIER_THRESHOLDS,
) -> OriginationTier:
    """The origination tier: the worse of what the score and the down payment point to.

    Reasons list both factors, worst first; for a low tier they say why each passed.
    """
    if credit_score is not None and credit_score < 0:
        raise ValueError(f"信用评分不能为负: {credit_score}")
    if not (Decimal(0) <= down_payment_ratio <= Decimal(1)):
        raise ValueError(f"首付比例必须在 0 与 1 之间: {down_payment_ratio}")
    reasons = sorted(
        (
            _score_reason(credit_score, thresholds),
            _down_payment_reason(down_payment_ratio, thresholds),
        ),
        key=lambda r: -r.tier.rank,
    )
    tier = reasons[0].tier
    return OriginationTier(tier, tuple(reasons), credit_score, down_payment_ratio)


# --- part 2: the risk tier on the book -----------------------------------------------------


def _lower(tier: RiskTier) -> RiskTier:
    return RiskTier.MEDIUM if tier is RiskTier.HIGH else RiskTier.LOW


@dataclass(frozen=True)
class BehaviourScore:
    """The behaviour model's output for one loan: a probability of default (90+ DPD within
    12 months, 0–1), scorecard points (higher is better), or both. When both are given the
    probability decides; points are used when a lender's cut-offs are set in points."""

    probability: Decimal | None = None
    points: int | None = None
    model_version: str = ""

    def __post_init__(self) -> None:
        if self.probability is None and self.points is None:
            raise ValueError("行为评分必须有违约概率或分数 / a behaviour score needs a value")
        if self.probability is not None and not (Decimal(0) <= self.probability <= Decimal(1)):
            raise ValueError(f"违约概率必须在 0 与 1 之间: {self.probability}")


_SEVERITY_TIERS: Mapping[str, RiskTier] = MappingProxyType(
    {
        "low": RiskTier.LOW,
        "medium": RiskTier.MEDIUM,
        "high": RiskTier.HIGH,
        "critical": RiskTier.HIGH,
    }
)


@dataclass(frozen=True)
class RiskTierRules:
    """Thresholds of the risk tier. "at least" / "above" read literally: a PD equal to
    `pd_high_at` is high; an LTV equal to `ltv_high_above` is not.

    * origination: counts as it is for `seasoning_months`; after that, for a loan that is
      current (DPD 0), one tier lower — a borrower who has paid for a year has shown more
      than the application did.
    * behaviour: PD ≥ `pd_high_at` → high, ≥ `pd_medium_at` → medium; or points below
      `points_high_below` → high, below `points_medium_below` → medium; absent:
      `missing_behaviour_tier`. The point defaults are the PD thresholds on the behaviour
      scorecard's scale (600 points at 50:1 good:bad odds, 20 points to double them):
      PD 15 % ≈ 537.2 points, PD 5 % ≈ 572.1 points.
    * DPD ≥ `dpd_high_from` → high (default 31, M2), ≥ `dpd_medium_from` → medium (1, M1).
    * LTV > `ltv_high_above` → high (default 1.00: the car no longer covers the loan),
      > `ltv_medium_above` → medium (0.80, the self-use ceiling). No valuation: no reason.
    * open alerts: each alert's severity maps to a tier (`severity_tiers`); and
      `open_alerts_high_from` or more open alerts of any severity → high.
    """

    seasoning_months: int = 12
    pd_high_at: Decimal = Decimal("0.15")
    pd_medium_at: Decimal = Decimal("0.05")
    points_high_below: int = 538
    points_medium_below: int = 573
    missing_behaviour_tier: RiskTier = RiskTier.LOW
    dpd_high_from: int = 31
    dpd_medium_from: int = 1
    ltv_high_above: Decimal = Decimal("1.00")
    ltv_medium_above: Decimal = Decimal("0.80")
    severity_tiers: Mapping[str, RiskTier] = field(default_factory=lambda: _SEVERITY_TIERS)
    open_alerts_high_from: int = 3

    def __post_init__(self) -> None:
        if self.seasoning_months < 0:
            raise ValueError("观察期月数不能为负")
        if not (Decimal(0) < self.pd_medium_at <= self.pd_high_at <= Decimal(1)):
            raise ValueError("违约概率阈值必须在 (0, 1] 之内, 且中风险阈值不高于高风险阈值")
        if self.points_high_below > self.points_medium_below:
            raise ValueError("行为分数阈值: 高风险阈值不得高于中风险阈值")
        if not (1 <= self.dpd_medium_from <= self.dpd_high_from):
            raise ValueError("逾期天数阈值必须至少为 1, 且中风险阈值不高于高风险阈值")
        if not (Decimal(0) < self.ltv_medium_above <= self.ltv_high_above):
            raise ValueError("抵押率阈值必须为正, 且中风险阈值不高于高风险阈值")
        if self.open_alerts_high_from < 1:
            raise ValueError("未关闭预警数阈值至少为 1")
        for severity in ("low", "medium", "high", "critical"):
            if severity not in self.severity_tiers:
                raise ValueError(f"缺少预警严重程度 {severity} 对应的风险等级")


DEFAULT_RISK_TIER_RULES = RiskTierRules()


@dataclass(frozen=True)
class RiskInputs:
    """What the risk tier is computed from, for one loan on one date.

    `open_alert_severities` are the severities of the loan's early-warning alerts that are
    open or acknowledged (not resolved). `ltv` is None when the car has not been valued.
    """

    origination: RiskTier
    months_on_book: int
    dpd: int
    behaviour: BehaviourScore | None = None
    ltv: Decimal | None = None
    open_alert_severities: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.months_on_book < 0 or self.dpd < 0:
            raise ValueError("放款月数和逾期天数不能为负")
        if self.ltv is not None and self.ltv < 0:
            raise ValueError(f"抵押率不能为负: {self.ltv}")


@dataclass(frozen=True)
class RiskAssessment:
    """The risk tier and every factor's reason, worst first."""

    tier: RiskTier
    reasons: tuple[TierReason, ...]

    @property
    def deciding(self) -> tuple[TierReason, ...]:
        """The reasons that set the tier (those at the tier itself)."""
        return tuple(r for r in self.reasons if r.tier is self.tier)


def _origination_reason(inputs: RiskInputs, rules: RiskTierRules) -> TierReason:
    tier = inputs.origination
    if (
        tier is not RiskTier.LOW
        and inputs.months_on_book >= rules.seasoning_months
        and inputs.dpd == 0
    ):
        lowered = _lower(tier)
        return TierReason(
            "origination-seasoned",
            lowered,
            f"贷前等级{tier.zh}, 已放款 {inputs.months_on_book} 个月且当前无逾期, 降为{lowered.zh}",
            f"origination tier {tier.value}, {inputs.months_on_book} months on book and current:"
            f" counted as {lowered.value}",
        )
    return TierReason(
        "origination",
        tier,
        f"贷前等级{tier.zh}",
        f"origination tier {tier.value}",
    )


def _behaviour_reason(score: BehaviourScore | None, rules: RiskTierRules) -> TierReason:
    if score is None:
        return TierReason(
            "behaviour-missing",
            rules.missing_behaviour_tier,
            "无行为评分",
            "no behaviour score",
        )
    if score.probability is not None:
        pd = score.probability
        shown = _pct(pd)
        if pd >= rules.pd_high_at:
            tier, limit = RiskTier.HIGH, rules.pd_high_at
        elif pd >= rules.pd_medium_at:
            tier, limit = RiskTier.MEDIUM, rules.pd_medium_at
        else:
            return TierReason(
                "behaviour-pd-ok",
                RiskTier.LOW,
                f"行为模型违约概率 {shown} 低于 {_pct(rules.pd_medium_at)}",
                f"behaviour PD {shown} is below {_pct(rules.pd_medium_at)}",
            )
        return TierReason(
            f"behaviour-pd-{tier.value}",
            tier,
            f"行为模型违约概率 {shown} 不低于 {_pct(limit)}",
            f"behaviour PD {shown} is at least {_pct(limit)}",
        )
    points = score.points
    assert points is not None  # checked by BehaviourScore
    if points < rules.points_high_below:
        tier, below = RiskTier.HIGH, rules.points_high_below
    elif points < rules.points_medium_below:
        tier, below = RiskTier.MEDIUM, rules.points_medium_below
    else:
        return TierReason(
            "behaviour-points-ok",
            RiskTier.LOW,
            f"行为评分 {points} 分, 不低于 {rules.points_medium_below}",
            f"behaviour score {points} points is at least {rules.points_medium_below}",
        )
    return TierReason(
        f"behaviour-points-{tier.value}",
        tier,
        f"行为评分 {points} 分, 低于 {below}",
        f"behaviour score {points} points is below {below}",
    )


def _dpd_reason(dpd: int, rules: RiskTierRules) -> TierReason:
    if dpd >= rules.dpd_high_from:
        return TierReason(
            "dpd-high",
            RiskTier.HIGH,
            f"逾期 {dpd} 天, 不少于 {rules.dpd_high_from} 天",
            f"{dpd} days past due, at least {rules.dpd_high_from}",
        )
    if dpd >= rules.dpd_medium_from:
        return TierReason(
            "dpd-medium",
            RiskTier.MEDIUM,
            f"逾期 {dpd} 天",
            f"{dpd} days past due",
        )
    return TierReason("dpd-none", RiskTier.LOW, "当前无逾期", "not past due")


def _ltv_reason(ltv: Decimal | None, rules: RiskTierRules) -> TierReason | None:
    if ltv is None:
        return None
    shown = _pct(ltv)
    if ltv > rules.ltv_high_above:
        tier, limit = RiskTier.HIGH, rules.ltv_high_above
    elif ltv > rules.ltv_medium_above:
        tier, limit = RiskTier.MEDIUM, rules.ltv_medium_above
    else:
        ok = _pct(rules.ltv_medium_above)
        return TierReason(
            "ltv-ok", RiskTier.LOW, f"抵押率 {shown} 不高于 {ok}", f"LTV {shown} ≤ {ok}"
        )
    return TierReason(
        f"ltv-{tier.value}",
        tier,
        f"抵押率 {shown} 高于 {_pct(limit)}",
        f"LTV {shown} is above {_pct(limit)}",
    )


def _alerts_reason(severities: Sequence[str], rules: RiskTierRules) -> TierReason:
    if not severities:
        return TierReason("alerts-none", RiskTier.LOW, "无未关闭预警", "no open alerts")
    for severity in severities:
        if severity not in rules.severity_tiers:
            raise ValueError(f"未知预警严重程度: {severity!r}")
    count = len(severities)
    if count >= rules.open_alerts_high_from:
        return TierReason(
            "alerts-many",
            RiskTier.HIGH,
            f"未关闭预警 {count} 条, 不少于 {rules.open_alerts_high_from} 条",
            f"{count} open alerts, at least {rules.open_alerts_high_from}",
        )
    worst = max(severities, key=lambda s: rules.severity_tiers[s].rank)
    tier = rules.severity_tiers[worst]
    return TierReason(
        f"alerts-{tier.value}",
        tier,
        f"未关闭预警 {count} 条, 最高严重程度 {worst}",
        f"{count} open alert(s), worst severity {worst}",
    )


def risk_tier(inputs: RiskInputs, rules: RiskTierRules = DEFAULT_RISK_TIER_RULES) -> RiskAssessment:
    """The loan's risk tier: the worst tier any factor points to, with every factor's reason.

    Factors: origination (seasoned after `rules.seasoning_months` when current), behaviour
    score, DPD, LTV (when valued) and open alerts. Reasons are sorted worst first, then in
    that factor order, so the first reason is the one to show when there is room for one.
    """
    reasons = [
        _origination_reason(inputs, rules),
        _behaviour_reason(inputs.behaviour, rules),
        _dpd_reason(inputs.dpd, rules),
    ]
    ltv_reason = _ltv_reason(inputs.ltv, rules)
    if ltv_reason is not None:
        reasons.append(ltv_reason)
    reasons.append(_alerts_reason(inputs.open_alert_severities, rules))
    ordered = tuple(sorted(reasons, key=lambda r: -r.tier.rank))  # stable: factor order kept
    return RiskAssessment(ordered[0].tier, ordered)


@dataclass(frozen=True)
class TierChange:
    """A change of a loan's tier, as the tier history records it."""

    previous: RiskTier | None
    current: RiskTier
    reasons: tuple[TierReason, ...]

    @property
    def direction(self) -> str:
        """'initial', 'up' (riskier) or 'down'."""
        if self.previous is None:
            return "initial"
        return "up" if self.current.rank > self.previous.rank else "down"

    @property
    def zh(self) -> str:
        was = self.previous.zh if self.previous is not None else "无"
        why = "; ".join(r.zh for r in self.reasons if r.tier is self.current)
        return f"风险等级 {was} → {self.current.zh}: {why}"


def tier_change(previous: RiskTier | None, assessment: RiskAssessment) -> TierChange | None:
    """The record of a change from `previous` to the assessed tier, or None when unchanged
    (the history stores changes, not every nightly assessment)."""
    if previous is assessment.tier:
        return None
    return TierChange(previous, assessment.tier, assessment.reasons)
