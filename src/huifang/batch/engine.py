"""The vectorized engine: the domain's posting and delinquency rules over whole columns.

For every active loan and a business date (`as_of`) the engine computes what
`huifang.domain.posting.position_as_of`, `delinquency` and `posting.payoff_amounts` give per
loan (see `reference.py`, which is exactly that loop): installments due and settled,
amounts due and paid, overdue principal and interest, penalty interest (charged and
outstanding), days past due, bucket, five-category class, interest accrued in the running
period, outstanding principal, held credit and the next due date.

How it is vectorized (docs/nightly-run.md has the derivation):

* Amounts are integers in fen (BIGINT; HUGEINT for the penalty accumulator), so all
  arithmetic is exact fixed-point decimal; rounding to the fen is an integer division with
  the product's rounding (half-up by default, half-even possible), never a float.
* Schedules: amounts come from `templates` (the domain's own `build_schedule`, once per
  distinct key), due dates are computed in SQL (repayment day of consecutive months,
  clamped to month ends).
* Posting: with the default allocation order (penalty → overdue interest → overdue
  principal → current interest → current principal → credit) interest and principal are
  each paid in installment order, so a loan's whole allocation state is five numbers:
  cumulative interest paid, cumulative principal paid, the penalty accumulator
  Σ(overdue principal × days), penalty paid and held credit. Each allocation is a closed
  form over the schedule's cumulative sums (a cascade of `least/greatest` over the bucket
  sizes), so the fold over a loan's dated events is a DuckDB `list_reduce` over a list of
  structs: executed by DuckDB's vectorized engine for all loans at once, no Python per loan.

The unit of work is `compute_partition` (a set of loans with their payments), which a local
run calls partition by partition and Spark calls through `mapInArrow`.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from huifang.batch import fold, fold_kernel
from huifang.batch.templates import KEY_SQL, TemplateCache, compute_templates
from huifang.domain.delinquency import Bucket, ClassificationRules, LoanClass

MONEY = pa.decimal128(18, 2)

STATE_SCHEMA = pa.schema(
    [
        ("loan_id", pa.int64()),
        ("as_of", pa.date32()),
        ("installments_due", pa.int32()),
        ("installments_paid", pa.int32()),
        ("amount_due", MONEY),
        ("principal_paid", MONEY),
        ("interest_paid", MONEY),
        ("overdue_principal", MONEY),
        ("overdue_interest", MONEY),
        ("penalty_charged", MONEY),
        ("penalty_outstanding", MONEY),
        ("overdue_amount", MONEY),
        ("dpd", pa.int32()),
        ("bucket", pa.string()),
        ("loan_class", pa.string()),
        ("accrued_interest", MONEY),
        ("outstanding_principal", MONEY),
        ("credit", MONEY),
        ("next_due_date", pa.date32()),
        ("closed_on", pa.date32()),
    ]
)

# the columns a schedule's amounts depend on (templates.KEY_SQL joins them into its key)
_KEY_COLUMNS = (
    "method, principal, annual_rate, n, balloon_pct, rounding, interest_rounding, day_count, "
    "broken_days"
)
PAYMENT_TYPES = ("repayment", "prepayment", "reversal")
SUPPORTED_METHODS = ("equal-installment", "equal-principal", "interest-first", "balloon")

_MACROS = """
CREATE OR REPLACE MACRO hf_month_start(d0, k) AS (date_trunc('month', d0) + to_months(k))::DATE;
CREATE OR REPLACE MACRO hf_add_months(d0, k, rday) AS make_date(
    year(hf_month_start(d0, k)), month(hf_month_start(d0, k)),
    least(rday, day(last_day(hf_month_start(d0, k)))));
