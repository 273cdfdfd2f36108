"""Collateral: what the financed vehicle is worth today, loan-to-value, LTV bands and alerts.

Why: the car is the lender's security (抵押物). A loan whose principal outgrows the car's resale
value is riskier whatever the borrower's payment record says, and new-energy vehicles (NEVs)
lose value much faster than combustion cars, so the book has to be revalued as of any date.

The model (parameters come from a versioned data file, see `huifang.valuation_params` and
docs/collateral.md)::

    value = price × base retention × mileage factor × condition factor        (each to 4 dp)

* **Base retention** — the share of the new price a car keeps at a given age, read off a
  piecewise-linear curve through yearly anchor points (0, 12, 24, 36 … months). There is one
  curve per fuel class (combustion ``ice``, plug-in/range-extender ``plugin``, battery ``bev``)
  and segment (紧凑型SUV, MPV …), falling back to the class's ``default`` curve. A brand class
  (retention leader, premium, mainstream, economy, NEV-only brand) multiplies every anchor
  after month 0, capped so the curve never rises.
* **Age** counts from first registration (初次登记日期), or from the middle of the model year
  when a used car has no registration date, never from our loan: a three-year-old used car
  bought yesterday is three years old.
* **Relative to the purchase**: the price paid is the market's value of that car on the day
  of purchase, with its age and odometer then. The model therefore rolls the price forward
  by the ratio of model values, ``R(age now) / R(age at purchase)`` and likewise for the
  mileage factor. For a new car the denominators are 1; for a used car this keeps the
  depreciation it had before we financed it from being charged twice.
* **Mileage factor** — above the norm (15,000 km a year, the convention of the published
  retention tables) each 10,000 km costs a set percentage, down to a floor; below the norm a
  small bonus proportional to the share of the norm not driven, capped. Mileage, when no
  reading exists, is the norm × age; after a reading (an inspection or the odometer at
  purchase) it is extrapolated at the average rate observed since first registration (at
  the norm when the car was too young at the reading for a rate to mean anything).
* **Condition factor** — from the latest inspection on or before the valuation date
  (excellent … total-loss), relative to the condition at purchase (``good`` unless the
  pre-loan appraisal said otherwise).

Every factor is non-increasing in age, mileage and worse condition, so a later valuation of
the same car with the same information is never higher (tests check this with Hypothesis).
"""

from __future__ import annotations

import calendar
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from itertools import pairwise

from huifang.domain.lending_rules import NEV_FUEL_TYPES, is_nev
from huifang.domain.money import fen

ICE_FUEL_TYPES = frozenset({"petrol", "diesel", "hybrid"})
FUEL_TYPES = ICE_FUEL_TYPES | NEV_FUEL_TYPES
DEFAULT_CURVE = "default"
RATIO = Decimal("0.0001")  # ratios (retention, factors, LTV) are kept to 4 decimals
MAX_FACTOR = Decimal("1.2")
_ONE = Decimal(1)
_TWELVE = Decimal(12)
_TEN_THOUSAND = Decimal(10000)


def _ratio(value: Decimal) -> Decimal:
    return value.quantize(RATIO, rounding=ROUND_HALF_UP)


def _pct(value: Decimal) -> str:
    return f"{(value * 100).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}%"


def _check_factor(name: str, value: Decimal) -> None:
    """Multipliers and factors must lie in (0, 1.2]: zero or negative values are data errors,
    and nothing we know of lifts a car's value by more than a fifth over the curve."""
    if not (Decimal(0) < value <= MAX_FACTOR):
        raise ValueError(f"{name} 必须在 (0, 1.2] 之内: {value}")


