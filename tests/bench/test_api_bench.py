"""Smoke test of the agent-journey load bench (bench/api.py): three simulated agents for a
few seconds against a real uvicorn server on the test PostgreSQL. Asserts that journeys ran
end to end without errors and that no task was held by two agents — never timings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "api.py"


@pytest.mark.postgres
@pytest.mark.slow
def test_three_agents_never_hold_the_same_task(pg_url: str) -> None:
    src = str(BENCH.parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    args = ["--db-url", pg_url, "--agents", "3", "--duration", "3", "--loans", "150"]
    done = subprocess.run(
        [sys.executable, str(BENCH), *args, "--workers", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["agents"] == 3 and result["errors"] == 0, done.stderr[-3000:]
    assert result["journeys"] >= 3
    check = result["check"]
    assert result["double_held_tasks"] == 0, check
    # every journey claimed a task, ran its script and recorded its outcome in the database
    assert check["tasks_claimed"] == check["script_runs"] == check["attempts"]
    assert check["attempts"] >= result["journeys"]
    assert "no task held by two agents: True" in done.stdout