CREATE OR REPLACE MACRO hf_days(d) AS (d - DATE '1970-01-01')::INTEGER;
CREATE OR REPLACE MACRO hf_month_index(d) AS (year(d) * 12 + month(d) - 1)::INTEGER;
-- a / b rounded to an integer (a >= 0, b > 0): half-up, or half-even when even is true
CREATE OR REPLACE MACRO hf_div2(a2b, b2, even) AS (
    a2b // b2 - CASE WHEN even AND a2b % b2 = 0 AND (a2b // b2) % 2 = 1 THEN 1 ELSE 0 END);
CREATE OR REPLACE MACRO hf_div(a, b, even) AS hf_div2(2 * (a) + (b), 2 * (b), even);
"""


def _conn(threads: int | None = None, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the engine's macros, using the CPUs this process may use."""
    con = duckdb.connect()
    con.execute(f"SET threads = {int(threads or usable_cpus())}")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute("SET preserve_insertion_order = false")
    con.execute(_MACROS)
    return con


def usable_cpus() -> int:
    """CPUs in this process's affinity mask (taskset, containers), not all the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _prepare_loans_sql(as_of: date) -> str:
    return """
    SELECT
        loan_id, principal, annual_rate, term_months AS n, repayment_method AS method,
        coalesce(balloon_pct, 0)::DECIMAL(9,6) AS balloon_pct, disbursement_date AS d0,
        coalesce(repayment_day, day(disbursement_date))::INTEGER AS rday,
        repayment_day AS rday_given, rounding, interest_rounding, day_count,
        (rounding = 'half-even') AS even,
        (principal * 100)::BIGINT AS p_total,
        (annual_rate * 1000000)::HUGEINT * (penalty_multiplier * 1000000)::HUGEINT AS pen_rate,
        hf_month_index(disbursement_date) AS mi0,
        hf_days(disbursement_date) AS t0,
        CASE WHEN hf_add_months(disbursement_date, 1, coalesce(repayment_day,
                    day(disbursement_date))) = hf_add_months(disbursement_date, 1,
                    day(disbursement_date))
              OR day(disbursement_date) = least(coalesce(repayment_day, day(disbursement_date)),
                    day(last_day(disbursement_date)))
             THEN -1
             WHEN day_count = '30/360' THEN
                (year(fd) - year(disbursement_date)) * 360
                + (month(fd) - month(disbursement_date)) * 30
                + (CASE WHEN least(day(disbursement_date), 30) = 30 THEN least(day(fd), 30)
                        ELSE day(fd) END)
                - least(day(disbursement_date), 30)
             ELSE (fd - disbursement_date)::INTEGER
        END AS broken_days
    FROM (
        SELECT *, hf_add_months(disbursement_date, 1,
                    coalesce(repayment_day, day(disbursement_date))) AS fd
        FROM loans_in
        WHERE status = 'active'
    )
    """


def template_arrays(templates: pa.Table) -> tuple[fold.Templates, pa.Table]:
    """The templates as flat arrays, and a (key, tid) table to join loans to them."""
    principal = templates.column("principal_fen").combine_chunks()
    interest = templates.column("interest_fen").combine_chunks()
    n = pc.list_value_length(principal).to_numpy(zero_copy_only=False).astype(np.int64)
    arrays = fold.build_templates(
        n,
        principal.flatten().to_numpy().astype(np.int64),
        interest.flatten().to_numpy().astype(np.int64),
    )
    keys = pa.table(
        {"key": templates.column("key"), "tid": pa.array(np.arange(len(n), dtype=np.int64))}
    )
    return arrays, keys


def compute_partition(
    loans: pa.Table,
    payments: pa.Table,
    templates: pa.Table,
    as_of: date,
    con: duckdb.DuckDBPyConnection | None = None,
    rules: ClassificationRules | None = None,
    prepared: tuple[fold.Templates, pa.Table] | None = None,
    threads: int | None = None,
    book: pa.Table | None = None,
    history: bool = False,
    partial: tuple[int, int] | None = None,
) -> pa.Table:
    """Loan states as of `as_of` for the active loans of `loans` (schema STATE_SCHEMA).

    `templates` must hold the amount key of every active loan (see `ensure_templates`);
    `prepared` is `template_arrays(templates)` when the caller already has it; `threads`
    (default: the usable CPUs) run the compiled fold over slices of the loans; `book` is
    `prepare_book(loans, …)` when the caller already has it (the runner's templates stage).
    With `history` the states carry HISTORY_SCHEMA's columns after their own (what the
    behaviour stage reads of each loan's repayment history, and the alerts stage the
    partial-payments rule's period for `partial` = (in_a_row, lookback_days); null
    without it).
    """
    rules = rules or ClassificationRules()
    tp, keys = prepared or template_arrays(templates)
    if book is None:
        own = con is None
        con = con or _conn(threads)
        try:
            con.register("loans_in", loans)
            _check_supported(con)
            _prepare(con, as_of)
            book = _book(con, keys)
        finally:
            con.unregister("loans_in")
            con.execute("DROP TABLE IF EXISTS hf_loans")
            if own:
                con.close()
    states, hist = _compute(
        book,
        payments,
        tp,
        as_of,
        rules,
        threads or usable_cpus(),
        loans if history else None,
        partial,
    )
    if hist is None:
        return states
    return pa.Table.from_arrays(
        [*states.columns, *hist.columns], schema=pa.schema([*STATE_SCHEMA, *HISTORY_SCHEMA])
    )


def _prepare(con: duckdb.DuckDBPyConnection, as_of: date) -> None:
    """The active loans with the engine's derived columns, once, as DuckDB's `hf_loans`."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE hf_loans AS {_prepare_loans_sql(as_of)}")


