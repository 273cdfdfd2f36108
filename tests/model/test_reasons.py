from __future__ import annotations

import itertools

from _synthetic import synthetic

from huifang.model.reasons import reasons_for
from huifang.model.scorecard import fit_scorecard


def test_reasons_name_the_bins_that_cost_most() -> None:
    frame, y, _ = synthetic(3000, seed=8)
    card = fit_scorecard(frame, y)
    industry = next(f for f in card.features if f.name == "industry")
    best_group = max(range(industry.bins.n_regular), key=lambda i: industry.points[i])
    safe = industry.bins.groups[best_group][0]
    risky = {"dpd": 70.0, "income": 20000.0, "industry": safe, "noise": 0.0}
    reasons = reasons_for(card, risky)
    assert reasons[0].feature == "dpd"
    assert reasons[0].shortfall > 0
    assert "比最优档少" in reasons[0].text_zh and "points below" in reasons[0].text_en
    assert all(a.shortfall >= b.shortfall for a, b in itertools.pairwise(reasons))
    assert all(r.feature != "industry" for r in reasons)  # in the best industry bin
    # a row in every feature's best bin has no reasons
    best = {"dpd": 0.0, "income": 1e6, "industry": safe, "noise": 0.0}
    assert reasons_for(card, best) == []


def test_every_book_feature_has_chinese_and_english_labels() -> None:
    from huifang.model.book_features import FEATURES
    from huifang.model.reasons import FEATURE_LABELS

    assert set(FEATURES) <= set(FEATURE_LABELS)
    assert all(zh and en and zh != en for zh, en in FEATURE_LABELS.values())
