"""The nightly run's risk stages: collateral value and LTV, then the risk tier, per loan.

They run after `compute`, on the driver, over `ctx.states` (one row per active loan) and
the risk tables (`risk_inputs.RiskBook`), for both engines alike - so a Spark run and a
local run give the same rows by construction. The rules are the domain's:

* **collateral** (`huifang.domain.collateral.value_vehicle`, `ltv`, `ltv_band`):
  ``value = fen(price × base retention × mileage factor × condition factor)``, each factor
  rounded to 4 decimals half-up. Each loan is joined to its car and latest inspection (on
  or before as-of; of two on one day the later recorded) by sorted-key lookups; ages in
  months are exact integer fractions (whole months + days / that month's length); the
  retention curve and the mileage factor are evaluated over whole columns in float64 and
  rounded to the 4th decimal - except where the float is within 1e-7 of a rounding tie,
  where the domain's own Decimal steps decide (once per distinct curve and ages for the
  retention, `value_vehicle` for a mileage factor; `CollateralResult.fallbacks`). The
  value and the LTV (exposure / value, exposure = outstanding principal less held
  credit, as `services.risk.loan_state`) are integer arithmetic in fen, so exact.
  A car the domain refuses to value (no price, unknown fuel type, a used car with
  neither registration date nor model year, negative odometer) gets no value and no LTV,
  as `services.risk.revalue_book` reports it failed.
* **tier** (`huifang.domain.tiering.origination_tier`, `risk_tier`): one NumPy select per
  factor - origination (credit score, down payment; seasoned after 12 months when
  current), behaviour score, DPD, LTV, open alerts - and the worst wins; `risk_reason`
  is the code of the first reason the domain lists (worst first, factor order).

`tests/batch/test_risk_stage.py` checks every loan against those domain functions on
random books with the edge cases (no car, zero value, missing score, every threshold).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from huifang.batch.risk_inputs import RiskBook
from huifang.domain.collateral import (
    FUEL_TYPES,
    Inspection,
    RetentionCurve,
    ValuationParameters,
    VehicleCondition,
    VehicleFacts,
    value_vehicle,
)
from huifang.domain.tiering import RiskTier, RiskTierRules, TierThresholds

if TYPE_CHECKING:
    from huifang.batch.runner import RunContext

EPOCH = date(1970, 1, 1)
RATIO = pa.decimal128(9, 4)
LTV = pa.decimal128(18, 4)  # a car worth a fen makes any LTV possible
MONEY = pa.decimal128(18, 2)
TIE_GUARD = 1e-7  # in units of the 4th decimal: closer to a .5 tie → valued by the domain

COLLATERAL_SCHEMA = pa.schema(
    [
        ("loan_id", pa.int64()),
        ("vehicle_value", MONEY),
        ("exposure", MONEY),
        ("ltv", LTV),
        ("ltv_band", pa.string()),
        ("base_retention", RATIO),
        ("mileage_factor", RATIO),
        ("condition_factor", RATIO),
    ]
)

TIER_SCHEMA = pa.schema(
    [
        ("loan_id", pa.int64()),
        ("origination_tier", pa.string()),
        ("risk_tier", pa.string()),
        ("risk_reason", pa.string()),
        ("months_on_book", pa.int32()),
        ("open_alerts", pa.int32()),
    ]
)


# --- dates as integer month fractions --------------------------------------------------------


def _civil(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month, day) of days since 1970-01-01, in integer arithmetic (H. Hinnant's
    civil_from_days; numpy's datetime64 month conversion is ten times slower)."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    return yoe + era * 400 + (month <= 2), month, day


def _civil_lookup(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`_civil` through a table over the days in play (a few thousand distinct dates)."""
    if len(days) == 0:
        return _civil(days)
    lo, hi = int(days.min()), int(days.max())
    if hi - lo > 4 * len(days):
        return _civil(days)
    y, m, d = _civil(np.arange(lo, hi + 1, dtype=np.int64))
    at = days - lo
    return y[at], m[at], d[at]


