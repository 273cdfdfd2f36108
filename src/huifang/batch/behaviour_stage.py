"""The nightly run's behaviour-score stage: the behaviour model's features, points, PD and
reason codes for every active loan, over columns.

It scores each loan of `ctx.states` disbursed by as-of with the model artifact the run read
(`model/artifact.py`: LATEST under `$HUIFANG_HOME/models`, or the run's `model_dir`) - the
same features (`model.book_features.features_as_of` at t = as-of), the same bins and points
(`FeatureBins.assign`, `Scorecard.score`), the same top reasons (`model.reasons.reasons_for`)
and PD (`model.behaviour.behaviour_score`) as the per-loan path:

* repayment history (DPD now and its worst over 6 and 12 months, late installments, months
  since the last one, paid ÷ due over 3/6/12 months, prepayments, outstanding balance ÷
  price, the regular installment): the compute stage keeps it while it folds each loan
  (`engine.compute_partition(history=True)`, `fold_kernel` - settlement days are known only
  inside the fold), as integers in fen; money features are fen / 100 as doubles, which is
  exactly `float(Decimal)`, and ratios divide those doubles as `book_features._ratio` does;
* the loan (term, rate, months on book and to go) and its facts (price, down payment,
  credit score: `risk_inputs`), the borrower (`behaviour_inputs.borrower_facts`);
* the follow-up (attempts, visits, risk events, stored valuations, `behaviour_inputs`):
  windows and latest rows by sorted-key NumPy passes (`bincount`, `maximum.at`).

Reasons: each feature's shortfall against its best populated bin, the largest four with the
feature name breaking ties - four argmax passes over the (loans × features) matrix.

The output `loan_scores` (SCORE_SCHEMA) feeds the tier stage (`risk_stage.tiers` reads `pd`
and `points`) and is written under the run's swap (`batch_loan_scores`). Documented cases:

* no model artifact: the stage is skipped (`summary.behaviour.skipped`), no `loan_scores`,
  and the tier stage tiers every loan with no behaviour score (`missing_behaviour_tier`);
* no borrower facts or no loan facts (a Parquet input without them): skipped likewise;
* a loan disbursed after as-of gets no score (the per-loan path has no history for it);
  closed and 90+ DPD loans are scored as `training.score_loan` scores them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from huifang.batch import score_kernel
from huifang.batch.behaviour_inputs import BehaviourBook
from huifang.batch.engine import HISTORY_SCHEMA, STATE_SCHEMA, _in_threads, usable_cpus
from huifang.batch.risk_inputs import RiskBook
from huifang.batch.risk_stage import (
    EPOCH,
    _civil_lookup,
    _codes,
    _days,
    _fen,
    _positions,
    _scaled_ints,
    _take,
    _valid,
)
from huifang.model import book_features as bf
from huifang.model.artifact import Artifact
from huifang.model.behaviour import probability_of_default
from huifang.model.binning import NUMERIC
from huifang.model.scorecard import CardFeature, Scorecard

if TYPE_CHECKING:
    from huifang.batch.runner import RunContext

PD = pa.decimal128(9, 6)
TOP_REASONS = 4
SCORE_SCHEMA = pa.schema(
    [
        ("loan_id", pa.int64()),
        ("points", pa.int32()),
        ("pd", PD),
        ("score_band", pa.string()),
        *((f"reason_{k}", pa.string()) for k in range(1, TOP_REASONS + 1)),
    ]
)


# --- inputs ---------------------------------------------------------------------------------


def load_model(model_dir: Path | None) -> Artifact | None:
    """The LATEST artifact under `model_dir` (None: no directory or no model trained)."""
    from huifang.model.artifact import load_artifact

    if model_dir is None:
        return None
    try:
        return load_artifact(model_dir)
    except FileNotFoundError:
        return None


def read(ctx: RunContext) -> None:
    """The read stage's part: the behaviour tables and the model artifact."""
    assert ctx.load_behaviour is not None
    ctx.behaviour = ctx.load_behaviour()
    ctx.model = load_model(ctx.model_dir) if ctx.behaviour is not None else None


