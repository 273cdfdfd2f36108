"""The posting fold compiled: `fold.fold`'s per-event step as one loop over each loan's events.

`fold.fold` runs one NumPy step per event position over all loans that have that many
events - about seventy array operations per step, each a pass over memory. The same step
on scalars, compiled by Numba, keeps a loan's nine integers in registers and walks its
events once: the same integer formulas (each line here mirrors a line of `fold.fold`),
so the same results, to the fen.

One thing NumPy and this kernel cannot do in int64 is the penalty product `w × num` of an
extreme loan; the kernel flags such loans (`needs_exact`) and `fold.fold` recomputes them
with the NumPy step, which falls back to Python integers.

Numba is optional: without it (`KERNEL is None`) `fold.fold` uses the NumPy step for all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

_LIMIT = np.iinfo(np.int64).max

KERNEL: Callable[..., Any] | None
try:
    from numba import njit
except ImportError:  # pragma: no cover - numba is a main dependency
    KERNEL = None
else:

    @njit(cache=True, nogil=True)
    def _kernel(  # type: ignore[no-untyped-def]
        start,
        count,
        ek,
        et,
        ea,
        c,
        ci_c,
        cp_c,
        cple_e,
        earned,
        n_l,
        b_l,
        p_total_l,
        num_l,
        den_l,
        even_l,
        tcp,
        tci,
        tnz,
        cur_a,
        cple_a,
        w_a,
        i_a,
        p_a,
        pp_a,
        cr_a,
        cl_a,
        h_a,
        needs_exact,
    ):
        for l in range(len(count)):  # noqa: E741
            n = n_l[l]
            b = b_l[l]
            p_total = p_total_l[l]
            num = num_l[l]
            den = den_l[l]
            even = even_l[l]
            lim = _LIMIT // num if num > 0 else _LIMIT
            cur = cur_a[l]
            cple = cple_a[l]
            w = w_a[l]
            i = i_a[l]
            p = p_a[l]
            pp = pp_a[l]
            cr = cr_a[l]
            cl = cl_a[l]
            h = h_a[l]
            for x in range(start[l], start[l] + count[l]):
                k = ek[x]
                t = et[x]
                a = ea[x]
                cx = c[x]
                ci_cx = ci_c[x]
                cp_cx = cp_c[x]
                open_ = cl < 0
                # (1) penalty accrual since the last event
                if open_ and t > cur:
                    w += max(cple - p, 0) * (t - cur)
                cur = max(cur, t)
                cple = cple_e[x]
                # (2) bucket sizes
                if w > lim:
                    needs_exact[l] = True
                    pen = 0
                else:
                    q = (w * num) // den
                    r2 = 2 * ((w * num) - q * den)
                    pen = q + (1 if (r2 > den or (r2 == den and (not even or q % 2 == 1))) else 0)
                pd = pen - pp
                oi = max(ci_cx - i, 0)
                op = max(cp_cx - p, 0)
                i2 = max(i, ci_cx)
                p2 = max(p, cp_cx)
                m = n + 1 if cx >= n else tnz[b + min(max(cx + 1, h), n + 1)]
                cim = tci[b + m]
                cpm = tcp[b + m]
                mn = tnz[b + min(m + 1, n + 1)]
                if k == 1 and cr > 0 and open_:
                    amount = cr
                elif k >= 2 and open_:
                    amount = a
                else:
                    amount = 0
                cur_i = max(cim - i2, 0) if m <= n else 0
                # (3) the cascade
                r1 = amount - pd
                rr2 = r1 - oi
                r3 = rr2 - op
                r4 = r3 - cur_i
                a1 = min(amount, pd)
                a2 = min(max(r1, 0), oi)
                a3 = min(max(rr2, 0), op)
                a4 = min(max(r3, 0), cur_i)
                if m <= n and r4 >= 0 and cpm <= p2:
                    m2 = mn
                    cp_m2 = tcp[b + mn]
                    ci_m2 = tci[b + mn]
                else:
                    m2 = m
                    cp_m2 = cpm
                    ci_m2 = cim
                nz_m2 = tnz[b + min(m2 + 1, n + 1)]
                a5 = min(max(r4, 0), max(cp_m2 - p2, 0)) if m2 <= n else 0
                used = a1 + a2 + a3 + a4 + a5
                if amount == 0:
                    h_new = h
                elif r3 < 0:
                    h_new = 0
                elif m2 > n:
                    h_new = n + 1
                elif p2 + a5 >= cp_m2 and i2 + a4 >= ci_m2:
                    h_new = nz_m2
                else:
                    h_new = m2
                if k == 1:
                    cr_new = cr - used
                elif k >= 2:
                    cr_new = cr + a - used
                else:
                    cr_new = cr
                # (4) a payoff that covers everything owed closes the loan
                earn = earned[x]
                total = pd + ci_cx + earn - i + p_total - p
                if k == 3 and open_ and a >= max(total - cr, 0):
                    i = ci_cx + earn
                    p = p_total
                    pp = pp + pd
                    cr = a + cr - total
                    cl = t
                    h = n + 1
                else:
                    i = i + a2 + a4
                    p = p + a3 + a5
                    pp = pp + a1
                    cr = cr_new
                    h = h_new
            cur_a[l] = cur
            cple_a[l] = cple
            w_a[l] = w
            i_a[l] = i
            p_a[l] = p
            pp_a[l] = pp
            cr_a[l] = cr
            cl_a[l] = cl
            h_a[l] = h

    KERNEL = _kernel


def warm_up() -> None:
    """Load (or compile, the first time) the kernel for the types `fold.fold` passes.

    Loading the compiled code from Numba's cache still takes a second or more in a fresh
    process; the runner calls this in a thread while the inputs are read."""
    if KERNEL is None:
        return
    i64 = np.zeros(1, np.int64)
    flag = np.zeros(1, np.bool_)
    z = np.zeros(0, np.int64)
    KERNEL(
        z, z, z, z, z, z, z, z, z, z,
        z, z, z, z, z, np.zeros(0, np.bool_),
        i64, i64, i64,
        z, z, z, z, z, z, z, z, z, flag[:0],
    )  # fmt: skip
