"""Finding rules files: ``huifang/rules/findings.yaml`` → `domain.findings.FindingRules`.

The rules are data, not code: a risk officer tightens the income-drop threshold or adds a
rule by editing the versioned YAML file. Conditions are written exactly as in a script's
branch (``{q: vehicle_status, eq: sold}``), a percent drop as
``drop: {q: monthly_income, baseline: declared_monthly_income, more_than_pct: 30}``.
Every problem is reported with its place in the file, in Chinese and English, and the whole
file is refused (half a rule set would watch part of the book on different rules).
A lender points HUIFANG_FINDING_RULES at its own copy.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from huifang import yaml_cache
from huifang.domain.early_warning import Severity
from huifang.domain.findings import (
    FindingKind,
    FindingRule,
    FindingRuleError,
    FindingRules,
    PercentDrop,
)
from huifang.domain.scripts import Text
from huifang.script_files import format_path, parse_conditions

ENV_VAR = "HUIFANG_FINDING_RULES"
_RULE_KEYS = {"id", "kind", "severity", "zh", "en", "when", "drop", "details"}


class FindingRulesFileError(ValueError):
    """A finding rules file that cannot be used; one line per problem, with its place."""


def parse_finding_rules(text: str, source: str = "<string>") -> FindingRules:
    """Read and validate finding rules from YAML text; raises FindingRulesFileError."""
    try:
        data = yaml_cache.safe_load(text)
    except yaml.YAMLError as exc:
        raise FindingRulesFileError(f"{source}: YAML 格式错误 / invalid YAML: {exc}") from None
    problems: list[str] = []

    def bad(path: tuple[str | int, ...] | None, zh: str, en: str) -> None:
        if path is None:  # a problem already located (from the condition reader)
            problems.append(zh)
        else:
            problems.append(f"{source}: {format_path(path)}: {zh} / {en}")

    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise FindingRulesFileError(
            f"{source}: 应为 {{version, rules: [...]}} / must be {{version, rules: [...]}}"
        )
    for key in data:
        if key not in ("version", "rules", "description"):
            bad((str(key),), "未知字段", "unknown key")
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        bad(("version",), "应为正整数", "must be a positive integer")
        version = 1
    rules: list[FindingRule] = []
    for i, raw in enumerate(data["rules"]):
        rule = _rule(raw, ("rules", i), source, bad)
        if rule is not None:
            rules.append(rule)
    if not problems:
        try:
            return FindingRules(version, tuple(rules))
        except FindingRuleError as exc:
            problems.append(f"{source}: {exc}")
    raise FindingRulesFileError("\n".join(problems))


def _rule(raw: object, path: tuple[str | int, ...], source: str, bad: Any) -> FindingRule | None:
    if not isinstance(raw, dict):
        bad(path, "规则应为映射", "a rule must be a mapping")
        return None
    for key in raw:
        if key not in _RULE_KEYS:
            bad(
                (*path, str(key)),
                f"未知字段 (可用: {', '.join(sorted(_RULE_KEYS))})",
                "unknown key",
            )
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not rule_id:
        bad((*path, "id"), "缺少规则编号", "the rule id is missing")
        return None
    try:
        kind = FindingKind(str(raw.get("kind")))
    except ValueError:
        known = ", ".join(k.value for k in FindingKind)
        bad((*path, "kind"), f"未知的事件类型 (可用: {known})", f"unknown kind (known: {known})")
        return None
    try:
        severity = Severity(str(raw.get("severity", "medium")))
    except ValueError:
        bad(
            (*path, "severity"), "应为 low/medium/high/critical", "must be low/medium/high/critical"
        )
        return None
    zh, en = raw.get("zh"), raw.get("en")
    if not isinstance(zh, str) or not zh.strip() or not isinstance(en, str) or not en.strip():
        bad(path, "需要中文 (zh) 和英文 (en) 说明", "needs a Chinese (zh) and English (en) text")
        return None
    conditions, cond_problems = parse_conditions(raw.get("when", []), source, (*path, "when"))
    for p in cond_problems:
        bad(None, str(p), "")
    drop = _drop(raw.get("drop"), (*path, "drop"), bad)
    details = raw.get("details", [])
    if not isinstance(details, list) or not all(isinstance(d, str) for d in details):
        bad((*path, "details"), "应为问题编号列表", "must be a list of question ids")
        details = []
    if cond_problems:
        return None
    try:
        return FindingRule(rule_id, kind, severity, Text(zh, en), conditions, drop, tuple(details))
    except FindingRuleError as exc:
        bad(path, exc.message.zh, exc.message.en)
        return None


def _drop(raw: object, path: tuple[str | int, ...], bad: Any) -> PercentDrop | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or set(raw) != {"q", "baseline", "more_than_pct"}:
        bad(path, "应为 {q, baseline, more_than_pct}", "must be {q, baseline, more_than_pct}")
        return None
    q, baseline, pct = raw["q"], raw["baseline"], raw["more_than_pct"]
    try:
        threshold = Decimal(str(pct))
    except InvalidOperation:
        threshold = Decimal("NaN")
    if isinstance(pct, bool) or not threshold.is_finite() or not (0 <= threshold < 100):
        bad((*path, "more_than_pct"), "应为 0 到 100 之间的数", "must be a number from 0 to 100")
        return None
    if not isinstance(q, str) or not isinstance(baseline, str):
        bad(path, "q 和 baseline 应为名称", "q and baseline must be names")
        return None
    return PercentDrop(q, baseline, threshold)


def load_finding_rules(path: Path | str | None = None) -> FindingRules:
    """The rules in `path`, else HUIFANG_FINDING_RULES, else the shipped ``rules/findings.yaml``."""
    if path is None and os.environ.get(ENV_VAR):
        path = os.environ[ENV_VAR]
    if path is None:
        return _shipped()
    chosen = Path(path)
    try:
        text = chosen.read_text(encoding="utf-8")
    except OSError as exc:
        raise FindingRulesFileError(f"{chosen}: 无法读取 / cannot read: {exc}") from None
    return parse_finding_rules(text, str(chosen))


@cache
def _shipped() -> FindingRules:
    ref = resources.files("huifang") / "rules" / "findings.yaml"
    return parse_finding_rules(ref.read_text(encoding="utf-8"), "rules/findings.yaml")
