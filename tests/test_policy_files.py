"""Policy files: the shipped policy loads; errors name the file and the setting."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from huifang.policy_files import PolicyFileError, load_followup_policy, parse_followup_policy

POLICY_FILE = Path(__file__).parents[1] / "src/huifang/policies/followup.yaml"


def test_policy_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("version: [", encoding="utf-8")
    with pytest.raises(PolicyFileError, match="YAML"):
        load_followup_policy(bad)
    with pytest.raises(PolicyFileError, match=r"contact_strategy\.outcomes"):
        data = yaml.safe_load(POLICY_FILE.read_text("utf-8"))
        del data["contact_strategy"]["outcomes"]["busy"]
        parse_followup_policy(yaml.safe_dump(data, allow_unicode=True), "x.yaml")
    assert load_followup_policy().version == 3


def test_environment_variable_points_at_a_lenders_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = yaml.safe_load(POLICY_FILE.read_text("utf-8"))
    data["version"] = 7
    data["routine"]["cadence_months"]["low"] = 6
    own = tmp_path / "policy.yaml"
    own.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("HUIFANG_FOLLOWUP_POLICY", str(own))
    loaded = load_followup_policy()
    assert (loaded.version, loaded.policy.cadence_months["low"], loaded.source) == (7, 6, str(own))