def _book(con: duckdb.DuckDBPyConnection, keys: pa.Table) -> pa.Table:
    """What the fold needs per active loan of `hf_loans`, with its template's index."""
    con.register("template_keys", keys)
    try:
        # the key string is built once per distinct set of terms, not once per loan
        book = con.sql(f"""
            WITH d AS (SELECT DISTINCT {_KEY_COLUMNS} FROM hf_loans),
            dk AS (SELECT d.*, k.tid FROM d LEFT JOIN template_keys k ON k.key = {KEY_SQL})
            SELECT l.loan_id, dk.tid, l.n, l.p_total, l.pen_rate::BIGINT AS pen_rate, l.even,
                l.rday, l.t0
            FROM hf_loans l JOIN dk USING ({_KEY_COLUMNS})
            ORDER BY l.loan_id""").to_arrow_table()
    finally:
        con.unregister("template_keys")
    if book.column("tid").null_count:
        missing = book.column("tid").null_count
        raise ValueError(f"{missing} 笔贷款缺少还款计划模板 (templates)")
    return book


def compiled() -> bool:
    """Whether the fold runs compiled (Numba there, and not `HUIFANG_BATCH_FOLD=numpy`)."""
    return fold_kernel.AVAILABLE and os.environ.get("HUIFANG_BATCH_FOLD") != "numpy"


