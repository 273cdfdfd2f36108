"""Reason codes: why a score is what it is, in words a risk officer reads.

A reason is a feature whose bin cost points against the best bin of that feature (the
bin worth most among those that held training rows): "近12个月最大逾期天数 [30, 60):
比最优档少 42 分". The top reasons are the largest shortfalls, at most `top` of them,
only those that cost something. This is the usual adverse-action reason method for
points scorecards and what PIPL art. 24 asks for: an explanation of an automated result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from huifang.model.scorecard import Scorecard

# Chinese and English names of the loan-book features (huifang.model.book_features).
FEATURE_LABELS: dict[str, tuple[str, str]] = {
    "loan_age_months": ("贷龄 (月)", "loan age in months"),
    "remaining_months": ("剩余期数", "months remaining"),
    "term_months": ("贷款期限 (月)", "term in months"),
    "annual_rate": ("年利率", "annual rate"),
    "down_payment_ratio": ("首付比例", "down-payment ratio"),
    "balance_to_price": ("剩余本金 / 车价", "outstanding principal to vehicle price"),
    "monthly_income": ("月收入", "monthly income"),
    "installment_to_income": ("月供收入比", "installment to income"),
    "credit_score": ("申请时信用评分", "credit score at application"),
    "industry": ("行业", "industry"),
    "borrower_kind": ("借款人类型", "borrower kind"),
    "self_employed": ("个体经营", "self-employed"),
    "repayment_method": ("还款方式", "repayment method"),
    "purpose": ("车辆用途", "vehicle use"),
    "vehicle_condition": ("新车/二手车", "new or used vehicle"),
    "fuel_type": ("燃料类型", "fuel type"),
    "dpd_now": ("当前逾期天数", "days past due now"),
    "max_dpd_6m": ("近6个月最大逾期天数", "worst days past due, 6 months"),
    "max_dpd_12m": ("近12个月最大逾期天数", "worst days past due, 12 months"),
    "worst_bucket_6m": ("近6个月最差逾期档 (M0=0)", "worst bucket, 6 months (M0=0)"),
    "worst_bucket_12m": ("近12个月最差逾期档 (M0=0)", "worst bucket, 12 months (M0=0)"),
    "late_installments_12m": ("近12个月逾期期数", "installments paid late, 12 months"),
    "months_since_last_late": ("距上次逾期月数", "months since last late installment"),
    "pay_to_due_3m": ("近3个月实还/应还", "paid to due, 3 months"),
    "pay_to_due_6m": ("近6个月实还/应还", "paid to due, 6 months"),
    "pay_to_due_12m": ("近12个月实还/应还", "paid to due, 12 months"),
    "prepayments": ("提前还款次数", "prepayments"),
    "prepaid_share": ("提前还款占本金比例", "prepaid share of principal"),
    "failed_attempts_90d": ("近90天未接通次数", "failed contact attempts, 90 days"),
    "days_since_rpc": ("距上次联系到本人天数", "days since the last right-party contact"),
    "events_income_job": ("未结收入/就业风险事件", "open income or job risk events"),
    "events_vehicle": ("未结车辆风险事件", "open vehicle risk events"),
    "events_health": ("未结健康风险事件", "open health risk events"),
    "events_business": ("未结经营风险事件", "open business risk events"),
    "events_repayment": ("未结还款意愿风险事件", "open repayment risk events"),
    "events_contact": ("未结失联/联系方式变更事件", "open lost-contact or contact-change events"),
    "ltv_latest": ("最新抵押率", "latest loan-to-value"),
    "ltv_band_rank": ("最新抵押率档 (低=0)", "latest LTV band (low=0)"),
}


@dataclass(frozen=True)
class Reason:
    feature: str
    label_zh: str
    label_en: str
    bin_label: str
    points: int
    best_points: int

    @property
    def shortfall(self) -> int:
        return self.best_points - self.points

    @property
    def text_zh(self) -> str:
        return f"{self.label_zh} {self.bin_label}: 比最优档少 {self.shortfall} 分"

    @property
    def text_en(self) -> str:
        return f"{self.label_en} {self.bin_label}: {self.shortfall} points below the best bin"

    def to_json(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "bin": self.bin_label,
            "points": self.points,
            "best_points": self.best_points,
            "shortfall": self.shortfall,
            "zh": self.text_zh,
            "en": self.text_en,
        }


def reasons_for(card: Scorecard, row: dict[str, Any] | pd.Series, top: int = 4) -> list[Reason]:
    """The top reason codes of one row (a mapping of feature name to value)."""
    frame = pd.DataFrame([dict(row)])
    out: list[Reason] = []
    for f in card.features:
        b = f.bins
        i = int(b.assign(frame[f.name])[0])
        populated = [p for k, p in enumerate(f.points) if b.goods[k] + b.bads[k] > 0]
        best = max(populated) if populated else max(f.points)
        if f.points[i] >= best:
            continue
        zh, en = FEATURE_LABELS.get(f.name, (f.name, f.name))
        out.append(Reason(f.name, zh, en, b.labels()[i], f.points[i], best))
    out.sort(key=lambda r: (-r.shortfall, r.feature))
    return out[:top]
