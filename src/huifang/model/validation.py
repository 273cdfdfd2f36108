"""Honest validation of the whole pipeline: k-fold cross-validation and time-based holdout.

"Whole pipeline" matters: binning looks at the target, so it is refitted inside every fold
on the training part only; measuring a card binned on all rows would leak the test rows
into the bins and flatter the AUC.

Cross-validation is stratified (every fold has the data set's bad rate), shuffled with a
fixed seed so results repeat. Reported per fold and as mean ± standard deviation, plus the
AUC of all out-of-fold predictions pooled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from huifang.model.gbm import GbmSettings, fit_gbm
from huifang.model.metrics import calibration_table, measure, psi
from huifang.model.scorecard import ScorecardSettings, fit_scorecard

_BAD_WORDS = {"1", "bad", "true", "yes", "default", "y", "坏", "违约", "是"}
_GOOD_WORDS = {"0", "good", "false", "no", "n", "好", "正常", "否"}


@dataclass(frozen=True)
class Dataset:
    """Features and a 0/1 target (1 = bad) read from a table."""

    features: pd.DataFrame
    target: np.ndarray
    target_name: str
    bad_value: str


def _text(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def dataset_from_frame(
    frame: pd.DataFrame,
    target: str,
    bad_value: str | None = None,
    drop: tuple[str, ...] = (),
) -> Dataset:
    """Split `frame` into features and a 0/1 target.

    `bad_value` is the target value that means default; without it the target must be
    0/1 or read like good/bad, yes/no (else the caller is asked to say which value is bad).
    Rows with no target are dropped.
    """
    if target not in frame.columns:
        raise ValueError(
            f"找不到目标列 {target!r}; 现有列: {', '.join(map(str, frame.columns))}"
            f" / no target column {target!r}"
        )
    missing = [c for c in drop if c not in frame.columns]
    if missing:
        raise ValueError(f"要排除的列不存在 / no such column: {', '.join(missing)}")
    frame = frame[frame[target].notna()]
    labels = frame[target].map(_text)
    values = sorted(set(labels))
    if bad_value is None:
        lowered = {v.lower() for v in values}
        bads = [v for v in values if v.lower() in _BAD_WORDS]
        if len(values) != 2 or len(bads) != 1 or not (lowered - {bads[0].lower()}) <= _GOOD_WORDS:
            raise ValueError(
                f"无法判断目标列 {target!r} 中哪个值表示违约, 请用 --bad-value 指定; "
                f"取值: {values[:10]} / say which value is bad with --bad-value"
            )
        bad_value = bads[0]
    elif bad_value not in values:
        raise ValueError(
            f"目标列 {target!r} 中没有取值 {bad_value!r}; 取值: {values[:10]}"
            f" / the target never takes the bad value"
        )
    y = (labels == bad_value).to_numpy(dtype=int)
    if y.sum() == 0 or y.sum() == len(y):
        raise ValueError("目标列只有一种取值, 无法建模 / the target has a single class")
    features = frame.drop(columns=[target, *drop]).reset_index(drop=True)
    if features.shape[1] == 0:
        raise ValueError("除目标列外没有特征列 / no feature columns")
    return Dataset(features, y, target, bad_value)


def read_csv(path: Path) -> pd.DataFrame:
    """A CSV with a header row (UTF-8, a BOM allowed); empty cells are missing values."""
    try:
        return pd.read_csv(path, encoding="utf-8-sig", low_memory=False)
    except FileNotFoundError:
        raise ValueError(f"文件不存在 / no such file: {path}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"无法读取 CSV / cannot read {path}: {exc}") from None


@dataclass(frozen=True)
class FoldResult:
    fold: int
    train_rows: int
    test_rows: int
    test_bads: int
    auc: float
    ks: float
    gini: float
    features: int
    gbm_auc: float | None = None
    gbm_ks: float | None = None


@dataclass(frozen=True)
class CrossValidation:
    folds: tuple[FoldResult, ...]
    pooled_auc: float
    pooled_ks: float
    gbm_pooled_auc: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def _stat(self, attr: str) -> tuple[float, float]:
        vals = np.array([getattr(f, attr) for f in self.folds], dtype=float)
        return float(vals.mean()), float(vals.std(ddof=1)) if len(vals) > 1 else 0.0

    def to_json(self) -> dict[str, Any]:
        auc_m, auc_s = self._stat("auc")
        ks_m, ks_s = self._stat("ks")
        gini_m, _ = self._stat("gini")
        out: dict[str, Any] = {
            "auc": auc_m,
            "auc_std": auc_s,
            "ks": ks_m,
            "ks_std": ks_s,
            "gini": gini_m,
            "pooled_auc": self.pooled_auc,
            "pooled_ks": self.pooled_ks,
            "folds": [f.__dict__ for f in self.folds],
        }
        if self.gbm_pooled_auc is not None:
            g_m, g_s = self._stat("gbm_auc")
            k_m, _ = self._stat("gbm_ks")
            out["gbm"] = {"auc": g_m, "auc_std": g_s, "ks": k_m, "pooled_auc": self.gbm_pooled_auc}
        out.update(self.extra)
        return out


def cross_validate(
    data: Dataset,
    folds: int = 5,
    settings: ScorecardSettings | None = None,
    seed: int = 0,
    gbm: GbmSettings | None = None,
) -> CrossValidation:
    """Stratified k-fold CV of binning + scorecard (and the GBM when `gbm` is given)."""
    from sklearn.model_selection import StratifiedKFold

    if folds < 2:
        raise ValueError("交叉验证至少 2 折 / at least 2 folds")
    y = data.target
    if min(int(y.sum()), len(y) - int(y.sum())) < folds:
        raise ValueError(f"坏样本或好样本少于 {folds} 个, 无法做 {folds} 折交叉验证")
    settings = settings or ScorecardSettings()
    x = data.features
    oof = np.zeros(len(y))
    oof_gbm = np.zeros(len(y))
    results = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for i, (tr, te) in enumerate(splitter.split(x, y), start=1):
        card = fit_scorecard(x.iloc[tr], y[tr], settings)
        p = card.predict_proba(x.iloc[te])
        oof[te] = p
        m = measure(y[te], p)
        g_auc = g_ks = None
        if gbm is not None:
            model = fit_gbm(x.iloc[tr], y[tr], gbm)
            pg = model.predict_proba(x.iloc[te])
            oof_gbm[te] = pg
            mg = measure(y[te], pg)
            g_auc, g_ks = mg.auc, mg.ks
        results.append(
            FoldResult(
                fold=i,
                train_rows=len(tr),
                test_rows=len(te),
                test_bads=int(y[te].sum()),
                auc=m.auc,
                ks=m.ks,
                gini=m.gini,
                features=len(card.features),
                gbm_auc=g_auc,
                gbm_ks=g_ks,
            )
        )
    pooled = measure(y, oof)
    return CrossValidation(
        tuple(results),
        pooled.auc,
        pooled.ks,
        measure(y, oof_gbm).auc if gbm is not None else None,
    )


@dataclass(frozen=True)
class Holdout:
    """A time-based holdout: fit on rows before `cutoff`, measure on rows from it on."""

    cutoff: str
    train: dict[str, Any]
    test: dict[str, Any]
    gbm_test: dict[str, Any] | None
    calibration: list[dict[str, Any]]
    psi: float

    def to_json(self) -> dict[str, Any]:
        return {
            "cutoff": self.cutoff,
            "train": self.train,
            "test": self.test,
            "gbm_test": self.gbm_test,
            "calibration": self.calibration,
            "psi_test_vs_train": self.psi,
        }


def time_holdout(
    data: Dataset,
    periods: pd.Series,
    cutoff: Any,
    settings: ScorecardSettings | None = None,
    gbm: GbmSettings | None = None,
) -> tuple[Holdout, Any]:
    """Fit on rows whose period is before `cutoff`, validate on the rest (out of time).

    Returns the holdout figures and the scorecard fitted on the training period.
    """
    settings = settings or ScorecardSettings()
    period = periods.reset_index(drop=True)
    train = (period < cutoff).to_numpy()
    test = ~train
    y = data.target
    for part, name in ((train, "训练期 train"), (test, "验证期 holdout")):
        if part.sum() == 0 or y[part].sum() == 0 or y[part].sum() == part.sum():
            raise ValueError(f"{name} 缺少好样本或坏样本, 换一个切分日期 / needs both classes")
    x = data.features
    card = fit_scorecard(x[train], y[train], settings)
    s_train = card.score(x[train])
    s_test = card.score(x[test])
    p_test = card.probability(s_test)
    m_train = measure(y[train], card.probability(s_train)).to_json()
    m_test = measure(y[test], p_test).to_json()
    gbm_test = None
    if gbm is not None:
        model = fit_gbm(x[train], y[train], gbm)
        gbm_test = measure(y[test], model.predict_proba(x[test])).to_json()
    holdout = Holdout(
        cutoff=str(cutoff),
        train=m_train,
        test=m_test,
        gbm_test=gbm_test,
        calibration=calibration_table(y[test], s_test, p_test),
        psi=psi(s_train, s_test),
    )
    return holdout, card
