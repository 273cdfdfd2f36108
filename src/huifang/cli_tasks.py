"""`huifang tasks …` and `huifang simulate`: follow-up tasks from the command line.

huifang tasks generate --as-of 2026-03-20     # idempotent: re-running creates nothing new
huifang tasks route                           # to agents by branch, skill and load
huifang tasks list --branch SZ01 --status open --format json
huifang simulate --days 30                    # a month of follow-up on a copy of the DB
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
import tempfile
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.engine import make_url

from huifang.calendars import ChineseHolidayCalendar
from huifang.domain.followup_metrics import Dimension
from huifang.policy_files import PolicyFileError, load_followup_policy
from huifang.services import configs
from huifang.services.followup import (
    TaskError,
    agent_id,
    cancel_task,
    generate_tasks,
    list_tasks,
    reassign_task,
    route_tasks,
    snooze_task,
)
from huifang.services.followup_metrics import followup_metrics
from huifang.services.followup_simulation import attempts_by_outcome, simulate
from huifang.settings import business_today, load_settings
from huifang.store.db import make_engine, upgrade

# Piped output (reports, logs) gets room for the wide tables; a terminal keeps its width.
console = Console(width=None if sys.stdout.isatty() else 132)
tasks_app = typer.Typer(help="回访任务 / follow-up tasks", no_args_is_help=True)

_PURPOSE_ZH = {
    "first-visit": "首次回访",
    "routine": "定期回访",
    "missed-payment": "逾期回访",
    "bucket-change": "逾期升级",
    "ltv-breach": "抵押率超限",
    "early-repayment": "提前还款确认",
    "contact-change": "联系方式变更",
    "risk-finding": "风险复访",
    "flagged-industry": "关注行业",
    "re-verification": "更正复核",
    "pre-loan-verification": "贷前核实",
    "disbursement-review": "贷时审查",
}


def _engine():  # type: ignore[no-untyped-def]
    engine = make_engine(load_settings().database_url)
    upgrade(engine)
    return engine


def _date(text: str | None, default: date | None = None) -> date:
    if text is None:
        return default or business_today()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"日期格式应为 YYYY-MM-DD: {text}") from None


def _policy(path: Path | None, engine=None):  # type: ignore[no-untyped-def]
    """The policy file given, else the one in force for the database (`configs`)."""
    try:
        if path is None and engine is not None:
            return configs.followup_policy(engine)
        return load_followup_policy(path)
    except PolicyFileError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(code=2) from None


def _pct(value: Decimal | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def register(app: typer.Typer) -> None:
    app.add_typer(tasks_app, name="tasks")
    app.command("simulate")(simulate_command)


@tasks_app.command("generate")
def generate_command(
    as_of: Annotated[str | None, typer.Option("--as-of", help="日期 YYYY-MM-DD, 默认今天")] = None,
    policy: Annotated[
        Path | None, typer.Option("--policy", help="回访策略文件 / policy file (YAML)")
    ] = None,
) -> None:
    """按回访策略生成到期任务 (幂等) / generate the tasks due (idempotent)."""
    engine = _engine()
    loaded = _policy(policy, engine)
    report = generate_tasks(engine, _date(as_of), policy=loaded)
    console.print(
        f"策略 {loaded.policy.name} v{loaded.version}: 检查 {report.loans:,} 笔贷款, "
        f"新建 {report.created:,} 个任务, 已有未结任务 {report.already_open:,}, "
        f"因贷款结清取消 {report.cancelled:,}"
        f" / {report.created:,} created, {report.already_open:,} already open"
    )
    if report.by_purpose:
        table = Table("回访目的 / purpose", "新建 / created")
        for purpose, n in sorted(report.by_purpose.items()):
            table.add_row(f"{_PURPOSE_ZH.get(purpose, purpose)} {purpose}", f"{n:,}")
        console.print(table)


@tasks_app.command("route")
def route_command() -> None:
    """把未分配任务派给本机构有技能、负荷最低的坐席 / route tasks to agents."""
    report = route_tasks(_engine())
    console.print(
        f"已分配 {report.assigned:,}, 留在机构队列 {report.queued:,}"
        f" / {report.assigned:,} assigned, {report.queued:,} left in branch queues"
    )


@tasks_app.command("list")
def list_command(
    branch: Annotated[str | None, typer.Option("--branch", help="机构代码 / branch code")] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help="open | escalated | done | cancelled | unreachable"),
    ] = None,
    agent: Annotated[str | None, typer.Option("--agent", help="坐席用户名 / agent")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 50,
    fmt: Annotated[str, typer.Option("--format", help="table | json")] = "table",
) -> None:
    """列出任务, 最紧急的在前 / list tasks, most urgent first."""
    if fmt not in ("table", "json"):
        raise typer.BadParameter("--format 应为 table 或 json")
    rows = list_tasks(_engine(), branch=branch, status=status, agent=agent, limit=limit)
    if fmt == "json":
        typer.echo(json.dumps([r.as_json() for r in rows], ensure_ascii=False, indent=2))
        return
    table = Table(title=f"回访任务 / tasks ({len(rows)})")
    for name in ("#", "合同", "机构"):
        table.add_column(name, no_wrap=True)
    table.add_column("目的")
    for name in ("到期", "时限"):
        table.add_column(name, no_wrap=True)
    for name in ("级", "风险", "状态", "坐席"):
        table.add_column(name)
    for r in rows:
        table.add_row(
            str(r.id),
            r.contract_no,
            r.branch,
            _PURPOSE_ZH.get(r.purpose, r.purpose),
            r.due_on.strftime("%y-%m-%d"),
            r.deadline.strftime("%y-%m-%d"),
            str(r.priority),
            r.tier,
            r.status,
            r.claimed_by or r.assigned_to or "-",
        )
    console.print(table)


@tasks_app.command("metrics")
def metrics_command(
    start: Annotated[str, typer.Option("--from", help="开始日期 YYYY-MM-DD")],
    end: Annotated[str, typer.Option("--to", help="结束日期 YYYY-MM-DD")],
    by: Annotated[str, typer.Option("--by", help="total | branch | agent | channel | tier")] = (
        "total"
    ),
    fmt: Annotated[str, typer.Option("--format", help="table | json")] = "table",
) -> None:
    """覆盖率、接通率、本人接通率、及时率、次数/完成 / follow-up metrics for a period."""
    try:
        dim = Dimension(by)
    except ValueError:
        raise typer.BadParameter(f"--by 应为 {', '.join(d.value for d in Dimension)}") from None
    first, last = _date(start), _date(end)
    if last < first:
        raise typer.BadParameter("--to 早于 --from")
    rows = followup_metrics(_engine(), first, last, dim)
    if fmt == "json":
        out = [
            {
                "group": m.group,
                "due": m.due,
                "completed_of_due": m.completed_of_due,
                "completed": m.completed,
                "attempts": m.attempts,
                "coverage": None if m.coverage is None else str(m.coverage),
                "connection_rate": None if m.connection_rate is None else str(m.connection_rate),
                "right_party_rate": None if m.right_party_rate is None else str(m.right_party_rate),
                "on_time_rate": None if m.on_time_rate is None else str(m.on_time_rate),
                "attempts_per_completion": None
                if m.attempts_per_completion is None
                else str(m.attempts_per_completion),
            }
            for m in rows
        ]
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    _metrics_table(rows, f"指标 / metrics {first} – {last} ({dim.value})")


def _metrics_table(rows, title: str) -> None:  # type: ignore[no-untyped-def]
    table = Table(
        "分组",
        "到期",
        "覆盖率",
        "拨打",
        "接通率",
        "本人接通率",
        "及时率",
        "次数/完成",
        title=title,
    )
    for m in rows:
        table.add_row(
            m.group,
            f"{m.due:,}",
            _pct(m.coverage),
            f"{m.attempts:,}",
            _pct(m.connection_rate),
            _pct(m.right_party_rate),
            _pct(m.on_time_rate),
            "-" if m.attempts_per_completion is None else str(m.attempts_per_completion),
        )
    console.print(table)


@tasks_app.command("cancel")
def cancel_command(
    task_id: Annotated[int, typer.Argument(help="任务号 / task id")],
    reason: Annotated[str, typer.Option("--reason", help="原因 / reason")],
) -> None:
    """取消任务 (须说明原因) / cancel a task with a reason."""
    _task_op(lambda e: cancel_task(e, task_id, reason))


@tasks_app.command("snooze")
def snooze_command(
    task_id: Annotated[int, typer.Argument(help="任务号 / task id")],
    until: Annotated[str, typer.Option("--until", help="暂缓到 YYYY-MM-DD (当地 00:00)")],
    reason: Annotated[str, typer.Option("--reason", help="原因 / reason")],
) -> None:
    """暂缓任务 / snooze a task until a date."""
    when = datetime.combine(_date(until), time(0), ZoneInfo(load_settings().timezone))
    _task_op(lambda e: snooze_task(e, task_id, when, reason))


@tasks_app.command("reassign")
def reassign_command(
    task_id: Annotated[int, typer.Argument(help="任务号 / task id")],
    agent: Annotated[str, typer.Option("--agent", help="坐席用户名 / agent user name")],
    reason: Annotated[str, typer.Option("--reason", help="原因 / reason")],
) -> None:
    """转派给本机构另一位坐席 / reassign to another agent of the branch."""
    _task_op(lambda e: reassign_task(e, task_id, agent_id(e, agent), reason))


def _task_op(op) -> None:  # type: ignore[no-untyped-def]
    try:
        view = op(_engine())
    except TaskError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(code=1) from None
    console.print(
        f"任务 #{view.id} {view.contract_no} {view.purpose}: {view.status}"
        f" · {view.assigned_to or '-'} · {view.status_reason or ''}"
    )


def _simulation_copy(url: str, in_place: bool) -> tuple[str, Path | None]:
    """The database the simulation writes: a copy of an embedded SQLite file, or (with
    --in-place) the configured database itself."""
    parsed = make_url(url)
    if in_place:
        return url, None
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        console.print(
            "[red]服务器数据库上的模拟会写入任务和回访记录; 确认请加 --in-place[/red]"
            " / on a server database, pass --in-place to let the simulation write to it"
        )
        raise typer.Exit(code=2)
    source = Path(parsed.database)
    if not source.exists():
        console.print("[red]数据库不存在, 请先运行 huifang demo[/red] / run `huifang demo` first")
        raise typer.Exit(code=2)
    folder = Path(tempfile.mkdtemp(prefix="huifang-sim-"))
    target = folder / "simulation.db"
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return f"sqlite:///{target}", folder


def simulate_command(
    days: Annotated[int, typer.Option("--days", min=1, max=366, help="天数 / days")] = 30,
    start: Annotated[
        str | None, typer.Option("--start", help="开始日期, 默认今天往前 --days 天")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="随机种子 / seed")] = 2026,
    in_place: Annotated[
        bool, typer.Option("--in-place", help="直接写入配置的数据库 / write to the database")
    ] = False,
    keep: Annotated[bool, typer.Option("--keep", help="保留模拟数据库 / keep the copy")] = False,
    voice: Annotated[
        bool, typer.Option("--voice", help="加入智能外呼活动 / with a voice-agent campaign")
    ] = False,
    voice_lines: Annotated[int, typer.Option("--voice-lines", min=1, help="外呼并发线路")] = 10,
    compare_voice: Annotated[
        bool,
        typer.Option("--compare-voice", help="有无智能外呼各跑一次并对比 / run both and compare"),
    ] = False,
) -> None:
    """模拟一个月的回访工作 (演示组合) / simulate a month of follow-up on the portfolio."""
    first = _date(start, business_today() - timedelta(days=days))
    if compare_voice:
        if in_place:
            raise typer.BadParameter(
                "--compare-voice 需要数据库副本 / needs copies (no --in-place)"
            )
        rows = []
        for with_voice in (False, True):
            url, folder = _simulation_copy(load_settings().database_url, False)
            engine = make_engine(url)
            upgrade(engine)
            try:
                console.rule(f"{'有' if with_voice else '无'}智能外呼 / voice {with_voice}")
                report = _run_simulation(engine, first, days, seed, with_voice, voice_lines)
                _print_simulation(engine, report, first, days)
                rows.append(_voice_summary(engine, report, first, days, with_voice))
            finally:
                engine.dispose()
                shutil.rmtree(folder or "", ignore_errors=True)
        _print_comparison(rows)
        return
    url, folder = _simulation_copy(load_settings().database_url, in_place)
    engine = make_engine(url)
    upgrade(engine)
    console.rule(f"回访模拟 / follow-up simulation · {first} 起 {days} 天 · seed {seed}")
    try:
        report = _run_simulation(engine, first, days, seed, voice, voice_lines)
        _print_simulation(engine, report, first, days)
        if voice:
            _print_comparison([_voice_summary(engine, report, first, days, True)])
    finally:
        engine.dispose()
        if folder is not None:
            if keep:
                console.print(f"模拟数据库 / simulation database: {folder / 'simulation.db'}")
            else:
                shutil.rmtree(folder, ignore_errors=True)


def _run_simulation(engine, first: date, days: int, seed: int, voice: bool, lines: int):  # type: ignore[no-untyped-def]
    from huifang.services.followup_simulation import VoiceChannel

    channel = None
    if voice:
        from huifang.voice.campaign_dialer import SimulatedDialer

        channel = VoiceChannel(lambda clock: SimulatedDialer(clock, seed), lines=lines)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
    ) as bar:
        task = bar.add_task("模拟 / simulating", total=days, info="")

        def advance(done: int, s) -> None:  # type: ignore[no-untyped-def]
            rate = f"{s.connected / s.attempts:.0%}" if s.attempts else "-"
            bar.update(
                task,
                completed=done,
                info=f"{s.day} 拨打 {s.attempts} 接通率 {rate} 完成 {s.completed}",
            )

        report = simulate(
            engine,
            first,
            days,
            seed=seed,
            calendar=ChineseHolidayCalendar(),
            progress=advance,
            voice=channel,
        )
    return report


def _voice_summary(engine, report, first: date, days: int, with_voice: bool) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """Coverage, completions and cost of a simulated month (cost per completed contact over
    the call channels, `followup_metrics.channel_cost_figures`)."""
    from huifang.services.followup_metrics import channel_cost_figures

    end = first + timedelta(days=days - 1)
    (total,) = followup_metrics(engine, first, end) or (None,)
    costs = {c.channel: c for c in channel_cost_figures(engine, first, end)}
    cost = sum((c.cost for c in costs.values()), Decimal("0.00"))
    completed = sum(c.completed for c in costs.values())
    return {
        "voice": with_voice,
        "due": total.due if total else 0,
        "covered": total.completed_of_due if total else 0,
        "coverage": total.coverage if total else None,
        "completed": total.completed if total else 0,
        "agent_attempts": costs["agent-call"].attempts,
        "voice_calls": report.total("voice_calls"),
        "voice_completed": report.total("voice_completed"),
        "voice_handovers": report.total("voice_handovers"),
        "call_cost": cost,
        "call_completed": completed,
        "cost_per_completed": (cost / completed).quantize(Decimal("0.01")) if completed else None,
        "agent_cost_per_completed": costs["agent-call"].cost_per_completed,
        "voice_cost_per_completed": costs["voice-agent"].cost_per_completed,
    }


def _print_comparison(rows: list[dict[str, object]]) -> None:
    table = Table(
        "智能外呼",
        "到期",
        "覆盖",
        "覆盖率",
        "完成",
        "人工拨打",
        "外呼",
        "外呼完成",
        "转人工",
        "通话成本",
        "单次完成成本",
        "人工/外呼 单次完成",
        title="有无智能外呼 / with and without the voice agent",
    )
    for r in rows:
        table.add_row(
            "有 / with" if r["voice"] else "无 / without",
            f"{r['due']:,}",
            f"{r['covered']:,}",
            _pct(r["coverage"]),  # type: ignore[arg-type]
            f"{r['completed']:,}",
            f"{r['agent_attempts']:,}",
            f"{r['voice_calls']:,}",
            f"{r['voice_completed']:,}",
            f"{r['voice_handovers']:,}",
            f"¥{r['call_cost']:,}",
            "-" if r["cost_per_completed"] is None else f"¥{r['cost_per_completed']}",
            f"¥{r['agent_cost_per_completed'] or '-'} / ¥{r['voice_cost_per_completed'] or '-'}",
        )
    console.print(table)
    print(json.dumps([{k: str(v) for k, v in r.items()} for r in rows]))


def _print_simulation(engine, report, first: date, days: int) -> None:  # type: ignore[no-untyped-def]
    console.print(
        f"坐席 {report.agents} 人; 模拟历史回访 {report.baseline_visits:,} 条"
        f" / {report.agents} agents; {report.baseline_visits:,} simulated past visits"
    )
    table = Table(title="每日回访 / daily follow-up")
    table.add_column("日期", no_wrap=True)
    for name in ("到期未结", "新任务", "拨打", "合规拦截", "接通", "本人", "完成", "升级", "失联"):
        table.add_column(name, justify="right")
    for d in report.days:
        table.add_row(
            d.day.strftime("%m-%d"),
            f"{d.due_open:,}",
            f"{d.created:,}",
            f"{d.attempts:,}",
            f"{d.refused_by_guard:,}",
            f"{d.connected:,}",
            f"{d.right_party:,}",
            f"{d.completed:,}",
            f"{d.escalations:,}",
            f"{d.unreachable:,}",
        )
    table.add_row(
        "合计",
        "",
        f"{report.total('created'):,}",
        f"{report.total('attempts'):,}",
        f"{report.total('refused_by_guard'):,}",
        f"{report.total('connected'):,}",
        f"{report.total('right_party'):,}",
        f"{report.total('completed'):,}",
        f"{report.total('escalations'):,}",
        f"{report.total('unreachable'):,}",
        style="bold",
    )
    console.print(table)
    end = first + timedelta(days=days - 1)
    metrics = Table(
        "分组",
        "到期",
        "覆盖率",
        "拨打",
        "接通率",
        "本人接通率",
        "及时率",
        "次数/完成",
        title=f"指标 / metrics {first} – {end}",
    )
    for dim in (Dimension.TOTAL, Dimension.TIER, Dimension.CHANNEL, Dimension.BRANCH):
        for m in followup_metrics(engine, first, end, dim):
            metrics.add_row(
                f"{dim.value}: {m.group}",
                f"{m.due:,}",
                _pct(m.coverage),
                f"{m.attempts:,}",
                _pct(m.connection_rate),
                _pct(m.right_party_rate),
                _pct(m.on_time_rate),
                "-" if m.attempts_per_completion is None else str(m.attempts_per_completion),
            )
    console.print(metrics)
    outcomes = attempts_by_outcome(engine, first)
    console.print(
        "结果分布 / outcomes: "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(outcomes.items(), key=lambda kv: -kv[1]))
    )
