"""Binning and weight of evidence (WoE) for scorecards.

optbinning (Apache-2.0) finds the cut points: for a numeric feature, an optimal set of
split points under a monotonic trend of the bad rate (`auto_asc_desc`: ascending or
descending, whichever fits better), with every bin holding at least `min_bin_share` of the
rows; for a categorical feature, groups of categories ordered by bad rate. What we keep of
its result is only the splits or the groups; counting, WoE and the assignment of a value to
a bin are done here, in numpy, so that training, Python scoring and the SQL export of the
nightly run (`huifang.model.export`) share one definition of "which bin":

* numeric: bin i holds splits[i-1] <= x < splits[i] (first bin unbounded below, last
  unbounded above); a missing value (NaN/None) goes to the MISSING bin;
* categorical: values are compared as strings; a missing value goes to the MISSING bin and
  a category never seen in training (or too rare to be grouped) to the OTHER bin.

WoE of a bin = ln(bad share / good share) with 0.5 added to each count (so an empty bin has
a finite WoE); positive WoE means riskier than average. The MISSING and OTHER bins get the
WoE of their rows when training had any, else 0 (the average risk).
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

NUMERIC = "numeric"
CATEGORICAL = "categorical"
MISSING_LABEL = "缺失 missing"
OTHER_LABEL = "其他 other"


@dataclass(frozen=True)
class BinningSettings:
    """How features are binned.

    min_bin_share: smallest bin as a share of the training rows (5 % is the usual floor).
    max_bins:      at most this many bins per feature (before MISSING/OTHER).
    monotonic:     optbinning's monotonic_trend for numeric features.
    min_iv:        features whose information value is below this are dropped.
    max_categories: a categorical feature with more distinct values than this is dropped
                   (an identifier, not a characteristic).
    """

    min_bin_share: float = 0.05
    max_bins: int = 8
    monotonic: str = "auto_asc_desc"
    min_iv: float = 0.02
    max_categories: int = 200
    cat_cutoff: float = 0.01


@dataclass(frozen=True)
class FeatureBins:
    """The bins of one feature and their training counts and WoE.

    For numeric features `splits` has the cut points and there are len(splits)+1 regular
    bins; for categorical ones `groups` lists the categories of each regular bin. Two more
    bins follow the regular ones: MISSING, then OTHER. `woe`, `goods`, `bads` have one
    entry per bin, regular bins first.
    """

    name: str
    kind: str
    splits: tuple[float, ...] = ()
    groups: tuple[tuple[str, ...], ...] = ()
    woe: tuple[float, ...] = ()
    goods: tuple[int, ...] = ()
    bads: tuple[int, ...] = ()
    iv: float = 0.0

    @property
    def n_regular(self) -> int:
        return len(self.splits) + 1 if self.kind == NUMERIC else len(self.groups)

    @property
    def missing_index(self) -> int:
        return self.n_regular

    @property
    def other_index(self) -> int:
        return self.n_regular + 1

    def labels(self) -> list[str]:
        """Human-readable bin labels, MISSING and OTHER last."""
        out: list[str] = []
        if self.kind == NUMERIC:
            edges = [-math.inf, *self.splits, math.inf]
            for lo, hi in itertools.pairwise(edges):
                out.append(f"[{_num(lo)}, {_num(hi)})")
        else:
            out.extend(", ".join(g) for g in self.groups)
        return [*out, MISSING_LABEL, OTHER_LABEL]

    def assign(self, values: Any) -> np.ndarray:
        """The bin index of every value (see the module docstring for the rules)."""
        series = pd.Series(values)
        missing = series.isna().to_numpy()
        if self.kind == NUMERIC:
            x = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
            missing = missing | np.isnan(x)
            idx = np.searchsorted(np.asarray(self.splits, dtype=float), x, side="right")
            return np.where(missing, self.missing_index, idx).astype(np.int64)
        lookup = {c: i for i, g in enumerate(self.groups) for c in g}
        # (a list, not Series.map: pandas turns a None result into NaN)
        text = [None if m else _as_text(v) for v, m in zip(series.tolist(), missing, strict=True)]
        idx = np.array(
            [self.missing_index if t is None else lookup.get(t, self.other_index) for t in text],
            dtype=np.int64,
        )
        return idx

    def transform(self, values: Any) -> np.ndarray:
        """WoE of every value."""
        return np.asarray(self.woe, dtype=float)[self.assign(values)]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "splits": list(self.splits),
            "groups": [list(g) for g in self.groups],
            "woe": list(self.woe),
            "goods": list(self.goods),
            "bads": list(self.bads),
            "iv": self.iv,
            "labels": self.labels(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeatureBins:
        return cls(
            name=data["name"],
            kind=data["kind"],
            splits=tuple(float(s) for s in data["splits"]),
            groups=tuple(tuple(str(c) for c in g) for g in data["groups"]),
            woe=tuple(float(w) for w in data["woe"]),
            goods=tuple(int(n) for n in data["goods"]),
            bads=tuple(int(n) for n in data["bads"]),
            iv=float(data["iv"]),
        )


def _num(v: float) -> str:
    if math.isinf(v):
        return "-inf" if v < 0 else "inf"
    return f"{v:.6g}"


def _as_text(v: Any) -> str | None:
    """Categorical values as text; whole floats (1.0) read like the integers they are."""
    if v is None:
        return None
    if isinstance(v, float):
        if math.isnan(v):
            return None
        if v.is_integer():
            return str(int(v))
    text = str(v).strip()
    return text or None


def feature_kind(series: pd.Series) -> str:
    """Numeric when the column holds numbers (bools count as numbers), else categorical."""
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return NUMERIC
    return CATEGORICAL


def _quiet_solvers() -> None:
    # cvxpy (pulled in by optbinning) logs a warning for every optional solver it cannot load.
    logging.getLogger("__cvxpy__").disabled = True


def _optimal_cuts(
    x: np.ndarray, y: np.ndarray, kind: str, settings: BinningSettings
) -> tuple[tuple[float, ...], tuple[tuple[str, ...], ...]]:
    _quiet_solvers()
    from optbinning import OptimalBinning

    if kind == NUMERIC:
        ob = OptimalBinning(
            name="x",
            dtype="numerical",
            monotonic_trend=settings.monotonic,
            min_bin_size=settings.min_bin_share,
            max_n_bins=settings.max_bins,
            solver="cp",
        )
        ob.fit(x.astype(float), y)
        return tuple(float(s) for s in ob.splits), ()
    ob = OptimalBinning(
        name="x",
        dtype="categorical",
        min_bin_size=settings.min_bin_share,
        max_n_bins=settings.max_bins,
        cat_cutoff=settings.cat_cutoff,
        monotonic_trend="auto_asc_desc",
        solver="cp",
    )
    ob.fit(x.astype(object), y)
    groups = tuple(
        tuple(sorted(str(c) for c in g)) for g in ob.splits if len(g) and "others" not in set(g)
    )
    return (), groups


def _counts(idx: np.ndarray, y: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    bads = np.bincount(idx, weights=y, minlength=n_bins).round().astype(np.int64)
    total = np.bincount(idx, minlength=n_bins).astype(np.int64)
    return total - bads, bads


def woe_from_counts(goods: Sequence[int], bads: Sequence[int]) -> tuple[list[float], float]:
    """WoE per bin (0.5 added to every count) and the information value; empty bins get 0."""
    g = np.asarray(goods, dtype=float)
    b = np.asarray(bads, dtype=float)
    g_share = (g + 0.5) / (g.sum() + 0.5 * len(g))
    b_share = (b + 0.5) / (b.sum() + 0.5 * len(b))
    woe = np.log(b_share / g_share)
    woe = np.where(g + b == 0, 0.0, woe)
    iv = float(np.sum((b_share - g_share) * woe))
    return [float(w) for w in woe], iv


def fit_feature(
    name: str, values: pd.Series, y: np.ndarray, settings: BinningSettings
) -> FeatureBins | None:
    """Bin one feature against a 0/1 target (1 = bad); None when it cannot be binned."""
    kind = feature_kind(values)
    missing = values.isna().to_numpy()
    present = ~missing
    if present.sum() == 0:
        return None
    if kind == NUMERIC:
        x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)[present]
        if np.unique(x).size < 2:
            return None
    else:
        x = np.array([_as_text(v) for v in values[present]], dtype=object)
        keep = np.array([v is not None for v in x])
        x, present_y = x[keep], y[present][keep]
        if np.unique(x.astype(str)).size < 2 or np.unique(x.astype(str)).size > (
            settings.max_categories
        ):
            return None
    yy = y[present] if kind == NUMERIC else present_y
    try:
        splits, groups = _optimal_cuts(x, yy, kind, settings)
    except (ValueError, RuntimeError):
        return None
    shell = FeatureBins(name=name, kind=kind, splits=splits, groups=groups)
    if kind == CATEGORICAL and not groups:
        return None
    n_bins = shell.n_regular + 2
    goods, bads = _counts(shell.assign(values), y, n_bins)
    woe, iv = woe_from_counts(goods, bads)
    return FeatureBins(
        name=name,
        kind=kind,
        splits=splits,
        groups=groups,
        woe=tuple(woe),
        goods=tuple(int(v) for v in goods),
        bads=tuple(int(v) for v in bads),
        iv=iv,
    )


@dataclass(frozen=True)
class Binning:
    """The binned features of a data set, in column order; `dropped` says why others left."""

    features: tuple[FeatureBins, ...]
    dropped: dict[str, str] = field(default_factory=dict)

    def woe_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(
            {f.name: f.transform(frame[f.name]) for f in self.features}, index=frame.index
        )


def fit_binning(
    frame: pd.DataFrame, y: np.ndarray, settings: BinningSettings | None = None
) -> Binning:
    """Bin every column of `frame` against `y`; keep those with IV >= settings.min_iv."""
    settings = settings or BinningSettings()
    kept: list[FeatureBins] = []
    dropped: dict[str, str] = {}
    for name in frame.columns:
        bins = fit_feature(str(name), frame[name], y, settings)
        if bins is None:
            dropped[str(name)] = "无法分箱 (常数, 全缺失或类别过多) / cannot be binned"
        elif bins.iv < settings.min_iv:
            dropped[str(name)] = f"IV {bins.iv:.4f} < {settings.min_iv}"
        else:
            kept.append(bins)
    return Binning(tuple(kept), dropped)
