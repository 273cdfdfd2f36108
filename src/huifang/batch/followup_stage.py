"""The nightly run's follow-up stages: new early-warning alerts, due follow-up tasks and
tier changes, over whole columns in DuckDB.

`alerts` runs after `collateral` (it reads this run's LTV) and before `tier` (which counts
the new alerts among the open ones, as `assess_tiers` runs after `evaluate_alerts`); `tasks`
runs after `tier`. Both run on the driver, for both engines alike (a Spark run gives the
same rows by construction), over `ctx.states`, the loans and the workspace's own tables
(`followup_inputs.FollowupBook`). Their results are the run's tables ``loan_alerts``,
``loan_tasks`` and ``loan_tier_changes`` (written and committed with the loan states);
`follow_through` then copies them into the workspace's tables.

**Alerts** (`huifang.domain.early_warning.evaluate` then `plan_alerts`, per loan): each rule
kind is one SQL query over the columns - days past due and the first payment from the
run's DPD (the oldest overdue due date is as-of − DPD; the first installment is unpaid
while no installment is settled), LTV from the stored valuations plus this run's own (on
as-of, replacing a stored one of that day), findings and contact attempts from the events
(ordered by date, then id), the industry watch list matched once per distinct industry.
A hit is *new* unless the loan has an unresolved alert for the rule (the hit refreshes it)
or the hit's key was resolved before. Partial payments need each installment's cash of its
own period, known only inside the fold: the compute stage keeps, for the window of the rule
file's first partial-payments rule (`partial_window`), the latest period ending a run of
partials (`fold_kernel.H_PARTIAL`, history column ``partial_period``); a rule with another
window, or a run without that history, is listed under ``not_evaluated``.

Titles: DPD, LTV, lost contact and industry titles are the domain's words; a first payment
default, a partial-payments hit (its periods, not the paid/due amounts) and a finding have
a shorter title (no amount, no detail text), which the first `evaluate_alerts` run
refreshes.

**Tasks** (`services.followup.generate_tasks` per loan: `loan_tier`, `delinquency_events`
and the policy's `tasks_due`): the follow-up tier is the worst of the origination tier
(default thresholds), the DPD tier and the latest assessed risk tier (this run's, else the
latest recorded); first visit or routine cadence from the completed contacts; event-
triggered contacts from the run's DPD (missed payment, bucket changes), the stored events
and a flagged industry; per purpose the earliest due. A task already open for the loan and
purpose, or one ever created for the loan, purpose and due date, is not created again.

`tests/batch/test_followup_stage.py` checks every loan against the domain functions on
random books with the edge cases.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from huifang.batch import engine as duck
from huifang.batch.followup_inputs import FollowupBook
from huifang.batch.risk_inputs import OPEN_ALERT_SCHEMA
from huifang.domain.collateral import LtvBands
from huifang.domain.delinquency import bucket_for
from huifang.domain.early_warning import (
    DaysPastDueParams,
    FindingParams,
    FirstPaymentDefaultParams,
    IndustryWatchlist,
    IndustryWatchlistParams,
    LostContactParams,
    LtvAboveBandParams,
    PartialPaymentsParams,
    Rule,
    RuleSet,
)
from huifang.domain.followup_policy import _EVENT_ZH, _TIER_ZH, TIERS, EventKind, FollowupPolicy
from huifang.domain.tiering import DEFAULT_TIER_THRESHOLDS

if TYPE_CHECKING:
    from huifang.batch.runner import RunContext
    from huifang.policy_files import LoadedPolicy

ALERT_SCHEMA = pa.schema(
    [
        ("loan_id", pa.int64()),
        ("contract_no", pa.string()),
        ("rule_id", pa.string()),
        ("rule_version", pa.string()),
        ("episode", pa.string()),
        ("key", pa.string()),
        ("severity", pa.string()),
        ("title_zh", pa.string()),
        ("title_en", pa.string()),
        ("facts", pa.string()),  # JSON object
    ]
)

TASK_SCHEMA = pa.schema(
    [
        ("loan_id", pa.int64()),
        ("branch_id", pa.int64()),
        ("purpose", pa.string()),
        ("stage", pa.string()),
        ("due_on", pa.date32()),
        ("deadline", pa.date32()),
        ("priority", pa.int32()),
        ("tier", pa.string()),
        ("required_skills", pa.string()),  # JSON list
        ("script", pa.string()),
        ("reason", pa.string()),
        ("trigger_ref", pa.string()),
        ("policy_version", pa.int32()),
    ]
)

TIER_CHANGE_SCHEMA = pa.schema(
    [
        ("loan_id", pa.int64()),
        ("kind", pa.string()),
        ("previous_tier", pa.string()),
        ("tier", pa.string()),
        ("reason", pa.string()),
    ]
)

_FINDING_ZH = {
    "income-drop": "收入下降",
    "job-loss": "失业",
    "vehicle-sold": "车辆被出售",
    "vehicle-transferred": "车辆被过户或转借",
    "vehicle-damaged": "车辆受损",
    "health-event": "健康事件",
}


def _q(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _date(day: date) -> str:
    return f"DATE '{day.isoformat()}'"


def _values(rows: list[tuple[Any, ...]], names: tuple[str, ...], types: tuple[str, ...]) -> str:
    """A VALUES relation (with typed empty fallback)."""
    cols = ", ".join(names)
    if not rows:
        nulls = ", ".join(f"CAST(NULL AS {t}) AS {n}" for n, t in zip(names, types, strict=True))
        return f"(SELECT {nulls} WHERE false)"

    def lit(v: Any, t: str) -> str:
        if v is None:
            return f"CAST(NULL AS {t})"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        if isinstance(v, date):
            return _date(v)
        return _q(str(v))

    body = ", ".join(
        "(" + ", ".join(lit(v, t) for v, t in zip(r, types, strict=True)) + ")" for r in rows
    )
    return f"(SELECT * FROM (VALUES {body}) AS v({cols}))"


def _connect(**tables: pa.Table) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"threads": duck.usable_cpus()})
    for name, table in tables.items():
        con.register(name, table)
    return con


# --- alerts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertResult:
    table: pa.Table  # ALERT_SCHEMA: the new alerts, by loan and rule order
    hits: dict[str, int]  # rule → loans it fired for
    new: dict[str, int]  # rule → new alerts
    new_by_severity: dict[str, int]
    refreshed: int  # hits absorbed by an unresolved alert of the loan and rule
    already_resolved: int  # hits whose key was resolved before
    not_evaluated: tuple[str, ...] = ()


def _rule_sql(
    rule: Rule, as_of: date, bands: LtvBands, partial: tuple[int, int] | None = None
) -> str | None:
    """One rule's hits: loan_id, episode, title_zh, title_en, facts (JSON text); None for
    a partial-payments rule whose window the compute stage did not evaluate (`partial`)."""
    p = rule.params
    zh, en = _q(rule.zh + ": "), _q(rule.en + ": ")
    asof = _date(as_of)
    if isinstance(p, FirstPaymentDefaultParams):
        return f"""
            SELECT loan_id, 'first-due-' || d AS episode,
                {zh} || '首期 ' || d || ' 逾期 ' || dpd || ' 天仍未还清' AS title_zh,
                {en} || 'first installment due ' || d || ' unpaid ' || dpd || ' days' AS title_en,
                json_object('first_due_date', d, 'days_past_due', dpd::VARCHAR)::VARCHAR AS facts
            FROM (SELECT loan_id, dpd, CAST({asof} - dpd AS VARCHAR) AS d FROM s
                  WHERE installments_due >= 1 AND installments_paid = 0
                    AND dpd >= {p.min_days_past_due})"""
    if isinstance(p, DaysPastDueParams):
        return f"""
            SELECT loan_id, 'overdue-since-' || d AS episode,
                {zh} || '逾期 ' || dpd || ' 天 (最早逾期应还日 ' || d || ')' AS title_zh,
                {en} || dpd || ' days past due (oldest unpaid due date ' || d || ')' AS title_en,
                json_object('dpd', dpd::VARCHAR, 'oldest_overdue_due_date', d)::VARCHAR
            FROM (SELECT loan_id, dpd, CAST({asof} - dpd AS VARCHAR) AS d FROM s
                  WHERE dpd >= {p.min_dpd})"""
    if isinstance(p, PartialPaymentsParams):
        if partial != (p.in_a_row, p.lookback_days):
            return None
        # the last `in_a_row` periods, up to the one the fold found
        periods = f"range(partial_period - {p.in_a_row - 1}, partial_period + 1)"
        return f"""
            SELECT loan_id, 'period-' || partial_period AS episode,
                {zh} || '第 ' || array_to_string({periods}, '、') || ' 期连续部分还款',
                {en} || 'periods ' || array_to_string({periods}, ', ') || ' each paid in part',
                json_object('periods', array_to_string({periods}, ','))::VARCHAR
            FROM pp WHERE partial_period IS NOT NULL"""
    if isinstance(p, LtvAboveBandParams):
        limit = bands.by_code(p.band)
        assert limit.upper is not None
        upper = f"CAST('{limit.upper}' AS DECIMAL(18, 4))"
        cases = " ".join(
            f"WHEN ltv <= CAST('{b.upper}' AS DECIMAL(18, 4)) THEN {_q(b.code)}"
            for b in bands.bands
            if b.upper is not None
        )
        code = f"CASE {cases} ELSE {_q(bands.bands[-1].code)} END"
        names = " ".join(f"WHEN {_q(b.code)} THEN {_q(b.zh)}" for b in bands.bands)
        names_en = " ".join(f"WHEN {_q(b.code)} THEN {_q(b.en)}" for b in bands.bands)
        return f"""
            SELECT loan_id, 'above-{p.band}-since-' || start AS episode,
                {zh} || '抵押率 ' || pct || '% 处于「' || (CASE band {names} END)
                    || '」档 (自 ' || start || ' 起高于「' || {_q(limit.zh)} || '」档)',
                {en} || 'LTV ' || pct || '% in band ' || (CASE band {names_en} END)
                    || ' (above {p.band} since ' || start || ')',
                json_object('ltv', ltv::VARCHAR, 'band', band, 'valued_on', latest_on,
                    'above_since', start)::VARCHAR
            FROM (
                SELECT loan_id, ltv, CAST(latest_on AS VARCHAR) AS latest_on,
                    CAST(start AS VARCHAR) AS start, {code} AS band,
                    CAST(CAST(ltv * 100 AS DECIMAL(20, 2)) AS VARCHAR) AS pct
                FROM (
                    SELECT h.loan_id, arg_max(h.ltv, h.valued_on) AS ltv,
                        max(h.valued_on) AS latest_on,
                        min(h.valued_on) FILTER (
                            WHERE h.ltv > {upper}
                                AND h.valued_on > coalesce(ok.last_ok, DATE '0001-01-01')
                        ) AS start
                    FROM hist h LEFT JOIN (
                        SELECT loan_id, max(valued_on) AS last_ok FROM hist
                        WHERE ltv <= {upper} GROUP BY loan_id
                    ) ok USING (loan_id)
                    GROUP BY h.loan_id
                ) WHERE ltv > {upper}
            )"""
    if isinstance(p, FindingParams):
        kinds = ", ".join(_q(k.value) for k in sorted(p.kinds))
        names = " ".join(f"WHEN {_q(k)} THEN {_q(v)}" for k, v in _FINDING_ZH.items())
        earliest = _date(as_of - timedelta(days=p.within_days))
        return f"""
            SELECT loan_id, kind || '-' || CAST(occurred_on AS VARCHAR) AS episode,
                {zh} || kinds_zh || ', 最近一次 ' || CAST(occurred_on AS VARCHAR),
                {en} || kinds_en || ', latest on ' || CAST(occurred_on AS VARCHAR),
                json_object('kinds', kinds_en, 'latest_on', CAST(occurred_on AS VARCHAR))::VARCHAR
            FROM (
                SELECT loan_id,
                    arg_max(kind, (occurred_on, event_id)) AS kind,
                    max(occurred_on) AS occurred_on,
                    string_agg(CASE kind {names} END, '、' ORDER BY first_on, first_id) AS kinds_zh,
                    string_agg(kind, ', ' ORDER BY first_on, first_id) AS kinds_en
                FROM (
                    SELECT loan_id, kind, max(occurred_on) AS occurred_on,
                        max(event_id) FILTER (WHERE occurred_on = last_day) AS event_id,
                        min(occurred_on) AS first_on, min(event_id) FILTER (
                            WHERE occurred_on = first_day) AS first_id
                    FROM (
                        SELECT *, max(occurred_on) OVER w AS last_day,
                            min(occurred_on) OVER w AS first_day
                        FROM ev WHERE source = 'risk' AND kind IN ({kinds})
                            AND occurred_on BETWEEN {earliest} AND {asof}
                        WINDOW w AS (PARTITION BY loan_id, kind)
                    ) GROUP BY loan_id, kind
                ) GROUP BY loan_id
            )"""
    if isinstance(p, LostContactParams):
        return f"""
            SELECT loan_id, 'unreachable-since-' || since AS episode,
                {zh} || '自 ' || since || ' 起连续 ' || n || ' 次联系未接通',
                {en} || n || ' failed contact attempts in a row since ' || since,
                json_object('failed_attempts', n::VARCHAR, 'since', since,
                    'last_attempt_on', last_on)::VARCHAR
            FROM (
                SELECT a.loan_id, count(*) AS n, CAST(min(a.occurred_on) AS VARCHAR) AS since,
                    CAST(max(a.occurred_on) AS VARCHAR) AS last_on
                FROM att a LEFT JOIN (
                    SELECT loan_id, max(rn) AS ok_rn FROM att
                    WHERE kind = 'contact-succeeded' GROUP BY loan_id
                ) ok USING (loan_id)
                WHERE a.rn > coalesce(ok.ok_rn, 0)
                GROUP BY a.loan_id HAVING count(*) >= {p.failed_attempts}
            )"""
    assert isinstance(p, IndustryWatchlistParams)
    return f"""
        SELECT b.loan_id, i.name || '-since-' || CAST(i.since AS VARCHAR) AS episode,
            {zh} || '借款人行业「' || b.industry || '」在关注名单「' || i.name || '」中: '
                || i.reason,
            {en} || 'borrower''s industry ' || i.shown || ' is on the watch list ('
                || i.name || '): ' || i.reason,
            json_object('industry', b.industry, 'watched', i.name,
                'watchlist_version', i.version)::VARCHAR
        FROM s JOIN b USING (loan_id) JOIN ind i ON i.industry = b.industry"""


def alerts(
    states: pa.Table,
    loans: pa.Table,
    book: FollowupBook,
    as_of: date,
    rules: RuleSet,
    watchlist: IndustryWatchlist,
    bands: LtvBands,
    collateral: pa.Table | None = None,
    partial: pa.Table | None = None,
    partial_window: tuple[int, int] | None = None,
) -> AlertResult:
    """The early-warning hits of every loan of `states` and which of them are new.

    `partial` (loan_id, partial_period) is what the compute stage found for the
    partial-payments rules with (in_a_row, lookback_days) = `partial_window`; others are
    not evaluated."""
    # the distinct industries only (not a Python string per borrower)
    distinct = pc.unique(book.borrowers.column("industry")).drop_null()
    industries = sorted(str(v) for v in distinct.to_pylist())
    watched = []
    for industry in industries:
        entry = watchlist.match(industry, as_of)
        if entry is not None:
            watched.append(
                (industry, entry.name, entry.since, entry.reason, repr(industry), watchlist.version)
            )
    ind = _values(
        watched,
        ("industry", "name", "since", "reason", "shown", "version"),
        ("VARCHAR", "VARCHAR", "DATE", "VARCHAR", "VARCHAR", "VARCHAR"),
    )
    lc = collateral.select(["loan_id", "ltv"]) if collateral is not None else None
    con = _connect(
        s=states.select(["loan_id", "dpd", "installments_due", "installments_paid"]),
        l=loans.select(["loan_id", "contract_no"]),
        b=book.borrowers,
        ev=book.events,
        lh=book.ltv_history,
        sa=book.stored_alerts,
        pp=partial.select(["loan_id", "partial_period"])
        if partial is not None
        else pa.table(
            {"loan_id": pa.array([], pa.int64()), "partial_period": pa.array([], pa.int32())}
        ),
        lc=lc
        if lc is not None
        else pa.table(
            {"loan_id": pa.array([], pa.int64()), "ltv": pa.array([], pa.decimal128(18, 4))}
        ),
    )
    asof = _date(as_of)
    try:
        con.execute(f"CREATE TEMP VIEW ind AS SELECT * FROM {ind}")
        con.execute(f"""
            CREATE TEMP TABLE hist AS
            SELECT loan_id, valued_on, CAST(ltv AS DECIMAL(18, 4)) AS ltv FROM (
                SELECT loan_id, valued_on, ltv, row_number() OVER (
                    PARTITION BY loan_id, valued_on ORDER BY valuation_id DESC) AS rn
                FROM lh WHERE valued_on <= {asof} AND ltv IS NOT NULL
                    AND loan_id IN (SELECT loan_id FROM s)
                    AND NOT (valued_on = {asof}
                             AND loan_id IN (SELECT loan_id FROM lc WHERE ltv IS NOT NULL))
            ) WHERE rn = 1
            UNION ALL
            SELECT loan_id, {asof}, CAST(ltv AS DECIMAL(18, 4)) FROM lc WHERE ltv IS NOT NULL
        """)
        con.execute(f"""
            CREATE TEMP TABLE att AS
            SELECT loan_id, kind, occurred_on, row_number() OVER (
                PARTITION BY loan_id ORDER BY occurred_on, event_id) AS rn
            FROM ev WHERE source = 'attempt' AND occurred_on <= {asof}
                AND loan_id IN (SELECT loan_id FROM s)
        """)
        parts, skipped = [], []
        for k, rule in enumerate(rules.rules):
            sql = _rule_sql(rule, as_of, bands, partial_window if partial is not None else None)
            if sql is None:
                skipped.append(rule.id)
                continue
            parts.append(
                f"SELECT {k} AS rule_index, {_q(rule.id)} AS rule_id, "
                f"{_q(rule.severity.value)} AS severity, * FROM ({sql}) "
                f"AS r(loan_id, episode, title_zh, title_en, facts)"
            )
        union = (
            " UNION ALL ".join(parts)
            if parts
            else (
                "SELECT 0 AS rule_index, '' AS rule_id, '' AS severity, 0::BIGINT AS loan_id, "
                "'' AS episode, '' AS title_zh, '' AS title_en, '' AS facts WHERE false"
            )
        )
        con.execute(f"""
            CREATE TEMP TABLE planned AS
            SELECT h.*, l.contract_no, l.contract_no || '|' || h.rule_id || '|' || h.episode AS key,
                CASE WHEN live.loan_id IS NOT NULL THEN 'refresh'
                     WHEN gone.key IS NOT NULL THEN 'resolved' ELSE 'new' END AS outcome
            FROM ({union}) h
            JOIN (SELECT loan_id FROM s) USING (loan_id)
            JOIN l USING (loan_id)
            LEFT JOIN (SELECT DISTINCT loan_id, rule_id FROM sa WHERE status <> 'resolved') live
                ON live.loan_id = h.loan_id AND live.rule_id = h.rule_id
            LEFT JOIN (SELECT DISTINCT key FROM sa WHERE status = 'resolved') gone
                ON gone.key = l.contract_no || '|' || h.rule_id || '|' || h.episode
        """)
        table = con.sql(f"""
            SELECT loan_id, contract_no, rule_id, {_q(rules.version)} AS rule_version, episode,
                key, severity, title_zh, title_en, facts
            FROM planned WHERE outcome = 'new' ORDER BY loan_id, rule_index
        """).to_arrow_table()
        counts = con.execute(
            "SELECT rule_id, outcome, severity, count(*) FROM planned GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    finally:
        con.close()
    hits: dict[str, int] = {}
    new: dict[str, int] = {}
    severity: dict[str, int] = {}
    refreshed = resolved = 0
    for rule_id, outcome, sev, n in counts:
        hits[rule_id] = hits.get(rule_id, 0) + n
        if outcome == "new":
            new[rule_id] = new.get(rule_id, 0) + n
            severity[sev] = severity.get(sev, 0) + n
        elif outcome == "refresh":
            refreshed += n
        else:
            resolved += n
    return AlertResult(
        pa.table([table.column(f.name).cast(f.type) for f in ALERT_SCHEMA], schema=ALERT_SCHEMA),
        hits,
        new,
        severity,
        refreshed,
        resolved,
        tuple(skipped),
    )


# --- due tasks -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskResult:
    table: pa.Table  # TASK_SCHEMA: the tasks to create, by loan and purpose
    by_purpose: dict[str, int]
    already_open: int  # due tasks whose loan has an open task of the purpose
    not_tasked: int  # loans without borrower facts or whose tier the domain refuses
    by_tier: dict[str, int] = field(default_factory=dict)  # the follow-up tier of the loans


# the latest of a loan's recorded tiers: by date, then id, as one integer (struct keys are slow)
_LATEST = "((as_of - DATE '1970-01-01')::BIGINT * 4294967296 + change_id)"
# a candidate task's order within its loan and purpose (`tasks_due`: the earliest due date,
# then the group and its sub-order), as one HUGEINT (sub: a bucket step or an event id,
# never negative)
_PICK = (
    "(((due_on - DATE '1970-01-01')::HUGEINT * 4 + grp) * CAST(9223372036854775808 AS HUGEINT)"
    " + sub)"
)


def _fen_column(table: pa.Table, name: str) -> pa.Array:
    """A DECIMAL money column as integer fen (BIGINT, nulls kept), without Decimal math."""
    from huifang.batch.risk_stage import _fen, _valid

    column = table.column(name)
    return pa.array(_fen(column), pa.int64(), mask=~_valid(column))


def _ratio4(value: Decimal) -> int:
    return int(value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP) * 10_000)


def _tier_sql(as_of: date) -> str:
    """Each loan's follow-up tier (`services.followup.loan_tier`) and whether it fails."""
    t = DEFAULT_TIER_THRESHOLDS
    missing = TIERS.index(t.missing_score_tier.value)
    asof = _date(as_of)
    return f"""
        SELECT s.loan_id, l.branch_id, l.disbursement_date AS d0, s.dpd, b.industry,
            coalesce(b.borrower_kind = 'business', false) AS business,
            (price IS NOT NULL AND price <> 0
                AND (price < 0 OR dp IS NULL OR dp < 0 OR dp > price
                     OR coalesce(b.credit_score, 0) < 0)) AS refused,
            greatest(
                CASE WHEN price IS NULL OR price = 0 THEN 1 ELSE greatest(
                    CASE WHEN b.credit_score IS NULL THEN {missing}
                         WHEN b.credit_score < {t.high_score_below} THEN 2
                         WHEN b.credit_score < {t.medium_score_below} THEN 1 ELSE 0 END,
                    CASE WHEN (2 * dp * 10000 + price) // (2 * price)
                              < {_ratio4(t.high_down_payment_below)} THEN 2
                         WHEN (2 * dp * 10000 + price) // (2 * price)
                              < {_ratio4(t.medium_down_payment_below)} THEN 1 ELSE 0 END)
                END,
                CASE WHEN s.dpd > 30 THEN 2 WHEN s.dpd > 0 THEN 1 ELSE 0 END,
                CASE coalesce(today.risk_tier, stored.tier)
                    WHEN 'low' THEN 0 WHEN 'medium' THEN 1 WHEN 'high' THEN 2 ELSE 0 END
            ) AS tier_rank
        FROM s JOIN l USING (loan_id) JOIN (
            SELECT *, CASE WHEN vp IS NOT NULL AND vp <> 0 THEN vp ELSE dp END AS price FROM bf
        ) b USING (loan_id)
        LEFT JOIN lt today USING (loan_id)
        LEFT JOIN (
            SELECT loan_id, arg_max(tier, {_LATEST}) AS tier FROM th
            WHERE kind = 'risk' AND as_of <= {asof} GROUP BY loan_id
        ) stored USING (loan_id)"""


