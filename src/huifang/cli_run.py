"""`huifang run`: the nightly portfolio run as of a business date.

Reads the book from the database (or a Parquet input directory), computes every active
loan's state with the vectorized engine (or Spark), writes the results atomically to the
run tables (or a Parquet output directory) and prints the run summary with deltas from the
previous run. A date already run is not run again unless `--force`.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from huifang.batch.behaviour_inputs import read_database_behaviour, read_parquet_behaviour
from huifang.batch.followup_inputs import read_database_followup, read_parquet_followup
from huifang.batch.inputs import read_database_inputs, read_parquet_inputs
from huifang.batch.output import DatabaseSink, ParquetSink, Sink
from huifang.batch.risk_inputs import read_database_risk, read_parquet_risk
from huifang.batch.runner import RunContext, run, template_cache_dir
from huifang.batch.templates import TemplateCache
from huifang.domain.money import format_cny
from huifang.model.artifact import models_dir
from huifang.settings import load_settings

console = Console()

STAGE_LABELS = {
    "read": "读取输入 read",
    "fingerprint": "输入指纹 fingerprint",
    "templates": "还款计划模板 templates",
    "compute": "计算 compute",
    "summary": "汇总 summary",
    "collateral": "抵押物估值与抵押率 collateral/LTV",
    "behaviour": "行为评分 behaviour score",
    "tier": "风险分层 tier",
    "alerts": "新增预警 new alerts",
    "tasks": "到期回访任务 due tasks",
    "write": "写入结果 write",
}
CLASS_ORDER = ("正常", "关注", "次级", "可疑", "损失")
BUCKET_ORDER = ("M0", "M1", "M2", "M3", "M4", "M5", "M6", "M6+")


class EngineChoice(StrEnum):
    DUCKDB = "duckdb"
    SPARK = "spark"


def run_command(
    as_of: Annotated[str, typer.Option("--as-of", help="业务日期 / business date, YYYY-MM-DD")],
    engine: Annotated[
        EngineChoice, typer.Option("--engine", help="计算引擎 / engine")
    ] = EngineChoice.DUCKDB,
    input_dir: Annotated[
        Path | None,
        typer.Option("--input", help="Parquet 输入目录 (默认读数据库) / Parquet input directory"),
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option("--output", help="Parquet 输出目录 (默认写数据库) / Parquet output directory"),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="重跑已完成的日期 / run a date again")
    ] = False,
    spark_master: Annotated[
        str | None, typer.Option("--spark-master", help="Spark master URL (默认 local[*])")
    ] = None,
) -> None:
    """夜间批处理: 按业务日期重算全部在贷贷款 / the nightly portfolio run."""
    try:
        day = date.fromisoformat(as_of)
    except ValueError:
        raise typer.BadParameter(f"日期格式应为 YYYY-MM-DD: {as_of}") from None
    ctx = nightly_run(day, engine.value, input_dir, output_dir, force, spark_master)
    if ctx.skipped is not None:
        console.print(
            f"[yellow]{day} 已有完成的批处理结果, 未重跑 (使用 --force 重跑)[/yellow] "
            f"/ {day} already run; use --force to run it again"
        )
    else:
        print_summary(day, ctx.summary)
    print_follow_through(ctx)


def nightly_run(
    day: date,
    engine: str = "duckdb",
    input_dir: Path | None = None,
    output_dir: Path | None = None,
    force: bool = False,
    spark_master: str | None = None,
) -> RunContext:
    """Run the nightly job with a progress bar per stage (shared with `huifang demo`)."""
    settings = load_settings()
    db_engine = None
    if input_dir is None or output_dir is None:
        from huifang.store.db import make_engine, upgrade

        db_engine = make_engine(settings.database_url)
        upgrade(db_engine)
    sink: Sink = ParquetSink(output_dir) if output_dir is not None else DatabaseSink(db_engine)  # type: ignore[arg-type]

    def load():  # type: ignore[no-untyped-def]
        if input_dir is not None:
            return read_parquet_inputs(input_dir)
        return read_database_inputs(db_engine)  # type: ignore[arg-type]

    def load_risk():  # type: ignore[no-untyped-def]
        if input_dir is not None:
            return read_parquet_risk(input_dir)
        return read_database_risk(db_engine)  # type: ignore[arg-type]

    def load_followup():  # type: ignore[no-untyped-def]
        if input_dir is not None:
            return read_parquet_followup(input_dir)
        return read_database_followup(db_engine)  # type: ignore[arg-type]

    policy = None
    if input_dir is None:
        from huifang.services import configs

        policy = configs.followup_policy(db_engine)  # the policy in force, as generate_tasks

    def load_behaviour():  # type: ignore[no-untyped-def]
        if input_dir is not None:
            return read_parquet_behaviour(input_dir)
        return read_database_behaviour(db_engine)  # type: ignore[arg-type]

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(STAGE_LABELS.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done, total=total)

        ctx = RunContext(
            as_of=day,
            load=load,
            load_risk=load_risk,
            load_followup=load_followup,
            followup_policy=policy,
            load_behaviour=load_behaviour,
            model_dir=models_dir(settings.home),
            sink=sink,
            cache=TemplateCache(template_cache_dir(settings.home)),
            engine=engine,
            force=force,
            progress=progress,
            spark_master=spark_master,
            input_dir=input_dir,
        )
        ctx = run(ctx)
    if isinstance(sink, DatabaseSink) and input_dir is None:
        # into the workspace tables, after the commit (also completes one a crash cut off);
        # only for a book read from this database (Parquet inputs are another book)
        from huifang.batch.follow_through import follow_through

        ctx.summary["follow_through"] = vars(follow_through(sink.engine, day))
    return ctx


def print_follow_through(ctx: RunContext) -> None:
    done = ctx.summary.get("follow_through")
    if not done or done.get("run_id") is None:
        return
    console.print(
        f"写入工作台 / into the workspace: 新预警 new alerts {done['alerts']:,}, "
        f"新任务 new tasks {done['tasks']:,}, 分层变化 tier changes {done['tier_changes']:,}"
    )


def demo_run(day: date) -> None:
    """The nightly run over the freshly imported demo book (`huifang demo`)."""
    console.rule("夜间批处理 / nightly run")
    ctx = nightly_run(day, force=True)
    print_summary(day, ctx.summary)
    print_follow_through(ctx)


def print_summary(day: date, summary: dict[str, Any]) -> None:
    deltas = summary.get("deltas", {})
    since = summary.get("previous_as_of")
    title = f"批处理结果 / nightly run {day}" + (f" (较 {since} / vs {since})" if since else "")
    table = Table("项目 / item", "数量 / count", "变化 / change", title=title)

    def change(group: str, key: str) -> str:
        if not deltas:
            return ""
        value = deltas.get(group, {}).get(key, 0)
        return f"{value:+,}"

    table.add_row("在贷贷款 active loans", f"{summary['loans']:,}", _signed(deltas.get("loans")))
    for bucket in BUCKET_ORDER:
        if bucket in summary["buckets"] or bucket in deltas.get("buckets", {}):
            table.add_row(
                f"逾期分档 bucket {bucket}",
                f"{summary['buckets'].get(bucket, 0):,}",
                change("buckets", bucket),
            )
    for cls in CLASS_ORDER:
        if cls in summary["classes"] or cls in deltas.get("classes", {}):
            table.add_row(
                f"五级分类 class {cls}",
                f"{summary['classes'].get(cls, 0):,}",
                change("classes", cls),
            )
    table.add_row(
        "逾期超过90天 over 90 DPD",
        f"{summary['over_90_dpd']:,}",
        _signed(deltas.get("over_90_dpd")),
    )
    for key, label in (
        ("outstanding_principal", "剩余本金 outstanding principal"),
        ("overdue_amount", "逾期金额 overdue amount"),
        ("penalty_outstanding", "未还罚息 penalty outstanding"),
    ):
        table.add_row(label, format_cny(Decimal(summary[key])), "")
    _followup_rows(table, summary)
    console.print(table)


def _followup_rows(table: Table, summary: dict[str, Any]) -> None:
    """New alerts by severity and rule, due tasks by purpose, with deltas."""
    for section, groups in (
        ("alerts", (("new_by_severity", "新预警 alerts"), ("new_by_rule", "新预警 alerts"))),
        ("tasks", (("new_by_purpose", "新任务 tasks"),)),
    ):
        part = summary.get(section) or {}
        if "new" not in part:
            continue
        deltas = part.get("deltas") or {}
        table.add_row(f"{groups[0][1]} total", f"{part['new']:,}", _signed(deltas.get("new")))
        for group, label in groups:
            counts = part.get(group, {})
            change = deltas.get(group, {})
            for key in sorted(set(counts) | set(change)):
                table.add_row(f"{label} {key}", f"{counts.get(key, 0):,}", _signed(change.get(key)))


def _signed(value: int | None) -> str:
    return "" if value is None else f"{value:+,}"


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)


if __name__ == "__main__":  # `python -m huifang.cli_run --as-of …` (used by the crash tests)
    typer.run(run_command)
