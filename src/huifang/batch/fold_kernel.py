"""The posting fold compiled: each loan's whole computation as one loop, in Numba.

`fold.fold` runs one NumPy step per event position over all loans that have that many
events, on event arrays built beforehand (due dates, payments and the as-of day of every
loan, sorted; about 19 M events at a million loans, each with half a dozen looked-up
columns). Here the same work is done loan by loan in compiled code, with nothing per
event kept in memory:

* `payment_codes`, `place_payments`, `scatter_payments`, `order_payments`: the payments
  the fold posts (of the partition's loans, up to as_of, not reversals, not reversed by
  then) grouped per loan and ordered by (day, payment id), read straight from the Arrow
  batches' buffers: one pass to count, one to place, an insertion sort per loan (linear
  when the input is in id order);
* `fold_loans`: for each loan, its due dates (generated from the month tables), its
  payments and the as-of tick merged in the order `engine` sorts events in (by day; on a
  day the due date and the tick before payments), each event's schedule look-ups
  (`fold.due_counts`, `fold.earned_interest`) and then the posting step of `fold.fold`
  on scalars - the same integer formulas, line by line, so the same results to the fen;
* when asked (a non-empty `hist`), `fold_loans` also keeps each loan's settlement history
  for the behaviour score (`behaviour_stage`): an installment is settled on the day of the
  event after which cumulative principal and interest paid cover it (allocation is in
  installment order, so the settled ones are a prefix), all of them on a payoff's day;
  an installment with nothing to pay (0 % interest-first) is never overdue;
  from those days it folds the worst DPD over windows and the late installments
  (`model.book_features.max_dpd`, `features_as_of`) as it goes, nothing per installment kept;
  and, when `windows` asks for it, after the loop one more pass over the installments due
  with the loan's payments for the partial-payments alert (`_history_partial`);
* `settlement`: after the fold, the first unsettled installment and how many installments
  due are settled (`engine._first_unsettled` and the `settled` count of `_outputs`).

The kernels release the GIL (`nogil`) and take a range of loans, so `engine` runs them in
threads over slices of one partition: no worker processes, no pickled inputs, the compiled
code loaded once.

One thing the kernel cannot do in int64 is the penalty product `w × num` of an extreme
loan; it flags such loans (`needs_exact`) and `engine` recomputes them with the NumPy
fold, which falls back to Python integers. Numba is optional: without it (`AVAILABLE` is
false) `engine` uses the NumPy fold for all loans.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

_LIMIT = np.iinfo(np.int64).max

# The settlement history `fold_loans` keeps per loan when asked (`hist` has a row per loan;
# an empty `hist` keeps none): the worst DPD over the 6- and 12-month windows, installments
# paid late whose due date is in the 12 months, the latest such due date (NO_DAY: none),
# the posted payments' sums over 3, 6 and 12 months, prepayments (count and sum), and the
# partial-payments rule's period (`early_warning._partial_payments`: the latest installment
# ending a run of `windows[W_IN_A_ROW]` paid in part, due within `windows[W_LOOKBACK]`
# days; 0: none, or not asked for with W_IN_A_ROW 0). The windows (`windows`: the days of
# as_of − 3, 6, 12 months) are exclusive below.
H_WORST_6M, H_WORST_12M, H_LATE_12M, H_LAST_LATE = 0, 1, 2, 3
H_PAID_3M, H_PAID_6M, H_PAID_12M, H_PREPAYMENTS, H_PREPAID = 4, 5, 6, 7, 8
H_PARTIAL = 9
HISTORY_WIDTH = 10
W_3M, W_6M, W_12M, W_IN_A_ROW, W_LOOKBACK = 0, 1, 2, 3, 4
WINDOWS_WIDTH = 5
NO_DAY = -(1 << 40)

AVAILABLE: bool
payment_codes: Callable[..., Any]
place_payments: Callable[..., Any]
scatter_payments: Callable[..., Any]
order_payments: Callable[..., Any]
fold_loans: Callable[..., Any]
settlement: Callable[..., Any]

try:
    from numba import njit
except ImportError:  # pragma: no cover - numba is a main dependency
    AVAILABLE = False
else:
    AVAILABLE = True

    _REVERSAL = np.frombuffer(b"reversal", np.uint8)
    _PREPAYMENT = np.frombuffer(b"prepayment", np.uint8)

    @njit(cache=True, nogil=True, inline="always")
    def _is(data, s, e, word):  # type: ignore[no-untyped-def]
        if e - s != len(word):
            return False
        for q in range(len(word)):  # noqa: SIM110 (compiled: no generators)
            if data[s + q] != word[q]:
                return False
        return True

    @njit(cache=True, nogil=True)
    def _codes(offsets, data, out):  # type: ignore[no-untyped-def]
        """Payment types from an Arrow string column's buffers: 1 prepayment, 2 reversal,
        0 anything else (a repayment)."""
        for x in range(len(out)):
            s = offsets[x]
            e = offsets[x + 1]
            if _is(data, s, e, _REVERSAL):
                out[x] = 2
            elif _is(data, s, e, _PREPAYMENT):
                out[x] = 1
            else:
                out[x] = 0

    @njit(cache=True, nogil=True)
    def _place(  # type: ignore[no-untyped-def]
        loan, pid, day, code, rev, book, table, ta, day_lo, pos, count
    ):
        """Which book loan each payment of a batch is posted to (-1: not posted), counted
        per loan in `count[loan + 1]`; returns how many posted days are out of range."""
        n_book = len(book)
        first = book[0] if n_book else 0
        last = book[n_book - 1] if n_book else -1
        bad = 0
        for x in range(len(loan)):
            p = -1
            if code[x] != 2 and day[x] <= ta:
                v = loan[x]
                if first <= v <= last:
                    if len(table):
                        p = table[v - first]
                    else:
                        q = np.searchsorted(book, v)
                        if q < n_book and book[q] == v:
                            p = q
                if p >= 0 and len(rev):
                    q = np.searchsorted(rev, pid[x])
                    if q < len(rev) and rev[q] == pid[x]:
                        p = -1
                if p >= 0 and day[x] < day_lo:
                    bad += 1
            pos[x] = p
            if p >= 0:
                count[p + 1] += 1
        return bad

    @njit(cache=True, nogil=True)
    def _scatter(pos, day, code, fen, cursor, t, a, k):  # type: ignore[no-untyped-def]
        """A batch's posted payments into their loans' rows, in the batch's order."""
        for x in range(len(pos)):
            p = pos[x]
            if p >= 0:
                y = cursor[p]
                cursor[p] = y + 1
                t[y] = day[x]
                a[y] = fen[x]
                k[y] = 3 if code[x] == 1 else 2

    @njit(cache=True, nogil=True)
    def _order(start, t, a, k):  # type: ignore[no-untyped-def]
        """Each loan's rows by day, keeping the order of rows on the same day (a stable
        insertion sort, linear when already in order)."""
        for q in range(len(start) - 1):
            for y in range(start[q] + 1, start[q + 1]):
                ty, ay, ky = t[y], a[y], k[y]
                z = y - 1
                while z >= start[q] and t[z] > ty:
                    t[z + 1], a[z + 1], k[z + 1] = t[z], a[z], k[z]
                    z -= 1
                t[z + 1], a[z + 1], k[z + 1] = ty, ay, ky

    @njit(cache=True, nogil=True, inline="always")
    def _month_day(mi, rday, mstart, mdays):  # type: ignore[no-untyped-def]
        return mstart[mi] + min(rday, mdays[mi]) - 1

    @njit(cache=True, nogil=True, inline="always")
    def _due_day(j, t0, mi0, rday, mstart, mdays):  # type: ignore[no-untyped-def]
        return t0 if j <= 0 else _month_day(mi0 + j, rday, mstart, mdays)

    @njit(cache=True, nogil=True, inline="always")
    def _history_start(hist, q):  # type: ignore[no-untyped-def]
        for c in range(HISTORY_WIDTH):
            hist[q, c] = 0
        hist[q, H_LAST_LATE] = NO_DAY

    @njit(cache=True, nogil=True, inline="always")
    def _history(hist, q, due, settled, never, ta, windows):  # type: ignore[no-untyped-def]
        """One installment due by as_of, settled on day `settled` (or `never`), into the
        loan's settlement history (`book_features.max_dpd` and the late counts)."""
        if due >= ta:
            return
        last = ta if never else min(ta, settled - 1)  # the last day it was overdue
        if last > due:
            dpd = last - due
            if last >= windows[W_6M] and dpd > hist[q, H_WORST_6M]:
                hist[q, H_WORST_6M] = dpd
            if last >= windows[W_12M] and dpd > hist[q, H_WORST_12M]:
                hist[q, H_WORST_12M] = dpd
        if never or settled > due:
            if due > windows[W_12M]:
                hist[q, H_LATE_12M] += 1
            if due > hist[q, H_LAST_LATE]:
                hist[q, H_LAST_LATE] = due

    @njit(cache=True, nogil=True, inline="always")
    def _history_payments(hist, q, xs, xe, pt, pa, pk, windows):  # type: ignore[no-untyped-def]
        """The posted payments' sums over the windows (all are on or before as_of)."""
        for x in range(xs, xe):
            if pt[x] > windows[W_3M]:
                hist[q, H_PAID_3M] += pa[x]
            if pt[x] > windows[W_6M]:
                hist[q, H_PAID_6M] += pa[x]
            if pt[x] > windows[W_12M]:
                hist[q, H_PAID_12M] += pa[x]
            if pk[x] == 3:
                hist[q, H_PREPAYMENTS] += 1
                hist[q, H_PREPAID] += pa[x]

    @njit(cache=True, nogil=True, inline="always")
    def _history_partial(  # type: ignore[no-untyped-def]
        hist, q, n_due, b, t0, mi0, rday, mstart, mdays, xs, xe, pt, pa, tcp, tci, ta, windows
    ):
        """The partial-payments period (`H_PARTIAL`): each installment due by as_of against
        the cash posted in its own period (after the previous due date, up to and on its
        own; the first: everything up to it), as `InstallmentRecord.received` counts it."""
        in_a_row = windows[W_IN_A_ROW]
        run = 0
        x = xs
        for j in range(1, n_due + 1):
            d = _due_day(j, t0, mi0, rday, mstart, mdays)
            cash = 0
            while x < xe and pt[x] <= d:
                if pa[x] > 0:
                    cash += pa[x]
                x += 1
            due = tcp[b + j] - tcp[b + j - 1] + tci[b + j] - tci[b + j - 1]
            run = run + 1 if 0 < cash < due else 0
            if run >= in_a_row and ta - d <= windows[W_LOOKBACK]:
                hist[q, H_PARTIAL] = j

    @njit(cache=True, nogil=True)
    def _fold(  # type: ignore[no-untyped-def]
        lo,
        hi,
        ta,
        t0_l,
        n_l,
        mi0_l,
        rday_l,
        b_l,
        p_total_l,
        num_l,
        den_l,
        even_l,
        cle_l,
        pstart,
        pt,
        pa,
        pk,
        tcp,
        tci,
        til,
        tnz,
        mstart,
        mdays,
        mofday,
        day0,
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
        windows,
        hist,
    ):
        track = len(hist) > 0
        for l in range(lo, hi):  # noqa: E741
            n = n_l[l]
            b = b_l[l]
            t0 = t0_l[l]
            mi0 = mi0_l[l]
            rday = rday_l[l]
            p_total = p_total_l[l]
            num = num_l[l]
            den = den_l[l]
            even = even_l[l]
            lim = _LIMIT // num if num > 0 else _LIMIT
            cur = t0
            cple = 0
            w = 0
            i = 0
            p = 0
            pp = 0
            cr = 0
            cl = -1
            h = 1
            w_pen = 0  # the w that `pen` is the penalty of
            pen = 0
            # the three event streams: due dates 1..cle, payments, the as-of tick
            jd = 1
            n_due = cle_l[l]
            td = _due_day(1, t0, mi0, rday, mstart, mdays) if n_due >= 1 else 0
            xp = pstart[l]
            xe = pstart[l + 1]
            tick_t = max(ta, t0)
            tick = True
            us = 0  # installments due by as_of settled so far (a prefix: see `_history`)
            if track:
                _history_start(hist, l)
            while True:
                # the next event by (day, payments last on a day; due date before tick)
                if jd <= n_due and (xp >= xe or td <= pt[xp]) and (not tick or td <= tick_t):
                    k = 1
                    t = td
                    a = 0
                    cx = jd - 1
                    cle = jd
                    jd += 1
                    if jd <= n_due:
                        td = _due_day(jd, t0, mi0, rday, mstart, mdays)
                else:
                    if xp < xe and (not tick or pt[xp] < tick_t):
                        k = pk[xp]
                        t = pt[xp]
                        a = pa[xp]
                        xp += 1
                    elif tick:
                        k = 0
                        t = tick_t
                        a = 0
                        tick = False
                    else:
                        break
                    # installments due before / on or before the day (fold.due_counts)
                    j0 = mofday[t - day0] - mi0
                    due = _month_day(mi0 + max(j0, 0), rday, mstart, mdays)
                    cx = min(max(j0 - (1 if due >= t else 0), 0), n)
                    cle = min(max(j0 - (1 if due > t else 0), 0), n)
                ci_cx = tci[b + cx]
                cp_cx = tcp[b + cx]
                open_ = cl < 0
                # (1) penalty accrual since the last event
                if open_ and t > cur:
                    w += max(cple - p, 0) * (t - cur)
                cur = max(cur, t)
                cple = tcp[b + cle]
                # (2) bucket sizes
                if w != w_pen:  # penalty charged = round(w × num / den), once per new w
                    w_pen = w
                    if w > lim:
                        needs_exact[l] = True
                        pen = 0
                    else:
                        q = (w * num) // den
                        r2 = 2 * ((w * num) - q * den)
                        up = r2 > den or (r2 == den and (not even or q % 2 == 1))
                        pen = q + (1 if up else 0)
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
                # (4) a payoff that covers everything owed closes the loan; it needs the
                # interest earned in the running period (fold.earned_interest)
                earn = 0
                if k == 3:
                    nxt = min(cx + 1, n)
                    il1 = til[b + nxt]
                    start = _due_day(nxt - 1, t0, mi0, rday, mstart, mdays)
                    end = _due_day(nxt, t0, mi0, rday, mstart, mdays)
                    if cx >= n or t <= start:
                        earn = 0
                    elif t >= end:
                        earn = il1
                    else:
                        ea = il1 * max(t - start, 0)
                        eb = max(end - start, 1)
                        eq = ea // eb
                        e2 = 2 * (ea - eq * eb)
                        up = e2 > eb or (e2 == eb and (not even or eq % 2 == 1))
                        earn = eq + (1 if up else 0)
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
                if track:  # installments this event settled, dated t
                    while us < n_due and (
                        cl >= 0 or (tcp[b + us + 1] <= p and tci[b + us + 1] <= i)
                    ):
                        us += 1
                        if tcp[b + us] > tcp[b + us - 1] or tci[b + us] > tci[b + us - 1]:
                            d = _due_day(us, t0, mi0, rday, mstart, mdays)
                            _history(hist, l, d, t, False, ta, windows)
            if track:
                for j in range(us + 1, n_due + 1):
                    if tcp[b + j] > tcp[b + j - 1] or tci[b + j] > tci[b + j - 1]:
                        d = _due_day(j, t0, mi0, rday, mstart, mdays)
                        _history(hist, l, d, 0, True, ta, windows)
                _history_payments(hist, l, pstart[l], pstart[l + 1], pt, pa, pk, windows)
                if windows[W_IN_A_ROW] > 0:
                    _history_partial(
                        hist, l, n_due, b, t0, mi0, rday, mstart, mdays,
                        pstart[l], pstart[l + 1], pt, pa, tcp, tci, ta, windows,
                    )  # fmt: skip
            cur_a[l] = cur
            cple_a[l] = cple
            w_a[l] = w
            i_a[l] = i
            p_a[l] = p
            pp_a[l] = pp
            cr_a[l] = cr
            cl_a[l] = cl
            h_a[l] = h

    @njit(cache=True, nogil=True)
    def _settlement(  # type: ignore[no-untyped-def]
        lo, hi, step0, n_l, b_l, cle_l, p_a, i_a, cl_a, tcp, tci, tpl, til, u_out, paid_out
    ):
        for l in range(lo, hi):  # noqa: E741
            n = n_l[l]
            b = b_l[l]
            p = p_a[l]
            i = i_a[l]
            # first unsettled: the longest prefix whose cumulative amounts are covered
            found = 0
            step = step0
            while step:
                cand = found + step
                if cand <= n and tcp[b + cand] <= p and tci[b + cand] <= i:
                    found = cand
                step >>= 1
            u_out[l] = found + 1
            cle = cle_l[l]
            if cl_a[l] >= 0:
                paid_out[l] = cle
                continue
            paid = 0
            for j in range(1, cle + 1):
                if (tpl[b + j] == 0 or tcp[b + j] <= p) and (til[b + j] == 0 or tci[b + j] <= i):
                    paid += 1
            paid_out[l] = paid

    payment_codes = _codes
    place_payments = _place
    scatter_payments = _scatter
    order_payments = _order
    fold_loans = _fold
    settlement = _settlement


