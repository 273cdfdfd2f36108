"""Load the vehicle-valuation parameters from their versioned JSON file.

The domain (`huifang.domain.collateral`) never reads files; this adapter turns the data file
into a validated `ValuationParameters`. Numbers are parsed as `Decimal` straight from the JSON
text (never through float). Every problem is reported with where it is in the file, e.g.
``curves.ice.mpv: 残值曲线不得上升 …``, and the whole file is refused: a half-loaded parameter
set would value part of the book on different assumptions from the rest.

The packaged default is ``huifang/data/valuation_v1.json``; docs/collateral.md cites the
sources of its numbers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from huifang.domain.collateral import (
    LtvBand,
    LtvBands,
    MileageRule,
    PriceBand,
    RetentionCurve,
    ValuationParameters,
    VehicleCondition,
    normalize_name,
)

DEFAULT_FILE = "valuation_v1.json"
_MILEAGE_KEYS = {
    "norm_km_per_year",
    "penalty_per_10000_km",
    "min_factor",
    "bonus_rate",
    "max_bonus",
    "min_months_for_rate",
}


class ValuationParamsError(ValueError):
    """The parameter file is malformed or breaks a rule of the model."""


def load_valuation_params(path: Path | None = None) -> ValuationParameters:
    """Read and validate a parameter file; the packaged default when `path` is None."""
    if path is None:
        text = (resources.files("huifang") / "data" / DEFAULT_FILE).read_text(encoding="utf-8")
        where = DEFAULT_FILE
    else:
        text = path.read_text(encoding="utf-8")
        where = str(path)
    try:
        doc = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise ValuationParamsError(f"{where}: 不是有效的 JSON: {exc}") from None
    return parse_valuation_params(doc)


def parse_valuation_params(doc: Any) -> ValuationParameters:
    """Build `ValuationParameters` from a decoded JSON document (numbers as Decimal or int)."""
    if not isinstance(doc, Mapping):
        raise ValuationParamsError("参数文件顶层必须是对象")
    version = doc.get("version")
    if not isinstance(version, str) or not version.strip():
        raise ValuationParamsError("version: 参数文件必须有版本号")

    fuel_classes = {str(k): _text(v, f"fuel_classes.{k}") for k, v in _obj(doc, "fuel_classes")}
    curves: dict[str, dict[str, RetentionCurve]] = {}
    for cls, by_segment in _obj(doc, "curves"):
        curves[cls] = {}
        for segment, points in _items(by_segment, f"curves.{cls}"):
            curves[cls][segment] = _curve(points, f"curves.{cls}.{segment}")

    segments: dict[str, str] = {}
    segment_aliases: dict[str, str] = {}
    for key, spec in _obj(doc, "segments"):
        where = f"segments.{key}"
        segments[key] = _text(_field(spec, "zh", where), f"{where}.zh")
        for alias in [key, *_list(_field(spec, "aliases", where), f"{where}.aliases")]:
            _add_alias(segment_aliases, _text(alias, f"{where}.aliases"), key, where)

    price_bands = []
    for i, spec in enumerate(_list(doc.get("price_bands", []), "price_bands")):
        where = f"price_bands[{i}]"
        below = _field(spec, "below", where)
        price_bands.append(
            PriceBand(
                None if below is None else _number(below, f"{where}.below"),
                _text(_field(spec, "segment", where), f"{where}.segment"),
            )
        )

    brand_aliases: dict[str, str] = {}
    brand_classes: dict[str, str] = {}
    brand_multipliers: dict[str, Decimal] = {}
    for cls, spec in _obj(doc, "brand_classes"):
        where = f"brand_classes.{cls}"
        brand_multipliers[cls] = _number(_field(spec, "multiplier", where), f"{where}.multiplier")
        for brand, aliases in _items(_field(spec, "brands", where), f"{where}.brands"):
            if brand in brand_classes:
                raise ValuationParamsError(f"{where}.brands.{brand}: 品牌重复出现在两个类别")
            brand_classes[brand] = cls
            for alias in [brand, *_list(aliases, f"{where}.brands.{brand}")]:
                _add_alias(brand_aliases, _text(alias, f"{where}.brands.{brand}"), brand, where)

    mileage_spec = dict(_items(doc.get("mileage", {}), "mileage"))
    unknown = set(mileage_spec) - _MILEAGE_KEYS
    if unknown:
        raise ValuationParamsError(f"mileage: 未知参数 {sorted(unknown)}")
    defaults = MileageRule()

    def number(key: str, default: Decimal) -> Decimal:
        return _number(mileage_spec[key], f"mileage.{key}") if key in mileage_spec else default

    def integer(key: str, default: int) -> int:
        return _integer(mileage_spec[key], f"mileage.{key}") if key in mileage_spec else default

    try:
        mileage = MileageRule(
            norm_km_per_year=integer("norm_km_per_year", defaults.norm_km_per_year),
            penalty_per_10000_km=number("penalty_per_10000_km", defaults.penalty_per_10000_km),
            min_factor=number("min_factor", defaults.min_factor),
            bonus_rate=number("bonus_rate", defaults.bonus_rate),
            max_bonus=number("max_bonus", defaults.max_bonus),
            min_months_for_rate=integer("min_months_for_rate", defaults.min_months_for_rate),
        )
    except ValueError as exc:
        raise ValuationParamsError(f"mileage: {exc}") from None

    conditions: dict[VehicleCondition, Decimal] = {}
    for name, value in _obj(doc, "condition_factors"):
        try:
            condition = VehicleCondition(name)
        except ValueError:
            raise ValuationParamsError(f"condition_factors.{name}: 未知车况") from None
        conditions[condition] = _number(value, f"condition_factors.{name}")

    extra: dict[str, Any] = {}
    if "ltv_bands" in doc:
        extra["ltv_bands"] = _ltv_bands(doc["ltv_bands"])
    try:
        return ValuationParameters(
            version=version,
            fuel_classes=fuel_classes,
            curves=curves,
            segments=segments,
            segment_aliases=segment_aliases,
            price_bands=tuple(price_bands),
            brand_aliases=brand_aliases,
            brand_classes=brand_classes,
            brand_multipliers=brand_multipliers,
            default_brand_class=_text(doc.get("default_brand_class"), "default_brand_class"),
            mileage=mileage,
            condition_factors=conditions,
            **extra,
        )
    except ValueError as exc:
        raise ValuationParamsError(str(exc)) from None


# --- helpers -------------------------------------------------------------------------------


def _items(value: Any, where: str) -> list[tuple[str, Any]]:
    if not isinstance(value, Mapping):
        raise ValuationParamsError(f"{where}: 必须是对象")
    return [(str(k), v) for k, v in value.items()]


def _obj(doc: Mapping[str, Any], key: str) -> list[tuple[str, Any]]:
    if key not in doc:
        raise ValuationParamsError(f"{key}: 缺少此项")
    return _items(doc[key], key)


def _field(spec: Any, key: str, where: str) -> Any:
    if not isinstance(spec, Mapping) or key not in spec:
        raise ValuationParamsError(f"{where}.{key}: 缺少此项")
    return spec[key]


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValuationParamsError(f"{where}: 必须是数组")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValuationParamsError(f"{where}: 必须是非空文本")
    return value


def _number(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValuationParamsError(f"{where}: 必须是数字, 得到 {value!r}")
    return Decimal(value)


def _integer(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValuationParamsError(f"{where}: 必须是整数, 得到 {value!r}")
    return value


def _add_alias(aliases: dict[str, str], alias: str, target: str, where: str) -> None:
    name = normalize_name(alias)
    if aliases.get(name, target) != target:
        raise ValuationParamsError(f"{where}: 别名 {alias!r} 同时指向 {aliases[name]} 和 {target}")
    aliases[name] = target


def _curve(points: Any, where: str) -> RetentionCurve:
    anchors = []
    for i, point in enumerate(_list(points, where)):
        if not isinstance(point, list) or len(point) != 2:
            raise ValuationParamsError(f"{where}[{i}]: 锚点必须是 [月数, 残值率]")
        anchors.append((_integer(point[0], f"{where}[{i}]"), _number(point[1], f"{where}[{i}]")))
    try:
        return RetentionCurve(tuple(anchors))
    except ValueError as exc:
        raise ValuationParamsError(f"{where}: {exc}") from None


def _ltv_bands(spec: Any) -> LtvBands:
    bands = []
    for i, band in enumerate(_list(_field(spec, "bands", "ltv_bands"), "ltv_bands.bands")):
        where = f"ltv_bands.bands[{i}]"
        upper = _field(band, "upper", where)
        bands.append(
            LtvBand(
                _text(_field(band, "code", where), f"{where}.code"),
                None if upper is None else _number(upper, f"{where}.upper"),
                _text(_field(band, "zh", where), f"{where}.zh"),
                _text(_field(band, "en", where), f"{where}.en"),
            )
        )
    try:
        return LtvBands(
            tuple(bands), _text(_field(spec, "alert_from", "ltv_bands"), "ltv_bands.alert_from")
        )
    except ValueError as exc:
        raise ValuationParamsError(f"ltv_bands: {exc}") from None
