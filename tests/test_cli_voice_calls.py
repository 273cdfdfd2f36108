"""`huifang voice call` without a far end: clear errors before anything is dialed. The call
itself is tested against baresip in tests/voice/sip/test_voice_call_loopback.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from huifang.cli import app


def test_target_needs_the_number_and_the_task_must_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUIFANG_DATABASE_URL", f"sqlite:///{tmp_path / 'h.db'}")
    monkeypatch.setenv("HUIFANG_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["voice", "call", "--task", "1", "--target", "sip:pbx"])
    assert result.exit_code == 2 and "{number}" in result.output
    result = CliRunner().invoke(
        app, ["voice", "call", "--task", "999", "--target", "sip:{number}@127.0.0.1:9"]
    )
    assert result.exit_code == 2, result.output
    assert "no task 999" in result.output
