"""The behaviour stage's scoring loops compiled (Numba), with NumPy equivalents.

* `numeric_bins`: `FeatureBins.assign` for a float column - the number of splits at or
  below the value (splits are sorted; `searchsorted(side="right")`), NaN to the MISSING
  bin. A short linear scan per value: at a million loans and 40 features NumPy's
  `searchsorted` took seconds on the 2-core machine.
* `top_reasons`: per loan, the columns of the (features × loans) shortfall matrix with
  the largest positive shortfalls, at most `k`, ties to the lower column (the stage orders
  columns by feature name, as `reasons_for` sorts): `reasons_for`'s order.

Both release the GIL and take a range of rows, so the stage runs them in threads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

AVAILABLE: bool
numeric_bins: Callable[..., Any]
top_reasons: Callable[..., Any]


def _numeric_bins_py(lo: int, hi: int, x: np.ndarray, splits: np.ndarray, missing: int,
                     out: np.ndarray) -> None:  # fmt: skip
    idx = np.searchsorted(splits, x[lo:hi], side="right")
    out[lo:hi] = np.where(np.isnan(x[lo:hi]), missing, idx)


def _top_reasons_py(lo: int, hi: int, shortfall: np.ndarray, out: np.ndarray) -> None:
    part = shortfall[:, lo:hi].copy()
    cols = np.arange(hi - lo)
    for r in range(out.shape[0]):
        best = np.argmax(part, axis=0) if len(part) else np.zeros(hi - lo, np.int64)
        got = part[best, cols] > 0 if len(part) else np.zeros(hi - lo, bool)
        out[r, lo:hi] = np.where(got, best, -1)
        if len(part):
            part[best, cols] = 0


try:
    from numba import njit
except ImportError:  # pragma: no cover - numba is a main dependency
    AVAILABLE = False
    numeric_bins = _numeric_bins_py
    top_reasons = _top_reasons_py
else:
    AVAILABLE = True

    @njit(cache=True, nogil=True)
    def _numeric_bins(lo, hi, x, splits, missing, out):  # type: ignore[no-untyped-def]
        m = len(splits)
        for i in range(lo, hi):
            v = x[i]
            if v != v:  # NaN
                out[i] = missing
                continue
            b = 0
            while b < m and splits[b] <= v:
                b += 1
            out[i] = b

    @njit(cache=True, nogil=True)
    def _top_reasons(lo, hi, shortfall, out):  # type: ignore[no-untyped-def]
        f = shortfall.shape[0]
        k = out.shape[0]
        best_v = np.zeros(k, np.int64)
        best_c = np.zeros(k, np.int64)
        for i in range(lo, hi):
            got = 0
            for c in range(f):
                v = shortfall[c, i]
                if v <= 0:
                    continue
                # insert (v, c) keeping best_v descending; equal values keep column order
                p = got
                while p > 0 and best_v[p - 1] < v:
                    p -= 1
                if p >= k:
                    continue
                q = min(got, k - 1)
                while q > p:
                    best_v[q] = best_v[q - 1]
                    best_c[q] = best_c[q - 1]
                    q -= 1
                best_v[p] = v
                best_c[p] = c
                got = min(got + 1, k)
            for r in range(k):
                out[r, i] = best_c[r] if r < got else -1

    numeric_bins = _numeric_bins
    top_reasons = _top_reasons


def warm_up() -> None:
    """Load (or compile, the first time) the kernels for the types the stage passes."""
    f = np.zeros(1, np.float64)
    numeric_bins(0, 1, f, np.zeros(1, np.float64), 1, np.zeros(1, np.int8))
    top_reasons(0, 1, np.zeros((1, 1), np.int32), np.zeros((4, 1), np.int64))
