from __future__ import annotations

import numpy as np
import pytest

from huifang.model.metrics import auc, calibration_table, gini, ks, measure, psi


def test_auc_perfect_reversed_and_ties() -> None:
    y = [0, 0, 1, 1]
    assert auc(y, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert auc(y, [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert auc(y, [0.5, 0.5, 0.5, 0.5]) == 0.5
    # one bad outranks one good of two, ties half: (1 + 0.5) / 2 ... worked by hand
    assert auc([0, 0, 1], [0.1, 0.5, 0.5]) == pytest.approx(0.75)
    assert gini(y, [0.1, 0.2, 0.8, 0.9]) == 1.0


def test_auc_matches_sklearn_on_random_data() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500)
    r = rng.integers(0, 20, 500) + y * 3  # many ties
    assert auc(y, r) == pytest.approx(roc_auc_score(y, r))


def test_ks_by_hand() -> None:
    # risk order: bad, bad, good, bad, good, good -> cum bad 1/3, 2/3, 2/3, 1, ...
    # cum good 0, 0, 1/3, 1/3 ... max gap = 2/3
    y = [1, 1, 0, 1, 0, 0]
    r = [6, 5, 4, 3, 2, 1]
    assert ks(y, r) == pytest.approx(2 / 3)
    # a tie between a bad and a good cannot be split by any threshold
    assert ks([1, 0], [1, 1]) == 0.0
    with pytest.raises(ValueError):
        ks([1, 1], [1, 2])


def test_psi_zero_for_same_and_large_for_shifted() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(600, 50, 5000)
    assert psi(base, base) == pytest.approx(0.0, abs=1e-12)
    assert psi(base, rng.normal(600, 50, 5000)) < 0.02
    assert psi(base, rng.normal(650, 50, 5000)) > 0.25


def test_calibration_table_counts_and_rates() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 0.5, 2000)
    y = (rng.random(2000) < p).astype(int)
    scores = -p * 1000
    rows = calibration_table(y, scores, p)
    assert sum(r["rows"] for r in rows) == 2000
    assert sum(r["bads"] for r in rows) == y.sum()
    for r in rows:
        assert abs(r["observed_bad_rate"] - r["predicted_bad_rate"]) < 0.08
    # low scores first: the riskiest band leads
    assert rows[0]["predicted_bad_rate"] > rows[-1]["predicted_bad_rate"]
    m = measure(y, p)
    assert m.rows == 2000 and m.gini == pytest.approx(2 * m.auc - 1)
