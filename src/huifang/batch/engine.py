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

from datetime import date

import duckdb
import numpy as np
import pyarrow as pa

from huifang.batch import fold
from huifang.batch.templates import KEY_SQL, TemplateCache, compute_templates
from huifang.domain.delinquency import Bucket, ClassificationRules

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
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute("SET preserve_insertion_order = false")
    con.execute(_MACROS)
    return con


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


def compute_partition(
    loans: pa.Table,
    payments: pa.Table,
    templates: pa.Table,
    as_of: date,
    con: duckdb.DuckDBPyConnection | None = None,
    rules: ClassificationRules | None = None,
) -> pa.Table:
    """Loan states as of `as_of` for the active loans of `loans` (schema STATE_SCHEMA).

    `templates` must hold the amount key of every active loan (see `ensure_templates`).
    """
    rules = rules or ClassificationRules()
    own = con is None
    con = con or _conn()
    try:
        con.register("loans_in", loans)
        con.register("payments_in", payments)
        con.register("templates_in", templates)
        _check_supported(con)
        asof = f"DATE '{as_of.isoformat()}'"
        con.execute(f"""
        CREATE OR REPLACE TEMP TABLE hf_loans AS
        WITH l AS ({_prepare_loans_sql(as_of)}),
        k AS (SELECT *, {KEY_SQL} AS key FROM l)
        SELECT k.loan_id, k.n, k.d0, k.rday, k.even, k.p_total, k.pen_rate, k.mi0, k.t0,
            list_transform(range(1, k.n + 1), lambda j: hf_days(hf_add_months(k.d0, j, k.rday)))
                AS dl,
            list_transform(range(1, k.n + 1),
                lambda j: CASE WHEN j = 1 THEN k.t0
                               ELSE hf_days(hf_add_months(k.d0, j - 1, k.rday)) END) AS sl,
            t.principal_fen AS pl, t.interest_fen AS il,
            list_prepend(0::BIGINT, list_transform(range(1, k.n + 1),
                lambda j: list_sum(t.principal_fen[1:j])::BIGINT)) AS cp0,
            list_prepend(0::BIGINT, list_transform(range(1, k.n + 1),
                lambda j: list_sum(t.interest_fen[1:j])::BIGINT)) AS ci0
        FROM k JOIN templates_in t USING (key)
        """)
        # nz[j]: the first installment from j on with something to pay (n + 1 if none).
        con.execute("""
        CREATE OR REPLACE TEMP TABLE hf_loans AS
        SELECT *, range(1, n + 2) AS nz FROM hf_loans
        WHERE NOT list_contains(list_transform(range(1, n + 1), lambda j: pl[j] + il[j]), 0)
        UNION ALL BY NAME
        SELECT *, list_transform(range(1, n + 2), lambda j: coalesce(list_min(list_filter(
            range(j, n + 1), lambda q: pl[q] + il[q] > 0)), n + 1)) AS nz FROM hf_loans
        WHERE list_contains(list_transform(range(1, n + 1), lambda j: pl[j] + il[j]), 0)
        """)
        missing = con.execute(
            "SELECT count(*) FROM loans_in WHERE status = 'active' "
            "AND loan_id NOT IN (SELECT loan_id FROM hf_loans)"
        ).fetchone()
        if missing and missing[0]:
            raise ValueError(f"{missing[0]} 笔贷款缺少还款计划模板 (templates)")
        con.execute(f"""
        CREATE OR REPLACE TEMP TABLE hf_pay AS
        SELECT p.loan_id, hf_days(p.paid_on) AS t, hf_month_index(p.paid_on) AS mi,
            CASE WHEN p.payment_type = 'prepayment' THEN 3 ELSE 2 END AS k,
            (p.amount * 100)::BIGINT AS a,
            row_number() OVER (PARTITION BY p.loan_id ORDER BY p.paid_on, p.payment_id) AS seq
        FROM payments_in p SEMI JOIN hf_loans l ON p.loan_id = l.loan_id
        WHERE p.payment_type <> 'reversal' AND p.paid_on <= {asof}
          AND NOT EXISTS (SELECT 1 FROM payments_in r WHERE r.payment_type = 'reversal'
                          AND r.reverses_id = p.payment_id AND r.paid_on <= {asof})
        """)
        con.execute(f"""
        CREATE OR REPLACE TEMP TABLE hf_events AS
        WITH dues AS (
            SELECT loan_id, unnest(list_filter(dl, lambda d: d <= hf_days({asof}))) AS t,
                   true AS is_due
            FROM hf_loans
        ),
        ticks AS (
            SELECT loan_id, t, bool_or(is_due) AS is_due FROM (
                SELECT loan_id, t, is_due FROM dues
                UNION ALL SELECT loan_id, t, false FROM hf_pay
                UNION ALL SELECT loan_id, greatest(hf_days({asof}), t0), false FROM hf_loans
            ) GROUP BY loan_id, t
        ),
        ev AS (
            SELECT loan_id, t, 0 AS seq, CASE WHEN is_due THEN 1 ELSE 0 END AS k,
                   0::BIGINT AS a FROM ticks
            UNION ALL SELECT loan_id, t, seq, k, a FROM hf_pay
        ),
        pos AS (
            SELECT ev.*, l.n, hf_month_index(DATE '1970-01-01' + ev.t) - l.mi0 AS j0,
                hf_days(hf_add_months(l.d0, hf_month_index(DATE '1970-01-01' + ev.t) - l.mi0,
                                      l.rday)) AS due
            FROM ev JOIN (SELECT loan_id, n, mi0, d0, rday FROM hf_loans) l USING (loan_id)
        )
        SELECT loan_id, t, seq, k, a,
            least(n, greatest(0, j0 - CASE WHEN due >= t THEN 1 ELSE 0 END)) AS c,
            least(n, greatest(0, j0 - CASE WHEN due > t THEN 1 ELSE 0 END)) AS cle
        FROM pos
        """)
        state = _run_fold(con)
        con.register("hf_fold", state)
        con.execute("""
        CREATE OR REPLACE TEMP TABLE hf_state AS
        SELECT l.*, {'cur': f.cur::INTEGER, 'cple': f.cple, 'w': f.w, 'i': f.i, 'p': f.p,
                     'pp': f.pp, 'cr': f.cr, 'cl': f.cl::INTEGER, 'h': f.h} AS s
        FROM hf_loans l JOIN hf_fold f USING (loan_id)
        """)
        con.unregister("hf_fold")
        return con.sql(_output_sql(as_of, rules)).to_arrow_table().cast(STATE_SCHEMA)
    finally:
        for name in ("loans_in", "payments_in", "templates_in"):
            con.unregister(name)
        if own:
            con.close()


