"""Load the risk rule files: early-warning rules, the industry watch list, tier thresholds.

The domain (`huifang.domain.early_warning`, `huifang.domain.tiering`) never reads files; this
adapter turns the versioned YAML files under ``huifang/rules/`` into validated domain
objects. Every problem names its place in the file, in Chinese and English, e.g.
``early_warning.yaml: rules[3].params.min_dpd: 必须是正整数 / must be a positive integer``,
and the whole file is refused: a half-loaded rule set would watch part of the book on
different rules from the rest.

Numbers are converted to `Decimal` from their YAML text form (``0.20`` stays 0.20).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import date
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from huifang import yaml_cache
from huifang.domain.collateral import LtvBands
from huifang.domain.early_warning import (
    PARAMS_FOR_KIND,
    Action,
    EventKind,
    IndustryWatchlist,
    Rule,
    RuleKind,
    RuleParams,
    RuleSet,
    Severity,
    WatchedIndustry,
)
from huifang.domain.tiering import RiskTier, RiskTierRules, TierThresholds

EARLY_WARNING_FILE = "early_warning.yaml"
WATCHLIST_FILE = "industry_watchlist.yaml"
TIERS_FILE = "risk_tiers.yaml"


class RulesFileError(ValueError):
    """A rule file that cannot be used; the message says where and why."""


def _read(path: Path | None, default: str) -> tuple[Any, str]:
    if path is None:
        text = (resources.files("huifang") / "rules" / default).read_text(encoding="utf-8")
        where = default
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise RulesFileError(f"{path}: 无法读取 / cannot read: {exc}") from None
        where = str(path)
    try:
        return yaml_cache.safe_load(text), where
    except yaml.YAMLError as exc:
        raise RulesFileError(f"{where}: 不是有效的 YAML / not valid YAML: {exc}") from None


def _fail(where: str, zh: str, en: str) -> RulesFileError:
    return RulesFileError(f"{where}: {zh} / {en}")


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(where, "必须是映射", "must be a mapping")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, "必须是非空文本", "must be non-empty text")
    return value.strip()


def _version(doc: Mapping[str, Any], where: str) -> str:
    value = doc.get("version")
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    return _text(value, f"{where}: version")


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(where, f"必须是整数, 得到 {value!r}", f"must be an integer, got {value!r}")
    return value


def _decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _fail(where, f"必须是数字, 得到 {value!r}", f"must be a number, got {value!r}")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise _fail(
            where, f"必须是数字, 得到 {value!r}", f"must be a number, got {value!r}"
        ) from None


def _choice(enum: Any, value: Any, where: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        raise _fail(
            where, f"未知取值 {value!r}, 可选: {allowed}", f"unknown {value!r}; one of: {allowed}"
        ) from None


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise _fail(where, "必须是列表", "must be a list")
    return value


def _unknown_keys(spec: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise _fail(where, f"未知字段 {unknown}", f"unknown keys {unknown}")


# --- early-warning rules ---------------------------------------------------------------------

_RULE_KEYS = {"id", "kind", "zh", "en", "severity", "actions", "params"}


def _params(kind: RuleKind, spec: Any, where: str) -> RuleParams:
    cls = PARAMS_FOR_KIND[kind]
    values = _mapping(spec if spec is not None else {}, where)
    known = {f.name: f for f in fields(cls)}
    _unknown_keys(values, set(known), where)
    kwargs: dict[str, Any] = {}
    for name, raw in values.items():
        at = f"{where}.{name}"
        if name == "kinds":
            kwargs[name] = frozenset(_choice(EventKind, k, at) for k in _list(raw, at))
        elif name == "band":
            kwargs[name] = _text(raw, at)
        else:
            kwargs[name] = _int(raw, at)
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise _fail(where, str(exc), "invalid parameter") from None


def parse_rule_set(doc: Any, where: str = EARLY_WARNING_FILE) -> RuleSet:
    """A `RuleSet` from a decoded YAML document."""
    top = _mapping(doc, where)
    _unknown_keys(top, {"version", "rules"}, where)
    version = _version(top, where)
    rules = []
    for i, spec in enumerate(_list(top.get("rules"), f"{where}: rules")):
        at = f"{where}: rules[{i}]"
        spec = _mapping(spec, at)
        _unknown_keys(spec, _RULE_KEYS, at)
        for key in ("id", "kind", "zh", "en", "severity", "actions"):
            if key not in spec:
                raise _fail(f"{at}.{key}", "缺少此项", "missing")
        kind = _choice(RuleKind, spec["kind"], f"{at}.kind")
        try:
            rules.append(
                Rule(
                    id=_text(spec["id"], f"{at}.id"),
                    kind=kind,
                    zh=_text(spec["zh"], f"{at}.zh"),
                    en=_text(spec["en"], f"{at}.en"),
                    severity=_choice(Severity, spec["severity"], f"{at}.severity"),
                    actions=tuple(
                        _choice(Action, a, f"{at}.actions")
                        for a in _list(spec["actions"], f"{at}.actions")
                    ),
                    params=_params(kind, spec.get("params"), f"{at}.params"),
                )
            )
        except ValueError as exc:
            if isinstance(exc, RulesFileError):
                raise
            raise _fail(at, str(exc), "invalid rule") from None
    try:
        return RuleSet(version, tuple(rules))
    except ValueError as exc:
        raise _fail(where, str(exc), "invalid rule set") from None


def load_rule_set(path: Path | None = None, bands: LtvBands | None = None) -> RuleSet:
    """Read and validate the early-warning rules (the packaged file when `path` is None);
    with `bands`, also check that LTV rules name existing bands."""
    doc, where = _read(path, EARLY_WARNING_FILE)
    rules = parse_rule_set(doc, where)
    if bands is not None:
        try:
            rules.check_bands(bands)
        except ValueError as exc:
            raise _fail(where, str(exc), "LTV band not usable") from None
    return rules


# --- the watch list --------------------------------------------------------------------------


def parse_watchlist(doc: Any, where: str = WATCHLIST_FILE) -> IndustryWatchlist:
    top = _mapping(doc, where)
    _unknown_keys(top, {"version", "industries"}, where)
    version = _version(top, where)
    entries = []
    names: set[str] = set()
    for i, spec in enumerate(_list(top.get("industries", []), f"{where}: industries")):
        at = f"{where}: industries[{i}]"
        spec = _mapping(spec, at)
        _unknown_keys(spec, {"name", "aliases", "reason", "since"}, at)
        since = spec.get("since")
        if not isinstance(since, date):
            raise _fail(f"{at}.since", "必须是日期 YYYY-MM-DD", "must be a date YYYY-MM-DD")
        name = _text(spec.get("name"), f"{at}.name")
        if name in names:
            raise _fail(f"{at}.name", f"行业 {name} 重复", f"{name} listed twice")
        names.add(name)
        entries.append(
            WatchedIndustry(
                name=name,
                reason=_text(spec.get("reason"), f"{at}.reason"),
                since=since,
                aliases=tuple(
                    _text(a, f"{at}.aliases")
                    for a in _list(spec.get("aliases", []), f"{at}.aliases")
                ),
            )
        )
    return IndustryWatchlist(version, tuple(entries))


def load_watchlist(path: Path | None = None) -> IndustryWatchlist:
    """Read and validate the industry watch list (the packaged file when `path` is None)."""
    doc, where = _read(path, WATCHLIST_FILE)
    return parse_watchlist(doc, where)


# --- tier thresholds -------------------------------------------------------------------------


@dataclass(frozen=True)
class TierSettings:
    """The tier thresholds with the version of the file they came from."""

    version: str
    origination: TierThresholds
    risk: RiskTierRules


def _build(cls: Callable[..., Any], spec: Any, where: str, converters: Mapping[str, Any]) -> Any:
    values = _mapping(spec if spec is not None else {}, where)
    _unknown_keys(values, set(converters), where)
    kwargs = {k: converters[k](v, f"{where}.{k}") for k, v in values.items()}
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise _fail(where, str(exc), "invalid thresholds") from None


def _tier(value: Any, where: str) -> RiskTier:
    return _choice(RiskTier, value, where)  # type: ignore[no-any-return]


def _severity_tiers(value: Any, where: str) -> dict[str, RiskTier]:
    spec = _mapping(value, where)
    for key in spec:
        _choice(Severity, key, f"{where}.{key}")
    return {str(k): _tier(v, f"{where}.{k}") for k, v in spec.items()}


def parse_tier_settings(doc: Any, where: str = TIERS_FILE) -> TierSettings:
    top = _mapping(doc, where)
    _unknown_keys(top, {"version", "origination", "risk"}, where)
    version = _version(top, where)
    origination = _build(
        TierThresholds,
        top.get("origination"),
        f"{where}: origination",
        {
            "high_score_below": _int,
            "medium_score_below": _int,
            "high_down_payment_below": _decimal,
            "medium_down_payment_below": _decimal,
            "missing_score_tier": _tier,
        },
    )
    risk = _build(
        RiskTierRules,
        top.get("risk"),
        f"{where}: risk",
        {
            "seasoning_months": _int,
            "pd_high_at": _decimal,
            "pd_medium_at": _decimal,
            "points_high_below": _int,
            "points_medium_below": _int,
            "missing_behaviour_tier": _tier,
            "dpd_high_from": _int,
            "dpd_medium_from": _int,
            "ltv_high_above": _decimal,
            "ltv_medium_above": _decimal,
            "severity_tiers": _severity_tiers,
            "open_alerts_high_from": _int,
        },
    )
    return TierSettings(version, origination, risk)


def load_tier_settings(path: Path | None = None) -> TierSettings:
    """Read and validate the tier thresholds (the packaged file when `path` is None)."""
    doc, where = _read(path, TIERS_FILE)
    return parse_tier_settings(doc, where)