def normalize_name(text: str) -> str:
    """Fold a brand or segment name for matching: NFKC (full-width → half-width), case-fold,
    and drop spaces, hyphens, underscores and middle dots, so '紧凑型 SUV', '紧凑型SUV' and
    'compact-suv' compare by their letters only."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if not ch.isspace() and ch not in "-_·・")


# --- conditions and inspections ------------------------------------------------------------


class VehicleCondition(StrEnum):
    """The inspector's overall grade of the car, best to worst (车况)."""

    EXCELLENT = "excellent"
    GOOD = "good"
    FAIR = "fair"
    POOR = "poor"
    DAMAGED = "damaged"
    TOTAL_LOSS = "total-loss"

    @property
    def zh(self) -> str:
        return _CONDITION_ZH[self]

    @property
    def rank(self) -> int:
        """0 for excellent … 5 for total loss."""
        return _CONDITION_ORDER.index(self)


_CONDITION_ORDER = tuple(VehicleCondition)
_CONDITION_ZH = {
    VehicleCondition.EXCELLENT: "优秀",
    VehicleCondition.GOOD: "良好",
    VehicleCondition.FAIR: "一般",
    VehicleCondition.POOR: "较差",
    VehicleCondition.DAMAGED: "受损",
    VehicleCondition.TOTAL_LOSS: "全损",
}


@dataclass(frozen=True)
class Inspection:
    """A record of one look at the car (车辆检查): who, when, odometer, grade, evidence.

    `photos` are references (paths relative to the photo store), never image bytes: the
    domain keeps the record, an adapter keeps the files. `mileage_km` is None when the
    inspector could not read the odometer; the condition still counts.
    """

    inspected_on: date
    inspector: str
    condition: VehicleCondition
    mileage_km: int | None = None
    photos: tuple[str, ...] = ()
    notes: str = ""

    def __post_init__(self) -> None:
        if not self.inspector.strip():
            raise ValueError("检查记录必须有检查人")
        if self.mileage_km is not None and self.mileage_km < 0:
            raise ValueError(f"里程不能为负: {self.mileage_km}")
        if any(not p.strip() for p in self.photos):
            raise ValueError("照片路径不能为空")


def latest_inspection(inspections: Iterable[Inspection], as_of: date) -> Inspection | None:
    """The latest inspection on or before `as_of` (of two on the same day, the later listed),
    or None: a valuation as of a past date must not see what was found afterwards."""
    found: Inspection | None = None
    for item in inspections:
        if item.inspected_on <= as_of and (
            found is None or item.inspected_on >= found.inspected_on
        ):
            found = item
    return found


# --- parameters ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RetentionCurve:
    """Anchor points (age in months, share of the new price kept), interpolated linearly.

    The first anchor is at month 0; months increase; retention never increases with age
    (validated, so that an older car is never worth more). Beyond the last anchor the last
    value holds.
    """

    points: tuple[tuple[int, Decimal], ...]

    def __post_init__(self) -> None:
        if len(self.points) < 2 or self.points[0][0] != 0:
            raise ValueError("残值曲线至少两个锚点, 且第一个锚点在第 0 个月")
        for (m1, r1), (m2, r2) in pairwise(self.points):
            if m2 <= m1:
                raise ValueError(f"残值曲线锚点月份必须递增: {m1} → {m2}")
            if r2 > r1:
                raise ValueError(f"残值曲线不得上升: 第 {m1} 月 {r1} → 第 {m2} 月 {r2}")
        for _, r in self.points:
            _check_factor("残值率", r)

    def at(self, months: Decimal) -> Decimal:
        """Retention at an age in months (fractional months allowed)."""
        if months <= 0:
            return self.points[0][1]
        for (m1, r1), (m2, r2) in pairwise(self.points):
            if months <= m2:
                return r1 + (r2 - r1) * (months - m1) / (m2 - m1)
        return self.points[-1][1]

    def scaled(self, multiplier: Decimal) -> RetentionCurve:
        """The curve with every anchor after month 0 multiplied, capped at the month-0 value
        so that a brand multiplier above 1 cannot make the curve rise."""
        if multiplier == _ONE:
            return self
        start = self.points[0][1]
        return RetentionCurve(
            (self.points[0], *((m, min(start, r * multiplier)) for m, r in self.points[1:]))
        )


