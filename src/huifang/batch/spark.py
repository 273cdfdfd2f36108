"""The Spark engine: the per-partition function run on Apache Spark with `mapInArrow`.

The unit of work of the nightly run is `engine.compute_partition` - a set of loans with
their payments in, their loan states out (Arrow in, Arrow out, no shared state). This module
runs that same function on a Spark cluster (or in local mode):

1. each active loan gets its ledger rows as one nested column (`payments`: a list of
   structs, `groupBy(loan_id)` + `collect_list`, left-joined onto the loans), so that a loan
   and its payments always travel together;
2. the rows are range-partitioned by loan id (`repartitionByRange`) into the requested number
   of partitions;
3. `mapInArrow` hands each partition's Arrow batches to `_partition_states`, which unnests
   the payments and calls `compute_partition` once per partition with the schedule templates
   (computed on the driver by the domain, sent to the executors as a broadcast variable);
4. the states come back as Arrow (`toArrow`), sorted by loan id, and go through the same
   sink as a local run (staged, then swapped in atomically).

Because the function and its inputs are the same, a Spark run gives exactly the local
engine's rows (tests/batch/test_spark.py compares the two Parquet outputs).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from huifang.batch.engine import HISTORY_SCHEMA, STATE_SCHEMA, compute_partition
from huifang.batch.inputs import LOAN_SCHEMA, PAYMENT_SCHEMA, BookInputs, conform

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

DEFAULT_MASTER = "local[*]"


def spark_session(master: str | None = None) -> SparkSession:
    """A Spark session for the run (`master` e.g. `local[2]`, `spark://host:7077`, `yarn`).

    Python workers use this interpreter (the virtual environment with huifang installed)
    unless `PYSPARK_PYTHON` says otherwise.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise RuntimeError(
            "未安装 pyspark: pip install 'huifang[spark]' / pyspark is not installed"
        ) from exc
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    return (
        SparkSession.builder.appName("huifang-nightly")
        .master(master or os.environ.get("HUIFANG_SPARK_MASTER", DEFAULT_MASTER))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )


def _spark_type(t: pa.DataType) -> str:
    if pa.types.is_int64(t):
        return "bigint"
    if pa.types.is_int32(t):
        return "int"
    if pa.types.is_date32(t):
        return "date"
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    if pa.types.is_string(t):
        return "string"
    raise TypeError(f"no Spark type for {t}")


STATE_DDL = ", ".join(f"{f.name} {_spark_type(f.type)}" for f in STATE_SCHEMA)
HISTORY_DDL = ", ".join(f"{f.name} {_spark_type(f.type)}" for f in HISTORY_SCHEMA)


def book_frames(
    spark: SparkSession, inputs: BookInputs | None = None, input_dir: Path | None = None
) -> tuple[DataFrame, DataFrame]:
    """The book as Spark DataFrames: read by Spark from a Parquet input directory (where the
    executors can reach it: HDFS, S3, a shared mount), else from the driver's Arrow tables."""
    if input_dir is not None:
        return (
            spark.read.parquet(str(input_dir / "loans.parquet")),
            spark.read.parquet(str(input_dir / "payments.parquet")),
        )
    assert inputs is not None
    return spark.createDataFrame(inputs.loans), spark.createDataFrame(inputs.payments)


def spark_states(
    spark: SparkSession,
    loans: DataFrame,
    payments: DataFrame,
    templates: pa.Table,
    as_of: date,
    partitions: int,
    history: bool = False,
    partial: tuple[int, int] | None = None,
) -> DataFrame:
    """The loan states as a Spark DataFrame: `compute_partition` over `partitions` ranges."""
    from pyspark.sql import functions as F

    nested = payments.groupBy("loan_id").agg(
        F.collect_list(F.struct(*PAYMENT_SCHEMA.names)).alias("payments")
    )
    book = (
        loans.where(F.col("status") == "active")
        .select(*LOAN_SCHEMA.names)
        .join(nested, "loan_id", "left")
        .repartitionByRange(max(1, partitions), "loan_id")
    )
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, templates.schema) as writer:
        writer.write_table(templates)
    shared = spark.sparkContext.broadcast(sink.getvalue().to_pybytes())

    def job(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        tpl = pa.ipc.open_stream(shared.value).read_all()
        yield from _partition_states(batches, tpl, as_of, history, partial)

    return book.mapInArrow(job, f"{STATE_DDL}, {HISTORY_DDL}" if history else STATE_DDL)


def _partition_states(
    batches: Iterator[pa.RecordBatch],
    templates: pa.Table,
    as_of: date,
    history: bool = False,
    partial: tuple[int, int] | None = None,
) -> Iterator[pa.RecordBatch]:
    """One Spark partition: unnest the payments, then the unit of work on all its loans."""
    received = list(batches)
    if not received or sum(b.num_rows for b in received) == 0:
        return
    table = pa.Table.from_batches(received)
    loans = conform(table.drop_columns(["payments"]), LOAN_SCHEMA)
    flat = pc.list_flatten(table.column("payments"))
    if isinstance(flat, pa.ChunkedArray):
        flat = flat.combine_chunks()
    if len(flat):
        payments = conform(pa.Table.from_struct_array(flat), PAYMENT_SCHEMA)
    else:
        payments = PAYMENT_SCHEMA.empty_table()
    states = compute_partition(loans, payments, templates, as_of, history=history, partial=partial)
    yield from states.to_batches()


def compute_states(
    inputs: BookInputs,
    templates: pa.Table,
    as_of: date,
    partition_loans: int,
    master: str | None = None,
    input_dir: Path | None = None,
    spark: SparkSession | None = None,
    history: bool = False,
    partial: tuple[int, int] | None = None,
) -> pa.Table:
    """The run's compute stage on Spark: the states of the book's active loans, by loan id
    (with `history`, followed by the behaviour stage's HISTORY_SCHEMA columns)."""
    schema = pa.schema([*STATE_SCHEMA, *HISTORY_SCHEMA]) if history else STATE_SCHEMA
    spark = spark or spark_session(master)
    active = pc.sum(pc.equal(inputs.loans.column("status"), "active")).as_py() or 0
    if active == 0:
        return schema.empty_table()
    parts = math.ceil(active / max(partition_loans, 1))
    # the shuffles (payments grouped by loan, then loans by range) need no more partitions
    # than the run has (Spark's default of 200 mostly schedules empty tasks)
    spark.conf.set(
        "spark.sql.shuffle.partitions", str(max(parts, spark.sparkContext.defaultParallelism))
    )
    loans, payments = book_frames(spark, inputs, input_dir)
    states = spark_states(
        spark, loans, payments, templates, as_of, parts, history, partial
    ).toArrow()
    states = conform(states, schema)
    return states.take(pc.sort_indices(states.column("loan_id")))
