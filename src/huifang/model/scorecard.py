"""The scorecard: logistic regression on WoE, scaled to points.

Scaling (a documented setting, `Scaling`): a score of `base` (600) means good:bad odds of
`odds` (50:1), and every `pdo` (20) points double the odds. With factor = pdo / ln 2 and
offset = base − factor · ln(odds):

    score = offset + factor · ln(good/bad odds) = offset − factor · logit(P(bad))

The logit is b0 + Σ b_j · woe_j, so each bin of feature j is worth
    points = −factor · (b_j · woe + b0 / n) + offset / n
rounded to whole points (n = number of features). A loan's score is the sum of its bins'
points, and its probability of default is read back from the score,
P(bad) = 1 / (1 + exp((score − offset) / factor)), so the two never disagree.

Higher score = lower risk. A feature whose fitted coefficient is not positive (its WoE
points the wrong way once the others are in the model: collinearity) is dropped and the
regression refitted, so every bin's points follow its WoE and reason codes stay readable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from huifang.model.binning import Binning, BinningSettings, FeatureBins, fit_binning


@dataclass(frozen=True)
class Scaling:
    """Points scaling: `base` points at good:bad odds `odds`, `pdo` points to double them."""

    base: float = 600.0
    pdo: float = 20.0
    odds: float = 50.0

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2)

    @property
    def offset(self) -> float:
        return self.base - self.factor * math.log(self.odds)


@dataclass(frozen=True)
class ScorecardSettings:
    """Binning settings, the regression's L2 strength (C, sklearn's inverse) and scaling.

    C = 0.1 (stronger shrinkage than sklearn's 1.0) measured better on both public data sets
    under 5-fold CV (docs/model.md); WoE features are few and correlated.
    """

    binning: BinningSettings = field(default_factory=BinningSettings)
    c: float = 0.1
    scaling: Scaling = field(default_factory=Scaling)


@dataclass(frozen=True)
class CardFeature:
    """One feature of a scorecard: its bins and the points of each (MISSING, OTHER last)."""

    bins: FeatureBins
    coefficient: float
    points: tuple[int, ...]

    @property
    def name(self) -> str:
        return self.bins.name

    def to_json(self) -> dict[str, Any]:
        return {**self.bins.to_json(), "coefficient": self.coefficient, "points": list(self.points)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CardFeature:
        return cls(
            bins=FeatureBins.from_json(data),
            coefficient=float(data["coefficient"]),
            points=tuple(int(p) for p in data["points"]),
        )


@dataclass(frozen=True)
class Scorecard:
    """A fitted points table."""

    features: tuple[CardFeature, ...]
    intercept: float
    scaling: Scaling
    dropped: dict[str, str] = field(default_factory=dict)

    def points_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Points of each feature for every row."""
        return pd.DataFrame(
            {
                f.name: np.asarray(f.points, dtype=np.int64)[f.bins.assign(frame[f.name])]
                for f in self.features
            },
            index=frame.index,
        )

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        """Total points for every row (integers)."""
        if not self.features:
            return np.zeros(len(frame), dtype=np.int64)
        return self.points_frame(frame).to_numpy().sum(axis=1)

    def probability(self, score: Any) -> np.ndarray:
        """P(bad) for a score (array or scalar), read back through the scaling."""
        s = np.asarray(score, dtype=float)
        return 1.0 / (1.0 + np.exp((s - self.scaling.offset) / self.scaling.factor))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.probability(self.score(frame))

    def to_json(self) -> dict[str, Any]:
        s = self.scaling
        return {
            "kind": "woe-logistic-scorecard",
            "scaling": {"base": s.base, "pdo": s.pdo, "odds": s.odds},
            "factor": s.factor,
            "offset": s.offset,
            "intercept": self.intercept,
            "features": [f.to_json() for f in self.features],
            "dropped": self.dropped,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Scorecard:
        sc = data["scaling"]
        return cls(
            features=tuple(CardFeature.from_json(f) for f in data["features"]),
            intercept=float(data["intercept"]),
            scaling=Scaling(float(sc["base"]), float(sc["pdo"]), float(sc["odds"])),
            dropped=dict(data.get("dropped", {})),
        )


def fit_scorecard(
    frame: pd.DataFrame, y: np.ndarray, settings: ScorecardSettings | None = None
) -> Scorecard:
    """Bin `frame`, fit the logistic regression on WoE and scale it to points."""
    settings = settings or ScorecardSettings()
    binning = fit_binning(frame, y, settings.binning)
    return scorecard_from_binning(binning, frame, y, settings)


def scorecard_from_binning(
    binning: Binning, frame: pd.DataFrame, y: np.ndarray, settings: ScorecardSettings
) -> Scorecard:
    from sklearn.linear_model import LogisticRegression

    features = list(binning.features)
    dropped = dict(binning.dropped)
    woe = binning.woe_frame(frame)
    if len(np.unique(y)) < 2:
        raise ValueError("目标列只有一种取值, 无法建模 / the target has a single class")
    while True:
        if not features:
            intercept = float(math.log(max(y.mean(), 1e-9) / max(1 - y.mean(), 1e-9)))
            coefs: list[float] = []
            break
        model = LogisticRegression(C=settings.c, max_iter=1000)
        model.fit(woe[[f.name for f in features]].to_numpy(), y)
        coefs = [float(c) for c in model.coef_[0]]
        intercept = float(model.intercept_[0])
        wrong = [i for i, c in enumerate(coefs) if c <= 0]
        if not wrong:
            break
        worst = min(wrong, key=lambda i: coefs[i])
        dropped[features[worst].name] = f"系数符号与 WoE 相反 / coefficient {coefs[worst]:.4f} <= 0"
        del features[worst]
    sc = settings.scaling
    n = max(len(features), 1)
    card = []
    for f, b in zip(features, coefs, strict=True):
        pts = tuple(round(-sc.factor * (b * w + intercept / n) + sc.offset / n) for w in f.woe)
        card.append(CardFeature(bins=f, coefficient=b, points=pts))
    return Scorecard(tuple(card), intercept, sc, dropped)