@dataclass(frozen=True)
class MileageRule:
    """How odometer distance above or below the norm moves the value.

    Defaults: norm 15,000 km a year (the convention of the CADA / J.D. Power retention
    tables); −2.5 % per 10,000 km above the norm, floor 60 %; a bonus of 5 % × the share of
    the norm not driven, capped at +3 %; a rate is read from a reading only when the car was
    at least 6 months old at it.
    """

    norm_km_per_year: int = 15000
    penalty_per_10000_km: Decimal = Decimal("0.025")
    min_factor: Decimal = Decimal("0.60")
    bonus_rate: Decimal = Decimal("0.05")
    max_bonus: Decimal = Decimal("0.03")
    min_months_for_rate: int = 6

    def __post_init__(self) -> None:
        if self.norm_km_per_year <= 0:
            raise ValueError("年均里程标准必须为正")
        if not (Decimal(0) <= self.penalty_per_10000_km < _ONE):
            raise ValueError("每万公里折价必须在 [0, 1) 之内")
        _check_factor("里程系数下限", self.min_factor)
        if self.min_factor > _ONE:
            raise ValueError("里程系数下限不得大于 1")
        if self.bonus_rate < 0 or not (Decimal(0) <= self.max_bonus <= MAX_FACTOR - _ONE):
            raise ValueError("低里程加成必须非负且不超过 20%")
        if self.min_months_for_rate < 0:
            raise ValueError("推算里程速率的最小车龄不能为负")

    def expected_km(self, age_months: Decimal) -> Decimal:
        return self.norm_km_per_year * age_months / _TWELVE

    def factor(self, mileage_km: int | Decimal, age_months: Decimal) -> Decimal:
        """The mileage factor of a car `age_months` old with `mileage_km` on the odometer.

        Non-increasing in `mileage_km`. Above the expected distance: 1 − penalty × excess /
        10,000, not below `min_factor`; below it: 1 + min(max_bonus, bonus_rate × share of
        the expected distance not driven) — a share, not a distance, so that a car driven
        at a steady low rate keeps a steady bonus instead of one that grows with age.
        """
        expected = self.expected_km(age_months)
        excess = Decimal(mileage_km) - expected
        if excess > 0:
            return max(self.min_factor, _ONE - self.penalty_per_10000_km * excess / _TEN_THOUSAND)
        if expected == 0:
            return _ONE
        return _ONE + min(self.max_bonus, self.bonus_rate * (-excess) / expected)


@dataclass(frozen=True)
class PriceBand:
    """New cars priced below `below` (None: no upper bound) are taken to be of `segment` when
    the segment is missing or not recognized."""

    below: Decimal | None
    segment: str


@dataclass(frozen=True)
class LtvBand:
    """A band of loan-to-value: LTV up to and including `upper` (None: no upper bound)."""

    code: str
    upper: Decimal | None
    zh: str
    en: str


@dataclass(frozen=True)
class LtvBands:
    """Ordered LTV bands, best first, and the band from which a worsening raises an alert."""

    bands: tuple[LtvBand, ...]
    alert_from: str

    def __post_init__(self) -> None:
        if not self.bands or self.bands[-1].upper is not None:
            raise ValueError("抵押率分档的最后一档必须没有上限")
        uppers = [b.upper for b in self.bands[:-1]]
        if any(u is None for u in uppers):
            raise ValueError("只有最后一档可以没有上限")
        bounded = [u for u in uppers if u is not None]
        if any(u <= 0 for u in bounded) or any(b <= a for a, b in pairwise(bounded)):
            raise ValueError("抵押率分档上限必须为正且递增")
        codes = [b.code for b in self.bands]
        if len(set(codes)) != len(codes):
            raise ValueError("抵押率分档代码重复")
        if self.alert_from not in codes:
            raise ValueError(f"预警起始档 {self.alert_from!r} 不在分档中")

    def rank(self, band: LtvBand) -> int:
        """0 for the best band; higher is worse."""
        return [b.code for b in self.bands].index(band.code)

    def by_code(self, code: str) -> LtvBand:
        for band in self.bands:
            if band.code == code:
                return band
        raise KeyError(code)