def warm_up() -> None:
    """Load (or compile, the first time) the kernels for the types `engine` passes.

    Loading the compiled code from Numba's cache still takes a second or more in a fresh
    process; the runner calls this in a thread while the inputs are read."""
    if not AVAILABLE:
        return
    # the kinds of arrays `engine` passes: views of Arrow buffers are read-only
    ro = _readonly(np.zeros(0, np.int64))
    day = _readonly(np.zeros(0, np.int32))
    z = np.zeros(0, np.int64)
    one = np.zeros(1, np.int64)
    b = np.zeros(0, np.int8)
    payment_codes(_readonly(np.zeros(1, np.int32)), _readonly(np.zeros(0, np.uint8)), b)
    pos = np.zeros(0, np.int32)
    place_payments(ro, ro, day, b, z, z, z, 0, 0, pos, one)
    scatter_payments(pos, day, b, z, z, np.zeros(0, np.int32), z, b)
    order_payments(one, np.zeros(0, np.int32), z, b)
    fold_loans(
        0, 0, 0, z, z, z, z, z, z, z, z, np.zeros(0, np.bool_), z,
        one, np.zeros(0, np.int32), z, np.zeros(0, np.int8), one, one, one, one, one, one, one, 0,
        z, z, z, z, z, z, z, z, z, np.zeros(0, np.bool_), z, np.zeros((0, HISTORY_WIDTH), np.int64),
    )  # fmt: skip
    settlement(0, 0, 1, z, z, z, z, z, z, one, one, one, one, z, z)


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array