def due_tasks(
    states: pa.Table,
    loans: pa.Table,
    book: FollowupBook,
    as_of: date,
    loaded: LoadedPolicy,
    tiers: pa.Table | None = None,
) -> TaskResult:
    """The follow-up tasks each loan of `states` is due on `as_of` that are not there yet."""
    policy: FollowupPolicy = loaded.policy
    asof = _date(as_of)
    horizon = _date(as_of + timedelta(days=policy.generate_ahead_days))
    purposes = _values(
        [
            (
                r.purpose,
                r.stage.value,
                r.sla_days,
                r.priority,
                r.script,
                json.dumps(sorted(set(r.skills)), ensure_ascii=False),
                json.dumps(sorted({*r.skills, policy.business_skill}), ensure_ascii=False),
            )
            for r in policy.purposes.values()
        ],
        ("purpose", "stage", "sla", "priority", "script", "skills", "skills_business"),
        ("VARCHAR", "VARCHAR", "INTEGER", "INTEGER", "VARCHAR", "VARCHAR", "VARCHAR"),
    )
    event_rules = _values(
        [
            (e.kind.value, e.purpose, e.due_after_days, e.repeat_months, _EVENT_ZH[e.kind])
            for e in policy.events.values()
        ],
        ("kind", "purpose", "due_after", "repeat_months", "kind_zh"),
        ("VARCHAR", "VARCHAR", "INTEGER", "INTEGER", "VARCHAR"),
    )
    cadence = " ".join(f"WHEN {TIERS.index(t)} THEN {m}" for t, m in policy.cadence_months.items())
    boost = " ".join(
        f"WHEN {TIERS.index(t)} THEN {b}"
        for t, b in policy.tier_priority_boost.items()
        if t in TIERS
    )
    tier_zh = " ".join(f"WHEN {k} THEN {_q(_TIER_ZH[t])}" for k, t in enumerate(TIERS))
    tier_en = " ".join(f"WHEN {k} THEN {_q(t)}" for k, t in enumerate(TIERS))
    counted = ", ".join(_q(p) for p in sorted({policy.first_visit_purpose, *policy.cadence_counts}))
    buckets = ", ".join(_q(bucket_for(30 * k + 1).value) for k in range(1, 7))
    # stored events of any kind the policy triggers on (`services.followup._read_book`)
    stored_kinds = ", ".join(_q(k.value) for k in policy.events) or "NULL"
    flagged = policy.events.get(EventKind.FLAGGED_INDUSTRY)
    flagged_list = ", ".join(_q(i) for i in sorted(policy.flagged_industries)) or "NULL"
    empty_tiers = pa.table(
        {"loan_id": pa.array([], pa.int64()), "risk_tier": pa.array([], pa.string())}
    )
    b = book.borrowers
    borrowers = pa.table(
        {
            "loan_id": b.column("loan_id"),
            "borrower_kind": b.column("borrower_kind"),
            "industry": b.column("industry"),
            "credit_score": b.column("credit_score"),
            "dp": _fen_column(b, "down_payment"),
            "vp": _fen_column(b, "vehicle_price"),
        }
    )
    con = _connect(
        s=states.select(["loan_id", "dpd"]),
        l=loans.select(["loan_id", "branch_id", "disbursement_date"]),
        bf=borrowers,
        ev=book.events,
        ct=book.contacts,
        st=book.stored_tasks,
        th=book.tier_history,
        lt=tiers.select(["loan_id", "risk_tier"]) if tiers is not None else empty_tiers,
    )
    fv = _q(policy.first_visit_purpose)
    routine_sla = policy.rule(policy.routine_purpose).sla_days
    within = policy.first_visit_within_days
    first_zh = f"放款后{within}天内首次回访 / first contact within {within} days of disbursement"
    try:
        con.execute(f"CREATE TEMP VIEW pr AS SELECT * FROM {purposes}")
        con.execute(f"CREATE TEMP VIEW er AS SELECT * FROM {event_rules}")
        con.execute(f"CREATE TEMP TABLE lo AS {_tier_sql(as_of)}")
        con.execute("""
            CREATE TEMP TABLE done AS
            SELECT loan_id, purpose, max(completed_on) AS last_on FROM ct
            WHERE loan_id IN (SELECT loan_id FROM lo WHERE NOT refused) GROUP BY ALL
        """)
        flagged_sql = ""
        if flagged is not None:
            repeat = (
                f"CAST(f.last_on + INTERVAL {flagged.repeat_months} MONTH AS DATE)"
                if flagged.repeat_months is not None
                else "lo.d0"
            )
            flagged_sql = f"""
                UNION ALL
                SELECT loan_id, 'flagged-industry', start, 3, 0,
                    'industry:' || industry || ':' || CAST(start AS VARCHAR)
                FROM (
                    SELECT lo.loan_id, lo.industry,
                        CASE WHEN f.last_on IS NULL OR f.last_on < lo.d0 THEN lo.d0
                             ELSE {repeat} END AS start
                    FROM lo LEFT JOIN done f
                        ON f.loan_id = lo.loan_id AND f.purpose = {_q(flagged.purpose)}
                    WHERE NOT lo.refused AND lo.industry IN ({flagged_list})
                )"""
        con.execute(f"""
            CREATE TEMP VIEW events AS
            SELECT e.loan_id, e.kind, e.occurred_on, e.grp, e.sub, e.ref
            FROM (
                SELECT loan_id, 'missed-payment' AS kind, {asof} - dpd + 1 AS occurred_on,
                    1 AS grp, 0 AS sub, 'missed:' || CAST({asof} - dpd AS VARCHAR) AS ref
                FROM lo WHERE NOT refused AND dpd > 0
                UNION ALL
                SELECT loan_id, 'bucket-change', {asof} - dpd + CAST(30 * k + 1 AS INTEGER), 1, k,
                    'bucket:' || ([{buckets}])[k] || ':' || CAST({asof} - dpd AS VARCHAR)
                FROM lo, range(1, 7) AS r(k)
                WHERE NOT refused AND (dpd - 1) // 30 >= k AND dpd > 0
                UNION ALL
                SELECT ev.loan_id, ev.kind, ev.occurred_on, 2, ev.event_id,
                    'risk:' || CAST(ev.event_id AS VARCHAR)
                FROM ev JOIN lo USING (loan_id)
                WHERE NOT lo.refused AND ev.source = 'risk' AND ev.kind IN ({stored_kinds})
                    AND ev.occurred_on <= {asof}
                {flagged_sql}
            ) e
        """)
        con.execute(f"""
            CREATE TEMP VIEW candidates AS
            -- first visit, or the routine cadence after it
            SELECT lo.loan_id, {fv} AS purpose, lo.d0 + {policy.first_visit_start_days} AS due_on,
                lo.d0 + {policy.first_visit_within_days} AS deadline, 0 AS grp, 0 AS sub,
                CAST(NULL AS VARCHAR) AS kind, CAST(NULL AS DATE) AS occurred_on,
                CAST(NULL AS DATE) AS last_on, CAST(NULL AS INTEGER) AS months, '' AS ref,
                lo.branch_id, lo.tier_rank, lo.business
            FROM lo LEFT JOIN done f ON f.loan_id = lo.loan_id AND f.purpose = {fv}
            WHERE NOT lo.refused AND (f.last_on IS NULL OR f.last_on < lo.d0)
                AND lo.d0 + {policy.first_visit_start_days} <= {horizon}
            UNION ALL
            SELECT loan_id, {_q(policy.routine_purpose)}, due, due + {routine_sla}, 0, 1,
                NULL, NULL, last_on, months, '', branch_id, tier_rank, business
            FROM (
                SELECT lo.loan_id, lo.branch_id, lo.tier_rank, lo.business, c.last_on,
                    CASE lo.tier_rank {cadence} END AS months,
                    CAST(c.last_on + to_months(CASE lo.tier_rank {cadence} END) AS DATE) AS due
                FROM lo
                JOIN done f ON f.loan_id = lo.loan_id AND f.purpose = {fv} AND f.last_on >= lo.d0
                JOIN (SELECT loan_id, max(last_on) AS last_on FROM done
                      WHERE purpose IN ({counted}) GROUP BY loan_id) c ON c.loan_id = lo.loan_id
                WHERE NOT lo.refused
            ) WHERE due <= {horizon}
            UNION ALL
            -- event-triggered contacts not handled by a contact of their purpose since
            SELECT e.loan_id, er.purpose, e.occurred_on + er.due_after,
                e.occurred_on + er.due_after + pr.sla, e.grp, e.sub, e.kind, e.occurred_on,
                NULL, NULL, e.ref, lo.branch_id, lo.tier_rank, lo.business
            FROM events e JOIN er USING (kind) JOIN pr ON pr.purpose = er.purpose
            JOIN lo ON lo.loan_id = e.loan_id
            LEFT JOIN done h ON h.loan_id = e.loan_id AND h.purpose = er.purpose
            WHERE e.occurred_on >= lo.d0 AND (h.last_on IS NULL OR h.last_on < e.occurred_on)
                AND e.occurred_on + er.due_after <= {horizon}
        """)
        boost_sql = f"CASE c.tier_rank {boost} ELSE 0 END" if boost else "0"
        # the earliest candidate per loan and purpose: (due date, group, sub) is unique within
        # a loan and purpose, so the row with its least integer key (`_PICK`) is picked by a
        # hash aggregate (arg_min of the row id), not a window sort of every candidate; the
        # due tasks are materialized once, and strings are built only for the new ones
        con.execute(f"CREATE TEMP TABLE cand AS SELECT *, {_PICK} AS pick FROM candidates")
        con.execute("""
            CREATE TEMP TABLE due AS
            SELECT c.*, o.loan_id IS NOT NULL AS already_open, sn.loan_id IS NOT NULL AS seen
            FROM (
                SELECT * FROM cand WHERE rowid IN (
                    SELECT arg_min(rowid, pick) FROM cand GROUP BY loan_id, purpose)
            ) c
            LEFT JOIN (SELECT DISTINCT loan_id, purpose FROM st WHERE open) o
                ON o.loan_id = c.loan_id AND o.purpose = c.purpose
            LEFT JOIN (SELECT DISTINCT loan_id, purpose, due_on FROM st) sn
                ON sn.loan_id = c.loan_id AND sn.purpose = c.purpose AND sn.due_on = c.due_on
        """)
        table = con.sql(f"""
            SELECT c.loan_id, c.branch_id, c.purpose, pr.stage, c.due_on,
                greatest(c.deadline, c.due_on) AS deadline,
                greatest(1, pr.priority - {boost_sql}) AS priority,
                ([{", ".join(_q(t) for t in TIERS)}])[c.tier_rank + 1] AS tier,
                CASE WHEN c.business THEN pr.skills_business ELSE pr.skills END
                    AS required_skills,
                pr.script,
                CASE WHEN c.grp = 0 AND c.sub = 0 THEN {_q(first_zh)}
                     WHEN c.grp = 0 THEN '定期回访: ' || (CASE c.tier_rank {tier_zh} END)
                        || '每' || c.months || '个月 (上次 ' || CAST(c.last_on AS VARCHAR) || ')'
                        || ' / routine contact: ' || (CASE c.tier_rank {tier_en} END)
                        || ' risk every ' || c.months || ' months (last '
                        || CAST(c.last_on AS VARCHAR) || ')'
                     ELSE '事件触发: ' || er.kind_zh || ' (' || CAST(c.occurred_on AS VARCHAR)
                        || ') / event: ' || c.kind || ' (' || CAST(c.occurred_on AS VARCHAR)
                        || ')'
                END AS reason,
                nullif(c.ref, '') AS trigger_ref, {loaded.version} AS policy_version
            FROM due c JOIN pr USING (purpose)
            LEFT JOIN er USING (kind)
            WHERE NOT c.already_open AND NOT c.seen
            ORDER BY c.loan_id, c.purpose
        """).to_arrow_table()
        # strings only for the tasks created; the due tasks already open are only counted
        row = con.execute("SELECT count(*) FROM due WHERE already_open").fetchone()
        already_open = int(row[0]) if row else 0
        by_purpose = {
            str(r["values"]): int(r["counts"])
            for r in sorted(
                pc.value_counts(table.column("purpose")).to_pylist(), key=lambda r: r["values"]
            )
        }
        by_tier = {
            TIERS[k]: int(n)
            for k, n in con.execute(
                "SELECT tier_rank, count(*) FROM lo WHERE NOT refused GROUP BY 1 ORDER BY 1"
            ).fetchall()
        }
        row = con.execute("SELECT count(*) FROM lo WHERE NOT refused").fetchone()
        tasked = int(row[0]) if row else 0
    finally:
        con.close()
    return TaskResult(
        pa.table([table.column(f.name).cast(f.type) for f in TASK_SCHEMA], schema=TASK_SCHEMA),
        {str(k): int(v) for k, v in by_purpose.items()},
        already_open,
        states.num_rows - tasked,
        by_tier,
    )