DEFAULT_LTV_BANDS = LtvBands(
    bands=(
        LtvBand("low", Decimal("0.60"), "低", "low"),
        LtvBand("normal", Decimal("0.80"), "正常", "normal"),
        LtvBand("watch", Decimal("1.00"), "关注", "watch"),
        LtvBand("high", Decimal("1.20"), "高", "high"),
        LtvBand("critical", None, "严重", "critical"),
    ),
    # Alert once the loan is no longer covered by the car (LTV > 100 %): 80–100 % is where a
    # new NEV loan at the statutory 85 % starts, so alerting there would flag lawful loans.
    alert_from="high",
)


@dataclass(frozen=True)
class ValuationParameters:
    """Everything the valuation needs, loaded from a versioned data file.

    * `fuel_classes`: fuel type (petrol, diesel, hybrid, phev, erev, bev, fcev) → curve class.
    * `curves`: curve class → segment → curve; every class has a ``default`` curve.
    * `segments`: the known segment keys with their Chinese names; `segment_aliases` maps a
      normalized name as written in bank exports ('紧凑型suv', 'a级轿车') to a key.
    * `price_bands`: segment assumed for a new car with no recognized segment.
    * `brand_aliases`: normalized brand name → brand key; `brand_classes`: brand key →
      class; `brand_multipliers`: class → retention multiplier; unknown brands take
      `default_brand_class`.
    * `condition_factors`: one per condition, non-increasing from excellent to total loss.
    """

    version: str
    fuel_classes: Mapping[str, str]
    curves: Mapping[str, Mapping[str, RetentionCurve]]
    segments: Mapping[str, str]
    segment_aliases: Mapping[str, str]
    price_bands: tuple[PriceBand, ...]
    brand_aliases: Mapping[str, str]
    brand_classes: Mapping[str, str]
    brand_multipliers: Mapping[str, Decimal]
    default_brand_class: str
    mileage: MileageRule
    condition_factors: Mapping[VehicleCondition, Decimal]
    ltv_bands: LtvBands = DEFAULT_LTV_BANDS

    def __post_init__(self) -> None:
        if not self.version.strip():
            raise ValueError("估值参数必须有版本号")
        for fuel in sorted(FUEL_TYPES):
            if self.fuel_classes.get(fuel) not in self.curves:
                raise ValueError(f"燃料类型 {fuel} 没有对应的残值曲线类别")
        ice_classes = {self.fuel_classes[f] for f in FUEL_TYPES if not is_nev(f)}
        for fuel in sorted(f for f in FUEL_TYPES if is_nev(f)):
            if self.fuel_classes[fuel] in ice_classes:
                # NEVs lose value faster; sharing a combustion curve would hide that.
                raise ValueError(f"新能源燃料类型 {fuel} 不得使用燃油车的残值曲线")
        for cls, by_segment in self.curves.items():
            if DEFAULT_CURVE not in by_segment:
                raise ValueError(f"曲线类别 {cls} 缺少 default 曲线")
            unknown = set(by_segment) - set(self.segments) - {DEFAULT_CURVE}
            if unknown:
                raise ValueError(f"曲线类别 {cls} 含未声明的车辆级别: {sorted(unknown)}")
        for alias, segment in self.segment_aliases.items():
            if segment not in self.segments:
                raise ValueError(f"级别别名 {alias!r} 指向未声明的级别 {segment!r}")
        for band in self.price_bands:
            if band.segment not in self.segments:
                raise ValueError(f"价格带指向未声明的级别 {band.segment!r}")
        if self.price_bands and self.price_bands[-1].below is not None:
            raise ValueError("价格带的最后一档必须没有上限")
        for name, multiplier in self.brand_multipliers.items():
            _check_factor(f"品牌类别 {name} 系数", multiplier)
        if self.default_brand_class not in self.brand_multipliers:
            raise ValueError(f"默认品牌类别 {self.default_brand_class!r} 未定义系数")
        for brand, cls in self.brand_classes.items():
            if cls not in self.brand_multipliers:
                raise ValueError(f"品牌 {brand} 的类别 {cls!r} 未定义系数")
        for alias, brand in self.brand_aliases.items():
            if brand not in self.brand_classes:
                raise ValueError(f"品牌别名 {alias!r} 指向未知品牌 {brand!r}")
        previous: Decimal | None = None
        for condition in VehicleCondition:
            if condition not in self.condition_factors:
                raise ValueError(f"缺少车况 {condition.value} 的系数")
            value = self.condition_factors[condition]
            _check_factor(f"车况 {condition.value} 系数", value)
            if previous is not None and value > previous:
                raise ValueError("车况系数必须从优秀到全损逐级不增")
            previous = value

    def curve_for(self, fuel_type: str, segment: str | None) -> tuple[str, RetentionCurve]:
        """The curve for a fuel type and (resolved) segment, with its name 'class/segment'."""
        cls = self.fuel_classes[fuel_type]
        by_segment = self.curves[cls]
        key = segment if segment is not None and segment in by_segment else DEFAULT_CURVE
        return f"{cls}/{key}", by_segment[key]

    def resolve_segment(self, text: str | None) -> str | None:
        """The segment key for a segment as written, or None when not recognized."""
        if text is None or not text.strip():
            return None
        name = normalize_name(text)
        if name in self.segment_aliases:
            return self.segment_aliases[name]
        for key in self.segments:
            if normalize_name(key) == name:
                return key
        return None

    def segment_by_price(self, price: Decimal) -> str | None:
        for band in self.price_bands:
            if band.below is None or price < band.below:
                return band.segment
        return None

    def resolve_brand(self, text: str) -> str | None:
        """The brand key for a brand as written, or None when not recognized.

        An exact match of the normalized name wins; otherwise the Chinese alias found in the
        text that ends last (longest on a tie), since joint-venture names put the group
        first and the marque last: 广汽丰田 → Toyota, 上汽通用五菱 → Wuling, 长安福特 → Ford.
        Latin aliases match only exactly, to keep 'amg' from matching 'mg'.
        """
        name = normalize_name(text)
        if name in self.brand_aliases:
            return self.brand_aliases[name]
        best: tuple[int, int, str] | None = None
        for alias, brand in self.brand_aliases.items():
            if not alias or alias.isascii():
                continue
            end = name.rfind(alias)
            if end < 0:
                continue
            candidate = (end + len(alias), len(alias), brand)
            if best is None or candidate[:2] > best[:2]:
                best = candidate
        return best[2] if best is not None else None

    def brand_class(self, text: str) -> tuple[str, bool]:
        """The brand class for a brand as written, and whether the brand was recognized."""
        brand = self.resolve_brand(text)
        if brand is None:
            return self.default_brand_class, False
        return self.brand_classes[brand], True


