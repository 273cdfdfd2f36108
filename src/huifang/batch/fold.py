"""The posting fold over all loans at once: one vectorized step per event position.

`posting.position_as_of` is a fold: events in date order, each changing a small state.
With the default allocation order (penalty → overdue interest → overdue principal →
current interest → current principal → credit) interest and principal are each paid in
installment order, so a loan's whole state is a handful of integers (fen):

* `i`, `p`: cumulative interest and principal paid; which installments they settled
  follows from the schedule's cumulative sums;
* `w`: the penalty accumulator Σ(overdue principal × days); penalty charged is
  `round(w × contract rate × multiplier / 360)` in fen, what the domain's exact running
  total rounds to;
* `pp`, `cr`: penalty paid and held credit; `cl`: the day a payoff closed the loan (-1);
* `cur`, `cple`: the last accrual day and the scheduled principal due by it;
* `h`: the first unsettled installment whenever the last allocation cleared everything
  overdue (otherwise at most c + 1, which is all a later event needs).

Every allocation is then a closed form - a cascade of min/max over the bucket sizes - and
the fold runs position by position (the k-th event of every loan that has one) over NumPy
int64 arrays: exact integer arithmetic, no floats, no per-loan Python. The penalty
product can exceed int64 for extreme amounts; those rows use Python integers.

Days are integers (days since 1970-01-01). Due dates are computed, not stored: the
repayment day of the loan's j-th month after disbursement, clamped to the month's end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

I64 = np.int64
_LIMIT = np.iinfo(np.int64).max
EPOCH = date(1970, 1, 1)
_FIRST_YEAR, _LAST_YEAR = 1900, 2300


def _month_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    years = np.arange(_FIRST_YEAR, _LAST_YEAR + 1)
    starts = np.array([(date(int(y), m, 1) - EPOCH).days for y in years for m in range(1, 13)], I64)
    ends = np.append(starts[1:], (date(_LAST_YEAR + 1, 1, 1) - EPOCH).days)
    month_of_day = np.repeat(np.arange(len(starts), dtype=I64), ends - starts)
    return starts, ends - starts, month_of_day


_MONTH_START, _MONTH_DAYS, _MONTH_OF_DAY = _month_tables()
_DAY0 = int(_MONTH_START[0])


def month_index(day: np.ndarray) -> np.ndarray:
    """Months since January 1900 of day numbers."""
    return _MONTH_OF_DAY[day - _DAY0]


def month_day(mi: np.ndarray, rday: np.ndarray) -> np.ndarray:
    """The day number of `rday` (clamped to the month's end) in month `mi`."""
    return _MONTH_START[mi] + np.minimum(rday, _MONTH_DAYS[mi]) - 1


@dataclass
class Templates:
    """Schedule amounts per template, flat: template t's rows start at `base[t]`.

    Each template has n + 2 slots, j = 0..n+1:
    cp/ci[j]: principal/interest of the first j installments (slot n+1 repeats n);
    pl/il[j]: principal/interest of installment j (0 at 0 and n+1);
    nz[j]: the first installment from j on with something to pay (n + 1 if none).
    """

    base: np.ndarray
    n: np.ndarray
    cp: np.ndarray
    ci: np.ndarray
    pl: np.ndarray
    il: np.ndarray
    nz: np.ndarray


def build_templates(n: np.ndarray, principal: np.ndarray, interest: np.ndarray) -> Templates:
    """`Templates` from installment counts and the installments' principal and interest
    (fen), all templates' rows one after the other."""
    count = len(n)
    n = n.astype(I64)
    base = np.zeros(count, I64)
    if count:
        np.cumsum(n[:-1] + 2, out=base[1:])
    size = int((n + 2).sum())
    pl = np.zeros(size, I64)
    il = np.zeros(size, I64)
    seg = np.repeat(np.arange(count, dtype=I64), n + 2)
    j = np.arange(size, dtype=I64) - base[seg]
    inner = (j >= 1) & (j <= n[seg])
    pl[inner] = principal
    il[inner] = interest

    def cumulative(x: np.ndarray) -> np.ndarray:
        total = np.cumsum(x)
        return total - (total[base] - x[base])[seg]  # slot 0 holds 0

    zero = inner & (pl == 0) & (il == 0)
    # next slot from j on (within its template) with something to pay: a reversed running
    # minimum; the template index keeps templates apart, slot n + 1 is the sentinel
    m = n.max() + 2 if count else 2
    value = np.where(inner & ~zero, j, n[seg] + 1) + seg * m
    nz = np.minimum.accumulate(value[::-1])[::-1] - seg * m
    return Templates(
        base=base,
        n=n,
        cp=cumulative(pl),
        ci=cumulative(il),
        pl=pl,
        il=il,
        nz=nz,
    )


@dataclass
class Loans:
    """Per-loan columns (in loan order) the fold needs."""

    tpl: np.ndarray  # template index
    n: np.ndarray
    mi0: np.ndarray  # month index of disbursement
    rday: np.ndarray
    t0: np.ndarray  # disbursement day
    p_total: np.ndarray
    num: np.ndarray  # penalty fen = round(w × num / den)
    den: np.ndarray
    even: np.ndarray  # half-even rounding (else half-up)


def due_day(loans: Loans, owner: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Due day of installment j (1-based) of loan `owner`; j = 0 gives the disbursement day."""
    day = month_day(loans.mi0[owner] + j, loans.rday[owner])
    return np.where(j <= 0, loans.t0[owner], day)


def due_counts(loans: Loans, owner: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(installments due before day t, installments due on or before day t) per event."""
    n = loans.n[owner]
    j0 = month_index(t) - loans.mi0[owner]
    due = month_day(loans.mi0[owner] + np.clip(j0, 0, None), loans.rday[owner])
    c = np.clip(j0 - (due >= t), 0, n)
    cle = np.clip(j0 - (due > t), 0, n)
    return c, cle


@dataclass
class Events:
    """Events in (loan, day, order) order: `start[l]`..`start[l] + count[l]` are loan l's.

    k: 0 accrual only, 1 a due date (held credit is applied), 2 payment, 3 payoff;
    t: day; a: amount (fen); j: the installment falling due (due dates only, else 0).
    """

    start: np.ndarray
    count: np.ndarray
    t: np.ndarray
    k: np.ndarray
    a: np.ndarray
    j: np.ndarray


@dataclass
class State:
    cur: np.ndarray
    cple: np.ndarray
    w: np.ndarray
    i: np.ndarray
    p: np.ndarray
    pp: np.ndarray
    cr: np.ndarray
    cl: np.ndarray
    h: np.ndarray


def div_round(a: np.ndarray, b: np.ndarray, even: np.ndarray) -> np.ndarray:
    """a / b rounded to an integer (a >= 0, b > 0): half-up, or half-even where `even`."""
    q, r = np.divmod(a, b)
    twice = 2 * r
    up = (twice > b) | ((twice == b) & (~even | (q % 2 == 1)))
    return q + up


def penalty_fen(w: np.ndarray, num: np.ndarray, den: np.ndarray, even: np.ndarray) -> np.ndarray:
    """round(w × num / den), exact; rows whose product would overflow use Python ints."""
    safe = (num == 0) | (w <= _LIMIT // np.maximum(num, 1))
    if safe.all():
        return div_round(w * num, den, even)
    out = np.empty_like(w)
    out[safe] = div_round(w[safe] * num[safe], den[safe], even[safe])
    for j in np.flatnonzero(~safe):
        q, r = divmod(int(w[j]) * int(num[j]), int(den[j]))
        up = 2 * r > den[j] or (2 * r == den[j] and (not even[j] or q % 2 == 1))
        out[j] = q + int(up)
    return out


def earned_interest(
    tp: Templates, loans: Loans, owner: np.ndarray, c: np.ndarray, t: np.ndarray
) -> np.ndarray:
    """Interest of the running installment (c + 1) earned by day t, pro rata by days."""
    n = loans.n[owner]
    nxt = np.minimum(c + 1, n)
    il1 = tp.il[tp.base[loans.tpl[owner]] + nxt]
    start = due_day(loans, owner, nxt - 1)
    end = due_day(loans, owner, nxt)
    part = div_round(il1 * np.maximum(t - start, 0), np.maximum(end - start, 1), loans.even[owner])
    return np.where((c >= n) | (t <= start), 0, np.where(t >= end, il1, part))


def initial_state(n_loans: int, t0: np.ndarray) -> State:
    """Every loan's state before its first event."""
    return State(
        cur=t0.astype(I64).copy(),
        cple=np.zeros(n_loans, I64),
        w=np.zeros(n_loans, I64),
        i=np.zeros(n_loans, I64),
        p=np.zeros(n_loans, I64),
        pp=np.zeros(n_loans, I64),
        cr=np.zeros(n_loans, I64),
        cl=np.full(n_loans, -1, I64),
        h=np.ones(n_loans, I64),
    )


def fold(tp: Templates, loans: Loans, e: Events) -> State:
    """The state of every loan after all its events (arrays in loan order), one NumPy step
    per event position. `fold_kernel.fold_loans` is the same fold compiled, loan by loan;
    the engine uses this one without Numba, with `HUIFANG_BATCH_FOLD=numpy`, and for the
    loans whose penalty product leaves int64 (it falls back to Python integers)."""
    n_loans = len(loans.n)
    st = initial_state(n_loans, loans.t0)
    if n_loans == 0 or len(e.t) == 0:
        return st
    # event-only lookups, for all events at once (due-date events know their position)
    owner = np.repeat(np.arange(n_loans, dtype=I64), e.count)
    tb = tp.base[loans.tpl[owner]]
    c = e.j - 1
    cle = e.j.copy()
    other = np.flatnonzero(e.j == 0)
    c[other], cle[other] = due_counts(loans, owner[other], e.t[other])
    ci_c = tp.ci[tb + c]
    cp_c = tp.cp[tb + c]
    cple_e = tp.cp[tb + cle]
    # interest earned in the running period: only a payoff needs it
    earned = np.zeros(len(e.t), I64)
    payoffs = np.flatnonzero(e.k == 3)
    earned[payoffs] = earned_interest(tp, loans, owner[payoffs], c[payoffs], e.t[payoffs])
    del owner, cle, tb
    steps = (c, ci_c, cp_c, cple_e, earned)
    _fold_numpy(tp, loans, e, steps, st, np.arange(n_loans, dtype=I64))
    return st


def _fold_numpy(
    tp: Templates,
    loans: Loans,
    e: Events,
    steps: tuple[np.ndarray, ...],
    st: State,
    selected: np.ndarray,
) -> None:
    """The fold of the `selected` loans, one NumPy step per event position (in place)."""
    c, ci_c, cp_c, cple_e, earned = steps
    if len(selected) == 0:
        return
    # loans by event count, descending: the loans with a k-th event are a prefix
    order = selected[np.argsort(-e.count[selected], kind="stable")]
    counts = e.count[order]
    starts = e.start[order]
    n_o, b_o = loans.n[order], tp.base[loans.tpl[order]]
    p_total, num, den, even = (
        loans.p_total[order],
        loans.num[order],
        loans.den[order],
        loans.even[order],
    )
    cur, cple, w = st.cur[order], st.cple[order], st.w[order]
    i, p, pp, cr, cl, h = (
        st.i[order],
        st.p[order],
        st.pp[order],
        st.cr[order],
        st.cl[order],
        st.h[order],
    )
    neg = -counts
    for pos in range(int(counts[0])):
        m_ = int(np.searchsorted(neg, -pos, side="left"))  # loans with more than pos events
        if m_ == 0:
            break
        s_ = slice(0, m_)
        x = starts[s_] + pos
        k, t, a, cx = e.k[x], e.t[x], e.a[x], c[x]
        n, b = n_o[s_], b_o[s_]
        ci_cx, cp_cx = ci_c[x], cp_c[x]
        open_ = cl[s_] < 0
        i0, p0, pp0, cr0, h0 = i[s_], p[s_], pp[s_], cr[s_], h[s_]
        # (1) penalty accrual since the last event, on the principal overdue since then
        grow = open_ & (t > cur[s_])
        w_new = w[s_] + np.where(grow, np.maximum(cple[s_] - p0, 0) * (t - cur[s_]), 0)
        w[s_] = w_new
        cur[s_] = np.maximum(cur[s_], t)
        cple[s_] = cple_e[x]
        # (2) bucket sizes; the current installment m is the first unsettled one due on or
        # after the day
        pd = penalty_fen(w_new, num[s_], den[s_], even[s_]) - pp0
        oi = np.maximum(ci_cx - i0, 0)
        op = np.maximum(cp_cx - p0, 0)
        i2 = np.maximum(i0, ci_cx)
        p2 = np.maximum(p0, cp_cx)
        m = np.where(cx >= n, n + 1, tp.nz[b + np.minimum(np.maximum(cx + 1, h0), n + 1)])
        cim, cpm = tp.ci[b + m], tp.cp[b + m]
        mn = tp.nz[b + np.minimum(m + 1, n + 1)]
        amount = np.where((k == 1) & (cr0 > 0) & open_, cr0, np.where((k >= 2) & open_, a, 0))
        cur_i = np.where(m <= n, np.maximum(cim - i2, 0), 0)
        # (3) the cascade: each bucket takes what is left after the ones before it
        r1 = amount - pd
        r2 = r1 - oi
        r3 = r2 - op
        r4 = r3 - cur_i
        a1 = np.minimum(amount, pd)
        a2 = np.minimum(np.maximum(r1, 0), oi)
        a3 = np.minimum(np.maximum(r2, 0), op)
        a4 = np.minimum(np.maximum(r3, 0), cur_i)
        # current principal: "current" is looked up again after the current interest is
        # paid, like the domain; when that settled the installment (no principal left in
        # it), the principal goes to the next unsettled installment
        nxt = (m <= n) & (r4 >= 0) & (cpm <= p2)
        m2 = np.where(nxt, mn, m)
        cp_m2 = np.where(nxt, tp.cp[b + mn], cpm)
        ci_m2 = np.where(nxt, tp.ci[b + mn], cim)
        nz_m2 = tp.nz[b + np.minimum(m2 + 1, n + 1)]
        a5 = np.where(m2 <= n, np.minimum(np.maximum(r4, 0), np.maximum(cp_m2 - p2, 0)), 0)
        used = a1 + a2 + a3 + a4 + a5
        h_new = np.where(
            amount == 0,
            h0,
            np.where(
                r3 < 0,
                0,
                np.where(
                    m2 > n,
                    n + 1,
                    np.where((p2 + a5 >= cp_m2) & (i2 + a4 >= ci_m2), nz_m2, m2),
                ),
            ),
        )
        cr_new = np.where(k == 1, cr0 - used, np.where(k >= 2, cr0 + a - used, cr0))
        # (4) a payoff that covers everything owed closes the loan
        earn = earned[x]
        total = pd + ci_cx + earn - i0 + p_total[s_] - p0
        payoff = (k == 3) & open_ & (a >= np.maximum(total - cr0, 0))
        i[s_] = np.where(payoff, ci_cx + earn, i0 + a2 + a4)
        p[s_] = np.where(payoff, p_total[s_], p0 + a3 + a5)
        pp[s_] = np.where(payoff, pp0 + pd, pp0 + a1)
        cr[s_] = np.where(payoff, a + cr0 - total, cr_new)
        cl[s_] = np.where(payoff, t, cl[s_])
        h[s_] = np.where(payoff, n + 1, h_new)
    st.cur[order], st.cple[order], st.w[order] = cur, cple, w
    st.i[order], st.p[order], st.pp[order], st.cr[order] = i, p, pp, cr
    st.cl[order], st.h[order] = cl, h
