"""Model performance measures used in credit risk.

* AUC: probability that a random bad ranks riskier than a random good (ties count half);
* Gini (accuracy ratio) = 2 · AUC − 1;
* KS: the largest gap between the cumulative shares of bads and goods over the risk order;
* calibration table: rows, bads, observed and predicted bad rate by score band;
* PSI (population stability index) between a base and a later period's score distribution:
  Σ (p_later − p_base) · ln(p_later / p_base) over bands; < 0.1 stable, 0.1–0.25 watch,
  > 0.25 shifted (the usual reading).

`risk` arguments are "higher = riskier" (a probability of default); pass −score for points.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


def auc(y: Any, risk: Any) -> float:
    """Area under the ROC curve, from average ranks (Mann–Whitney), ties counted half."""
    yy = np.asarray(y, dtype=int)
    r = pd.Series(np.asarray(risk, dtype=float)).rank(method="average").to_numpy()
    n_bad = int(yy.sum())
    n_good = len(yy) - n_bad
    if n_bad == 0 or n_good == 0:
        raise ValueError("AUC 需要好坏两类样本 / AUC needs both classes")
    return float((r[yy == 1].sum() - n_bad * (n_bad + 1) / 2) / (n_bad * n_good))


def gini(y: Any, risk: Any) -> float:
    return 2.0 * auc(y, risk) - 1.0


def ks(y: Any, risk: Any) -> float:
    """Kolmogorov–Smirnov statistic: max |cum. bad share − cum. good share| over thresholds."""
    yy = np.asarray(y, dtype=int)
    rr = np.asarray(risk, dtype=float)
    order = np.argsort(-rr, kind="mergesort")
    ys, rs = yy[order], rr[order]
    n_bad = ys.sum()
    n_good = len(ys) - n_bad
    if n_bad == 0 or n_good == 0:
        raise ValueError("KS 需要好坏两类样本 / KS needs both classes")
    cum_bad = np.cumsum(ys) / n_bad
    cum_good = np.cumsum(1 - ys) / n_good
    # only compare at the end of each group of tied risks
    last_of_tie = np.r_[rs[1:] != rs[:-1], True]
    return float(np.max(np.abs(cum_bad - cum_good)[last_of_tie]))


@dataclass(frozen=True)
class Metrics:
    rows: int
    bads: int
    auc: float
    ks: float
    gini: float

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "bads": self.bads,
            "bad_rate": self.bads / self.rows if self.rows else 0.0,
            "auc": self.auc,
            "ks": self.ks,
            "gini": self.gini,
        }


def measure(y: Any, risk: Any) -> Metrics:
    yy = np.asarray(y, dtype=int)
    a = auc(yy, risk)
    return Metrics(len(yy), int(yy.sum()), a, ks(yy, risk), 2 * a - 1)


def score_bands(scores: Any, n_bands: int = 10) -> list[float]:
    """Inner edges of (about) equal-count score bands: decile edges by default."""
    s = np.asarray(scores, dtype=float)
    edges = np.unique(np.quantile(s, np.linspace(0, 1, n_bands + 1)[1:-1]))
    return [float(e) for e in edges]


def _band_index(scores: Any, edges: list[float]) -> np.ndarray:
    return np.searchsorted(np.asarray(edges, dtype=float), np.asarray(scores, dtype=float), "right")


def _band_labels(edges: list[float]) -> list[str]:
    full = [-np.inf, *edges, np.inf]
    return [f"[{lo:g}, {hi:g})" for lo, hi in itertools.pairwise(full)]


def calibration_table(
    y: Any, scores: Any, probability: Any, edges: list[float] | None = None
) -> list[dict[str, Any]]:
    """Rows, bads, observed and mean predicted bad rate per score band (low scores first)."""
    yy = np.asarray(y, dtype=int)
    pp = np.asarray(probability, dtype=float)
    edges = score_bands(scores) if edges is None else edges
    idx = _band_index(scores, edges)
    out = []
    for i, label in enumerate(_band_labels(edges)):
        mask = idx == i
        n = int(mask.sum())
        if n == 0:
            continue
        out.append(
            {
                "band": label,
                "rows": n,
                "bads": int(yy[mask].sum()),
                "observed_bad_rate": float(yy[mask].mean()),
                "predicted_bad_rate": float(pp[mask].mean()),
            }
        )
    return out


def psi(base_scores: Any, later_scores: Any, edges: list[float] | None = None) -> float:
    """Population stability index of `later_scores` against `base_scores` (decile bands)."""
    edges = score_bands(base_scores) if edges is None else edges
    n = len(edges) + 1
    b = np.bincount(_band_index(base_scores, edges), minlength=n).astype(float)
    later = np.bincount(_band_index(later_scores, edges), minlength=n).astype(float)
    pb = (b + 0.5) / (b.sum() + 0.5 * n)
    pl = (later + 0.5) / (later.sum() + 0.5 * n)
    return float(np.sum((pl - pb) * np.log(pl / pb)))