# --- the vehicle and its valuation ----------------------------------------------------------


@dataclass(frozen=True)
class VehicleFacts:
    """What the valuation needs to know about the financed car, as recorded at origination.

    `price` is what was paid (invoice price; for a used car, the used-car price), on
    `purchased_on`. `mileage_km` is the odometer at purchase, if recorded.
    `condition_at_purchase` is the grade of the pre-loan appraisal (贷前评估), if any; the
    price already reflects it.
    """

    price: Decimal
    purchased_on: date
    fuel_type: str
    brand: str
    segment: str | None = None
    used: bool = False
    first_registration: date | None = None
    model_year: int | None = None
    mileage_km: int | None = None
    condition_at_purchase: VehicleCondition | None = None

    def __post_init__(self) -> None:
        if self.price <= 0:
            raise ValueError(f"车辆价格必须大于0: {self.price}")
        if self.fuel_type not in FUEL_TYPES:
            raise ValueError(f"未知燃料类型: {self.fuel_type!r}")
        if self.mileage_km is not None and self.mileage_km < 0:
            raise ValueError(f"里程不能为负: {self.mileage_km}")
        if self.used and self.first_registration is None and self.model_year is None:
            raise ValueError("二手车必须有初次登记日期或年款, 才能计算车龄")

    @property
    def age_origin(self) -> date:
        """The date age counts from: first registration; for a used car without one, 1 July
        of the model year; never after the purchase."""
        if self.first_registration is not None:
            origin = self.first_registration
        elif self.used and self.model_year is not None:
            origin = date(self.model_year, 7, 1)
        else:
            origin = self.purchased_on
        return min(origin, self.purchased_on)


