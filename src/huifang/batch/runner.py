"""The nightly run as a sequence of stages over one context.

A stage is a name and a function of the `RunContext`; the default stages read the inputs,
fingerprint them, make sure every schedule template exists, compute the loan states
partition by partition, summarize, and write - the write commits atomically (see
`output`). Capabilities that later join the run (collateral revaluation, behaviour score
and tier, early-warning alerts, due follow-up tasks) add stages after `compute`: they read
`ctx.states` and the inputs and put their own tables into `ctx.extra` and their counts
into `ctx.summary`.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from huifang.batch import behaviour_stage, fold_kernel, row_digest, score_kernel
from huifang.batch import engine as duck
from huifang.batch.behaviour_inputs import BehaviourBook
from huifang.batch.followup_inputs import FollowupBook
from huifang.batch.inputs import BookInputs
from huifang.batch.output import Previous, Sink
from huifang.batch.risk_inputs import RiskBook
from huifang.batch.templates import TemplateCache
from huifang.model.artifact import Artifact
from huifang.policy_files import LoadedPolicy

ENGINE_VERSION = "1"
DEFAULT_PARTITION_LOANS = 250_000

Progress = Callable[[str, int, int], None]  # stage, done, total


@dataclass
class RunContext:
    as_of: date
    load: Callable[[], BookInputs]
    sink: Sink
    cache: TemplateCache
    engine: str = "duckdb"
    force: bool = False
    partition_loans: int = DEFAULT_PARTITION_LOANS  # loans per Spark task
    workers: int | None = None  # threads for the local engine; None: the usable CPUs
    progress: Progress = lambda stage, done, total: None
    spark_master: str | None = None
    input_dir: Path | None = None  # Parquet inputs Spark executors read directly
    inputs: BookInputs | None = None
    fingerprint: str = ""
    states: pa.Table | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    previous: Previous | None = None
    skipped: dict[str, Any] | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    extra: dict[str, pa.Table] = field(default_factory=dict)
    book: pa.Table | None = None  # the loans' derived columns (templates → compute stage)
    load_risk: Callable[[], RiskBook | None] | None = None  # the risk stages' inputs
    risk: RiskBook | None = None
    load_followup: Callable[[], FollowupBook | None] | None = None  # alerts and tasks inputs
    followup: FollowupBook | None = None
    followup_policy: LoadedPolicy | None = None  # None: the policy file
    load_behaviour: Callable[[], BehaviourBook | None] | None = None  # borrower, follow-up
    behaviour: BehaviourBook | None = None
    model_dir: Path | None = None  # behaviour model artifacts (LATEST is used)
    model: Artifact | None = None
    history: pa.Table | None = None  # repayment history kept by compute (behaviour, alerts)
    # the partial-payments rule's (in_a_row, lookback_days) the compute stage evaluated
    partial_window: tuple[int, int] | None = None


@dataclass(frozen=True)
class Stage:
    name: str  # shown in the progress bar (Chinese / English)
    run: Callable[[RunContext], None]


def _warm_up() -> None:
    fold_kernel.warm_up()
    row_digest.warm_up()
    score_kernel.warm_up()


def _read(ctx: RunContext) -> None:
    # the compiled fold loads while the inputs are read (Parquet reads release the GIL)
    warm = threading.Thread(target=_warm_up, daemon=True)
    warm.start()
    ctx.inputs = ctx.load()
    if ctx.load_risk is not None:
        ctx.risk = ctx.load_risk()
    if ctx.load_followup is not None:
        ctx.followup = ctx.load_followup()
    if ctx.load_behaviour is not None:
        behaviour_stage.read(ctx)
    warm.join()
    ctx.progress("read", 1, 1)


def fingerprint(inputs: BookInputs, as_of: date, engine: str) -> str:
    """sha256 over the inputs' content (order-independent row digests) and the run's setup."""
    threads = duck.usable_cpus()
    parts = [row_digest.digest(t, threads) for t in (inputs.loans, inputs.payments)]
    text = f"{parts}|{as_of.isoformat()}|{engine}|{ENGINE_VERSION}"
    return hashlib.sha256(text.encode()).hexdigest()


def _fingerprint(ctx: RunContext) -> None:
    assert ctx.inputs is not None
    ctx.fingerprint = fingerprint(ctx.inputs, ctx.as_of, ctx.engine)
    if ctx.risk is not None:
        from huifang.batch import risk_stage

        ctx.fingerprint = risk_stage.fingerprint(ctx.fingerprint, ctx.risk)
    if ctx.followup is not None:
        from huifang.batch import followup_stage

        ctx.fingerprint = followup_stage.fingerprint(
            ctx.fingerprint, ctx.followup, ctx.followup_policy
        )
    if ctx.behaviour is not None:
        ctx.fingerprint = behaviour_stage.fingerprint(ctx.fingerprint, ctx.behaviour, ctx.model)
    ctx.progress("fingerprint", 1, 1)


def _templates(ctx: RunContext) -> None:
    assert ctx.inputs is not None
    if ctx.engine == "spark":  # Spark tasks prepare their partitions themselves
        duck.ensure_templates(ctx.inputs.loans, ctx.cache, ctx.as_of)
    else:  # the derived loan columns once, for the templates and for the compute stage
        ctx.book = duck.prepare_book(ctx.inputs.loans, ctx.cache, ctx.as_of)[0]
    ctx.progress("templates", 1, 1)


def _history_wanted(ctx: RunContext) -> bool:
    """Whether the compute stage keeps the repayment history: for the behaviour score, or
    for the alerts stage's partial-payments rule (`ctx.partial_window`, set here)."""
    from huifang.batch import followup_stage

    ctx.partial_window = followup_stage.partial_window(ctx)
    return behaviour_stage.wanted(ctx) or ctx.partial_window is not None


