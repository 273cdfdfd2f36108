"""`huifang tasks generate|route|list` and `huifang simulate` through the real command."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from huifang.cli import app
from huifang.store.db import make_engine, upgrade

sys.path.insert(0, str(Path(__file__).parent / "services"))
from followup_book import make_book

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HUIFANG_HOME", str(tmp_path))
    monkeypatch.delenv("HUIFANG_DATABASE_URL", raising=False)
    engine = make_engine(f"sqlite:///{tmp_path / 'huifang.db'}")
    upgrade(engine)
    make_book(engine)
    engine.dispose()
    return tmp_path


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_generate_is_idempotent_and_list_filters(home: Path) -> None:
    code, out = run("tasks", "generate", "--as-of", "2026-03-20")
    assert code == 0, out
    assert "新建 6 个任务" in out
    code, out = run("tasks", "generate", "--as-of", "2026-03-20")
    assert code == 0 and "新建 0 个任务" in out and "已有未结任务 6" in out
    code, out = run("tasks", "list", "--branch", "BJ01", "--format", "json")
    assert code == 0, out
    rows = json.loads(out)
    assert [(r["contract_no"], r["purpose"], r["due_on"]) for r in rows] == [
        ("L-BJ", "first-visit", "2026-01-13")
    ]
    code, out = run("tasks", "list", "--status", "done", "--format", "json")
    assert code == 0 and json.loads(out) == []
    code, out = run("tasks", "list")
    assert code == 0 and "L-LATE" in out and "逾期回访" in out


def test_bad_input_is_explained(home: Path) -> None:
    code, out = run("tasks", "generate", "--as-of", "20-03-2026")
    assert code != 0 and "YYYY-MM-DD" in out
    bad = home / "p.yaml"
    bad.write_text("version: 1\nname: x\n", encoding="utf-8")
    code, out = run("tasks", "generate", "--policy", str(bad))
    assert code == 2 and "purposes" in out
    code, out = run("tasks", "list", "--format", "xml")
    assert code != 0


def test_simulate_prints_a_month_and_leaves_the_database_alone(home: Path) -> None:
    code, out = run("simulate", "--days", "3", "--start", "2026-03-16", "--seed", "7")
    assert code == 0, out
    for label in ("每日回访", "覆盖率", "接通率", "升级", "合计", "模拟 / simulating"):
        assert label in out
    _, out2 = run("simulate", "--days", "3", "--start", "2026-03-16", "--seed", "7")
    table = lambda s: s[s.index("每日回访") :]  # noqa: E731 - the progress line has timings
    assert table(out2) == table(out)  # seeded: reproducible
    code, out = run("tasks", "list", "--format", "json")
    assert json.loads(out) == []  # the simulation ran on a copy


def test_cancel_snooze_reassign_and_metrics(home: Path) -> None:
    from huifang.services.followup import AgentSpec, add_agent

    run("tasks", "generate", "--as-of", "2026-03-20")
    engine = make_engine(f"sqlite:///{home / 'huifang.db'}")
    add_agent(engine, AgentSpec("wang", "王", "SZ01", skills=("business",)))
    add_agent(engine, AgentSpec("zhao", "赵", "BJ01"))
    engine.dispose()
    rows = json.loads(run("tasks", "list", "--format", "json")[1])
    sz = next(r["id"] for r in rows if r["branch"] == "SZ01")
    bj = next(r["id"] for r in rows if r["branch"] == "BJ01")
    code, out = run("tasks", "reassign", str(sz), "--agent", "wang", "--reason", "熟客")
    assert code == 0 and "wang" in out and "熟客" in out
    code, out = run("tasks", "reassign", str(sz), "--agent", "zhao", "--reason", "x")
    assert code == 1 and "本机构" in out
    code, out = run("tasks", "snooze", str(bj), "--until", "2026-04-01", "--reason", "出差")
    assert code == 0 and "出差" in out
    code, out = run("tasks", "cancel", str(bj), "--reason", "客户已结清")
    assert code == 0 and "cancelled" in out
    code, out = run("tasks", "cancel", str(bj), "--reason", "again")
    assert code == 1 and "已关闭" in out
    code, out = run(
        "tasks", "metrics", "--from", "2025-11-01", "--to", "2026-03-31", "--format", "json"
    )
    assert code == 0, out
    (total,) = json.loads(out)
    # 6 tasks were due in the period, one was cancelled (not due any more), none completed
    assert (total["due"], total["completed"], total["coverage"]) == (5, 0, "0.0000")
    code, out = run(
        "tasks", "metrics", "--from", "2025-11-01", "--to", "2026-03-31", "--by", "branch"
    )
    assert code == 0 and "SZ01" in out and "覆盖率" in out
    code, out = run("tasks", "metrics", "--from", "2026-03-31", "--to", "2026-03-01")
    assert code != 0
