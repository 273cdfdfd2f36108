"""`huifang run`: Parquet in and out, the summary, no-op reruns, the engine choice."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import typer
from batch_portfolios import random_book
from typer.testing import CliRunner

from huifang import cli_run
from huifang.batch.inputs import write_parquet_inputs
from huifang.batch.output import read_parquet_states


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    cli_run.register(app)

    @app.command("noop")
    def noop() -> None:  # a second command, so `run` stays a subcommand
        pass

    return app


def test_run_parquet_to_parquet(app: typer.Typer, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HUIFANG_HOME", str(tmp_path / "home"))
    as_of = date(2025, 6, 30)
    book = random_book(120, 31, as_of)
    write_parquet_inputs(book, tmp_path / "in")
    args = ["run", "--as-of", "2025-06-30", "--input", str(tmp_path / "in")]
    args += ["--output", str(tmp_path / "out")]
    runner = CliRunner()
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "五级分类" in first.output and "M0" in first.output
    states = read_parquet_states(tmp_path / "out", as_of)
    assert states.num_rows == sum(
        1 for s in book.loans.column("status").to_pylist() if s == "active"
    )
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "--force" in again.output
    later = runner.invoke(app, [*args[:2], "2025-07-31", *args[3:]])
    assert later.exit_code == 0 and "2025-06-30" in later.output  # deltas from the last run
    assert runner.invoke(app, [*args, "--engine", "flink"]).exit_code == 2  # no such engine
    assert runner.invoke(app, ["run", "--as-of", "30/06/2025"]).exit_code != 0