def months_between(start: date, end: date) -> Decimal:
    """Age in calendar months from `start` to `end`, with the part month as a fraction of
    that month's length: 2021-06-15 → 2024-06-15 is exactly 36. Zero when `end` ≤ `start`."""
    if end <= start:
        return Decimal(0)
    whole = (end.year - start.year) * 12 + (end.month - start.month)
    while whole > 0 and _add_months(start, whole) > end:
        whole -= 1
    base = _add_months(start, whole)
    span = (_add_months(start, whole + 1) - base).days
    return whole + Decimal((end - base).days) / span


def _add_months(start: date, months: int) -> date:
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(start.day, last))


@dataclass(frozen=True)
class ValuationNote:
    """Something a reader of the valuation should know (an assumption made, a data doubt)."""

    code: str
    zh: str
    en: str


@dataclass(frozen=True)
class Valuation:
    """A car's value as of a date, with every component needed to explain it.

    ``value = fen(purchase_price × base_retention × mileage_factor × condition_factor)``,
    each component to 4 decimals, so a risk officer can redo the product by hand.
    """

    value: Decimal
    as_of: date
    params_version: str
    purchase_price: Decimal
    curve: str
    segment: str | None
    brand_class: str
    brand_multiplier: Decimal
    age_months: Decimal
    age_at_purchase_months: Decimal
    mileage_km: int
    mileage_source: str  # estimated | purchase | inspection
    base_retention: Decimal
    mileage_factor: Decimal
    condition: VehicleCondition
    condition_factor: Decimal
    inspection_date: date | None = None
    notes: tuple[ValuationNote, ...] = field(default=())

    def explain(self, language: str = "zh") -> str:
        """One line a risk officer can read, e.g. for an alert or the borrower 360° page."""
        if language == "zh":
            return (
                f"{self.as_of} 估值 ¥{self.value:,}: 购车价 ¥{fen(self.purchase_price):,}"
                f" × 基础残值率 {_pct(self.base_retention)} (曲线 {self.curve},"
                f" 车龄 {self.age_months:.1f} 个月, 品牌类别 {self.brand_class})"
                f" × 里程系数 {_pct(self.mileage_factor)} ({self.mileage_km:,} 公里)"
                f" × 车况系数 {_pct(self.condition_factor)} ({self.condition.zh});"
                f" 参数版本 {self.params_version}"
            )
        return (
            f"Value on {self.as_of}: ¥{self.value:,} = price ¥{fen(self.purchase_price):,}"
            f" × base retention {_pct(self.base_retention)} (curve {self.curve},"
            f" age {self.age_months:.1f} months, brand class {self.brand_class})"
            f" × mileage factor {_pct(self.mileage_factor)} ({self.mileage_km:,} km)"
            f" × condition factor {_pct(self.condition_factor)} ({self.condition.value});"
            f" parameters {self.params_version}"
        )


