"""`huifang faq validate` and `huifang faq ask`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from huifang.cli import app
from huifang.faq_files import shipped_file

runner = CliRunner()


def test_validate_shipped_and_broken_files(tmp_path: Path) -> None:
    ok = runner.invoke(app, ["faq", "validate"])
    assert ok.exit_code == 0 and "borrower_faq" in ok.output
    broken = tmp_path / "faq.yaml"
    text = shipped_file().read_text(encoding="utf-8")
    broken.write_text(
        text.replace("version: 1", "version: one").replace("热线 {hotline}", "热线 {hot_line}", 1),
        encoding="utf-8",
    )
    bad = runner.invoke(app, ["faq", "validate", str(broken)])
    assert bad.exit_code == 1 and "version" in bad.output
    leaky = tmp_path / "leaky.yaml"
    leaky.write_text(text.replace("热线 {hotline}", "热线 {payoff_amount}", 1), encoding="utf-8")
    bad = runner.invoke(app, ["faq", "validate", str(leaky)])
    assert bad.exit_code == 1 and "payoff_amount" in bad.output


def test_ask_without_a_loan_gives_the_generic_answer() -> None:
    result = runner.invoke(app, ["faq", "ask", "结清证明怎么办"])
    assert result.exit_code == 0, result.output
    reply = json.loads(result.output)
    assert reply["entry_id"] == "settlement_certificate" and not reply["personal"]
    assert reply["knowledge_version"] >= 1