def tier_changes(tiers: pa.Table, book: FollowupBook, as_of: date) -> pa.Table:
    """This run's tiers that differ from the latest recorded on or before `as_of`
    (`services.risk.assess_tiers` records changes only): origination, then risk."""
    con = _connect(t=tiers, th=book.tier_history)
    try:
        table = con.sql(f"""
            WITH last AS (
                SELECT loan_id, kind, arg_max(tier, {_LATEST}) AS tier FROM th
                WHERE as_of <= {_date(as_of)} GROUP BY ALL
            ), now AS (
                SELECT loan_id, 'origination' AS kind, origination_tier AS tier,
                    CASE WHEN risk_reason LIKE 'origination%' THEN risk_reason
                         ELSE 'origination' END AS reason, 0 AS k FROM t
                UNION ALL
                SELECT loan_id, 'risk', risk_tier, risk_reason, 1 FROM t
            )
            SELECT now.loan_id, now.kind, last.tier AS previous_tier, now.tier, now.reason
            FROM now LEFT JOIN last USING (loan_id, kind)
            WHERE last.tier IS DISTINCT FROM now.tier
            ORDER BY now.loan_id, now.k
        """).to_arrow_table()
    finally:
        con.close()
    return pa.table(
        [table.column(f.name).cast(f.type) for f in TIER_CHANGE_SCHEMA], schema=TIER_CHANGE_SCHEMA
    )


