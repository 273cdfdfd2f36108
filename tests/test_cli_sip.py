"""`huifang sip …` without a far end: clear errors. The calls themselves are tested against
baresip in tests/voice/sip/test_baresip.py."""

from __future__ import annotations

from typer.testing import CliRunner

from huifang.cli import app


def test_cli_call_refused_is_a_clear_error() -> None:
    result = CliRunner().invoke(app, ["sip", "call", "sip:x@127.0.0.1:9", "--timeout", "0.5"])
    assert result.exit_code == 1
    assert "call to sip:x@127.0.0.1:9 failed" in result.output
    result = CliRunner().invoke(app, ["sip", "call", "sip:x@127.0.0.1:9", "--bind", "nowhere"])
    assert result.exit_code == 2


def test_cli_say_and_wav_exclude_each_other(tmp_path) -> None:
    args = ["sip", "call", "sip:x@127.0.0.1:9", "--say", "你好", "--wav", str(tmp_path / "a.wav")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
