"""Contact policy files: the shipped file is the strictest default; overrides, profiles and
every kind of mistake (refused with the setting named in Chinese and English)."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from huifang.compliance_files import (
    ContactPolicyFileError,
    load_contact_policy,
    parse_contact_policy,
)
from huifang.domain.compliance import (
    CHINA_DEFAULT,
    US_REG_F,
    Channel,
    Purpose,
    policy_from_mapping,
    policy_to_mapping,
    strictest,
)


def test_shipped_file_is_the_china_default() -> None:
    loaded = load_contact_policy()
    assert loaded.policy == CHINA_DEFAULT
    assert loaded.version == 1
    assert loaded.source == "policies/contact.yaml"


def test_every_setting_round_trips_through_a_mapping() -> None:
    for policy in (CHINA_DEFAULT, US_REG_F, strictest(CHINA_DEFAULT, US_REG_F)):
        assert policy_from_mapping(policy_to_mapping(policy)) == policy


def test_overrides_and_profiles() -> None:
    us = parse_contact_policy("based_on: us-reg-f\nversion: 4\n").policy
    assert us == US_REG_F
    both = parse_contact_policy("based_on: [china-default, us-reg-f]\n").policy
    assert both.quiet_days_after_conversation == 7
    assert both.max_unanswered_per_number_per_day == 6
    custom = parse_contact_policy(
        "name: 分行A\nwindow_start: '09:00'\nmax_calls_per_rolling_period: null\n"
        "holiday_purposes: [callback, overdue]\nwindow_channels: [agent-call]\n"
    ).policy
    assert custom.name == "分行A"
    assert custom.window_start == time(9)
    assert custom.max_calls_per_rolling_period is None
    assert custom.holiday_purposes == {Purpose.CALLBACK, Purpose.OVERDUE}
    assert custom.window_channels == {Channel.AGENT_CALL}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("max_calls_per_day: 3\n", "unknown setting 'max_calls_per_day'"),
        ("window_start: '8am'\n", 'window_start must be a local time "HH:MM"'),
        ("window_start: '25:00'\n", "window_start"),
        ("window_start: '21:00'\nwindow_end: '08:00'\n", "is not after its start"),
        ("max_unanswered_per_number_per_day: 0\n", "must be at least 1"),
        ("max_unanswered_per_number_per_day: six\n", "must be an integer"),
        ("holiday_purposes: [christmas]\n", "unknown value"),
        ("holiday_purposes: callback\n", "must be a list"),
        ("third_party_only_when_unreachable: 'yes'\n", "must be true or false"),
        ("debtor_roles: [guarantor]\n", "must include the borrower"),
        ("based_on: [eu-gdpr]\n", "unknown profile 'eu-gdpr'"),
        ("version: 0\n", "version must be a positive integer"),
        ("- a list\n", "must hold a mapping"),
        ("window_start: [\n", "invalid YAML"),
    ],
)
def test_mistakes_are_refused(text: str, message: str) -> None:
    with pytest.raises(ContactPolicyFileError) as e:
        parse_contact_policy(text, "contact.yaml")
    assert message in str(e.value)
    assert str(e.value).startswith("contact.yaml: ")


def test_load_from_a_path_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "contact.yaml"
    path.write_text("based_on: [us-reg-f]\nversion: 2\n", encoding="utf-8")
    assert load_contact_policy(path).policy == US_REG_F
    monkeypatch.setenv("HUIFANG_CONTACT_POLICY", str(path))
    assert load_contact_policy().version == 2
    with pytest.raises(ContactPolicyFileError, match="cannot read"):
        load_contact_policy(tmp_path / "missing.yaml")
