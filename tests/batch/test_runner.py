"""The nightly run end to end: database and Parquet sinks, database input, crash safety."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from batch_portfolios import random_book
from sqlalchemy import Engine, create_engine, func, select

from huifang.batch import engine as duck
from huifang.batch import reference
from huifang.batch.inputs import (
    BookInputs,
    read_database_inputs,
    read_parquet_inputs,
    write_parquet_inputs,
)
from huifang.batch.output import (
    DatabaseSink,
    ParquetSink,
    committed_states,
    read_parquet_states,
)
from huifang.batch.runner import RunContext, run
from huifang.batch.templates import TemplateCache
from huifang.store.batch_models import BatchLoanState, BatchRun
from huifang.store.db import make_engine

AS_OF = date(2025, 6, 30)


def _run(book: BookInputs, sink, as_of: date = AS_OF, force: bool = False, **kw) -> RunContext:  # type: ignore[no-untyped-def]
    ctx = RunContext(
        as_of=as_of, load=lambda: book, sink=sink, cache=TemplateCache(), force=force, **kw
    )
    return run(ctx)


def test_database_run_commits_reference_states_once(engine: Engine) -> None:
    book = random_book(300, 21, AS_OF)
    # on SQLite the fold runs in two threads over slices of 70 loans (once is enough)
    workers = 2 if engine.dialect.name == "sqlite" else 1
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(duck, "SLICE_LOANS", 70)
        ctx = _run(book, DatabaseSink(engine), workers=workers)
    want = reference.compute(book.loans, book.payments, AS_OF)
    got = committed_states(engine, AS_OF)
    assert got.to_pylist() == want.to_pylist()
    assert ctx.summary["loans"] == want.num_rows
    assert sum(ctx.summary["buckets"].values()) == want.num_rows
    # the same date again is a no-op; forced, it replaces the run with identical rows
    again = _run(book, DatabaseSink(engine))
    assert again.skipped is not None and again.states is None
    _run(book, DatabaseSink(engine), force=True)
    assert committed_states(engine, AS_OF).to_pylist() == want.to_pylist()
    with engine.connect() as conn:
        runs = conn.execute(select(BatchRun.status).order_by(BatchRun.id)).scalars().all()
        rows = conn.execute(select(func.count()).select_from(BatchLoanState)).scalar_one()
    assert runs == ["superseded", "committed"]
    assert rows == want.num_rows  # the superseded run's rows are gone
    # a later date reports deltas from this one
    later = _run(book, DatabaseSink(engine), as_of=date(2025, 7, 31))
    assert later.summary["previous_as_of"] == AS_OF.isoformat()
    assert sum(later.summary["deltas"]["buckets"].values()) == later.summary["deltas"]["loans"]


def test_parquet_run_is_atomic_and_byte_identical(tmp_path: Path) -> None:
    book = random_book(200, 22, AS_OF)
    write_parquet_inputs(book, tmp_path / "in")
    loaded = read_parquet_inputs(tmp_path / "in")
    _run(loaded, ParquetSink(tmp_path / "out"))
    first = (tmp_path / "out" / f"as_of={AS_OF}" / "loan_states.parquet").read_bytes()
    want = reference.compute(book.loans, book.payments, AS_OF)
    assert read_parquet_states(tmp_path / "out", AS_OF).to_pylist() == want.to_pylist()
    assert _run(loaded, ParquetSink(tmp_path / "out")).skipped is not None
    _run(loaded, ParquetSink(tmp_path / "out"), force=True)
    second = (tmp_path / "out" / f"as_of={AS_OF}" / "loan_states.parquet").read_bytes()
    assert first == second
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_reads_the_book_from_the_database(engine: Engine, tmp_path: Path) -> None:
    from huifang.services.demo_data import write_demo_files
    from huifang.services.importing import import_files

    files = write_demo_files(tmp_path / "demo", loans=60, seed=7, as_of=AS_OF)
    report = import_files(engine, files.paths, write_reports=False)
    assert report.ok
    book = read_database_inputs(engine, batch_rows=25)
    assert book.loans.num_rows == 60 and book.payments.num_rows > 60
    _run(book, DatabaseSink(engine))
    want = reference.compute(book.loans, book.payments, AS_OF)
    assert committed_states(engine, AS_OF).to_pylist() == want.to_pylist()


def _dump(url: str) -> list[tuple[object, ...]]:
    eng = make_engine(url)
    try:
        states = committed_states(eng, AS_OF)
        with eng.connect() as conn:
            running = conn.execute(
                select(func.count()).select_from(BatchRun).where(BatchRun.status == "committed")
            ).scalar_one()
    finally:
        eng.dispose()
    assert running <= 1
    return [tuple(r.values()) for r in states.to_pylist()]


@pytest.mark.slow
def test_sigkill_leaves_nothing_partial_and_rerun_is_identical(db_url: str, tmp_path: Path) -> None:
    book = random_book(3000, 23, AS_OF)
    write_parquet_inputs(book, tmp_path / "in")
    want = [tuple(r.values()) for r in reference_states(book).to_pylist()]
    env = {**os.environ, "HUIFANG_DATABASE_URL": db_url, "HUIFANG_HOME": str(tmp_path / "home")}
    cmd = [
        sys.executable,
        "-m",
        "huifang.cli_run",
        "--as-of",
        AS_OF.isoformat(),
        "--input",
        str(tmp_path / "in"),
    ]
    rng = random.Random(5)
    staged = 0
    for attempt in range(3):
        proc = subprocess.Popen(
            [*cmd, "--force"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if attempt % 2 == 0:  # at a random moment
            time.sleep(rng.uniform(0.2, 3.0))
        else:  # while its rows are being written (staging), or just after
            staged += _wait_for_staging(db_url, proc)
            time.sleep(rng.uniform(0.0, 0.2))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        visible = _dump(db_url)
        # either the previous complete result or this run's complete result, never a part
        assert visible in ([], want), f"attempt {attempt}: {len(visible)} rows visible"
    assert staged >= 1  # the kills did land inside the write
    done = subprocess.run([*cmd, "--force"], env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert _dump(db_url) == want


def _wait_for_staging(url: str, proc: subprocess.Popen[bytes]) -> int:
    """Wait until the run has a `running` (staging) run row; 1 if seen, 0 if it finished.

    A plain engine: `make_engine` takes SQLite's write lock at BEGIN, which would wait for
    the run's write to finish instead of watching it."""
    eng = create_engine(url)
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            with eng.connect() as conn:
                running = conn.execute(
                    select(func.count()).select_from(BatchRun).where(BatchRun.status == "running")
                ).scalar_one()
            if running:
                return 1
            time.sleep(0.01)
        return 0
    finally:
        eng.dispose()


def reference_states(book: BookInputs) -> pa.Table:
    """The engine's own result computed in-process (the reference engine is too slow for
    3,000 loans in a test; the agreement tests cover the engine against it)."""
    from huifang.batch import engine

    cache = TemplateCache()
    engine.ensure_templates(book.loans, cache, AS_OF)
    states = engine.compute_partition(book.loans, book.payments, cache.table(), AS_OF)
    sample = states.slice(0, 40)
    loans = book.loans.filter(pc.is_in(book.loans["loan_id"], sample["loan_id"]))
    pays = book.payments.filter(pc.is_in(book.payments["loan_id"], sample["loan_id"]))
    assert reference.compute(loans, pays, AS_OF).to_pylist() == sample.to_pylist()
    return states
