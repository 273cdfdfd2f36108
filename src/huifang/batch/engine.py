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

import os
from datetime import date

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from huifang.batch import fold
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
) -> pa.Table:
    """Loan states as of `as_of` for the active loans of `loans` (schema STATE_SCHEMA).

    `templates` must hold the amount key of every active loan (see `ensure_templates`);
    `prepared` is `template_arrays(templates)` when the caller already has it.
    """
    rules = rules or ClassificationRules()
    own = con is None
    con = con or _conn()
    tp, keys = prepared or template_arrays(templates)
    try:
        con.register("loans_in", loans)
        con.register("payments_in", payments)
        con.register("template_keys", keys)
        _check_supported(con)
        # the key string is built once per distinct set of terms, not once per loan
        book = con.sql(f"""
            WITH l AS ({_prepare_loans_sql(as_of)}),
            d AS (SELECT DISTINCT {_KEY_COLUMNS} FROM l),
            dk AS (SELECT d.*, k.tid FROM d LEFT JOIN template_keys k ON k.key = {KEY_SQL})
            SELECT l.loan_id, dk.tid, l.n, l.p_total, l.pen_rate::BIGINT AS pen_rate, l.even,
                l.rday, l.t0
            FROM l JOIN dk USING ({_KEY_COLUMNS})
            ORDER BY l.loan_id""").to_arrow_table()
        if book.column("tid").null_count:
            missing = book.column("tid").null_count
            raise ValueError(f"{missing} 笔贷款缺少还款计划模板 (templates)")
    finally:
        for name in ("loans_in", "payments_in", "template_keys"):
            con.unregister(name)
        if own:
            con.close()
    return _compute(book, _payments(payments, book, as_of), tp, as_of, rules)


def _payments(payments: pa.Table, book: pa.Table, as_of: date) -> dict[str, np.ndarray]:
    """The payments the fold posts: of the book's loans, up to as_of, not reversed by then,
    ordered by id (the fold keeps that order within a day). Vectorized filters over the
    Arrow columns: cheaper here than a DuckDB query with an ordered result."""
    ids = payments.column("payment_id").to_numpy()
    loan = payments.column("loan_id").to_numpy()
    ta = (as_of - fold.EPOCH).days
    day = payments.column("paid_on").cast(pa.int32()).to_numpy().astype(np.int64)
    kind = payments.column("payment_type").combine_chunks().dictionary_encode()
    names = kind.dictionary.to_pylist()
    codes = kind.indices.to_numpy(zero_copy_only=False)
    code = {name: names.index(name) if name in names else -1 for name in PAYMENT_TYPES}
    reversal = (codes == code["reversal"]) & (day <= ta)
    reversed_ids = np.empty(0, np.int64)
    if reversal.any():
        targets = payments.column("reverses_id").combine_chunks().filter(pa.array(reversal))
        reversed_ids = targets.drop_null().to_numpy().astype(np.int64)
    loan_ids = book.column("loan_id").to_numpy()
    pos = np.minimum(np.searchsorted(loan_ids, loan), max(len(loan_ids) - 1, 0))
    keep = (codes != code["reversal"]) & (day <= ta)
    keep &= (loan_ids[pos] == loan) if len(loan_ids) else False
    if len(reversed_ids):
        keep &= ~np.isin(ids, reversed_ids)
    sel = np.flatnonzero(keep)
    if len(sel) > 1 and not (np.diff(ids[sel]) > 0).all():
        sel = sel[np.argsort(ids[sel], kind="stable")]
    amount = payments.column("amount").combine_chunks().cast(pa.decimal128(38, 2))
    fen = _fen(amount)
    return {
        "owner": pos[sel],
        "t": day[sel],
        "k": np.where(codes[sel] == code["prepayment"], 3, 2).astype(np.int64),
        "a": fen[sel],
    }


def _fen(amount: pa.Array) -> np.ndarray:
    """DECIMAL(38, 2) amounts as int64 fen (the low word of the 128-bit unscaled value)."""
    if amount.null_count:
        raise ValueError("还款金额不能为空")
    words = np.frombuffer(amount.buffers()[1], dtype=np.int64)
    return words[2 * amount.offset : 2 * (amount.offset + len(amount)) : 2].copy()