def _run_fold(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """Hand the schedules and events to `fold.fold`; the final states as an Arrow table."""
    loans = con.sql("""
        SELECT loan_id, n, p_total, pen_rate::BIGINT AS pen_rate, even, t0,
            list_append(cp0, cp0[n + 1]) AS cp, list_append(ci0, ci0[n + 1]) AS ci,
            list_append(list_prepend(0, il), 0) AS il,
            list_append(list_prepend(0, sl), 0) AS sl,
            list_append(list_prepend(0, dl), 0) AS dl,
            list_prepend(0::BIGINT, nz) AS nz
        FROM hf_loans ORDER BY loan_id""").to_arrow_table()
    events = con.sql(
        "SELECT loan_id, t, k, a, c, cle FROM hf_events ORDER BY loan_id, t, seq"
    ).to_arrow_table()

    def flat(name: str) -> np.ndarray:
        col = loans.column(name).combine_chunks()
        return col.flatten().to_numpy().astype(np.int64)

    n = loans.column("n").to_numpy().astype(np.int64)
    base = np.zeros(len(n), np.int64)
    np.cumsum(n[:-1] + 2, out=base[1:])
    pen_rate = loans.column("pen_rate").to_numpy().astype(np.int64)
    den = np.full(len(n), 360 * 10**12, np.int64)
    g = np.gcd(pen_rate, den)
    schedules = fold.Schedules(
        n=n,
        base=base,
        cp=flat("cp"),
        ci=flat("ci"),
        il=flat("il"),
        sl=flat("sl"),
        dl=flat("dl"),
        nz=flat("nz"),
        p_total=loans.column("p_total").to_numpy().astype(np.int64),
        num=pen_rate // g,
        den=den // g,
        even=loans.column("even").to_numpy(zero_copy_only=False).astype(bool),
        t0=loans.column("t0").to_numpy().astype(np.int64),
    )
    loan_ids = loans.column("loan_id").to_numpy()
    ev_loan = events.column("loan_id").to_numpy()
    owner = np.searchsorted(loan_ids, ev_loan)
    count = np.bincount(owner, minlength=len(n)).astype(np.int64)
    start = np.zeros(len(n), np.int64)
    np.cumsum(count[:-1], out=start[1:])
    ev = fold.Events(
        start=start,
        count=count,
        t=events.column("t").to_numpy().astype(np.int64),
        k=events.column("k").to_numpy().astype(np.int64),
        a=events.column("a").to_numpy().astype(np.int64),
        c=events.column("c").to_numpy().astype(np.int64),
        cle=events.column("cle").to_numpy().astype(np.int64),
    )
    st = fold.fold(schedules, ev)
    return pa.table(
        {
            "loan_id": loan_ids,
            "cur": st.cur,
            "cple": st.cple,
            "w": st.w,
            "i": st.i,
            "p": st.p,
            "pp": st.pp,
            "cr": st.cr,
            "cl": st.cl,
            "h": st.h,
        }
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


def _output_sql(as_of: date, rules: ClassificationRules) -> str:
    ta = f"hf_days(DATE '{as_of.isoformat()}')"
    mi = f"hf_month_index(DATE '{as_of.isoformat()}')"
    c_lt = (
        f"greatest(0, least(n, CASE WHEN {mi} - mi0 BETWEEN 1 AND n "
        f"AND dl[{mi} - mi0] < {ta} THEN {mi} - mi0 ELSE {mi} - mi0 - 1 END))"
    )
    c_le = (
        f"greatest(0, least(n, CASE WHEN {mi} - mi0 BETWEEN 1 AND n "
        f"AND dl[{mi} - mi0] <= {ta} THEN {mi} - mi0 ELSE {mi} - mi0 - 1 END))"
    )
    buckets = " ".join(
        f"WHEN dpd <= {30 * (k + 1)} THEN '{b.value}'"
        for k, b in enumerate((Bucket.M1, Bucket.M2, Bucket.M3, Bucket.M4, Bucket.M5, Bucket.M6))
    )
    return f"""
    WITH b AS (
        SELECT loan_id, n, even, p_total, pen_rate, dl, sl, pl, il, cp0, ci0, s,
            {c_lt} AS ca, {c_le} AS cle, s.cl >= 0 AS closed,
            least(len(list_filter(cp0, lambda q: q <= s.p)),
                  len(list_filter(ci0, lambda q: q <= s.i))) AS u
        FROM hf_state
    ),
    c AS (
        SELECT *,
            CASE WHEN closed OR u > ca THEN 0 ELSE {ta} - dl[u] END AS dpd,
            hf_div(s.w::HUGEINT * pen_rate, 360000000000000, even) AS pen
        FROM b
    )
    SELECT
        loan_id, DATE '{as_of.isoformat()}' AS as_of,
        cle::INTEGER AS installments_due,
        CASE WHEN closed THEN cle ELSE len(list_filter(range(1, cle + 1),
            lambda j: (pl[j] = 0 OR cp0[j + 1] <= s.p) AND (il[j] = 0 OR ci0[j + 1] <= s.i)))
        END::INTEGER AS installments_paid,
        ((cp0[cle + 1] + ci0[cle + 1]) / 100)::DECIMAL(18,2) AS amount_due,
        (s.p / 100)::DECIMAL(18,2) AS principal_paid,
        (s.i / 100)::DECIMAL(18,2) AS interest_paid,
        (CASE WHEN closed THEN 0 ELSE greatest(0, cp0[ca + 1] - s.p) END / 100)::DECIMAL(18,2)
            AS overdue_principal,
        (CASE WHEN closed THEN 0 ELSE greatest(0, ci0[ca + 1] - s.i) END / 100)::DECIMAL(18,2)
            AS overdue_interest,
        (pen / 100)::DECIMAL(18,2) AS penalty_charged,
        ((pen - s.pp) / 100)::DECIMAL(18,2) AS penalty_outstanding,
        ((CASE WHEN closed THEN 0 ELSE greatest(0, cp0[ca + 1] - s.p)
              + greatest(0, ci0[ca + 1] - s.i) END + pen - s.pp) / 100)::DECIMAL(18,2)
            AS overdue_amount,
        dpd::INTEGER AS dpd,
        CASE WHEN dpd = 0 THEN 'M0' {buckets} ELSE 'M6+' END AS bucket,
        CASE WHEN dpd > {rules.loss_over} THEN '损失'
             WHEN dpd > {rules.doubtful_over} THEN '可疑'
             WHEN dpd > {rules.substandard_over} THEN '次级'
             WHEN dpd > {rules.special_mention_over} THEN '关注'
             ELSE '正常' END AS loan_class,
        (CASE WHEN closed OR ca >= n THEN 0
              ELSE greatest(0,
                  CASE WHEN {ta} <= sl[ca + 1] THEN 0
                       WHEN {ta} >= dl[ca + 1] THEN il[ca + 1]
                       ELSE hf_div(il[ca + 1]::HUGEINT * ({ta} - sl[ca + 1]),
                                   dl[ca + 1] - sl[ca + 1], even)::BIGINT END
                  - least(greatest(s.i - ci0[ca + 1], 0), il[ca + 1]))
         END / 100)::DECIMAL(18,2) AS accrued_interest,
        ((p_total - s.p) / 100)::DECIMAL(18,2) AS outstanding_principal,
        (s.cr / 100)::DECIMAL(18,2) AS credit,
        CASE WHEN closed OR cle >= n THEN NULL
             ELSE DATE '1970-01-01' + dl[cle + 1]::INTEGER END AS next_due_date,
        CASE WHEN closed THEN DATE '1970-01-01' + s.cl::INTEGER END AS closed_on
    FROM c
    ORDER BY loan_id
    """


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
            k AS (SELECT *, {KEY_SQL} AS key FROM l),
            r AS (SELECT min(loan_id) AS loan_id FROM k GROUP BY key)
            SELECT key, principal, annual_rate, n, method, balloon_pct, d0,
                rday_given AS rday, rounding, interest_rounding, day_count
            FROM k SEMI JOIN r USING (loan_id)
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
