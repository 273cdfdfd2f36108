from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from _synthetic import synthetic

from huifang.model.binning import (
    CATEGORICAL,
    NUMERIC,
    BinningSettings,
    FeatureBins,
    fit_binning,
    fit_feature,
    woe_from_counts,
)


def test_numeric_bins_are_monotonic_in_risk() -> None:
    frame, y, _ = synthetic()
    bins = fit_feature("dpd", frame["dpd"], y, BinningSettings())
    assert bins is not None and bins.kind == NUMERIC
    regular = bins.woe[: bins.n_regular]
    assert len(regular) >= 3
    assert list(regular) == sorted(regular)  # riskier as dpd rises
    income = fit_feature("income", frame["income"], y, BinningSettings())
    assert income is not None
    regular = income.woe[: income.n_regular]
    assert list(regular) == sorted(regular, reverse=True)
    # the missing incomes have their own bin with training rows in it
    assert income.goods[income.missing_index] + income.bads[income.missing_index] > 0


def test_categorical_groups_and_noise_dropped() -> None:
    frame, y, _ = synthetic()
    binning = fit_binning(frame, y, BinningSettings(min_iv=0.05))
    names = [f.name for f in binning.features]
    assert names == ["dpd", "income", "industry"]
    assert "noise" in binning.dropped  # its IV is small (chance), the others' are not
    industry = next(f for f in binning.features if f.name == "industry")
    assert industry.kind == CATEGORICAL
    riskiest = industry.groups[int(np.argmax(industry.woe[: industry.n_regular]))]
    assert set(riskiest) <= {"餐饮", "建筑"}


def test_assign_rules_boundaries_missing_and_unseen() -> None:
    num = FeatureBins("x", NUMERIC, splits=(1.0, 2.5), woe=(0.1, 0.2, 0.3, 0.0, 0.0))
    idx = num.assign([0.5, 1.0, 2.4999, 2.5, 99, None, math.nan, "abc", -math.inf, math.inf])
    assert list(idx) == [0, 1, 1, 2, 2, 3, 3, 3, 0, 2]
    cat = FeatureBins("c", CATEGORICAL, groups=(("a", "b"), ("1",)), woe=(0, 0, 0, 0))
    idx = cat.assign(["a", " b ", 1.0, "1", None, "", "zzz"])
    assert list(idx) == [0, 0, 1, 1, 2, 2, 3]


def test_json_round_trip() -> None:
    frame, y, _ = synthetic(800)
    for f in fit_binning(frame, y).features:
        again = FeatureBins.from_json(f.to_json())
        assert again == f
        assert (again.assign(frame[f.name]) == f.assign(frame[f.name])).all()


def test_woe_and_iv_by_hand() -> None:
    woe, iv = woe_from_counts([90, 10], [10, 10])
    g = np.array([90.5, 10.5]) / 101
    b = np.array([10.5, 10.5]) / 21
    assert woe == pytest.approx(list(np.log(b / g)))
    assert iv == pytest.approx(float(np.sum((b - g) * np.log(b / g))))
    assert woe[1] > 0 > woe[0]


def test_constant_and_empty_columns_are_not_binned() -> None:
    y = np.array([0, 1] * 50)
    assert fit_feature("k", pd.Series([3.0] * 100), y, BinningSettings()) is None
    assert fit_feature("e", pd.Series([None] * 100, dtype=object), y, BinningSettings()) is None