def _np(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy().astype(np.int64)


def _compute(
    book: pa.Table,
    pays: dict[str, np.ndarray],
    tp: fold.Templates,
    as_of: date,
    rules: ClassificationRules,
) -> pa.Table:
    """Events, fold and output columns for the loans of `book` (sorted by loan id)."""
    loan_ids = book.column("loan_id").to_numpy()
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
    everyone = np.arange(n_loans, dtype=np.int64)
    asof_t = np.full(n_loans, ta, np.int64)
    ca, cle_a = fold.due_counts(loans, everyone, asof_t)
    # events: due dates up to as_of (held credit is applied), payments, and as_of itself
    due_owner = np.repeat(everyone, cle_a)
    due_j = np.arange(len(due_owner), dtype=np.int64) - np.repeat(np.cumsum(cle_a) - cle_a, cle_a)
    due_t = fold.due_day(loans, due_owner, due_j + 1)
    pay_owner = pays["owner"]
    pay_t = pays["t"]
    tick_t = np.maximum(asof_t, t0)
    zeros = np.zeros(n_loans, np.int64)
    owner = np.concatenate([due_owner, pay_owner, everyone])
    t = np.concatenate([due_t, pay_t, tick_t])
    k = np.concatenate([np.ones(len(due_t), np.int64), pays["k"], zeros])
    a = np.concatenate([np.zeros(len(due_t), np.int64), pays["a"], zeros])
    j = np.concatenate([due_j + 1, np.zeros(len(pay_t) + n_loans, np.int64)])
    # per loan by day; on a day the due date's credit goes first, payments in their order
    # (three runs, each already sorted: the stable sort merges them)
    order = np.argsort((owner << 22) | (t << 1) | (k >= 2), kind="stable")
    count = np.bincount(owner, minlength=n_loans).astype(np.int64)
    start = np.zeros(n_loans, np.int64)
    np.cumsum(count[:-1], out=start[1:])
    events = fold.Events(start=start, count=count, t=t[order], k=k[order], a=a[order], j=j[order])
    del owner, t, k, a, j, order
    st = fold.fold(tp, loans, events)
    return _outputs(loan_ids, tp, loans, st, as_of, ca, cle_a, rules)


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
    rules: ClassificationRules,
) -> pa.Table:
    """The output columns from the final states (what `reference.loan_state` reads)."""
    n_loans = len(loan_ids)
    everyone = np.arange(n_loans, dtype=np.int64)
    ta = (as_of - fold.EPOCH).days
    closed = st.cl >= 0
    b = tp.base[loans.tpl]
    n = loans.n
    u = _first_unsettled(tp, loans, st)
    dpd = np.where(closed | (u > ca), 0, ta - fold.due_day(loans, everyone, np.minimum(u, n)))
    # installments due by as_of that are settled (rows with nothing to pay always are)
    owner = np.repeat(everyone, cle)
    j = np.arange(len(owner), dtype=np.int64) - np.repeat(np.cumsum(cle) - cle, cle) + 1
    bj = b[owner] + j
    settled = ((tp.pl[bj] == 0) | (tp.cp[bj] <= st.p[owner])) & (
        (tp.il[bj] == 0) | (tp.ci[bj] <= st.i[owner])
    )
    paid = np.bincount(owner[settled], minlength=n_loans).astype(np.int64)
    paid = np.where(closed, cle, paid)
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
    own = con is None
    con = con or _conn()
    try:
        con.register("loans_in", loans)
        reps = con.sql(f"""
            WITH l AS ({_prepare_loans_sql(as_of)}),
            r AS (SELECT {_KEY_COLUMNS}, min(loan_id) AS loan_id FROM l GROUP BY ALL)
            SELECT {KEY_SQL} AS key, principal, annual_rate, n, method, balloon_pct, d0,
                rday_given AS rday, rounding, interest_rounding, day_count
            FROM l SEMI JOIN r USING (loan_id)
        """).to_arrow_table()
    finally:
        con.unregister("loans_in")
        if own:
            con.close()
    missing = cache.missing(reps.column("key").to_pylist())
    if not missing:
        return 0
    import pyarrow.compute as pc

    todo = reps.filter(pc.is_in(reps.column("key"), pa.array(sorted(missing))))
    cache.add(compute_templates(todo))
    return todo.num_rows