@dataclass(frozen=True)
class Posted:
    """The payments the fold posts, grouped per loan of the book (in loan order):
    loan l's are rows `start[l]`..`start[l + 1]`, ordered by (day, payment id);
    t: day, a: amount (fen), k: 2 payment, 3 payoff (prepayment)."""

    start: np.ndarray
    t: np.ndarray
    a: np.ndarray
    k: np.ndarray

    def events(self, selected: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """As event columns (`owner` = position among `selected`, default all loans)."""
        counts = np.diff(self.start)
        if selected is None:
            rows = np.arange(len(self.t), dtype=np.int64)
            owner = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
        else:
            owner = np.repeat(np.arange(len(selected), dtype=np.int64), counts[selected])
            first = np.repeat(self.start[selected], counts[selected])
            rows = (
                first
                + np.arange(len(owner), dtype=np.int64)
                - np.repeat(np.cumsum(counts[selected]) - counts[selected], counts[selected])
            )
        return {
            "owner": owner,
            "t": self.t[rows].astype(np.int64),
            "k": self.k[rows].astype(np.int64),
            "a": self.a[rows],
        }


_PAYMENT_COLUMNS = ["payment_id", "loan_id", "paid_on", "amount", "payment_type", "reverses_id"]
SLICE_LOANS = 20_000  # the fewest loans worth a slice of their own in `_in_threads`
_DAY_MIN = int(fold._MONTH_START[0])
_DAY_MAX = int(fold._MONTH_START[-1] + fold._MONTH_DAYS[-1] - 1)


def _view(array: pa.Array, arrow_type: pa.DataType, dtype: type, what: str) -> np.ndarray:
    """A read-only NumPy view of a fixed-width column's values (cast first if need be)."""
    if array.null_count:
        raise ValueError(f"还款记录的 {what} 不能为空")
    if array.type != arrow_type:
        array = array.cast(arrow_type)
    if len(array) == 0:
        values = np.zeros(0, dtype)
    else:
        count = array.offset + len(array)
        values = np.frombuffer(array.buffers()[1], dtype=dtype, count=count)[array.offset :]
    return _readonly(values)


def _codes(kind: pa.Array) -> np.ndarray:
    """Payment types as codes: 1 prepayment, 2 reversal, 0 anything else (repayment)."""
    code = np.zeros(len(kind), np.int8)
    if compiled() and pa.types.is_string(kind.type) and not kind.null_count and len(kind):
        bufs = kind.buffers()
        offsets = np.frombuffer(bufs[1], np.int32, count=kind.offset + len(kind) + 1)
        offsets = offsets[kind.offset :]
        data = np.frombuffer(bufs[2], np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
        fold_kernel.payment_codes(_readonly(offsets), _readonly(data), code)
        return code
    for name, value in (("prepayment", 1), ("reversal", 2)):
        code[pc.fill_null(pc.equal(kind, name), False).to_numpy(zero_copy_only=False)] = value
    return code


def _fen(amount: pa.Array) -> np.ndarray:
    """Amounts as int64 fen: the low word of each 128-bit unscaled value (scale 2)."""
    if amount.null_count:
        raise ValueError("还款金额不能为空")
    if not (pa.types.is_decimal128(amount.type) and amount.type.scale == 2):
        amount = amount.cast(pa.decimal128(38, 2))
    if len(amount) == 0:
        return np.zeros(0, np.int64)
    words = np.frombuffer(amount.buffers()[1], np.int64, count=2 * (amount.offset + len(amount)))
    return words[2 * amount.offset :: 2].copy()


def _payments(payments: pa.Table, loan_ids: np.ndarray, as_of: date) -> Posted:
    """The payments the fold posts: of the book's loans (`loan_ids`, sorted), up to as_of,
    not reversed by then, per loan in (day, payment id) order - the order the fold keeps
    within a day. Read batch by batch from the Arrow buffers (no copies of whole columns)
    and grouped by compiled passes (`fold_kernel`), or with NumPy sorts."""
    ta = (as_of - fold.EPOCH).days
    batches = payments.select(_PAYMENT_COLUMNS).to_batches()
    views = [
        (
            _view(b.column(0), pa.int64(), np.int64, "payment_id"),
            _view(b.column(1), pa.int64(), np.int64, "loan_id"),
            _view(b.column(2), pa.date32(), np.int32, "paid_on"),
            _codes(b.column(4)),
        )
        for b in batches
    ]
    targets = []
    for b, (_, _, day, code) in zip(batches, views, strict=True):
        reverses = (code == 2) & (day <= ta)
        if reverses.any():
            targets.append(b.column(5).filter(pa.array(reverses)).drop_null().to_numpy())
    reversed_ids = np.unique(np.concatenate(targets).astype(np.int64)) if targets else None
    if reversed_ids is None:
        reversed_ids = np.zeros(0, np.int64)
    fens = [_fen(b.column(3)) for b in batches]
    if not compiled():
        return _payments_numpy(views, fens, reversed_ids, loan_ids, ta)
    if not _in_id_order(views):
        # rows in payment id order (the database's and the demo's are already): one batch
        flat = [np.concatenate([v[c] for v in views]) for c in range(4)]
        fen = np.concatenate(fens)
        order = np.argsort(flat[0], kind="stable")
        views = [(*(_readonly(x[order]) for x in flat[:3]), flat[3][order])]
        fens = [fen[order]]
    table = np.zeros(0, np.int64)  # loan id - first id -> position, when ids are dense
    if len(loan_ids) and loan_ids[-1] - loan_ids[0] <= 4 * len(loan_ids) + 1_000_000:
        table = np.full(loan_ids[-1] - loan_ids[0] + 1, -1, np.int64)
        table[loan_ids[::-1] - loan_ids[0]] = np.arange(len(loan_ids) - 1, -1, -1)
    count = np.zeros(len(loan_ids) + 1, np.int64)
    positions, bad = [], 0
    for pid, loan, day, code in views:
        pos = np.empty(len(loan), np.int32)
        bad += fold_kernel.place_payments(
            loan, pid, day, code, reversed_ids, loan_ids, table, ta, _DAY_MIN, pos, count
        )
        positions.append(pos)
    if bad:
        raise ValueError(f"{bad} 笔还款日期早于 1900-01-01")
    del table
    start = np.cumsum(count)
    rows = int(start[-1])
    t = np.empty(rows, np.int32)
    a = np.empty(rows, np.int64)
    k = np.empty(rows, np.int8)
    cursor = start[:-1].copy()
    for (_, _, day, code), fen, pos in zip(views, fens, positions, strict=True):
        fold_kernel.scatter_payments(pos, day, code, fen, cursor, t, a, k)
    del positions, fens
    # rows went in id order: a stable sort by day gives (day, payment id)
    fold_kernel.order_payments(start, t, a, k)
    return Posted(start=start, t=t, a=a, k=k)


def _readonly(values: np.ndarray) -> np.ndarray:
    values.setflags(write=False)
    return values


def _in_id_order(views: list[tuple[np.ndarray, ...]]) -> bool:
    """Whether the payment ids increase strictly through all the batches."""
    last = None
    for pid, *_ in views:
        if len(pid) == 0:
            continue
        if last is not None and pid[0] <= last:
            return False
        if len(pid) > 1 and not bool(np.all(pid[1:] > pid[:-1])):
            return False
        last = pid[-1]
    return True


def _payments_numpy(
    views: list[tuple[np.ndarray, ...]],
    fens: list[np.ndarray],
    reversed_ids: np.ndarray,
    loan_ids: np.ndarray,
    ta: int,
) -> Posted:
    """`_payments` with NumPy: filters, then a stable sort by (loan, day) in id order."""
    pid, loan, day, code = (
        np.concatenate([v[c] for v in views]) if views else np.zeros(0, np.int64) for c in range(4)
    )
    fen = np.concatenate(fens or [np.zeros(0, np.int64)])
    pos = np.minimum(np.searchsorted(loan_ids, loan), max(len(loan_ids) - 1, 0))
    keep = (code != 2) & (day <= ta)
    keep &= (loan_ids[pos] == loan) if len(loan_ids) else False
    if len(reversed_ids):
        keep &= ~np.isin(pid, reversed_ids)
    sel = np.flatnonzero(keep)
    sel = sel[np.argsort(pid[sel], kind="stable")]
    sel = sel[np.lexsort((day[sel], pos[sel]))]
    counts = np.bincount(pos[sel], minlength=len(loan_ids))
    start = np.zeros(len(loan_ids) + 1, np.int64)
    np.cumsum(counts, out=start[1:])
    return Posted(
        start=start,
        t=day[sel].astype(np.int32),
        a=fen[sel],
        k=np.where(code[sel] == 1, 3, 2).astype(np.int8),
    )


def _np(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy().astype(np.int64)


def _in_threads(kernel: Callable[..., Any], n: int, threads: int, *args: Any) -> None:
    """`kernel(lo, hi, *args)` over slices of range(n), in `threads` threads (the
    kernels release the GIL); a few slices per thread so that they finish together."""
    slices = min(max(threads, 1) * 4, max(n // SLICE_LOANS, 1))
    edges = [n * s // slices for s in range(slices + 1)]
    if threads <= 1 or slices == 1:
        kernel(0, n, *args)
        return
    with ThreadPoolExecutor(threads) as pool:
        for done in [pool.submit(kernel, lo, hi, *args) for lo, hi in itertools.pairwise(edges)]:
            done.result()


def _events(
    loans: fold.Loans, pays: dict[str, np.ndarray], ta: int, cle_a: np.ndarray
) -> fold.Events:
    """Each loan's events for the NumPy fold, sorted: due dates up to as_of (held credit
    is applied), payments, and as_of itself; on a day the due date's credit goes first,
    payments in their order (three runs, each already sorted: the stable sort merges them)."""
    n_loans = len(loans.n)
    everyone = np.arange(n_loans, dtype=np.int64)
    due_owner = np.repeat(everyone, cle_a)
    due_j = np.arange(len(due_owner), dtype=np.int64) - np.repeat(np.cumsum(cle_a) - cle_a, cle_a)
    due_t = fold.due_day(loans, due_owner, due_j + 1)
    pay_owner = pays["owner"]
    pay_t = pays["t"]
    tick_t = np.maximum(ta, loans.t0)
    zeros = np.zeros(n_loans, np.int64)
    owner = np.concatenate([due_owner, pay_owner, everyone])
    t = np.concatenate([due_t, pay_t, tick_t])
    k = np.concatenate([np.ones(len(due_t), np.int64), pays["k"], zeros])
    a = np.concatenate([np.zeros(len(due_t), np.int64), pays["a"], zeros])
    j = np.concatenate([due_j + 1, np.zeros(len(pay_t) + n_loans, np.int64)])
    order = np.argsort((owner << 22) | (t << 1) | (k >= 2), kind="stable")
    count = np.bincount(owner, minlength=n_loans).astype(np.int64)
    start = np.zeros(n_loans, np.int64)
    np.cumsum(count[:-1], out=start[1:])
    return fold.Events(start=start, count=count, t=t[order], k=k[order], a=a[order], j=j[order])


def _subset(loans: fold.Loans, selected: np.ndarray) -> fold.Loans:
    return fold.Loans(
        **{name: getattr(loans, name)[selected] for name in fold.Loans.__dataclass_fields__}
    )


def _compute(
    book: pa.Table,
    payments: pa.Table,
    tp: fold.Templates,
    as_of: date,
    rules: ClassificationRules,
    threads: int,
    history_of: pa.Table | None = None,
    partial: tuple[int, int] | None = None,
) -> tuple[pa.Table, pa.Table | None]:
    """Payments, fold and output columns for the loans of `book` (sorted by loan id), and
    given the loans' input rows (`history_of`) their settlement history (HISTORY_SCHEMA):
    from the compiled fold, else (the NumPy fold, loans it recomputes) from the domain."""
    history = history_of is not None
    loan_ids = np.require(book.column("loan_id").to_numpy(), np.int64, ["C", "W"])
    t0 = _np(book, "t0")
    n = _np(book, "n")
    pen_rate = _np(book, "pen_rate")
    den = np.full(len(n), 360 * 10**12, np.int64)
    g = np.gcd(pen_rate, den)
    loans = fold.Loans(
        tpl=_np(book, "tid"),
        n=n,
        mi0=fold.month_index(t0),
        rday=_np(book, "rday"),
        t0=t0,
        p_total=_np(book, "p_total"),
        num=pen_rate // g,
        den=den // g,
        even=book.column("even").to_numpy(zero_copy_only=False).astype(bool),
    )
    n_loans = len(n)
    ta = (as_of - fold.EPOCH).days
    if not _DAY_MIN <= ta <= _DAY_MAX:
        raise ValueError(f"业务日期 {as_of} 超出 1900-2300 年范围")
    everyone = np.arange(n_loans, dtype=np.int64)
    ca, cle_a = fold.due_counts(loans, everyone, np.full(n_loans, ta, np.int64))
    posted = _payments(payments, loan_ids, as_of)
    b_l = tp.base[loans.tpl]
    in_a_row, lookback = partial or (0, 0)
    windows = np.array(
        [*(_days_before(as_of, k) for k in (3, 6, 12)), in_a_row, lookback], np.int64
    )
    hist = np.zeros((n_loans if history else 0, fold_kernel.HISTORY_WIDTH), np.int64)
    kept = np.zeros(n_loans, np.bool_)  # loans whose history the compiled fold kept
    if compiled():
        st = fold.initial_state(n_loans, loans.t0)
        exact = np.zeros(n_loans, np.bool_)
        _in_threads(
            fold_kernel.fold_loans, n_loans, threads, ta,
            loans.t0, loans.n, loans.mi0, loans.rday, b_l, loans.p_total, loans.num,
            loans.den, loans.even, cle_a,
            posted.start, posted.t, posted.a, posted.k,
            tp.cp, tp.ci, tp.il, tp.nz,
            fold._MONTH_START, fold._MONTH_DAYS, fold._MONTH_OF_DAY, _DAY_MIN,
            st.cur, st.cple, st.w, st.i, st.p, st.pp, st.cr, st.cl, st.h, exact,
            windows, hist,
        )  # fmt: skip
        kept[:] = history
        if exact.any():
            kept &= ~exact
            # the penalty product left int64: these loans go the NumPy way (Python ints)
            sel = np.flatnonzero(exact)
            sub = _subset(loans, sel)
            exact_st = fold.fold(tp, sub, _events(sub, posted.events(sel), ta, cle_a[sel]))
            for name in fold.State.__dataclass_fields__:
                getattr(st, name)[sel] = getattr(exact_st, name)
        u = np.empty(n_loans, np.int64)
        paid = np.empty(n_loans, np.int64)
        step0 = 1 << int(loans.n.max(initial=1)).bit_length()
        _in_threads(
            fold_kernel.settlement, n_loans, threads, step0,
            loans.n, b_l, cle_a, st.p, st.i, st.cl, tp.cp, tp.ci, tp.pl, tp.il, u, paid,
        )  # fmt: skip
    else:
        st = fold.fold(tp, loans, _events(loans, posted.events(), ta, cle_a))
        u = _first_unsettled(tp, loans, st)
        paid = _settled(tp, loans, st, cle_a)
    states = _outputs(loan_ids, tp, loans, st, as_of, ca, cle_a, u, paid, rules)
    if history_of is None:
        return states, None
    missing = np.flatnonzero(~kept)
    if len(missing):
        from huifang.batch.reference import settlement_history

        hist[missing] = settlement_history(history_of, payments, loan_ids[missing], as_of, partial)
    return states, _history(tp, loans, st, windows, cle_a, u, hist, partial is not None)


HISTORY_SCHEMA = pa.schema(
    [
        ("max_dpd_6m", pa.int32()),
        ("max_dpd_12m", pa.int32()),
        ("late_installments_12m", pa.int32()),
        ("last_late_due", pa.date32()),
        ("paid_3m", MONEY),
        ("paid_6m", MONEY),
        ("paid_12m", MONEY),
        ("prepayments", pa.int32()),
        ("prepaid", MONEY),
        ("due_3m", MONEY),
        ("due_6m", MONEY),
        ("due_12m", MONEY),
        ("book_balance", MONEY),
        ("regular_payment", MONEY),
        ("partial_period", pa.int32()),
    ]
)


def _days_before(as_of: date, months: int) -> int:
    from huifang.domain.schedule import add_months

    return (add_months(as_of, -months, as_of.day) - fold.EPOCH).days


def _history(
    tp: fold.Templates,
    loans: fold.Loans,
    st: fold.State,
    windows: np.ndarray,
    cle: np.ndarray,
    u: np.ndarray,
    hist: np.ndarray,
    partial: bool = False,
) -> pa.Table:
    """HISTORY_SCHEMA's columns: the settlement history the fold kept (`hist`) and
    the schedule's sums - amounts due over the windows, the scheduled balance after the last
    installment due plus the principal of installments due and unsettled, the regular
    installment (the first one); the partial-payments period when asked for (`partial`;
    null: none)."""
    n_loans = len(cle)
    everyone = np.arange(n_loans, dtype=np.int64)
    b = tp.base[loans.tpl]
    cum = tp.cp + tp.ci
    due = []
    for w in windows[: fold_kernel.W_12M + 1]:
        _, c_w = fold.due_counts(loans, everyone, np.full(n_loans, w, np.int64))
        due.append(cum[b + cle] - cum[b + np.minimum(c_w, cle)])
    closed = st.cl >= 0
    first = np.minimum(u, cle + 1) - 1  # installments due and settled (a prefix)
    unsettled = np.where(closed, 0, tp.cp[b + cle] - tp.cp[b + first])
    balance = loans.p_total - tp.cp[b + cle] + unsettled
    regular = cum[b + np.minimum(loans.n, 1)]
    h = hist
    late = h[:, fold_kernel.H_LAST_LATE] != fold_kernel.NO_DAY
    columns = [
        pa.array(h[:, fold_kernel.H_WORST_6M].astype(np.int32)),
        pa.array(h[:, fold_kernel.H_WORST_12M].astype(np.int32)),
        pa.array(h[:, fold_kernel.H_LATE_12M].astype(np.int32)),
        _dates(np.where(late, h[:, fold_kernel.H_LAST_LATE], 0), late),
        _decimal(h[:, fold_kernel.H_PAID_3M]),
        _decimal(h[:, fold_kernel.H_PAID_6M]),
        _decimal(h[:, fold_kernel.H_PAID_12M]),
        pa.array(h[:, fold_kernel.H_PREPAYMENTS].astype(np.int32)),
        _decimal(h[:, fold_kernel.H_PREPAID]),
        *(_decimal(d) for d in due),
        _decimal(balance),
        _decimal(regular),
        pa.array(
            h[:, fold_kernel.H_PARTIAL].astype(np.int32),
            mask=(h[:, fold_kernel.H_PARTIAL] == 0) | (not partial),
        ),
    ]  # fmt: skip
    return pa.table(columns, schema=HISTORY_SCHEMA)


def _settled(tp: fold.Templates, loans: fold.Loans, st: fold.State, cle: np.ndarray) -> np.ndarray:
    """Installments due by as_of that are settled (rows with nothing to pay always are)."""
    n_loans = len(cle)
    everyone = np.arange(n_loans, dtype=np.int64)
    b = tp.base[loans.tpl]
    owner = np.repeat(everyone, cle)
    j = np.arange(len(owner), dtype=np.int64) - np.repeat(np.cumsum(cle) - cle, cle) + 1
    bj = b[owner] + j
    settled = ((tp.pl[bj] == 0) | (tp.cp[bj] <= st.p[owner])) & (
        (tp.il[bj] == 0) | (tp.ci[bj] <= st.i[owner])
    )
    paid = np.bincount(owner[settled], minlength=n_loans).astype(np.int64)
    return np.where(st.cl >= 0, cle, paid)


def _first_unsettled(tp: fold.Templates, loans: fold.Loans, st: fold.State) -> np.ndarray:
    """The first installment not fully paid (n + 1 if none): a vectorized binary search
    for the longest prefix whose cumulative principal and interest are both covered."""
    b = tp.base[loans.tpl]
    lo = np.zeros(len(loans.n), np.int64)
    step = 1 << int(loans.n.max(initial=1)).bit_length()
    while step:
        cand = lo + step
        ok = cand <= loans.n
        j = np.where(ok, cand, 0)
        ok &= (tp.cp[b + j] <= st.p) & (tp.ci[b + j] <= st.i)
        lo = np.where(ok, cand, lo)
        step >>= 1
    return lo + 1


def _decimal(fen: np.ndarray) -> pa.Array:
    """Fen (int64) as DECIMAL(18, 2), without going through floats."""
    words = np.empty((len(fen), 2), np.int64)
    words[:, 0] = fen
    words[:, 1] = fen >> 63  # sign extension to 128 bits
    return pa.Array.from_buffers(MONEY, len(fen), [None, pa.py_buffer(words.tobytes())])


def _dates(days: np.ndarray, valid: np.ndarray) -> pa.Array:
    return pa.array(days.astype(np.int32), type=pa.int32(), mask=~valid).cast(pa.date32())


def _outputs(
    loan_ids: np.ndarray,
    tp: fold.Templates,
    loans: fold.Loans,
    st: fold.State,
    as_of: date,
    ca: np.ndarray,
    cle: np.ndarray,
    u: np.ndarray,
    paid: np.ndarray,
    rules: ClassificationRules,
) -> pa.Table:
    """The output columns from the final states (what `reference.loan_state` reads);
    `u` is the first unsettled installment, `paid` the settled installments due."""
    n_loans = len(loan_ids)
    everyone = np.arange(n_loans, dtype=np.int64)
    ta = (as_of - fold.EPOCH).days
    closed = st.cl >= 0
    b = tp.base[loans.tpl]
    n = loans.n
    dpd = np.where(closed | (u > ca), 0, ta - fold.due_day(loans, everyone, np.minimum(u, n)))
    op = np.where(closed, 0, np.maximum(tp.cp[b + ca] - st.p, 0))
    oi = np.where(closed, 0, np.maximum(tp.ci[b + ca] - st.i, 0))
    pen = fold.penalty_fen(st.w, loans.num, loans.den, loans.even)
    pen_out = pen - st.pp
    earned = fold.earned_interest(tp, loans, everyone, ca, np.full(n_loans, ta, np.int64))
    nxt = np.minimum(ca + 1, n)
    paid_running = np.clip(st.i - tp.ci[b + ca], 0, tp.il[b + nxt])
    accrued = np.where(closed | (ca >= n), 0, np.maximum(earned - paid_running, 0))
    grade = np.zeros(n_loans, np.int64)
    for edge in (
        rules.special_mention_over,
        rules.substandard_over,
        rules.doubtful_over,
        rules.loss_over,
    ):
        grade += dpd > edge
    classes = np.array([c.value for c in LoanClass], dtype=object)
    buckets = np.array([bk.value for bk in Bucket], dtype=object)
    bucket = np.where(dpd == 0, 0, np.minimum((dpd - 1) // 30 + 1, len(buckets) - 1))
    next_due = fold.due_day(loans, everyone, np.minimum(cle + 1, n))
    return pa.table(
        [
            pa.array(loan_ids, pa.int64()),
            pa.array(np.full(n_loans, ta, np.int32)).cast(pa.date32()),
            pa.array(cle.astype(np.int32)),
            pa.array(paid.astype(np.int32)),
            _decimal(tp.cp[b + cle] + tp.ci[b + cle]),
            _decimal(st.p),
            _decimal(st.i),
            _decimal(op),
            _decimal(oi),
            _decimal(pen),
            _decimal(pen_out),
            _decimal(op + oi + pen_out),
            pa.array(dpd.astype(np.int32)),
            pa.array(buckets[bucket], pa.string()),
            pa.array(classes[grade], pa.string()),
            _decimal(accrued),
            _decimal(loans.p_total - st.p),
            _decimal(st.cr),
            _dates(next_due, ~closed & (cle < n)),
            _dates(st.cl, closed),
        ],
        schema=STATE_SCHEMA,
    )


def _check_supported(con: duckdb.DuckDBPyConnection) -> None:
    methods = ", ".join(f"'{m}'" for m in SUPPORTED_METHODS)
    bad = con.execute(f"""
        SELECT loan_id, CASE WHEN holiday_shift THEN '节假日顺延 holiday shift'
                             ELSE '还款方式 ' || repayment_method END
        FROM loans_in WHERE status = 'active'
          AND (coalesce(holiday_shift, false) OR repayment_method NOT IN ({methods}))
        LIMIT 1""").fetchone()
    if bad:
        raise ValueError(f"批处理引擎暂不支持贷款 {bad[0]} 的{bad[1]}")


def ensure_templates(
    loans: pa.Table,
    cache: TemplateCache,
    as_of: date,
    con: duckdb.DuckDBPyConnection | None = None,
) -> int:
    """Compute (with the domain) and cache the templates that `loans` lacks; returns how many."""
    return prepare_book(loans, cache, as_of, con, book=False)[1]


def prepare_book(
    loans: pa.Table,
    cache: TemplateCache,
    as_of: date,
    con: duckdb.DuckDBPyConnection | None = None,
    book: bool = True,
) -> tuple[pa.Table | None, int]:
    """The book `compute_partition` needs for `loans` with the templates in `cache` (None
    unless `book`), after computing and caching the templates it lacks (how many: second).

    One pass over the loans' derived columns serves both the templates and the book."""
    own = con is None
    con = con or _conn()
    try:
        con.register("loans_in", loans)
        if book:
            _check_supported(con)
        _prepare(con, as_of)
        added = _ensure(con, cache)
        table = _book(con, template_arrays(cache.table())[1]) if book else None
    finally:
        con.unregister("loans_in")
        con.execute("DROP TABLE IF EXISTS hf_loans")
        if own:
            con.close()
    return table, added


def _ensure(con: duckdb.DuckDBPyConnection, cache: TemplateCache) -> int:
    """Add to `cache` the templates of `hf_loans`' keys it lacks; returns how many."""
    reps = con.sql(f"""
        WITH r AS (SELECT {_KEY_COLUMNS}, min(loan_id) AS loan_id FROM hf_loans GROUP BY ALL)
        SELECT {KEY_SQL} AS key, principal, annual_rate, n, method, balloon_pct, d0,
            rday_given AS rday, rounding, interest_rounding, day_count
        FROM hf_loans SEMI JOIN r USING (loan_id)
    """).to_arrow_table()
    missing = cache.missing(reps.column("key").to_pylist())
    if not missing:
        return 0
    todo = reps.filter(pc.is_in(reps.column("key"), pa.array(sorted(missing))))
    cache.add(compute_templates(todo))
    return todo.num_rows
