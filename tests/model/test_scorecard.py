from __future__ import annotations

import math

import numpy as np
import pytest
from _synthetic import synthetic

from huifang.model.metrics import auc
from huifang.model.scorecard import Scaling, Scorecard, fit_scorecard
from huifang.model.validation import Dataset, cross_validate, time_holdout


def test_scaling_600_points_at_50_to_1_and_20_to_double() -> None:
    s = Scaling()
    assert s.factor == pytest.approx(20 / math.log(2))
    card = Scorecard((), 0.0, s)
    assert card.probability(600) == pytest.approx(1 / 51)
    odds_600 = (1 - card.probability(600)) / card.probability(600)
    odds_620 = (1 - card.probability(620)) / card.probability(620)
    assert odds_620 / odds_600 == pytest.approx(2.0)


def test_points_follow_the_regression_and_risk() -> None:
    frame, y, _ = synthetic()
    card = fit_scorecard(frame, y)
    assert [f.name for f in card.features][:3] == ["dpd", "income", "industry"]
    assert all(f.coefficient > 0 for f in card.features)
    dpd = card.features[0]
    regular = dpd.points[: dpd.bins.n_regular]
    assert list(regular) == sorted(regular, reverse=True)  # more DPD, fewer points
    # the score reproduces the regression's log-odds up to the rounding of points
    woe = np.column_stack([f.bins.transform(frame[f.name]) for f in card.features])
    coef = np.array([f.coefficient for f in card.features])
    logit = card.intercept + woe @ coef
    expected = card.scaling.offset - card.scaling.factor * logit
    assert np.max(np.abs(card.score(frame) - expected)) <= 0.5 * len(card.features) + 1e-9
    again = Scorecard.from_json(card.to_json())
    assert (again.score(frame) == card.score(frame)).all()


def test_cross_validation_recovers_the_known_signal() -> None:
    frame, y, p = synthetic(4000, seed=5)
    best_possible = auc(y, p)
    cv = cross_validate(Dataset(frame, y, "bad", "1"), folds=5).to_json()
    assert len(cv["folds"]) == 5
    assert sum(f["test_rows"] for f in cv["folds"]) == 4000
    assert cv["auc"] > best_possible - 0.03
    assert cv["auc"] < best_possible + 0.03  # no leak can push it far past the truth
    assert cv["gini"] == pytest.approx(2 * cv["auc"] - 1)
    assert 0 < cv["ks"] < 1


def test_cross_validation_finds_nothing_in_noise() -> None:
    rng = np.random.default_rng(9)
    frame, _, _ = synthetic(2000, seed=9)
    y = (rng.random(2000) < 0.1).astype(int)  # target unrelated to the features
    cv = cross_validate(Dataset(frame, y, "bad", "1"), folds=5).to_json()
    assert abs(cv["auc"] - 0.5) < 0.06


def test_time_holdout_fits_on_the_past_only() -> None:
    import pandas as pd

    frame, y, _ = synthetic(3000, seed=2)
    periods = pd.Series(np.repeat(["2024Q1", "2024Q2", "2024Q3"], 1000))
    holdout, card = time_holdout(Dataset(frame, y, "bad", "1"), periods, "2024Q3")
    out = holdout.to_json()
    assert out["train"]["rows"] == 2000 and out["test"]["rows"] == 1000
    assert (
        sum(
            f.bins.goods[i] + f.bins.bads[i]
            for f in card.features[:1]
            for i in range(len(f.points))
        )
        == 2000
    )
    assert out["test"]["auc"] > 0.7
    assert out["psi_test_vs_train"] < 0.1  # same population in every period
    assert sum(r["rows"] for r in out["calibration"]) == 1000
