"""`huifang campaign create|status|run --dry-run|report` through the real command."""

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


def test_create_dry_run_status_and_report(home: Path) -> None:
    assert run("tasks", "generate", "--as-of", "2026-03-20")[0] == 0
    code, out = run(
        "campaign", "create", "首访外呼", "--purpose", "first-visit", "--max-concurrent", "2"
    )
    assert code == 0, out
    code, out = run("campaign", "status", "首访外呼", "--format", "json")
    (status,) = json.loads(out)
    assert (status["purposes"], status["max_attempts"], status["retry_minutes"]) == (
        ["first-visit"],
        4,
        60,
    )
    code, out = run(
        "campaign", "run", "首访外呼", "--dry-run", "--at", "2026-03-23T09:00", "--seed", "3"
    )
    assert code == 0, out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["dry_run"] is True and summary["dials"] >= 3
    assert summary["max_in_flight"] <= 2
    # why (not) now: the first visits of L-LOW, L-LATE and L-BJ are eligible at 09:00;
    # L-HIGH's needs the business skill
    code, out = run(
        "campaign", "status", "首访外呼", "--why", "--at", "2026-03-23T09:00", "--format", "json"
    )
    assert code == 0, out
    now = json.loads(out)[0]["now"]
    assert (now["tasks"], now["eligible"], now["bot.skills"]) == (4, 3, 1)
    code, out = run("campaign", "status", "首访外呼", "--why", "--at", "2026-03-23T08:00")
    assert code == 0 and "campaign.outside_window 4" in out
    # a dry run works on a copy: the database has no calls
    code, out = run("campaign", "status", "首访外呼", "--format", "json")
    assert json.loads(out)[0]["calls"] == {} and json.loads(out)[0]["last_run"] is None
    code, out = run(
        "campaign", "report", "--from", "2026-03-01", "--to", "2026-03-31", "--format", "json"
    )
    assert code == 0, out
    report = json.loads(out)
    assert report["voice"][0]["calls"] == 0 and report["voice"][0]["connection_rate"] is None


def test_bad_campaigns_are_explained(home: Path) -> None:
    code, out = run("campaign", "create", "风险复访", "--purpose", "risk-finding")
    assert code == 1 and "voice" in out
    code, out = run("campaign", "create", "倒挂", "--window", "20:00-09:00")
    assert code == 1 and "window end" in out
    code, out = run("campaign", "run", "没有这个")
    assert code != 0
    assert run("campaign", "create", "夜间")[0] == 0
    code, out = run("campaign", "create", "夜间")
    assert code == 1 and "exists" in out
    code, out = run("campaign", "pause", "夜间")
    assert code == 0 and "paused" in out
    code, out = run("campaign", "run", "夜间", "--dry-run")
    assert code == 1 and "paused" in out
