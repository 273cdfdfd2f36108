"""Delinquency: days past due, M-buckets, and the five-category classification (五级分类).

DPD convention (named, because systems differ by one day):

* `DpdConvention.FINERACT` (default): DPD = as-of date − due date of the oldest installment
  that is still unpaid after its due date. On the due date itself nothing is overdue and
  DPD is 0; the day after, DPD is 1. This is Apache Fineract's count and the one Chinese
  credit reports (征信 "逾期天数") use.
* `DpdConvention.INCLUSIVE`: the same plus one (Frappe Lending): the first overdue day
  counts as day 2. Offered only to reconcile with systems that count this way.

The due date is the one the borrower must pay by, i.e. after any holiday shift (顺延): a
payment on the shifted date is on time.

Buckets follow the industry convention: M0 = not overdue, M1 = 1–30 DPD, M2 = 31–60 …
M6 = 151–180 and M6+ beyond 180.

Classification follows 《商业银行金融资产风险分类办法》 (in force 2023-07-01) with the
defaults of BRIEF.md: any overdue → at least 关注, more than 90 days → 次级, more than 270 →
可疑, more than 360 → 损失; a restructured loan stays at least 关注 through an observation
period (one year by default) from its restructuring. Every threshold is a setting, and the
result carries the reasons that produced it so the decision can be explained (PIPL art. 24).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from huifang.domain.posting import LoanPosition
from huifang.domain.schedule import add_months


class DpdConvention(StrEnum):
    """How days past due are counted from the oldest overdue due date."""

    FINERACT = "fineract"  # as-of − oldest overdue due date; 0 on the due date
    INCLUSIVE = "inclusive"  # the same + 1 (Frappe Lending)


def days_past_due_since(
    oldest_overdue_due_date: date | None,
    as_of: date,
    convention: DpdConvention = DpdConvention.FINERACT,
) -> int:
    """DPD from the due date of the oldest installment still unpaid (None: nothing overdue).

    An installment due on `as_of` or later is not overdue, whatever the convention.
    """
    if oldest_overdue_due_date is None or oldest_overdue_due_date >= as_of:
        return 0
    days = (as_of - oldest_overdue_due_date).days
    return days + 1 if convention is DpdConvention.INCLUSIVE else days


def days_past_due(
    position: LoanPosition, convention: DpdConvention = DpdConvention.FINERACT
) -> int:
    """DPD of a loan on `position.as_of`."""
    return days_past_due_since(position.oldest_overdue_due_date, position.as_of, convention)


class Bucket(StrEnum):
    """Delinquency bucket by DPD, 30 days each."""

    M0 = "M0"
    M1 = "M1"
    M2 = "M2"
    M3 = "M3"
    M4 = "M4"
    M5 = "M5"
    M6 = "M6"
    M6_PLUS = "M6+"


_BUCKETS = (Bucket.M1, Bucket.M2, Bucket.M3, Bucket.M4, Bucket.M5, Bucket.M6)


def bucket_for(dpd: int, days_per_bucket: int = 30) -> Bucket:
    """M0 for 0 DPD, M1 for 1–30, M2 for 31–60 … M6 for 151–180, M6+ beyond."""
    if dpd < 0:
        raise ValueError(f"逾期天数不能为负: {dpd}")
    if dpd == 0:
        return Bucket.M0
    index = (dpd - 1) // days_per_bucket
    return _BUCKETS[index] if index < len(_BUCKETS) else Bucket.M6_PLUS


class LoanClass(StrEnum):
    """The five risk categories, best to worst; compare with `rank`."""

    NORMAL = "正常"
    SPECIAL_MENTION = "关注"
    SUBSTANDARD = "次级"
    DOUBTFUL = "可疑"
    LOSS = "损失"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def english(self) -> str:
        return _ENGLISH[self]

    @property
    def non_performing(self) -> bool:
        """次级, 可疑 and 损失 are non-performing (不良)."""
        return self.rank >= _RANK[LoanClass.SUBSTANDARD]


_RANK = {c: i for i, c in enumerate(LoanClass)}
_ENGLISH = {
    LoanClass.NORMAL: "normal",
    LoanClass.SPECIAL_MENTION: "special mention",
    LoanClass.SUBSTANDARD: "substandard",
    LoanClass.DOUBTFUL: "doubtful",
    LoanClass.LOSS: "loss",
}


def worst(*classes: LoanClass) -> LoanClass:
    """The worst of the given categories."""
    return max(classes, key=lambda c: c.rank)


@dataclass(frozen=True)
class ClassificationRules:
    """DPD thresholds ("more than N days") and the restructured-loan observation period.

    Defaults: overdue at all → 关注, > 90 → 次级, > 270 → 可疑, > 360 → 损失; a restructured
    loan is at least 关注 for 12 months after its restructuring.
    """

    special_mention_over: int = 0
    substandard_over: int = 90
    doubtful_over: int = 270
    loss_over: int = 360
    restructured_observation_months: int = 12
    restructured_floor: LoanClass = LoanClass.SPECIAL_MENTION

    def __post_init__(self) -> None:
        steps = (
            self.special_mention_over,
            self.substandard_over,
            self.doubtful_over,
            self.loss_over,
        )
        if any(s < 0 for s in steps) or list(steps) != sorted(steps):
            raise ValueError("分类逾期天数阈值必须非负且递增")
        if self.substandard_over > 90:
            # 《商业银行金融资产风险分类办法》第十一条: overdue > 90 days is at least 次级.
            raise ValueError("逾期超过 90 天的资产至少为次级, 次级阈值不得超过 90 天")
        if self.restructured_observation_months < 0:
            raise ValueError("重组观察期不能为负")


@dataclass(frozen=True)
class Classification:
    """A category with the reasons for it, e.g. ("逾期 95 天 > 90 天",)."""

    category: LoanClass
    dpd: int
    reasons: tuple[str, ...]
    observation_ends: date | None = None


def observation_end(restructured_on: date, rules: ClassificationRules) -> date:
    """The first day after a restructured loan's observation period."""
    months = rules.restructured_observation_months
    return add_months(restructured_on, months, restructured_on.day)


