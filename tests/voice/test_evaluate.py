"""The corpus and its evaluation in text mode; the voice CLI commands."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from huifang import cli_voice
from huifang.voice.corpus import CORPUS, HELD_OUT
from huifang.voice.evaluate import evaluate


def test_corpus_has_fifty_replies_per_language_in_every_category() -> None:
    for lang in ("zh", "en"):
        replies = CORPUS[lang]
        assert len(replies) >= 50
        categories = {r.category for r in replies}
        assert categories == {"yes_no", "money", "date", "choice", "human", "silence", "noise"}
        assert len({r.id for r in replies}) == len(replies)


def test_held_out_set_has_twenty_yes_no_and_amounts_per_language_unlike_the_corpus() -> None:
    for lang in ("zh", "en"):
        held = HELD_OUT[lang]
        assert sum(r.category == "yes_no" for r in held) >= 20
        assert sum(r.category == "money" for r in held) >= 20
        assert len({r.id for r in held}) == len(held)
        assert not {r.text for r in held} & {r.text for r in CORPUS[lang]}


def test_typed_corpus_is_understood() -> None:
    for lang in ("zh", "en"):
        report = evaluate(CORPUS[lang], lang)
        assert report.accuracy()["all"] == 1.0, [
            (o.reply.text, o.understood) for o in report.outcomes if not o.correct
        ]
        assert report.error_rate() == 0.0


SCRIPT = """
id: voice_cli
version: 1
title: {zh: 测试, en: test}
purpose: routine
variables: [borrower_name, id_last4, amount_due]
steps:
  - say: hello
    zh: 您好。
    en: Hello.
  - disclosure: rec
    code: recording_notice
    zh: 本次通话将录音。
    en: This call is recorded.
  - ask: id4
    type: free_text
    pattern: "[0-9]{3}[0-9X]"
    zh: 请说身份证后四位。
    en: Last four ID digits?
    identity: {pass: [{q: id4, eq: $id_last4}], on_fail: failed}
  - ask: pay
    type: money
    zh: 本期应还{amount_due}，您打算还多少？
    en: You owe {amount_due}. How much will you pay?
  - end: done
    outcome: completed
    zh: 再见。
    en: Goodbye.
  - end: failed
    outcome: identity_failed
    zh: 无法核实，再见。
    en: Goodbye.
"""


def test_simulate_command_runs_a_call(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCRIPT, encoding="utf-8")
    app = typer.Typer()
    cli_voice.register(app)
    args = ["voice", "simulate", "--script", str(path), "--today", "2026-11-23"]
    result = CliRunner().invoke(app, [*args, "-r", "一二三四", "-r", "三千五"])
    assert result.exit_code == 0, result.output
    assert "outcome: completed" in result.output
    assert "pay = Decimal('3500.00')" in result.output
    assert "¥4,800.50" in result.output


def test_eval_command_text_mode() -> None:
    app = typer.Typer()
    cli_voice.register(app)
    result = CliRunner().invoke(app, ["voice", "eval", "--mode", "text", "--no-show"])
    assert result.exit_code == 0, result.output
    assert '"all": 1.0' in result.output.splitlines()[-1]
