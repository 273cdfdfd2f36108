"""A synthetic credit data set with known signal, shared by the model tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def synthetic(n: int = 3000, seed: int = 1) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Features, 0/1 target and the true P(bad) the target was drawn from.

    Signal: `dpd` (numeric, risk rises with it), `income` (risk falls), `industry`
    (categorical, two risky values); `noise` carries none. Some incomes are missing.
    """
    rng = np.random.default_rng(seed)
    dpd = rng.choice([0, 0, 0, 0, 5, 15, 35, 70], size=n).astype(float)
    income = rng.lognormal(9.3, 0.5, size=n)
    industry = rng.choice(["制造", "餐饮", "物流", "教育", "建筑"], size=n)
    noise = rng.normal(size=n)
    logit = -3.2 + 0.045 * dpd - 0.9 * (np.log(income) - 9.3) / 0.5
    logit += np.where(np.isin(industry, ["餐饮", "建筑"]), 0.9, 0.0)
    p = 1 / (1 + np.exp(-logit))
    y = (rng.random(n) < p).astype(int)
    income_obs = income.copy()
    income_obs[rng.random(n) < 0.05] = np.nan
    frame = pd.DataFrame({"dpd": dpd, "income": income_obs, "industry": industry, "noise": noise})
    return frame, y, p