def _month_start(index: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of the 1st of month `index` (= year × 12 + month − 1)."""
    year, month = index // 12, index % 12 + 1
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * np.where(month > 2, month - 3, month + 9) + 2) // 5
    return era * 146_097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719_468


def months_between(start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`collateral.months_between` as exact fractions (numerator, denominator) in days:
    whole months × that month's length + the remaining days, over that length."""
    ys, ms, ds = _civil_lookup(start)
    ye, me, _ = _civil_lookup(end)
    si = ys * 12 + ms - 1
    valid = end > start
    whole = np.where(valid, ye * 12 + me - 1 - si, 0)

    # month starts from a table over the months in play (a few hundred), not per row
    lo = int(si.min(initial=0))
    starts = _month_start(np.arange(lo, max(int((si + whole).max(initial=0)), lo) + 3))

    def add(k: np.ndarray) -> np.ndarray:  # collateral._add_months: same day, clamped
        first = starts[si + k - lo]
        return first + np.minimum(ds, starts[si + k + 1 - lo] - first) - 1

    base = add(whole)
    whole = whole - ((whole > 0) & (base > end))
    base = add(whole)
    span = add(whole + 1) - base
    num = np.where(valid, whole * span + (end - base), 0)
    return num, np.where(valid, span, 1)


def months_until(start: np.ndarray, end: int) -> tuple[np.ndarray, np.ndarray]:
    """`months_between(start, end)` for one end date: computed once per distinct start day
    (through a table over the days in play) and gathered."""
    if len(start) == 0:
        return months_between(start, start)
    lo, hi = int(start.min()), int(start.max())
    if hi - lo > 4 * len(start):
        return months_between(start, np.full(len(start), end, np.int64))
    days = np.arange(lo, hi + 1, dtype=np.int64)
    num, den = months_between(days, np.full(len(days), end, np.int64))
    return num[start - lo], den[start - lo]


def months_apart(start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`months_between` where most rows have start == end (0 months), computed only for
    the others."""
    num = np.zeros(len(start), np.int64)
    den = np.ones(len(start), np.int64)
    rows = np.flatnonzero(end > start)
    if len(rows):
        num[rows], den[rows] = months_between(start[rows], end[rows])
    return num, den


def _round4(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Half-up to the 4th decimal as integers (× 10,000), and where a tie is too close."""
    scaled = x * 10_000.0
    floor = np.floor(scaled)
    frac = scaled - floor
    return (floor + (frac >= 0.5)).astype(np.int64), np.abs(frac - 0.5) < TIE_GUARD


def _ratio4(value: Decimal) -> int:
    return int(value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP) * 10_000)


def _days(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    filled = pc.fill_null(column.cast(pa.int32()), 0)
    return np.asarray(filled.to_numpy(zero_copy_only=False), dtype=np.int64)


def _ints(column: pa.ChunkedArray | pa.Array, fill: int = 0) -> np.ndarray:
    return np.asarray(pc.fill_null(column, fill).to_numpy(zero_copy_only=False), dtype=np.int64)


def _valid(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.is_valid(column).to_numpy(zero_copy_only=False), dtype=bool)


def _fen(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """DECIMAL money as integer fen (nulls 0): the unscaled values at scale 2."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if column.type != MONEY:
        column = column.cast(pa.decimal128(38, 2)).cast(MONEY)
    return _scaled_ints(column, 2)


def _scaled_ints(column: pa.Array, scale: int) -> np.ndarray:
    """The unscaled integers of a DECIMAL(_, scale) column (nulls 0), without floats."""
    if len(column) == 0:
        return np.zeros(0, np.int64)
    column = pc.fill_null(column, pa.scalar(0, column.type))
    words = np.frombuffer(column.buffers()[1], dtype=np.int64)
    return words[2 * column.offset : 2 * (column.offset + len(column)) : 2].copy()


def _unscaled(values: np.ndarray, kind: pa.DataType, valid: np.ndarray) -> pa.Array:
    """Integers as a DECIMAL column of `kind` (unscaled values), nulls where not `valid`."""
    words = np.empty((len(values), 2), np.int64)
    words[:, 0] = values
    words[:, 1] = values >> 63
    validity = pa.array(valid, pa.bool_()).buffers()[1] if not valid.all() else None
    nulls = int((~valid).sum())
    return pa.Array.from_buffers(
        kind, len(values), [validity, pa.py_buffer(words.tobytes())], null_count=nulls
    )


def _money(fen: np.ndarray, valid: np.ndarray) -> pa.Array:
    return _unscaled(np.where(valid, fen, 0), MONEY, valid)


def _ratio_array(value: np.ndarray, valid: np.ndarray) -> pa.Array:
    return _unscaled(np.where(valid, value, 0), RATIO, valid)


def _codes(column: pa.ChunkedArray | pa.Array) -> tuple[list[Any], np.ndarray]:
    """Distinct values and each row's index into them (-1 for null)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    enc = column if pa.types.is_dictionary(column.type) else pc.dictionary_encode(column)
    codes = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False)
    return enc.dictionary.to_pylist(), np.asarray(codes, dtype=np.int64)


# --- collateral ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CollateralResult:
    table: pa.Table  # COLLATERAL_SCHEMA, one row per loan of the states, by loan id
    fallbacks: int  # loans valued by the domain because a factor sat on a rounding tie


def collateral(
    states: pa.Table,
    loans: pa.Table,
    risk: RiskBook,
    as_of: date,
    params: ValuationParameters,
) -> CollateralResult:
    """Value, exposure, LTV and band of each loan of `states` (see the module docstring)."""
    return _value(_car(states, loans, risk, as_of), as_of, params)


def _positions(keys: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each of `ids` is in `keys` (unique), and whether it is there at all."""
    if len(keys) == 0:
        return np.zeros(len(ids), np.int64), np.zeros(len(ids), bool)
    order = None if bool((np.diff(keys) > 0).all()) else np.argsort(keys, kind="stable")
    ordered = keys if order is None else keys[order]
    at = np.minimum(np.searchsorted(ordered, ids), len(ordered) - 1)
    found = ordered[at] == ids
    return (at if order is None else order[at]), found


def _take(column: pa.ChunkedArray, at: np.ndarray, found: np.ndarray) -> pa.Array:
    indices = pa.array(at, pa.int64(), mask=~found)
    return pc.take(column.combine_chunks(), indices)


def _car(states: pa.Table, loans: pa.Table, risk: RiskBook, as_of: date) -> pa.Table:
    """Each loan of `states` (in its order) with its car and latest inspection on or before
    as-of (of two on one day, the later recorded). Joined by sorted-key lookups: a DuckDB
    join measured slower here, converting the string columns back to Arrow."""
    ids = np.asarray(states.column("loan_id").to_numpy(), dtype=np.int64)
    yes = np.ones(len(ids), bool)
    at, found = _positions(np.asarray(loans.column("loan_id").to_numpy(), np.int64), ids)
    if not found.all():
        raise ValueError("贷款状态中有不在输入中的贷款 / states for loans not in the inputs")
    columns: dict[str, pa.Array] = {
        "loan_id": states.column("loan_id").combine_chunks(),
        "purchased_on": _take(loans.column("disbursement_date"), at, yes),
        "net_fen": pa.array(
            _fen(states.column("outstanding_principal")) - _fen(states.column("credit"))
        ),
    }
    facts = risk.facts
    at, found = _positions(np.asarray(facts.column("loan_id").to_numpy(), np.int64), ids)
    columns["has_car"] = pa.array(found)
    for name in ("vehicle_price", "used", "first_registration", "model_year", "mileage_km"):
        columns[name] = _take(facts.column(name), at, found)
    for name in ("fuel_type", "brand", "segment"):
        encoded = pc.dictionary_encode(facts.column(name).combine_chunks())
        columns[name] = pc.take(encoded, pa.array(at, pa.int64(), mask=~found))
    columns["used"] = pc.fill_null(columns["used"], False)
    insp = risk.inspections.filter(
        pc.less_equal(risk.inspections.column("inspected_on"), pa.scalar(as_of, pa.date32()))
    )
    loan = np.asarray(insp.column("loan_id").to_numpy(), np.int64)
    order = np.lexsort(
        (
            np.asarray(insp.column("inspection_id").to_numpy(), np.int64),
            _days(insp.column("inspected_on")),
            loan,
        )
    )
    last = order[np.append(loan[order][1:] != loan[order][:-1], True)] if len(order) else order
    at, found = _positions(loan[last], ids)
    at = last[at] if len(last) else at
    columns["inspected_on"] = _take(insp.column("inspected_on"), at, found)
    columns["condition"] = pc.take(
        pc.dictionary_encode(insp.column("condition").combine_chunks()),
        pa.array(at, pa.int64(), mask=~found),
    )
    columns["insp_km"] = _take(insp.column("mileage_km"), at, found)
    return pa.table(columns)


def _value(car: pa.Table, as_of: date, params: ValuationParameters) -> CollateralResult:
    n = car.num_rows
    ta = (as_of - EPOCH).days
    price = _fen(car.column("vehicle_price"))
    purchased = _days(car.column("purchased_on"))
    used = np.asarray(car.column("used").to_numpy(zero_copy_only=False), dtype=bool)
    first_reg = _days(car.column("first_registration"))
    has_reg = _valid(car.column("first_registration"))
    model_year = _ints(car.column("model_year"), 2000)
    has_year = _valid(car.column("model_year"))
    km0 = _ints(car.column("mileage_km"))
    has_km0 = _valid(car.column("mileage_km"))
    inspected = _valid(car.column("inspected_on"))
    insp_on = _days(car.column("inspected_on"))
    insp_km = _ints(car.column("insp_km"))
    has_insp_km = _valid(car.column("insp_km"))
    fuels, fuel_code = _codes(car.column("fuel_type"))
    conds, cond_code = _codes(car.column("condition"))
    fuel_ok = np.array([f in FUEL_TYPES for f in fuels] + [False], dtype=bool)
    cond_ok = np.array([c in _CONDITIONS for c in conds] + [True], dtype=bool)

    ok = np.asarray(car.column("has_car").to_numpy(zero_copy_only=False), dtype=bool)
    ok &= _valid(car.column("vehicle_price")) & (price > 0) & fuel_ok[fuel_code]
    ok &= cond_ok[cond_code]
    ok &= ~has_km0 | (km0 >= 0)
    ok &= ~(inspected & has_insp_km) | (insp_km >= 0)
    ok &= ~used | has_reg | has_year
    ok &= ta >= purchased

    # age origin: first registration; a used car without one, 1 July of its model year
    mid_year = _month_start(np.clip(model_year, 1, 9999) * 12 + 6)
    origin = np.where(has_reg, first_reg, np.where(used & has_year, mid_year, purchased))
    origin = np.minimum(origin, purchased)
    a_num, a_den = months_until(origin, ta)
    p_num, p_den = months_apart(origin, purchased)
    age = a_num / a_den
    age_p = p_num / p_den

    # curve: segment as recorded, else (new cars) by price band, else the default curve
    seg_keys = sorted(params.segments)
    texts, text_code = _codes(car.column("segment"))
    resolved = [params.resolve_segment(t) for t in texts]
    text_seg = np.array([seg_keys.index(r) if r else -1 for r in resolved] + [-1], np.int64)
    seg = text_seg[text_code]
    bands = params.price_bands
    if bands:
        band_seg = np.full(n, seg_keys.index(bands[-1].segment), np.int64)
        for band in reversed(bands[:-1]):
            assert band.below is not None
            limit = int(band.below * 100)
            band_seg = np.where(price < limit, seg_keys.index(band.segment), band_seg)
        seg = np.where((seg < 0) & ~used, band_seg, seg)
    brands, brand_code = _codes(car.column("brand"))
    classes = sorted(params.brand_multipliers)
    brand_class = np.array(
        [classes.index(params.brand_class(b or "")[0]) for b in [*brands, None]], np.int64
    )[brand_code]
    combo = (fuel_code * (len(seg_keys) + 1) + seg + 1) * len(classes) + brand_class
    combo = np.where(ok, combo, -1)
    retention = np.ones(n)
    retention_p = np.ones(n)
    # group rows by curve: a stable sort of small integers (numpy's radix sort)
    small = np.int16 if int(combo.max(initial=0)) < 2**15 else np.int64
    order = np.argsort(combo.astype(small), kind="stable")
    ordered = combo[order]
    cuts = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
    starts = np.concatenate([[0], cuts, [len(combo)]]).astype(np.int64)
    keys = ordered[starts[:-1]] if len(combo) else np.zeros(0, np.int64)
    curves: dict[int, RetentionCurve] = {}
    for g, key in enumerate(keys.tolist()):
        if key < 0:
            continue
        rest, cls = divmod(key, len(classes))
        f, s1 = divmod(rest, len(seg_keys) + 1)
        _, curve = params.curve_for(fuels[f], seg_keys[s1 - 1] if s1 else None)
        curve = curve.scaled(params.brand_multipliers[classes[cls]])
        curves[key] = curve
        xs = np.array([float(m) for m, _ in curve.points])
        ys = np.array([float(r) for _, r in curve.points])
        idx = order[starts[g] : starts[g + 1]]
        retention[idx] = np.interp(age[idx], xs, ys)
        retention_p[idx] = np.interp(age_p[idx], xs, ys)
    base, base_tie = _round4(retention / retention_p)
    # a ratio on a rounding tie (whole-month ages give exact 5-decimal interpolations):
    # the domain's own Decimal steps, once per distinct (curve, origin, purchase)
    tie_rows = np.flatnonzero(ok & base_tie)
    if len(tie_rows):
        parts = (combo, a_num, a_den, p_num, p_den)
        tie_keys = np.stack([x[tie_rows] for x in parts], axis=1)
        distinct, back = np.unique(tie_keys, axis=0, return_inverse=True)
        exact = np.array(
            [_domain_base(curves[k], an, ad, pn, pd) for k, an, ad, pn, pd in distinct.tolist()],
            dtype=np.int64,
        )
        base[tie_rows] = exact[back.reshape(-1)]

    # mileage: latest reading (inspection, else purchase), else the norm (factor 1)
    rule = params.mileage
    reading = inspected & has_insp_km
    k_read = np.where(reading, insp_km, km0).astype(np.float64)
    t_read = np.where(reading, insp_on, purchased)
    has_reading = reading | has_km0
    r_num, r_den = months_apart(origin, t_read)
    by_rate = (r_num >= rule.min_months_for_rate * r_den) & (r_num > 0)
    per_month = rule.norm_km_per_year / 12.0
    r_age = r_num / r_den
    estimate = np.where(
        by_rate,
        k_read * age / np.where(by_rate, r_age, 1.0),
        k_read - per_month * r_age + per_month * age,
    )
    f_now = np.where(has_reading, _mileage_factor(estimate, age, a_num == 0, rule), 1.0)
    f_then = np.where(
        has_km0, _mileage_factor(km0.astype(np.float64), age_p, p_num == 0, rule), 1.0
    )
    mileage, mileage_tie = _round4(f_now / f_then)

    good = params.condition_factors[VehicleCondition.GOOD]
    cond_table = {c.value: _ratio4(params.condition_factors[c] / good) for c in VehicleCondition}
    condition = np.array(
        [cond_table.get(c, 0) for c in conds] + [cond_table["good"]], dtype=np.int64
    )[cond_code]

    # a mileage factor on a rounding tie: the domain values the car
    tie = ok & mileage_tie
    rows = np.flatnonzero(tie)
    for i, row in zip(rows.tolist(), car.take(rows).to_pylist(), strict=True):
        v = _domain_valuation(row, as_of, params)
        base[i] = _ratio4(v.base_retention)
        mileage[i] = _ratio4(v.mileage_factor)
    tie = tie | (ok & base_tie)

    value = np.where(ok, _fen_product(price, base * mileage * condition), 0)
    exposure = np.maximum(np.asarray(car.column("net_fen").to_numpy(), np.int64), 0)
    has_value = ok & (value > 0)
    safe = np.where(has_value, value, 1)
    ltv = (2 * exposure * 10_000 + safe) // (2 * safe)
    band_codes = np.array([b.code for b in params.ltv_bands.bands], dtype=object)
    band_idx = np.full(n, len(band_codes) - 1, np.int64)
    for k in range(len(band_codes) - 2, -1, -1):
        upper = params.ltv_bands.bands[k].upper
        assert upper is not None
        band_idx = np.where(ltv <= _ratio4(upper), k, band_idx)
    table = pa.table(
        [
            car.column("loan_id"),
            _money(value, ok),
            _money(exposure, np.ones(n, bool)),
            _unscaled(np.where(has_value, ltv, 0), LTV, has_value),
            pa.array(band_codes[band_idx], pa.string(), mask=~has_value),
            _ratio_array(base, ok),
            _ratio_array(mileage, ok),
            _ratio_array(condition, ok),
        ],
        schema=COLLATERAL_SCHEMA,
    )
    return CollateralResult(table, int(tie.sum()))


_CONDITIONS = frozenset(c.value for c in VehicleCondition)


def _mileage_factor(km: np.ndarray, age: np.ndarray, new: np.ndarray, rule: Any) -> np.ndarray:
    """`MileageRule.factor` over columns (continuous in km, so float is safe off ties)."""
    expected = rule.norm_km_per_year * age / 12.0
    excess = km - expected
    penalty = float(rule.penalty_per_10000_km)
    above = np.maximum(float(rule.min_factor), 1.0 - penalty * excess / 10_000.0)
    share = np.where(new, 0.0, -excess / np.where(new, 1.0, expected))
    below = 1.0 + np.minimum(float(rule.max_bonus), float(rule.bonus_rate) * share)
    return np.where(excess > 0, above, np.where(new, 1.0, below))


def _fen_product(price: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """fen(price × factors / 10^12), half-up, in int64 without overflow (factors < 2·10^12)."""
    high, low = np.divmod(factors, 1_000_000)
    a = price * high  # × 10^6
    b = price * low
    q, r = np.divmod(a, 1_000_000)
    return q + (r * 1_000_000 + b + 500_000_000_000) // 1_000_000_000_000


def _domain_base(curve: RetentionCurve, a_num: int, a_den: int, p_num: int, p_den: int) -> int:
    """`value_vehicle`'s base retention in the domain's own Decimal steps: ages as
    `collateral.months_between` forms them (whole months + Decimal(days) / month length)."""

    def months(num: int, den: int) -> Decimal:
        return num // den + Decimal(num % den) / den if num else Decimal(0)

    return _ratio4(curve.at(months(a_num, a_den)) / curve.at(months(p_num, p_den)))


def _domain_valuation(row: dict[str, Any], as_of: date, params: ValuationParameters) -> Any:
    inspection = None
    if row["inspected_on"] is not None:
        inspection = Inspection(
            inspected_on=row["inspected_on"],
            inspector="batch",
            condition=VehicleCondition(row["condition"]),
            mileage_km=row["insp_km"],
        )
    facts = VehicleFacts(
        price=row["vehicle_price"],
        purchased_on=row["purchased_on"],
        fuel_type=row["fuel_type"],
        brand=row["brand"] or "",
        segment=row["segment"],
        used=row["used"],
        first_registration=row["first_registration"],
        model_year=row["model_year"],
        mileage_km=row["mileage_km"],
    )
    return value_vehicle(facts, as_of, params, inspection)


# --- tiers -----------------------------------------------------------------------------------


_TIERS = ("low", "medium", "high")
_REASONS = (
    "origination",
    "origination-seasoned",
    "behaviour-missing",
    "behaviour-pd-ok",
    "behaviour-pd-medium",
    "behaviour-pd-high",
    "behaviour-points-ok",
    "behaviour-points-medium",
    "behaviour-points-high",
    "dpd-none",
    "dpd-medium",
    "dpd-high",
    "ltv-ok",
    "ltv-medium",
    "ltv-high",
    "alerts-none",
    "alerts-low",
    "alerts-medium",
    "alerts-high",
    "alerts-many",
)


def _rank(tier: RiskTier) -> int:
    return tier.rank


def _scaled(value: Decimal, scale: int) -> int:
    scaled = value * 10**scale
    if scaled != scaled.to_integral_value():
        raise ValueError(f"阈值 {value} 超过 {scale} 位小数 / threshold finer than 10^-{scale}")
    return int(scaled)


def _strings(index: np.ndarray, names: tuple[str, ...]) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(index.astype(np.int32)), pa.array(names)).cast(
        pa.string()
    )


def tiers(
    states: pa.Table,
    loans: pa.Table,
    risk: RiskBook,
    collateral_table: pa.Table,
    as_of: date,
    origination: TierThresholds,
    rules: RiskTierRules,
    behaviour: pa.Table | None = None,
) -> pa.Table:
    """Origination and risk tier of each loan of `states` that the domain can tier.

    `behaviour` (loan_id, pd DECIMAL, points INTEGER) is the behaviour model's output;
    without it every loan has no behaviour score. A loan whose down payment or price the
    domain refuses (no price, down payment above the price) or with an alert of unknown
    severity gets no row (`services.risk.assess_tiers` reports it failed)."""
    ids = np.asarray(states.column("loan_id").to_numpy(), np.int64)
    at, found = _positions(np.asarray(risk.facts.column("loan_id").to_numpy(), np.int64), ids)
    lat, _ = _positions(np.asarray(loans.column("loan_id").to_numpy(), np.int64), ids)
    d0 = _days(_take(loans.column("disbursement_date"), lat, np.ones(len(ids), bool)))
    mob_num, mob_den = months_until(d0, (as_of - EPOCH).days)
    coll_at, coll_found = _positions(
        np.asarray(collateral_table.column("loan_id").to_numpy(), np.int64), ids
    )
    ltv = _take(collateral_table.column("ltv"), coll_at, coll_found)
    facts = risk.facts
    columns: dict[str, Any] = {
        "loan_id": pa.array(ids),
        "dpd": states.column("dpd").combine_chunks(),
        "mob": pa.array(mob_num // mob_den),
        "score": _take(facts.column("credit_score"), at, found),
        "vp": pa.array(_fen(_take(facts.column("vehicle_price"), at, found))),
        "vp_ok": pc.is_valid(_take(facts.column("vehicle_price"), at, found)),
        "dp": pa.array(_fen(_take(facts.column("down_payment"), at, found))),
        "dp_ok": pc.is_valid(_take(facts.column("down_payment"), at, found)),
        "ltv": pa.array(_scaled_ints(ltv, 4), pa.int64(), mask=~_valid(ltv)),
    }
    if behaviour is not None and behaviour.num_rows:
        bat, bfound = _positions(np.asarray(behaviour.column("loan_id").to_numpy(), np.int64), ids)
        columns["pd"] = _take(behaviour.column("pd"), bat, bfound)
        columns["points"] = _take(behaviour.column("points"), bat, bfound)
    else:
        columns["pd"] = pa.nulls(len(ids), pa.decimal128(18, 6))
        columns["points"] = pa.nulls(len(ids), pa.int32())
    # open alerts first seen by as-of: count, worst severity's tier, unknown severities
    alerts = risk.open_alerts.filter(
        pc.less_equal(risk.open_alerts.column("first_seen_on"), pa.scalar(as_of, pa.date32()))
    )
    sev_names, sev_code = _codes(alerts.column("severity"))
    sev_rank = np.array(
        [_rank(rules.severity_tiers[v]) if v in rules.severity_tiers else -1 for v in sev_names]
        + [-1],
        np.int64,
    )[sev_code]
    a_at, a_found = _positions(ids, np.asarray(alerts.column("loan_id").to_numpy(), np.int64))
    n = len(ids)
    n_alerts = np.bincount(a_at[a_found], minlength=n).astype(np.int64)
    worst = np.zeros(n, np.int64)
    np.maximum.at(worst, a_at[a_found], sev_rank[a_found])
    unknown = np.zeros(n, bool)
    unknown[a_at[a_found & (sev_rank < 0)]] = True

    dpd = np.asarray(columns["dpd"].to_numpy(zero_copy_only=False), np.int64)
    mob = mob_num // mob_den
    score = _ints(columns["score"], 0)
    has_score = _valid(columns["score"])
    vp = np.asarray(columns["vp"].to_numpy(), np.int64)
    dp = np.asarray(columns["dp"].to_numpy(), np.int64)
    dp_ok = found & columns["vp_ok"].to_numpy(zero_copy_only=False)
    dp_ok &= columns["dp_ok"].to_numpy(zero_copy_only=False) & (vp > 0) & (dp >= 0)
    dp_ok &= dp <= vp
    dpr = (2 * dp * 10_000 + vp) // (2 * np.where(dp_ok, vp, 1))
    s_rank = np.where(
        ~has_score,
        _rank(origination.missing_score_tier),
        np.where(
            score < origination.high_score_below,
            2,
            np.where(score < origination.medium_score_below, 1, 0),
        ),
    )
    d_rank = np.where(
        dpr < _ratio4(origination.high_down_payment_below),
        2,
        np.where(dpr < _ratio4(origination.medium_down_payment_below), 1, 0),
    )
    o_rank = np.maximum(s_rank, d_rank)
    seasoned = (o_rank > 0) & (mob >= rules.seasoning_months) & (dpd == 0)
    r_orig = o_rank - seasoned
    pd_col = columns["pd"].cast(pa.decimal128(18, 6))
    has_pd = _valid(pd_col)
    pd = _scaled_ints(pd_col, 6)
    pts = _ints(columns["points"], 0)
    has_pts = _valid(columns["points"])
    r_pd = np.where(
        pd >= _scaled(rules.pd_high_at, 6), 2, np.where(pd >= _scaled(rules.pd_medium_at, 6), 1, 0)
    )
    r_pts = np.where(
        pts < rules.points_high_below, 2, np.where(pts < rules.points_medium_below, 1, 0)
    )
    r_beh = np.where(has_pd, r_pd, np.where(has_pts, r_pts, _rank(rules.missing_behaviour_tier)))
    r_dpd = np.where(dpd >= rules.dpd_high_from, 2, np.where(dpd >= rules.dpd_medium_from, 1, 0))
    ltv_v = _ints(columns["ltv"])
    has_ltv = _valid(columns["ltv"])
    r_ltv = np.where(
        ltv_v > _ratio4(rules.ltv_high_above),
        2,
        np.where(ltv_v > _ratio4(rules.ltv_medium_above), 1, 0),
    )
    many = n_alerts >= rules.open_alerts_high_from
    r_alert = np.where(n_alerts == 0, 0, np.where(many, 2, worst))
    r_tier = np.maximum.reduce([r_orig, r_beh, r_dpd, np.where(has_ltv, r_ltv, 0), r_alert])
    # the first reason the domain lists: worst first, then in factor order
    reason = np.select(
        [
            r_orig == r_tier,
            r_beh == r_tier,
            r_dpd == r_tier,
            has_ltv & (r_ltv == r_tier),
        ],
        [
            seasoned.astype(np.int64),
            np.where(has_pd, 3 + r_pd, np.where(has_pts, 6 + r_pts, 2)),
            9 + r_dpd,
            12 + r_ltv,
        ],
        default=np.where(n_alerts == 0, 15, np.where(many, 19, 16 + worst)),
    )
    keep = dp_ok & ~unknown & (~has_score | (score >= 0))
    table = pa.table(
        {
            "loan_id": pa.array(ids[keep]),
            "origination_tier": _strings(o_rank[keep], _TIERS),
            "risk_tier": _strings(r_tier[keep], _TIERS),
            "risk_reason": _strings(reason[keep], _REASONS),
            "months_on_book": pa.array(mob[keep].astype(np.int32)),
            "open_alerts": pa.array(n_alerts[keep].astype(np.int32)),
        }
    )
    return table.cast(TIER_SCHEMA)


# --- the stages ------------------------------------------------------------------------------


def _counts(table: pa.Table, column: str) -> dict[str, int]:
    col = table.column(column)
    vc = pc.value_counts(col.drop_null() if hasattr(col, "drop_null") else col)
    return {str(r["values"]): int(r["counts"]) for r in vc.to_pylist()}


def _delta(now: dict[str, int], before: dict[str, Any]) -> dict[str, int]:
    return {k: now.get(k, 0) - int(before.get(k, 0)) for k in sorted(set(now) | set(before))}


def _previous_section(ctx: RunContext, key: str) -> dict[str, Any] | None:
    if ctx.previous is None:
        return None
    section = ctx.previous.summary.get(key)
    return section if isinstance(section, dict) else None


def collateral_stage(ctx: RunContext) -> None:
    """Value every active loan's car and its LTV (`ctx.extra['loan_collateral']`)."""
    from huifang.valuation_params import load_valuation_params

    ctx.progress("collateral", 0, 1)
    if ctx.risk is None or ctx.states is None or ctx.inputs is None:
        ctx.summary["collateral"] = {"skipped": "no loan facts / 无车辆与贷前信息输入"}
        ctx.progress("collateral", 1, 1)
        return
    params = load_valuation_params()
    result = collateral(ctx.states, ctx.inputs.loans, ctx.risk, ctx.as_of, params)
    ctx.extra["loan_collateral"] = result.table
    bands = _counts(result.table, "ltv_band")
    section: dict[str, Any] = {
        "params_version": params.version,
        "valued": int(result.table.num_rows - result.table.column("vehicle_value").null_count),
        "not_valued": int(result.table.column("vehicle_value").null_count),
        "no_ltv": int(result.table.column("ltv").null_count),
        "ltv_bands": bands,
        "domain_fallbacks": result.fallbacks,
    }
    before = _previous_section(ctx, "collateral")
    if before is not None and "ltv_bands" in before:
        section["deltas"] = {"ltv_bands": _delta(bands, before["ltv_bands"])}
    ctx.summary["collateral"] = section
    ctx.progress("collateral", 1, 1)


def tier_stage(ctx: RunContext) -> None:
    """Origination and risk tier of every active loan (`ctx.extra['loan_tiers']`)."""
    from huifang.risk_rules import load_tier_settings

    ctx.progress("tier", 0, 1)
    coll = ctx.extra.get("loan_collateral")
    if ctx.risk is None or ctx.states is None or ctx.inputs is None or coll is None:
        ctx.summary["tiers"] = {"skipped": "no loan facts / 无车辆与贷前信息输入"}
        ctx.progress("tier", 1, 1)
        return
    settings = load_tier_settings()
    table = tiers(
        ctx.states,
        ctx.inputs.loans,
        ctx.risk,
        coll,
        ctx.as_of,
        settings.origination,
        settings.risk,
        behaviour=ctx.extra.get("loan_scores"),
    )
    ctx.extra["loan_tiers"] = table
    by_tier = _counts(table, "risk_tier")
    section: dict[str, Any] = {
        "settings_version": settings.version,
        "risk": by_tier,
        "origination": _counts(table, "origination_tier"),
        "not_tiered": int(ctx.states.num_rows - table.num_rows),
    }
    before = _previous_section(ctx, "tiers")
    if before is not None and "risk" in before:
        section["deltas"] = {"risk": _delta(by_tier, before["risk"])}
    ctx.summary["tiers"] = section
    ctx.progress("tier", 1, 1)


def table_digests(tables: Mapping[str, pa.Table]) -> list[tuple[str, tuple[Any, ...]]]:
    """Each named table's order-independent content digest (row count, XOR and sum of the
    rows' hashes), for the fingerprints of the stages' inputs."""
    con = duckdb.connect()
    try:
        parts = []
        for name, table in tables.items():
            con.register("t_in", table)
            parts.append(
                (
                    name,
                    con.execute(
                        "SELECT count(*), bit_xor(hash(t)), sum(hash(t) % 1000003) FROM t_in t"
                    ).fetchall()[0],
                )
            )
            con.unregister("t_in")
    finally:
        con.close()
    return parts


def tables_fingerprint(base: str, tables: Mapping[str, pa.Table]) -> str:
    """The run's fingerprint extended with the tables' content (order-independent)."""
    import hashlib

    return hashlib.sha256(f"{base}|{table_digests(tables)}".encode()).hexdigest()


def fingerprint(base: str, risk: RiskBook) -> str:
    """The run's fingerprint extended with the risk tables' content."""
    return tables_fingerprint(base, risk.tables())