def _compute(ctx: RunContext) -> None:
    assert ctx.inputs is not None
    if ctx.engine == "spark":
        from huifang.batch import spark

        ctx.progress("compute", 0, 1)
        ctx.states = spark.compute_states(
            ctx.inputs,
            ctx.cache.table(),
            ctx.as_of,
            ctx.partition_loans,
            master=ctx.spark_master,
            input_dir=ctx.input_dir,
            history=_history_wanted(ctx),
            partial=ctx.partial_window,
        )
        ctx.states, ctx.history = behaviour_stage.split_history(ctx.states)
        ctx.progress("compute", 1, 1)
        return
    if ctx.engine != "duckdb":
        raise ValueError(f"未知的计算引擎 / unknown engine {ctx.engine!r}")
    # one partition in this process: the compiled fold runs in threads over slices of it
    # (it releases the GIL), so the inputs are neither copied nor sent to other processes
    ctx.progress("compute", 0, 1)
    threads = max(1, min(ctx.workers or duck.usable_cpus(), 64))
    ctx.states = duck.compute_partition(
        ctx.inputs.loans,
        ctx.inputs.payments,
        ctx.cache.table(),
        ctx.as_of,
        threads=threads,
        book=ctx.book,
        history=_history_wanted(ctx),
        partial=ctx.partial_window,
    )
    ctx.states, ctx.history = behaviour_stage.split_history(ctx.states)
    ctx.book = None
    ctx.progress("compute", 1, 1)