# --- the stages ------------------------------------------------------------------------------


def _delta(now: dict[str, int], before: dict[str, Any]) -> dict[str, int]:
    return {k: now.get(k, 0) - int(before.get(k, 0)) for k in sorted(set(now) | set(before))}


def _previous(ctx: RunContext, key: str) -> dict[str, Any] | None:
    if ctx.previous is None:
        return None
    section = ctx.previous.summary.get(key)
    return section if isinstance(section, dict) else None


SKIPPED = "no workspace inputs / 无回访与预警输入"


def partial_window(ctx: RunContext) -> tuple[int, int] | None:
    """The (in_a_row, lookback_days) of the rule set's first partial-payments rule, which
    the compute stage evaluates in the fold when the alerts stage will run (None: it will
    not, or there is no such rule). Other windows stay under ``not_evaluated``."""
    from huifang.risk_rules import load_rule_set
    from huifang.valuation_params import load_valuation_params

    if ctx.followup is None or ctx.inputs is None:
        return None
    rules = load_rule_set(bands=load_valuation_params().ltv_bands)
    for rule in rules.rules:
        if isinstance(rule.params, PartialPaymentsParams):
            return rule.params.in_a_row, rule.params.lookback_days
    return None


def alerts_stage(ctx: RunContext) -> None:
    """New early-warning alerts (`ctx.extra['loan_alerts']`); runs before `tier`, which
    counts them among the loan's open alerts."""
    from huifang.risk_rules import load_rule_set, load_watchlist
    from huifang.valuation_params import load_valuation_params

    ctx.progress("alerts", 0, 1)
    if ctx.followup is None or ctx.states is None or ctx.inputs is None:
        ctx.summary["alerts"] = {"skipped": SKIPPED}
        ctx.progress("alerts", 1, 1)
        return
    bands = load_valuation_params().ltv_bands
    rules = load_rule_set(bands=bands)
    watchlist = load_watchlist()
    result = alerts(
        ctx.states,
        ctx.inputs.loans,
        ctx.followup,
        ctx.as_of,
        rules,
        watchlist,
        bands,
        ctx.extra.get("loan_collateral"),
        ctx.history,
        ctx.partial_window,
    )
    ctx.extra["loan_alerts"] = result.table
    if ctx.risk is not None and result.table.num_rows:
        # the tier stage (next) counts them as open, as `assess_tiers` after `evaluate_alerts`
        n = result.table.num_rows
        opened = pa.table(
            {
                "loan_id": result.table.column("loan_id"),
                "severity": result.table.column("severity"),
                "first_seen_on": pa.array([ctx.as_of] * n, pa.date32()),
            },
            schema=OPEN_ALERT_SCHEMA,
        )
        ctx.risk = replace(ctx.risk, open_alerts=pa.concat_tables([ctx.risk.open_alerts, opened]))
    section: dict[str, Any] = {
        "rules_version": rules.version,
        "watchlist_version": watchlist.version,
        "new": int(result.table.num_rows),
        "new_by_rule": result.new,
        "new_by_severity": result.new_by_severity,
        "hits_by_rule": result.hits,
        "refreshed": result.refreshed,
        "already_resolved": result.already_resolved,
        "not_evaluated": list(result.not_evaluated),
    }
    before = _previous(ctx, "alerts")
    if before is not None and "new_by_rule" in before:
        section["deltas"] = {
            "new": section["new"] - int(before.get("new", 0)),
            "new_by_rule": _delta(result.new, before["new_by_rule"]),
            "new_by_severity": _delta(result.new_by_severity, before.get("new_by_severity", {})),
        }
    ctx.summary["alerts"] = section
    ctx.progress("alerts", 1, 1)


