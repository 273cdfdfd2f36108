"""Stored versions of the policies and scripts on both databases: validation with lines,
saving, activation and rollback, diffs, the audit trail, and the loaders the services use."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from followup_book import make_book
from sqlalchemy import Engine, select

from huifang.security import audit
from huifang.services import configs
from huifang.services.followup import TaskError, generate_tasks, list_tasks
from huifang.services.followup_attempts import check_script
from huifang.store.db import transaction
from huifang.store.followup_models import FollowupTask

MANAGER = audit.Actor("mgr", "manager", "127.0.0.1")
NOW = datetime(2026, 3, 20, 2, 0, tzinfo=UTC)


def _routine(version: int, extra: str = "") -> str:
    text = configs.packaged_text(configs.SCRIPT, "routine")
    assert text is not None and "\nversion: 1\n" in text
    text = text.replace("\nversion: 1\n", f"\nversion: {version}\n", 1)
    return text.replace("您好，", f"您好{extra}，", 1) if extra else text


def test_documents_start_with_the_packaged_files(engine: Engine) -> None:
    docs = configs.documents(engine)
    names = {(d.kind, d.name) for d in docs}
    assert (configs.FOLLOWUP, "followup") in names and (configs.CONTACT, "contact") in names
    assert {n for k, n in names if k == configs.SCRIPT} >= {"routine", "first_visit"}
    assert all(d.active_id is None and d.stored == 0 for d in docs)
    assert configs.scripts(engine)["routine"].version == 1


def test_check_names_the_line_and_setting_in_chinese_and_english(engine: Engine) -> None:
    bad_yaml = configs.check(engine, configs.SCRIPT, "routine", "id: routine\nsteps: [\n")
    assert bad_yaml[0].code == "yaml" and bad_yaml[0].line is not None
    assert "YAML" in bad_yaml[0].zh
    # an unknown variable in a step: located at that step's line
    text = _routine(2).replace("{borrower_name}", "{plate_number}", 1)
    problems = configs.check(engine, configs.SCRIPT, "routine", text)
    unknown = [p for p in problems if p.code == "unknown_variable"]
    assert unknown and unknown[0].path.startswith("steps[")
    line = text.splitlines()[unknown[0].line - 1]  # type: ignore[operator]
    assert line.lstrip().startswith("- ")
    # the version must go up, the id must stay
    same = configs.check(engine, configs.SCRIPT, "routine", _routine(1))
    assert [p.code for p in same] == ["version_not_raised"] and same[0].line == 4
    assert "例如 2" in same[0].zh
    other = configs.check(engine, configs.SCRIPT, "first_visit", _routine(2))
    assert [p.code for p in other] == ["id_changed"]
    assert configs.check(engine, configs.SCRIPT, "routine", _routine(2)) == ()
    # a policy setting out of range, with its path and line
    policy = configs.packaged_text(configs.FOLLOWUP, "followup")
    assert policy is not None
    broken = policy.replace("{low: 3, medium: 2, high: 1}", "{low: 3, medium: 2, high: 0}")
    found = configs.check(engine, configs.FOLLOWUP, "followup", broken)
    assert found[0].path == "routine.cadence_months.high"
    assert "cadence_months" in broken.splitlines()[found[0].line - 1]  # type: ignore[operator]
    latest = configs.latest_version(engine, configs.FOLLOWUP, "followup")
    missing = configs.next_draft(policy.replace("script: routine,", "script: routin,", 1), latest)
    found = configs.check(engine, configs.FOLLOWUP, "followup", missing)
    assert [p.code for p in found] == ["unknown_script"] and "routin" in found[0].zh
    contact = configs.packaged_text(configs.CONTACT, "contact")
    assert contact is not None
    assert configs.check(engine, configs.CONTACT, "contact", contact.replace('"08:00"', '"25:00"'))


def test_save_activate_rollback_and_runs_keep_their_version(engine: Engine) -> None:
    with pytest.raises(configs.ConfigError) as err:
        configs.save_version(engine, configs.SCRIPT, "routine", _routine(1), "x", MANAGER)
    assert err.value.problems[0].code == "version_not_raised"
    with pytest.raises(configs.ConfigError):
        configs.save_version(engine, configs.SCRIPT, "routine", _routine(2), "  ", MANAGER)
    v2 = configs.save_version(engine, configs.SCRIPT, "routine", _routine(2, "!"), "问候", MANAGER)
    assert not v2.active and configs.scripts(engine)["routine"].version == 1
    configs.activate(engine, configs.SCRIPT, "routine", v2.id, MANAGER)
    assert configs.scripts(engine)["routine"].version == 2
    v3 = configs.save_version(
        engine, configs.SCRIPT, "routine", _routine(3, "!!"), "再改", MANAGER, activate=True
    )
    assert v3.active and configs.scripts(engine)["routine"].version == 3
    # a run or record made with an earlier version reads that version back
    assert configs.script(engine, "routine", 1).version == 1  # type: ignore[union-attr]
    assert configs.script(engine, "routine", 2).version == 2  # type: ignore[union-attr]
    assert check_script("routine", 2, engine=engine) is not None
    with pytest.raises(TaskError, match="没有版本 9"):
        check_script("routine", 9, engine=engine)
    # rollback to v2, then to the packaged file
    doc = configs.activate(engine, configs.SCRIPT, "routine", v2.id, MANAGER)
    assert (doc.active_version, doc.active_id, doc.stored) == (2, v2.id, 2)
    configs.activate(engine, configs.SCRIPT, "routine", None, MANAGER)
    assert configs.scripts(engine)["routine"].version == 1
    listed = configs.versions(engine, configs.SCRIPT, "routine")
    assert [v.version for v in listed] == [3, 2] and not any(v.active for v in listed)
    with pytest.raises(configs.ConfigError):
        configs.activate(engine, configs.SCRIPT, "first_visit", v2.id, MANAGER)
    diff = configs.diff(engine, configs.SCRIPT, "routine", None, v3.id)
    assert "-version: 1" in diff and "+version: 3" in diff
    assert any(line.startswith("+") and "您好!!" in line for line in diff)
    actions = [e.action for e in audit.search(engine, action="config.")]
    assert actions.count("config.save") == 2 and actions.count("config.activate") == 4
    assert audit.verify_chain(engine).ok


def test_generation_uses_the_active_policy(engine: Engine) -> None:
    make_book(engine)
    policy = configs.packaged_text(configs.FOLLOWUP, "followup")
    assert policy is not None
    packaged = configs.followup_policy(engine).version
    text = configs.next_draft(policy, configs.latest_version(engine, configs.FOLLOWUP, "followup"))
    assert f"\nversion: {packaged + 1}\n" in text
    saved = configs.save_version(
        engine, configs.FOLLOWUP, "followup", text, "v2", MANAGER, activate=True
    )
    assert configs.followup_policy(engine).version == packaged + 1
    generate_tasks(engine, date(2026, 3, 20), now=NOW)
    with transaction(engine) as s:
        versions = set(s.scalars(select(FollowupTask.policy_version)))
    assert versions == {packaged + 1} and list_tasks(engine)
    configs.activate(engine, configs.FOLLOWUP, "followup", None, MANAGER)
    assert configs.followup_policy(engine).version == packaged
    assert saved.version == packaged + 1
