"""Finding rules files: the shipped file loads; every kind of mistake is refused with its place."""

from __future__ import annotations

from pathlib import Path

import pytest

from huifang.domain.findings import FindingKind
from huifang.finding_rules import FindingRulesFileError, load_finding_rules, parse_finding_rules

GOOD = """\
version: 3
rules:
  - id: sold
    kind: vehicle-sold
    severity: high
    zh: 车辆已出售
    en: vehicle sold
    when: [{q: vehicle_status, eq: sold}]
  - id: drop
    kind: income-drop
    zh: 收入下降
    en: income down
    drop: {q: monthly_income, baseline: declared_monthly_income, more_than_pct: 25.5}
"""


def test_shipped_rules_cover_every_kind() -> None:
    rules = load_finding_rules()
    assert rules.version >= 1
    assert {r.kind for r in rules.rules} == set(FindingKind)


def test_good_file() -> None:
    rules = parse_finding_rules(GOOD, "f.yaml")
    assert rules.version == 3
    assert [r.id for r in rules.rules] == ["sold", "drop"]
    assert rules.rules[1].severity.value == "medium"  # the default
    drop = rules.rules[1].drop
    assert drop is not None and str(drop.more_than_pct) == "25.5"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("version: 3", "version: 0", "version: 应为正整数"),
        ("kind: vehicle-sold", "kind: vehicle-stolen", "rules[0].kind: 未知的事件类型"),
        ("severity: high", "severity: urgent", "rules[0].severity"),
        ("    en: vehicle sold\n", "", "rules[0]: 需要中文 (zh) 和英文 (en) 说明"),
        ("[{q: vehicle_status, eq: sold}]", "[{q: vehicle_status, like: sold}]", "when[0]"),
        ("more_than_pct: 25.5", "more_than_pct: 150", "drop.more_than_pct"),
        ("more_than_pct: 25.5", "threshold: 25.5", "rules[1].drop"),
        ("  - id: drop", "  - id: sold", "duplicate rule id"),
        ("    when: [{q: vehicle_status, eq: sold}]\n", "", "no condition"),
        ("    severity: high\n", "    severity: high\n    colour: red\n", "rules[0].colour"),
    ],
)
def test_mistakes_are_refused_with_their_place(old: str, new: str, message: str) -> None:
    assert old in GOOD
    with pytest.raises(FindingRulesFileError) as e:
        parse_finding_rules(GOOD.replace(old, new), "f.yaml")
    assert message in str(e.value)
    assert str(e.value).startswith("f.yaml")


def test_not_a_rules_file() -> None:
    with pytest.raises(FindingRulesFileError, match="rules"):
        parse_finding_rules("- a\n- b\n")
    with pytest.raises(FindingRulesFileError, match="YAML"):
        parse_finding_rules("rules: [\n")


def test_load_from_a_path_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(GOOD, encoding="utf-8")
    assert load_finding_rules(path).version == 3
    monkeypatch.setenv("HUIFANG_FINDING_RULES", str(path))
    assert load_finding_rules().version == 3
    with pytest.raises(FindingRulesFileError, match="cannot read"):
        load_finding_rules(tmp_path / "missing.yaml")