def classify(
    dpd: int,
    as_of: date,
    rules: ClassificationRules | None = None,
    restructured_on: date | None = None,
    floor: LoanClass | None = None,
    floor_reason: str = "",
) -> Classification:
    """Five-category classification of a loan with `dpd` days past due on `as_of`.

    `restructured_on` applies the observation floor; `floor` is any other minimum set by a
    risk officer's judgement (with `floor_reason`), since DPD sets only a lower bound on
    how bad a loan is, never an upper one.
    """
    rules = rules or ClassificationRules()
    if dpd < 0:
        raise ValueError(f"逾期天数不能为负: {dpd}")
    category = LoanClass.NORMAL
    reasons: list[str] = []
    for threshold, cls in (
        (rules.loss_over, LoanClass.LOSS),
        (rules.doubtful_over, LoanClass.DOUBTFUL),
        (rules.substandard_over, LoanClass.SUBSTANDARD),
        (rules.special_mention_over, LoanClass.SPECIAL_MENTION),
    ):
        if dpd > threshold:
            category = cls
            reasons.append(f"逾期 {dpd} 天 > {threshold} 天")
            break
    ends = None
    if restructured_on is not None:
        ends = observation_end(restructured_on, rules)
        if restructured_on <= as_of < ends and category.rank < rules.restructured_floor.rank:
            category = rules.restructured_floor
            reasons.append(f"重组观察期内 (至 {ends} 止), 至少为{rules.restructured_floor.value}")
    if floor is not None and category.rank < floor.rank:
        category = floor
        reasons.append(floor_reason or f"人工认定至少为{floor.value}")
    if not reasons:
        reasons.append("未逾期")
    return Classification(category, dpd, tuple(reasons), ends)


def classify_position(
    position: LoanPosition,
    rules: ClassificationRules | None = None,
    restructured_on: date | None = None,
    convention: DpdConvention = DpdConvention.FINERACT,
) -> Classification:
    """Classify a loan from its position (DPD as of the position's date)."""
    return classify(
        days_past_due(position, convention), position.as_of, rules, restructured_on=restructured_on
    )