def summarize(states: pa.Table, loans: pa.Table, previous: Previous | None) -> dict[str, Any]:
    """Counts per bucket and class, money totals, and deltas from the previous run."""
    con = duckdb.connect(config={"threads": duck.usable_cpus()})
    try:
        con.register("s", states)
        con.register("l", loans)

        def counts(sql: str) -> dict[Any, Any]:
            return dict(con.execute(sql).fetchall())

        buckets = counts("SELECT bucket, count(*) FROM s GROUP BY 1 ORDER BY 1")
        classes = counts("SELECT loan_class, count(*) FROM s GROUP BY 1 ORDER BY 1")
        totals = con.execute("""
            SELECT count(*), coalesce(sum(outstanding_principal), 0),
                coalesce(sum(overdue_amount), 0), coalesce(sum(penalty_outstanding), 0),
                coalesce(sum(accrued_interest), 0), coalesce(sum(credit), 0),
                count(*) FILTER (WHERE closed_on IS NOT NULL),
                count(*) FILTER (WHERE dpd > 90)
            FROM s""").fetchone()
        statuses = counts("SELECT status, count(*) FROM l GROUP BY 1 ORDER BY 1")
    finally:
        con.close()
    assert totals is not None
    summary: dict[str, Any] = {
        "loans": int(totals[0]),
        "book_statuses": {str(k): int(v) for k, v in statuses.items()},
        "buckets": {str(k): int(v) for k, v in buckets.items()},
        "classes": {str(k): int(v) for k, v in classes.items()},
        "outstanding_principal": str(totals[1]),
        "overdue_amount": str(totals[2]),
        "penalty_outstanding": str(totals[3]),
        "accrued_interest": str(totals[4]),
        "credit": str(totals[5]),
        "closed_by_payoff": int(totals[6]),
        "over_90_dpd": int(totals[7]),
    }
    if previous is not None:
        before = previous.summary
        summary["previous_as_of"] = previous.as_of.isoformat()
        summary["deltas"] = {
            "loans": summary["loans"] - int(before.get("loans", 0)),
            "buckets": _delta(summary["buckets"], before.get("buckets", {})),
            "classes": _delta(summary["classes"], before.get("classes", {})),
            "over_90_dpd": summary["over_90_dpd"] - int(before.get("over_90_dpd", 0)),
        }
    return summary


def _delta(now: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: now.get(k, 0) - int(before.get(k, 0)) for k in sorted(set(now) | set(before))}


def _summarize(ctx: RunContext) -> None:
    assert ctx.states is not None and ctx.inputs is not None
    ctx.previous = ctx.sink.previous(ctx.as_of)
    ctx.summary.update(summarize(ctx.states, ctx.inputs.loans, ctx.previous))
    ctx.progress("summary", 1, 1)


def _write(ctx: RunContext) -> None:
    assert ctx.states is not None
    ctx.sink.begin(ctx.as_of, ctx.fingerprint, ctx.engine)
    step = 100_000
    total = max(ctx.states.num_rows, 1)
    ctx.progress("write", 0, total)
    for start in range(0, ctx.states.num_rows, step):
        ctx.sink.write(ctx.states.slice(start, step))
        ctx.progress("write", min(start + step, total), total)
    for name, table in sorted(ctx.extra.items()):
        ctx.sink.write_extra(name, table)
    ctx.summary["seconds"] = {k: round(v, 3) for k, v in ctx.seconds.items()}
    ctx.sink.commit(ctx.summary)
    ctx.progress("write", total, total)


def _collateral(ctx: RunContext) -> None:
    from huifang.batch import risk_stage

    risk_stage.collateral_stage(ctx)


def _tier(ctx: RunContext) -> None:
    from huifang.batch import risk_stage

    risk_stage.tier_stage(ctx)


def _alerts(ctx: RunContext) -> None:
    from huifang.batch import followup_stage

    followup_stage.alerts_stage(ctx)


def _tasks(ctx: RunContext) -> None:
    from huifang.batch import followup_stage

    followup_stage.tasks_stage(ctx)


STAGES: tuple[Stage, ...] = (
    Stage("read", _read),
    Stage("fingerprint", _fingerprint),
    Stage("templates", _templates),
    Stage("compute", _compute),
    Stage("summary", _summarize),
    Stage("collateral", _collateral),
    Stage("alerts", _alerts),
    Stage("behaviour", behaviour_stage.behaviour_stage),
    Stage("tier", _tier),
    Stage("tasks", _tasks),
    Stage("write", _write),
)


def run(ctx: RunContext, stages: Sequence[Stage] = STAGES) -> RunContext:
    """Run the stages; a date with a committed result is skipped unless `ctx.force`."""
    existing = ctx.sink.existing(ctx.as_of)
    if existing is not None and not ctx.force:
        ctx.skipped = existing
        return ctx
    for stage in stages:
        ctx.progress(stage.name, 0, 1)
        started = time.perf_counter()
        stage.run(ctx)
        ctx.seconds[stage.name] = time.perf_counter() - started
    return ctx


def template_cache_dir(home: Path) -> Path:
    return home / "batch-cache" / "templates"