def _mileage_path(
    reading_km: int, reading_age: Decimal, rule: MileageRule
) -> tuple[Decimal, Decimal]:
    """(km at age 0 of the extrapolation line, km per month) through a reading.

    Older than `min_months_for_rate` at the reading: the average rate since registration
    (the line passes through 0 km at age 0). Younger: the norm, starting from the reading.
    Either way the mileage factor along the line never rises with age.
    """
    if reading_age >= rule.min_months_for_rate and reading_age > 0:
        return Decimal(0), Decimal(reading_km) / reading_age
    per_month = Decimal(rule.norm_km_per_year) / _TWELVE
    return Decimal(reading_km) - per_month * reading_age, per_month


def _km(value: Decimal) -> int:
    return int(value.quantize(_ONE, rounding=ROUND_HALF_UP))


def value_vehicle(
    vehicle: VehicleFacts,
    as_of: date,
    params: ValuationParameters,
    inspection: Inspection | None = None,
) -> Valuation:
    """The vehicle's value on `as_of`, with its components (see the module docstring).

    `inspection` is the latest inspection on or before `as_of` (use `latest_inspection`);
    one dated after `as_of` is refused rather than silently ignored, since a caller who
    passes it has picked the wrong record.
    """
    if as_of < vehicle.purchased_on:
        raise ValueError(f"估值日 {as_of} 早于购车日 {vehicle.purchased_on}")
    if inspection is not None and inspection.inspected_on > as_of:
        raise ValueError(f"检查日 {inspection.inspected_on} 晚于估值日 {as_of}")
    notes: list[ValuationNote] = []
    origin = vehicle.age_origin
    if vehicle.used and vehicle.first_registration is None:
        notes.append(
            ValuationNote(
                "age-from-model-year",
                f"无初次登记日期, 车龄按 {vehicle.model_year} 年款 7 月 1 日起算",
                f"no first registration date; age counted from 1 July {vehicle.model_year}",
            )
        )
    age = months_between(origin, as_of)
    age_at_purchase = months_between(origin, vehicle.purchased_on)

    # Segment: as recorded, else by new-car price band, else the default curve.
    segment = params.resolve_segment(vehicle.segment)
    if segment is None:
        by_price = None if vehicle.used else params.segment_by_price(vehicle.price)
        if vehicle.segment:
            notes.append(
                ValuationNote(
                    "segment-unknown",
                    f"无法识别车辆级别 {vehicle.segment!r}",
                    f"segment {vehicle.segment!r} not recognized",
                )
            )
        if by_price is not None:
            segment = by_price
            notes.append(
                ValuationNote(
                    "segment-from-price",
                    f"车辆级别按新车价格带取 {segment}",
                    f"segment taken from the new-car price band: {segment}",
                )
            )
    curve_name, curve = params.curve_for(vehicle.fuel_type, segment)

    brand_class, known = params.brand_class(vehicle.brand)
    if not known:
        notes.append(
            ValuationNote(
                "brand-unknown",
                f"未识别品牌 {vehicle.brand!r}, 按 {brand_class} 类别估值",
                f"brand {vehicle.brand!r} not recognized; valued as {brand_class}",
            )
        )
    multiplier = params.brand_multipliers[brand_class]
    branded = curve.scaled(multiplier)
    base = _ratio(branded.at(age) / branded.at(age_at_purchase))

    # Mileage now, from the latest reading (inspection, else purchase), else the norm.
    rule = params.mileage
    reading: tuple[int, date] | None = None
    source = "estimated"
    if inspection is not None and inspection.mileage_km is not None:
        reading, source = (inspection.mileage_km, inspection.inspected_on), "inspection"
        if vehicle.mileage_km is not None and inspection.mileage_km < vehicle.mileage_km:
            notes.append(
                ValuationNote(
                    "odometer-decreased",
                    f"检查里程 {inspection.mileage_km:,} 公里低于购车时 "
                    f"{vehicle.mileage_km:,} 公里, 请核实是否调表",
                    f"odometer {inspection.mileage_km:,} km is below the "
                    f"{vehicle.mileage_km:,} km at purchase; check for tampering",
                )
            )
    elif vehicle.mileage_km is not None:
        reading, source = (vehicle.mileage_km, vehicle.purchased_on), "purchase"
    # The factor is taken on the unrounded estimate: rounding the estimate to whole km first
    # would put a car driven exactly at the norm a fraction of a km under it and earn it a
    # low-mileage bonus that comes and goes from one day to the next.
    if reading is None:
        estimate = rule.expected_km(age)
    else:
        start_km, per_month = _mileage_path(reading[0], months_between(origin, reading[1]), rule)
        estimate = start_km + per_month * age
    mileage_now = _km(estimate)
    mileage_then = vehicle.mileage_km
    factor_then = _ONE if mileage_then is None else rule.factor(mileage_then, age_at_purchase)
    mileage_factor = _ratio(rule.factor(estimate, age) / factor_then)

    condition_then = vehicle.condition_at_purchase or VehicleCondition.GOOD
    condition = inspection.condition if inspection is not None else condition_then
    factors = params.condition_factors
    condition_factor = _ratio(factors[condition] / factors[condition_then])

    value = fen(vehicle.price * base * mileage_factor * condition_factor)
    return Valuation(
        value=value,
        as_of=as_of,
        params_version=params.version,
        purchase_price=vehicle.price,
        curve=curve_name,
        segment=segment,
        brand_class=brand_class,
        brand_multiplier=multiplier,
        age_months=age.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP),
        age_at_purchase_months=age_at_purchase.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP),
        mileage_km=mileage_now,
        mileage_source=source,
        base_retention=base,
        mileage_factor=mileage_factor,
        condition=condition,
        condition_factor=condition_factor,
        inspection_date=inspection.inspected_on if inspection is not None else None,
        notes=tuple(notes),
    )


