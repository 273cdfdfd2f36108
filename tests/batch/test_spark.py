"""The Spark engine (local mode) gives exactly the local engine's results."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from batch_portfolios import random_book
from behaviour_portfolios import random_behaviour, random_card
from followup_portfolios import random_followup
from pyspark.sql import SparkSession
from risk_portfolios import random_risk

from huifang.batch import behaviour_stage, reference
from huifang.batch.behaviour_inputs import BehaviourBook
from huifang.batch.engine import STATE_SCHEMA, compute_partition, ensure_templates
from huifang.batch.inputs import BookInputs, read_parquet_inputs, write_parquet_inputs
from huifang.batch.output import ParquetSink, read_parquet_states
from huifang.batch.risk_inputs import RiskBook
from huifang.batch.runner import RunContext, run
from huifang.batch.spark import _partition_states, book_frames, spark_session
from huifang.batch.templates import TemplateCache
from huifang.model.artifact import write_artifact

AS_OF = date(2025, 6, 30)
MASTER = "local[2]"


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    session = spark_session(MASTER)  # slow to start: one session for the module
    yield session
    session.stop()


def _run(book: BookInputs, out: Path, **kw: object) -> RunContext:
    ctx = RunContext(
        as_of=AS_OF, load=lambda: book, sink=ParquetSink(out), cache=TemplateCache(), **kw
    )  # type: ignore[arg-type]
    return run(ctx)


def _model(book: BookInputs, risk: RiskBook, behaviour: BehaviourBook, root: Path) -> Path:
    """A scorecard over every feature, its splits drawn from this book's own values."""
    cache = TemplateCache()
    ensure_templates(book.loans, cache, AS_OF)
    states, history = behaviour_stage.split_history(
        compute_partition(book.loans, book.payments, cache.table(), AS_OF, history=True)
    )
    assert history is not None
    f = behaviour_stage.features(states, history, book.loans, risk, behaviour, AS_OF)
    frame = pd.DataFrame({**f.numeric, **{k: v.to_pylist() for k, v in f.categorical.items()}})
    write_artifact(root, AS_OF, random_card(frame, 61), {}, "# test card {version}")
    return root


def test_spark_run_equals_local_run(spark: SparkSession, tmp_path: Path) -> None:
    book = random_book(160, 61, AS_OF)
    write_parquet_inputs(book, tmp_path / "in")
    loaded = read_parquet_inputs(tmp_path / "in")
    risk = random_risk(book.loans, 61, AS_OF)  # the risk stages run after either engine
    workspace = random_followup(book.loans, 61, AS_OF)  # so do alerts and tasks
    behaviour = random_behaviour(book.loans, 61, AS_OF)  # scored from either engine's history
    models = _model(book, risk, behaviour, tmp_path / "models")
    _run(
        loaded,
        tmp_path / "local",
        load_risk=lambda: risk,
        load_followup=lambda: workspace,
        load_behaviour=lambda: behaviour,
        model_dir=models,
    )
    # Spark reads the Parquet inputs itself, in 5 range partitions of loans
    ctx = _run(
        loaded,
        tmp_path / "spark",
        engine="spark",
        spark_master=MASTER,
        partition_loans=25,
        input_dir=tmp_path / "in",
        load_risk=lambda: risk,
        load_followup=lambda: workspace,
        load_behaviour=lambda: behaviour,
        model_dir=models,
    )
    assert ctx.summary["loans"] == reference.compute(book.loans, book.payments, AS_OF).num_rows
    local_file = tmp_path / "local" / f"as_of={AS_OF}" / "loan_states.parquet"
    spark_file = tmp_path / "spark" / f"as_of={AS_OF}" / "loan_states.parquet"
    assert spark_file.read_bytes() == local_file.read_bytes()
    run_tables = ("loan_collateral", "loan_scores", "loan_tiers", "loan_alerts", "loan_tasks")
    for name in (*run_tables, "loan_tier_changes"):
        local_risk = tmp_path / "local" / f"as_of={AS_OF}" / f"{name}.parquet"
        spark_risk = tmp_path / "spark" / f"as_of={AS_OF}" / f"{name}.parquet"
        assert spark_risk.read_bytes() == local_risk.read_bytes()
    assert ctx.summary["tiers"]["risk"]
    assert ctx.summary["alerts"]["new"] and ctx.summary["tasks"]["new"]
    assert ctx.summary["behaviour"]["scored"] > 0
    want = reference.compute(book.loans, book.payments, AS_OF)
    assert read_parquet_states(tmp_path / "spark", AS_OF).to_pylist() == want.to_pylist()
    # the database input path hands Spark the driver's Arrow tables: the same frames
    for from_arrow, from_files in zip(
        book_frames(spark, loaded), book_frames(spark, input_dir=tmp_path / "in"), strict=True
    ):
        assert from_arrow.schema == from_files.schema
        assert from_arrow.exceptAll(from_files).count() == 0


def test_partition_function_handles_empty_partitions() -> None:
    book = random_book(3, 62, AS_OF)
    empty = pa.table(
        {**{f.name: pa.array([], f.type) for f in book.loans.schema}, "payments": pa.array([])}
    )
    assert list(_partition_states(iter(empty.to_batches()), pa.table({}), AS_OF)) == []
    assert list(_partition_states(iter([]), pa.table({}), AS_OF)) == []
    assert STATE_SCHEMA.names[0] == "loan_id"
