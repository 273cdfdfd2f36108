"""The gradient-boosted challenger: scikit-learn's HistGradientBoostingClassifier.

Chosen over LightGBM because scikit-learn is already needed for the logistic regression,
it handles missing values and categorical columns natively, and a few hundred shallow
trees on 10⁴ rows train in about a second — measured against the scorecard in
docs/model.md. It is a benchmark ("how much does the interpretable card leave on the
table?"), not what the nightly run scores: that is the points table (`export`).

Settings are conservative (small learning rate, shallow trees, early stopping on a
validation split, monotonic constraints off) so it does not overfit 1,000-row data sets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from huifang.model.binning import CATEGORICAL, feature_kind


@dataclass(frozen=True)
class GbmSettings:
    learning_rate: float = 0.05
    max_iter: int = 300
    max_leaf_nodes: int = 8
    min_samples_leaf: int = 20
    l2_regularization: float = 1.0
    early_stopping: bool = True
    seed: int = 0
    # OpenMP threads for the trees. One by default: on a shared or CPU-limited machine more
    # threads than free cores made a 600-row fit take 14 s instead of under 1 s (measured).
    threads: int = 1


def prepare(frame: pd.DataFrame, categories: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """Text columns as pandas categories (with the training categories when given)."""
    out = pd.DataFrame(index=frame.index)
    for name in frame.columns:
        col = frame[name]
        if feature_kind(col) == CATEGORICAL:
            text = (
                col.astype("object")
                .where(col.notna(), None)
                .map(lambda v: None if v is None else str(v))
            )
            cats = categories.get(str(name)) if categories else None
            out[name] = pd.Categorical(text, categories=cats)
        else:
            out[name] = pd.to_numeric(col, errors="coerce").astype(float)
    return out


MAX_CATEGORIES = 200  # the same limit as the binning; the trees take at most 255


@dataclass
class GbmModel:
    model: Any
    categories: dict[str, list[str]]
    columns: list[str]
    threads: int = 1

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        from threadpoolctl import threadpool_limits

        x = prepare(frame[self.columns], self.categories)
        with threadpool_limits(limits=self.threads, user_api="openmp"):
            return np.asarray(self.model.predict_proba(x)[:, 1], dtype=float)


def fit_gbm(frame: pd.DataFrame, y: np.ndarray, settings: GbmSettings | None = None) -> GbmModel:
    from sklearn.ensemble import HistGradientBoostingClassifier

    settings = settings or GbmSettings()
    x = prepare(frame)
    # a text column with hundreds of values is an identifier or a date, not a category
    # and an empty column carries nothing (the tree binner rejects it)
    columns = [
        str(c)
        for c in x.columns
        if x[c].notna().any()
        and (
            not isinstance(x[c].dtype, pd.CategoricalDtype)
            or len(x[c].cat.categories) <= MAX_CATEGORIES
        )
    ]
    if not columns:
        raise ValueError("没有可用于梯度提升模型的特征列 / no usable feature for the GBM")
    x = x[columns]
    categories = {
        str(c): [str(v) for v in x[c].cat.categories]
        for c in x.columns
        if isinstance(x[c].dtype, pd.CategoricalDtype)
    }
    model = HistGradientBoostingClassifier(
        learning_rate=settings.learning_rate,
        max_iter=settings.max_iter,
        max_leaf_nodes=settings.max_leaf_nodes,
        min_samples_leaf=settings.min_samples_leaf,
        l2_regularization=settings.l2_regularization,
        early_stopping=settings.early_stopping,
        validation_fraction=0.2,
        n_iter_no_change=20,
        categorical_features="from_dtype",
        random_state=settings.seed,
    )
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=settings.threads, user_api="openmp"):
        model.fit(x, y)
    return GbmModel(model, categories, columns, settings.threads)