def wanted(ctx: RunContext) -> bool:
    """Whether the stage will score (so the compute stage keeps the repayment history)."""
    return ctx.behaviour is not None and ctx.model is not None


def fingerprint(base: str, book: BehaviourBook, model: Artifact | None) -> str:
    """The run's fingerprint extended with the behaviour tables and the model's content."""
    from huifang.batch import risk_stage

    digest = risk_stage.tables_fingerprint(base, book.tables())
    card = json.dumps(model.card.to_json(), sort_keys=True) if model is not None else "none"
    version = model.version if model is not None else ""
    text = f"{digest}|{version}|{hashlib.sha256(card.encode()).hexdigest()}"
    return hashlib.sha256(text.encode()).hexdigest()


def split_history(states: pa.Table) -> tuple[pa.Table, pa.Table | None]:
    """The compute stage's states without the history columns, and those with the loan id."""
    if HISTORY_SCHEMA.names[0] not in states.column_names:
        return states, None
    history = states.select(["loan_id", *HISTORY_SCHEMA.names])
    return states.select(STATE_SCHEMA.names), history


# --- features -------------------------------------------------------------------------------


def _money(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """float(Decimal) of a money column (fen / 100 is the correctly rounded double) and
    whether each value is there."""
    return _fen(column) / 100.0, _valid(column)


def _ratio(num: np.ndarray, den: np.ndarray, den_ok: np.ndarray) -> np.ndarray:
    """`book_features._ratio`: NaN when the denominator is missing or zero."""
    ok = den_ok & (den != 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, num / np.where(ok, den, 1.0), np.nan)


def _elapsed_months(start: np.ndarray, on: int) -> np.ndarray:
    """`schedule.elapsed_months(start, on)` for day numbers."""
    ys, ms, ds = _civil_lookup(start)
    ye, me, de = _civil_lookup(np.array([on], np.int64))
    months = (ye[0] - ys) * 12 + (me[0] - ms)
    # add_months(start, months, start.day) lands in `on`'s month, on start's day clamped
    month_len = (date(int(ye[0]) + (me[0] == 12), int(me[0]) % 12 + 1, 1) - timedelta(days=1)).day
    beyond = np.minimum(ds, month_len) > de[0]
    months = np.where((months > 0) & beyond, months - 1, months)
    return np.where(start > on, 0, months)


def _elapsed_months_many(start: np.ndarray, on: int) -> np.ndarray:
    if len(start) == 0:
        return np.zeros(0, np.int64)
    return _elapsed_months(start, on)


def _bucket_rank(dpd: np.ndarray) -> np.ndarray:
    """The rank of `bucket_for(dpd)` (M0 = 0 … M6+ = 7)."""
    return np.where(dpd == 0, 0, np.minimum((dpd - 1) // 30 + 1, 7))


@dataclass(frozen=True)
class Features:
    """The model's features for the scored loans: numeric as float64 (NaN = missing),
    categorical as Arrow strings; `loan_id` in the states' order."""

    loan_id: np.ndarray
    numeric: dict[str, np.ndarray]
    categorical: dict[str, pa.Array]


def features(
    states: pa.Table,
    history: pa.Table,
    loans: pa.Table,
    risk: RiskBook,
    book: BehaviourBook,
    as_of: date,
) -> Features:
    """`book_features.features_as_of(h, as_of)` for each loan of `states` disbursed by as-of."""
    ta = (as_of - EPOCH).days
    ids_all = np.asarray(states.column("loan_id").to_numpy(), np.int64)
    lat, lfound = _positions(np.asarray(loans.column("loan_id").to_numpy(), np.int64), ids_all)
    if not lfound.all():
        raise ValueError("贷款状态中有不在输入中的贷款 / states for loans not in the inputs")
    d0_all = _days(_take(loans.column("disbursement_date"), lat, lfound))
    keep = np.flatnonzero(d0_all <= ta)
    ids = ids_all[keep]
    d0 = d0_all[keep]
    at = lat[keep]
    yes = np.ones(len(ids), bool)

    def loan_col(name: str) -> pa.Array:
        return _take(loans.column(name), at, yes)

    def state_col(name: str) -> pa.ChunkedArray | pa.Array:
        return states.column(name).take(pa.array(keep))

    hat, hfound = _positions(np.asarray(history.column("loan_id").to_numpy(), np.int64), ids)
    if not hfound.all():
        raise ValueError("缺少还款历史 / the compute stage kept no history for some loans")

    def hist(name: str) -> pa.Array:
        return _take(history.column(name), hat, hfound)

    def hist_ints(name: str) -> np.ndarray:
        return np.asarray(hist(name).to_numpy(zero_copy_only=False), np.int64)

    fat, ffound = _positions(np.asarray(risk.facts.column("loan_id").to_numpy(), np.int64), ids)
    bat, bfound = _positions(np.asarray(book.borrowers.column("loan_id").to_numpy(), np.int64), ids)

    principal, _ = _money(loan_col("principal"))
    term = np.asarray(loan_col("term_months").to_numpy(zero_copy_only=False), np.int64)
    rate = _scaled_ints(loan_col("annual_rate").cast(pa.decimal128(9, 6)), 6) / 1e6
    price, price_ok = _money(_take(risk.facts.column("vehicle_price"), fat, ffound))
    down, _ = _money(_take(risk.facts.column("down_payment"), fat, ffound))
    score_col = _take(risk.facts.column("credit_score"), fat, ffound)
    income, income_ok = _money(_take(book.borrowers.column("monthly_income"), bat, bfound))
    self_employed = pc.fill_null(_take(book.borrowers.column("self_employed"), bat, bfound), False)

    due_n = np.asarray(state_col("installments_due").to_numpy(zero_copy_only=False), np.int64)
    dpd = np.asarray(state_col("dpd").to_numpy(zero_copy_only=False), np.int64)
    worst6 = hist_ints("max_dpd_6m")
    worst12 = hist_ints("max_dpd_12m")
    last_late = hist("last_late_due")
    late_ok = _valid(last_late)
    since_late = np.full(len(ids), np.nan)
    if late_ok.any():
        since_late[late_ok] = _elapsed_months_many(_days(last_late)[late_ok], ta)

    def paid_to_due(paid: str, due: str) -> np.ndarray:
        p, _ = _money(hist(paid))
        d, _ = _money(hist(due))
        return _ratio(p, d, yes)

    balance, _ = _money(hist("book_balance"))
    regular, _ = _money(hist("regular_payment"))
    prepaid, _ = _money(hist("prepaid"))
    numeric: dict[str, np.ndarray] = {
        "loan_age_months": _elapsed_months_many(d0, ta).astype(float),
        "remaining_months": (term - due_n).astype(float),
        "term_months": term.astype(float),
        "annual_rate": rate,
        "down_payment_ratio": _ratio(down, price, price_ok),
        "balance_to_price": _ratio(balance, price, price_ok),
        "monthly_income": np.where(income_ok, income, np.nan),
        "installment_to_income": _ratio(regular, income, income_ok),
        "credit_score": np.where(
            _valid(score_col), np.asarray(pc.fill_null(score_col, 0).to_numpy(), float), np.nan
        ),
        "self_employed": np.asarray(self_employed.to_numpy(zero_copy_only=False), float),
        "dpd_now": dpd.astype(float),
        "max_dpd_6m": worst6.astype(float),
        "max_dpd_12m": worst12.astype(float),
        "worst_bucket_6m": _bucket_rank(worst6).astype(float),
        "worst_bucket_12m": _bucket_rank(worst12).astype(float),
        "late_installments_12m": hist_ints("late_installments_12m").astype(float),
        "months_since_last_late": since_late,
        "pay_to_due_3m": paid_to_due("paid_3m", "due_3m"),
        "pay_to_due_6m": paid_to_due("paid_6m", "due_6m"),
        "pay_to_due_12m": paid_to_due("paid_12m", "due_12m"),
        "prepayments": hist_ints("prepayments").astype(float),
        "prepaid_share": _ratio(prepaid, principal, yes),
        **_followup(ids, book, ta),
    }
    categorical = {
        name: _take(book.borrowers.column(column), bat, bfound)
        for name, column in (
            ("industry", "industry"),
            ("borrower_kind", "borrower_kind"),
            ("repayment_method", None),
            ("purpose", "purpose"),
            ("vehicle_condition", "vehicle_condition"),
        )
        if column is not None
    }
    categorical["repayment_method"] = loan_col("repayment_method")
    categorical["fuel_type"] = _take(risk.facts.column("fuel_type"), fat, ffound)
    return Features(ids, numeric, categorical)


def _owners(ids: np.ndarray, table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Each row's position among `ids` and whether its loan is one of them."""
    return _positions(ids, np.asarray(table.column("loan_id").to_numpy(), np.int64))


def _group_ends(sorted_keys: np.ndarray) -> np.ndarray:
    """Positions of the last row of each run of equal keys."""
    if len(sorted_keys) == 0:
        return np.zeros(0, np.int64)
    return np.flatnonzero(np.append(sorted_keys[1:] != sorted_keys[:-1], True))


def _followup(ids: np.ndarray, book: BehaviourBook, ta: int) -> dict[str, np.ndarray]:
    """`book_features.followup_features` at as-of for every loan of `ids` (sorted)."""
    n = len(ids)
    out: dict[str, np.ndarray] = {}
    # contactability: failed attempts in the 90 days, days since the last right-party contact
    at = book.attempts
    own, found = _owners(ids, at)
    on = _days(at.column("attempted_on"))
    talked = np.asarray(pc.fill_null(at.column("conversation"), False).to_numpy(), bool)
    rpc = np.asarray(pc.fill_null(at.column("right_party"), False).to_numpy(), bool)
    dated = found & _valid(at.column("attempted_on")) & (on <= ta)
    failed = dated & (on > ta - bf.CONTACT_WINDOW_DAYS) & ~talked
    out["failed_attempts_90d"] = np.bincount(own[failed], minlength=n).astype(float)
    hit = dated & rpc
    vown, vfound = _owners(ids, book.visits)
    von = _days(book.visits.column("completed_on"))
    vhit = vfound & _valid(book.visits.column("completed_on")) & (von <= ta)
    owner = np.concatenate([own[hit], vown[vhit]])
    day = np.concatenate([on[hit], von[vhit]])
    last = np.full(n, np.iinfo(np.int64).min, np.int64)
    order = np.lexsort((day, owner))
    ends = _group_ends(owner[order])
    last[owner[order][ends]] = day[order][ends]
    contacted = last != np.iinfo(np.int64).min
    out["days_since_rpc"] = np.where(contacted, ta - last, np.nan).astype(float)
    # risk events open at as-of that occurred in the 12 months, by group
    ev = book.events
    eown, efound = _owners(ids, ev)
    occurred = _days(ev.column("occurred_on"))
    gone = _days(ev.column("superseded_on"))
    still = ~_valid(ev.column("superseded_on")) | (gone > ta)
    open_ = efound & (occurred > ta - bf.EVENT_WINDOW_DAYS) & (occurred <= ta) & still
    kinds, code = _codes(ev.column("kind"))
    for name, group in bf.EVENT_GROUPS.items():
        member = np.array([k in group for k in kinds] + [False], bool)[code]
        rows = open_ & member
        out[name] = np.bincount(eown[rows], minlength=n).astype(float)
    # the latest stored valuation on or before as-of (by date, then id)
    va = book.valuations
    aown, afound = _owners(ids, va)
    vday = _days(va.column("valued_on"))
    ok = afound & _valid(va.column("valued_on")) & (vday <= ta)
    rows = np.flatnonzero(ok)
    vid = np.asarray(pc.fill_null(va.column("valuation_id"), 0).to_numpy(), np.int64)
    order = rows[np.lexsort((vid[rows], vday[rows], aown[rows]))]
    ends = order[_group_ends(aown[order])]
    latest = np.full(n, -1, np.int64)
    latest[aown[ends]] = ends
    has = latest >= 0
    pick = pa.array(np.where(has, latest, 0), pa.int64())
    if va.num_rows:
        ltv = pc.take(va.column("ltv").combine_chunks(), pick)
    else:
        ltv = pa.nulls(n, pa.decimal128(18, 4))
    ltv_ok = has & _valid(ltv)
    ltv_v = _scaled_ints(ltv, 4) / 1e4
    out["ltv_latest"] = np.where(ltv_ok, ltv_v, np.nan)
    from huifang.valuation_params import load_valuation_params

    ranks = {b.code: i for i, b in enumerate(load_valuation_params().ltv_bands.bands)}
    bands = va.column("ltv_band").take(pick) if va.num_rows else pa.nulls(n, pa.string())
    names, bcode = _codes(bands)
    rank = np.array([ranks.get(b, -1) for b in names] + [-1], np.int64)[bcode]
    out["ltv_band_rank"] = np.where(has & (rank >= 0), rank, np.nan).astype(float)
    return out


# --- points, PD, reasons --------------------------------------------------------------------


def _bins(feature: CardFeature, f: Features, threads: int) -> np.ndarray:
    """The feature's bin index per loan, by `FeatureBins.assign`'s rules (a category is
    looked up once per distinct value; a float column by the compiled scan)."""
    b = feature.bins
    if b.kind == NUMERIC:
        values: Any = f.numeric.get(feature.name)
        if values is None:  # a categorical column binned as numbers: coerce like assign
            return b.assign(f.categorical[feature.name].to_pandas()).astype(np.int16)
        x = np.ascontiguousarray(values, dtype=np.float64)
        out = np.empty(len(x), np.int16)
        splits = np.asarray(b.splits, dtype=np.float64)
        _in_threads(score_kernel.numeric_bins, len(x), threads, x, splits, b.missing_index, out)
        return out
    column = f.categorical.get(feature.name)
    if column is None:  # a numeric feature binned as categories
        return b.assign(f.numeric[feature.name]).astype(np.int16)
    names, code = _codes(column)
    lookup = b.assign(np.array(names, dtype=object)) if names else np.zeros(0, np.int64)
    return np.append(lookup, b.missing_index).astype(np.int16)[code]


@dataclass(frozen=True)
class Scores:
    loan_id: np.ndarray
    points: np.ndarray
    reasons: list[np.ndarray]  # TOP_REASONS arrays of feature index (−1: none)
    names: list[str]


def score(card: Scorecard, f: Features, threads: int | None = None) -> Scores:
    """Points of every loan (`Scorecard.score`) and its top reasons (`reasons_for`)."""
    threads = threads or usable_cpus()
    n = len(f.loan_id)
    names = [c.name for c in card.features]
    total = np.zeros(n, np.int64)
    # reasons_for sorts by (−shortfall, feature): rows in name order make the first of equal
    # shortfalls the alphabetically first feature
    by_name = sorted(range(len(names)), key=lambda k: names[k])
    shortfall = np.zeros((len(names), n), np.int32)
    for row, k in enumerate(by_name):
        feature = card.features[k]
        b = feature.bins
        populated = [p for j, p in enumerate(feature.points) if b.goods[j] + b.bads[j] > 0]
        best = max(populated) if populated else max(feature.points)
        points = np.asarray(feature.points, np.int64)
        idx = _bins(feature, f, threads)
        total += points[idx]
        shortfall[row] = np.maximum(best - points, 0).astype(np.int32)[idx]
    top = np.empty((TOP_REASONS, n), np.int64)
    _in_threads(score_kernel.top_reasons, n, threads, shortfall, top)
    order = np.asarray([*by_name, -1], np.int64)
    return Scores(f.loan_id, total, [order[r] for r in top], names)


def score_table(card: Scorecard, s: Scores) -> pa.Table:
    """SCORE_SCHEMA rows: points, PD (once per distinct score), band and reasons."""
    distinct, inverse = _small_unique(s.points)
    pd_units = np.array(
        [int(probability_of_default(card, int(p)).scaleb(6)) for p in distinct], np.int64
    )
    from huifang.batch.risk_stage import _unscaled

    pd = _unscaled(pd_units[inverse] if len(s.points) else np.zeros(0, np.int64), PD,
                   np.ones(len(s.points), bool))  # fmt: skip
    labels, band = score_bands(card, s.points)
    names = pa.array(s.names, pa.string())
    return pa.table(
        [
            pa.array(s.loan_id, pa.int64()),
            pa.array(s.points.astype(np.int32)),
            pd,
            pa.DictionaryArray.from_arrays(pa.array(band.astype(np.int32)), pa.array(labels)).cast(
                pa.string()
            ),
            *(
                pa.DictionaryArray.from_arrays(
                    pa.array(np.maximum(r, 0).astype(np.int32), mask=r < 0), names
                ).cast(pa.string())
                for r in s.reasons
            ),
        ],
        schema=SCORE_SCHEMA,
    )


def score_bands(card: Scorecard, points: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Bands of `pdo` points (the points that double the odds) aligned on the base score:
    with 600 at 50:1 and 20 to double, '580-599' holds odds of 25:1 up to 50:1."""
    width = max(round(card.scaling.pdo), 1)
    base = round(card.scaling.base)
    low = base + width * np.floor_divide(points - base, width)
    distinct, inverse = _small_unique(low)
    labels = [f"{int(lo)}-{int(lo) + width - 1}" for lo in distinct]
    return labels, inverse


def _small_unique(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`np.unique(values, return_inverse=True)` for integers of a small range (scores):
    by counting instead of sorting."""
    if len(values) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    lo, hi = int(values.min()), int(values.max())
    if hi - lo > 4 * len(values) + 100_000:  # a wide range: sorting is cheaper
        distinct, inverse = np.unique(values, return_inverse=True)
        return distinct.astype(np.int64), inverse.astype(np.int64)
    offset = values.astype(np.int64) - lo
    present = np.bincount(offset) > 0
    rank = np.cumsum(present) - 1
    return np.flatnonzero(present) + lo, rank[offset]


# --- the stage ------------------------------------------------------------------------------


def _delta(now: dict[str, int], before: dict[str, Any]) -> dict[str, int]:
    return {k: now.get(k, 0) - int(before.get(k, 0)) for k in sorted(set(now) | set(before))}


def behaviour_stage(ctx: RunContext) -> None:
    """Score every active loan (`ctx.extra['loan_scores']`) before the tier stage."""
    ctx.progress("behaviour", 0, 1)
    reason = None
    if ctx.behaviour is None:
        reason = "no borrower facts / 无借款人与回访输入"
    elif ctx.model is None:
        reason = "no behaviour model / 没有行为评分模型 (huifang model train)"
    elif ctx.risk is None:
        reason = "no loan facts / 无车辆与贷前信息输入"
    elif ctx.history is None or ctx.states is None or ctx.inputs is None:
        reason = "no repayment history / 计算阶段未保留还款历史"
    if reason is not None:
        ctx.summary["behaviour"] = {"skipped": reason}
        ctx.history = None
        ctx.progress("behaviour", 1, 1)
        return
    assert ctx.model is not None and ctx.behaviour is not None and ctx.risk is not None
    assert ctx.states is not None and ctx.inputs is not None and ctx.history is not None
    card = ctx.model.card
    f = features(ctx.states, ctx.history, ctx.inputs.loans, ctx.risk, ctx.behaviour, ctx.as_of)
    table = score_table(card, score(card, f))
    ctx.history = None
    ctx.extra["loan_scores"] = table
    vc = pc.value_counts(table.column("score_band")).to_pylist()
    bands = {str(r["values"]): int(r["counts"]) for r in sorted(vc, key=lambda r: r["values"])}
    section: dict[str, Any] = {
        "model_version": ctx.model.version,
        "scored": table.num_rows,
        "not_scored": ctx.states.num_rows - table.num_rows,
        "score_bands": bands,
    }
    if table.num_rows:
        pd = pc.mean(table.column("pd").cast(pa.float64())).as_py()
        section["mean_pd"] = str(Decimal(pd).quantize(Decimal("0.000001")))
    previous = ctx.previous.summary.get("behaviour") if ctx.previous is not None else None
    if isinstance(previous, dict) and "score_bands" in previous:
        section["deltas"] = {"score_bands": _delta(bands, previous["score_bands"])}
    ctx.summary["behaviour"] = section
    ctx.progress("behaviour", 1, 1)