# --- loan-to-value ------------------------------------------------------------------------


def ltv(outstanding_principal: Decimal, valuation: Valuation) -> Decimal:
    """Loan-to-value: outstanding principal / current value, to 4 decimals, half-up."""
    if outstanding_principal < 0:
        raise ValueError(f"未偿本金不能为负: {outstanding_principal}")
    if valuation.value <= 0:
        raise ValueError("车辆估值为零, 无法计算抵押率")
    return _ratio(outstanding_principal / valuation.value)


def ltv_band(value: Decimal, bands: LtvBands = DEFAULT_LTV_BANDS) -> LtvBand:
    """The band an LTV falls in; each band's upper bound belongs to it (80.00 % is normal)."""
    for band in bands.bands:
        if band.upper is None or value <= band.upper:
            return band
    raise AssertionError("unreachable: the last band has no upper bound")


@dataclass(frozen=True)
class LtvAlert:
    """An LTV band got worse and is at or past the alert band (抵押率预警)."""

    previous: LtvBand | None
    current: LtvBand
    code: str = "ltv-band-worsened"

    @property
    def zh(self) -> str:
        was = self.previous.zh if self.previous is not None else "无"
        return f"抵押率由「{was}」档升至「{self.current.zh}」档"

    @property
    def en(self) -> str:
        was = self.previous.en if self.previous is not None else "none"
        return f"LTV band worsened from {was} to {self.current.en}"


def ltv_alert(
    previous_band: LtvBand | None, current_band: LtvBand, bands: LtvBands = DEFAULT_LTV_BANDS
) -> LtvAlert | None:
    """An alert when the band worsened into or beyond `bands.alert_from`; otherwise None.

    The same band again, a better band, or a worse band still below the alert band raise
    nothing, so a loan sitting in a bad band is not re-alerted every night. With no
    previous band (the first valuation), a band at or past the alert band alerts.
    """
    threshold = bands.rank(bands.by_code(bands.alert_from))
    now = bands.rank(current_band)
    if now < threshold:
        return None
    if previous_band is not None and bands.rank(previous_band) >= now:
        return None
    return LtvAlert(previous_band, current_band)