def tasks_stage(ctx: RunContext) -> None:
    """Due follow-up tasks (`ctx.extra['loan_tasks']`) and tier changes
    (`ctx.extra['loan_tier_changes']`)."""
    from huifang.policy_files import load_followup_policy

    ctx.progress("tasks", 0, 1)
    if ctx.followup is None or ctx.states is None or ctx.inputs is None:
        ctx.summary["tasks"] = {"skipped": SKIPPED}
        ctx.progress("tasks", 1, 1)
        return
    loaded = ctx.followup_policy or load_followup_policy()
    tiers = ctx.extra.get("loan_tiers")
    result = due_tasks(ctx.states, ctx.inputs.loans, ctx.followup, ctx.as_of, loaded, tiers)
    ctx.extra["loan_tasks"] = result.table
    section: dict[str, Any] = {
        "policy_version": loaded.version,
        "new": int(result.table.num_rows),
        "new_by_purpose": result.by_purpose,
        "already_open": result.already_open,
        "not_tasked": result.not_tasked,
    }
    if tiers is not None:
        changes = tier_changes(tiers, ctx.followup, ctx.as_of)
        ctx.extra["loan_tier_changes"] = changes
        counted = {
            str(r["values"]): int(r["counts"])
            for r in pc.value_counts(changes.column("kind")).to_pylist()
        }
        section["tier_changes"] = {k: counted.get(k, 0) for k in ("origination", "risk")}
    before = _previous(ctx, "tasks")
    if before is not None and "new_by_purpose" in before:
        section["deltas"] = {
            "new": section["new"] - int(before.get("new", 0)),
            "new_by_purpose": _delta(result.by_purpose, before["new_by_purpose"]),
        }
    ctx.summary["tasks"] = section
    ctx.progress("tasks", 1, 1)


def fingerprint(base: str, book: FollowupBook, loaded: LoadedPolicy | None) -> str:
    """The run's fingerprint extended with the workspace tables' content (order-independent)
    and the rule files' and policy's versions."""
    from huifang.batch.risk_stage import table_digests
    from huifang.policy_files import load_followup_policy
    from huifang.risk_rules import load_rule_set, load_watchlist

    policy = loaded or load_followup_policy()
    parts = table_digests(book.tables())
    versions = (load_rule_set().version, load_watchlist().version, policy.version, policy.source)
    return hashlib.sha256(f"{base}|{parts}|{versions}".encode()).hexdigest()
