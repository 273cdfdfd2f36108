"""The risk rule files load, and bad files are refused with the place and the reason."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from huifang.domain.early_warning import EventKind, FindingParams, Severity
from huifang.domain.tiering import RiskTier
from huifang.risk_rules import (
    RulesFileError,
    load_rule_set,
    load_tier_settings,
    load_watchlist,
    parse_rule_set,
    parse_tier_settings,
    parse_watchlist,
)
from huifang.valuation_params import load_valuation_params

RULES_DIR = Path(__file__).resolve().parents[1] / "src" / "huifang" / "rules"


def raw(name: str) -> Any:
    return yaml.safe_load((RULES_DIR / name).read_text(encoding="utf-8"))


def test_packaged_files_load() -> None:
    rules = load_rule_set(bands=load_valuation_params().ltv_bands)
    assert rules.version == "ew-2026.1" and len(rules.rules) == 10
    by_id = {r.id: r for r in rules.rules}
    assert by_id["first-payment-default"].severity is Severity.CRITICAL
    params = by_id["income-or-job"].params
    assert isinstance(params, FindingParams)
    assert params.kinds == {EventKind.INCOME_DROP, EventKind.JOB_LOSS}
    assert load_watchlist().version == "watch-2026.11"
    tiers = load_tier_settings()
    assert tiers.origination.high_down_payment_below == Decimal("0.20")
    assert tiers.risk.ltv_high_above == Decimal("1.00")
    assert tiers.risk.severity_tiers["critical"] is RiskTier.HIGH


def _rule_doc(**changes: Any) -> Any:
    doc = raw("early_warning.yaml")
    doc["rules"][1].update(changes)
    return doc


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (_rule_doc(kind="nonsense"), r"rules\[1\]\.kind: 未知取值"),
        (_rule_doc(severity="urgent"), r"rules\[1\]\.severity"),
        (_rule_doc(actions=["pray"]), r"rules\[1\]\.actions"),
        (_rule_doc(actions=[]), r"rules\[1\]: .*建议措施"),
        (_rule_doc(params={"min_dpd": 0}), r"rules\[1\]\.params: .*正整数"),
        (_rule_doc(params={"min_dpd": "x"}), r"rules\[1\]\.params\.min_dpd: 必须是整数"),
        (_rule_doc(params={"days": 3}), r"rules\[1\]\.params: 未知字段"),
        (_rule_doc(colour="red"), r"rules\[1\]: 未知字段"),
        (_rule_doc(id="first-payment-default"), "规则编号重复"),
        ({"rules": []}, "version"),
        ({"version": "x", "rules": "no"}, "必须是列表"),
    ],
)
def test_bad_rule_files_are_refused(doc: Any, message: str) -> None:
    with pytest.raises(RulesFileError, match=message):
        parse_rule_set(doc)


def test_missing_field_and_unknown_band(tmp_path: Path) -> None:
    doc = raw("early_warning.yaml")
    del doc["rules"][0]["severity"]
    with pytest.raises(RulesFileError, match=r"rules\[0\]\.severity: 缺少此项"):
        parse_rule_set(doc)
    doc = raw("early_warning.yaml")
    doc["rules"][4]["params"]["band"] = "sky-high"
    path = tmp_path / "ew.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    assert load_rule_set(path).version == "ew-2026.1"  # without bands: not checked
    with pytest.raises(RulesFileError, match="sky-high"):
        load_rule_set(path, bands=load_valuation_params().ltv_bands)
    path.write_text("rules: [", encoding="utf-8")
    with pytest.raises(RulesFileError, match="YAML"):
        load_rule_set(path)
    with pytest.raises(RulesFileError, match="无法读取"):
        load_rule_set(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["industries"][0].pop("since"), r"industries\[0\]\.since"),
        (lambda d: d["industries"][1].__setitem__("name", "房地产"), "重复"),
        (lambda d: d["industries"][0].__setitem__("reason", ""), r"industries\[0\]\.reason"),
        (lambda d: d["industries"][0].__setitem__("aliases", "x"), "必须是列表"),
    ],
)
def test_bad_watchlists_are_refused(change: Any, message: str) -> None:
    doc = raw("industry_watchlist.yaml")
    change(doc)
    with pytest.raises(RulesFileError, match=message):
        parse_watchlist(doc)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["risk"].__setitem__("pd_high_at", 0.01), r"risk: 违约概率阈值"),
        (lambda d: d["risk"].__setitem__("dpd_high_from", "31"), r"risk\.dpd_high_from"),
        (lambda d: d["origination"].__setitem__("missing_score_tier", "x"), "未知取值"),
        (lambda d: d["risk"]["severity_tiers"].__setitem__("urgent", "high"), "urgent"),
        (lambda d: d["risk"].__setitem__("colour", 1), "未知字段"),
    ],
)
def test_bad_tier_files_are_refused(change: Any, message: str) -> None:
    doc = raw("risk_tiers.yaml")
    change(doc)
    with pytest.raises(RulesFileError, match=message):
        parse_tier_settings(doc)
