"""`huifang campaign …`: voice-agent campaigns (智能外呼任务).

huifang campaign create 定期回访 --purpose routine --window 09:00-20:30 --max-concurrent 10
huifang campaign run 定期回访 --dry-run              # simulated borrowers, on a copy of the DB
huifang campaign status [定期回访]
huifang campaign report 定期回访 --from 2026-11-01 --to 2026-11-30
"""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from huifang.domain.campaigns import CampaignError, CampaignSpec, CampaignStatus
from huifang.settings import business_today, load_settings
from huifang.store.db import make_engine, transaction, upgrade

console = Console()
campaign_app = typer.Typer(help="智能外呼任务 / voice-agent campaigns", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(campaign_app, name="campaign")


def _engine():  # type: ignore[no-untyped-def]
    engine = make_engine(load_settings().database_url)
    upgrade(engine)
    return engine


def _fail(exc: Exception) -> None:
    console.print(f"[red]{exc}[/red]")
    raise typer.Exit(code=1) from None


def _window(text: str) -> tuple[time, time]:
    try:
        start, end = text.split("-")
        return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())
    except ValueError:
        raise typer.BadParameter(f"时段应为 HH:MM-HH:MM: {text!r}") from None


def _money(text: str | None, name: str) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        raise typer.BadParameter(f"{name} 应为金额 / must be an amount: {text!r}") from None


def _pct(value: Decimal | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


@campaign_app.command("create")
def create_command(
    name: Annotated[str, typer.Argument(help="活动名称 / campaign name")],
    purpose: Annotated[
        list[str] | None, typer.Option("--purpose", help="回访目的, 可重复; 默认所有允许外呼的")
    ] = None,
    branch: Annotated[list[str] | None, typer.Option("--branch", help="机构代码, 可重复")] = None,
    tier: Annotated[list[str] | None, typer.Option("--tier", help="low | medium | high")] = None,
    script: Annotated[str | None, typer.Option("--script", help="话术 (默认任务自带)")] = None,
    window: Annotated[str, typer.Option("--window", help="借款人当地时段")] = "09:00-20:30",
    max_concurrent: Annotated[int, typer.Option("--max-concurrent", help="并发线路")] = 10,
    max_attempts: Annotated[
        int | None, typer.Option("--max-attempts", help="每任务最多拨打 (默认联系策略)")
    ] = None,
    retry_minutes: Annotated[
        int | None, typer.Option("--retry-minutes", help="重拨间隔 (默认联系策略)")
    ] = None,
    cost_per_call: Annotated[str | None, typer.Option("--cost-per-call", help="元/通")] = None,
    cost_per_minute: Annotated[
        str | None, typer.Option("--cost-per-minute", help="元/分钟")
    ] = None,
) -> None:
    """新建外呼活动 / create a campaign."""
    from huifang.services import campaigns as cs

    engine = _engine()
    attempts, retry = cs.default_attempts(engine=engine)
    start, end = _window(window)
    try:
        spec = CampaignSpec(
            name=name,
            window_start=start,
            window_end=end,
            max_concurrent=max_concurrent,
            max_attempts=max_attempts if max_attempts is not None else attempts,
            retry_minutes=retry_minutes if retry_minutes is not None else retry,
            purposes=frozenset(purpose or ()),
            branches=frozenset(branch or ()),
            tiers=frozenset(tier or ()),
            script=script,
            cost_per_call=_money(cost_per_call, "--cost-per-call") or Decimal("0.02"),
            cost_per_minute=_money(cost_per_minute, "--cost-per-minute") or Decimal("0.12"),
        )
        view = cs.create_campaign(engine, spec)
    except CampaignError as exc:
        _fail(exc)
        return
    console.print(
        f"已创建外呼活动 #{view.id} / campaign created: "
        + json.dumps(view.as_json(), ensure_ascii=False)
    )


def _set(name: str, status: CampaignStatus) -> None:
    from huifang.services import campaigns as cs

    try:
        view = cs.set_status(_engine(), name, status)
    except CampaignError as exc:
        _fail(exc)
        return
    console.print(f"{view.spec.name}: {view.spec.status.value}")


@campaign_app.command("pause")
def pause_command(name: Annotated[str, typer.Argument()]) -> None:
    """暂停 / pause a campaign."""
    _set(name, CampaignStatus.PAUSED)


@campaign_app.command("resume")
def resume_command(name: Annotated[str, typer.Argument()]) -> None:
    """恢复 / resume a campaign."""
    _set(name, CampaignStatus.ACTIVE)


@campaign_app.command("run")
def run_command(
    name: Annotated[str, typer.Argument(help="活动名称 / campaign name")],
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="模拟借款人, 在数据库副本上运行 / simulated borrowers, on a copy"
        ),
    ] = False,
    once: Annotated[bool, typer.Option("--once", help="只拨打当前可拨的任务 / one pass")] = False,
    at: Annotated[
        str | None, typer.Option("--at", help="模拟开始时刻 (ISO, 仅 --dry-run) / start")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="随机种子 (仅 --dry-run)")] = 2026,
    keep: Annotated[bool, typer.Option("--keep", help="保留副本 / keep the copy")] = False,
) -> None:
    """拨打活动内到期任务, 到时段结束为止 / dial the campaign's due tasks until the window ends."""
    from huifang.calendars import ChineseHolidayCalendar
    from huifang.cli_tasks import _simulation_copy
    from huifang.services import campaigns as cs
    from huifang.services import configs
    from huifang.services.followup_attempts import Guard

    url = load_settings().database_url
    folder = None
    if dry_run:
        url, folder = _simulation_copy(url, False)
    elif at is not None:
        raise typer.BadParameter("--at 仅用于 --dry-run / --at only with --dry-run")
    engine = make_engine(url)
    upgrade(engine)
    try:
        if dry_run:
            from huifang.voice.campaign_dialer import SimulatedDialer

            start = datetime.fromisoformat(at) if at else datetime.now(UTC)
            if start.tzinfo is None:
                start = start.replace(tzinfo=cs.ZoneInfo(load_settings().timezone))
            clock: cs.Clock = cs.SimClock(start)
            dialer: cs.Dialer = SimulatedDialer(clock, seed)
        else:
            dialer = _sip_dialer()
            clock = cs.RealClock()

        def show(call: cs.CallReport) -> None:
            console.print(
                f"  任务 #{call.task_id}: {call.outcome.value}"
                + (f" · 转人工 {call.handover_reason}" if call.handover_reason else "")
                + f" · {call.duration_s}s · ¥{call.cost}",
                highlight=False,
            )

        report = asyncio.run(
            cs.run_campaign(
                engine,
                name,
                dialer,
                clock=clock,
                guard=Guard(
                    policy=configs.contact_policy(engine).policy,
                    calendar=ChineseHolidayCalendar(),
                ),
                once=once,
                dry_run=dry_run,
                on_call=show,
            )
        )
    except CampaignError as exc:
        _fail(exc)
        return
    finally:
        engine.dispose()
        if folder is not None:
            if keep:
                console.print(f"副本 / copy: {folder / 'simulation.db'}")
            else:
                shutil.rmtree(folder, ignore_errors=True)
    console.print(
        f"外呼 {report.dials} 通, 接通 {report.connected}, 完成 {report.completed},"
        f" 转人工 {report.handed_over}, 费用 ¥{report.cost}"
        f" / {report.dials} calls, {report.connected} connected, {report.completed} completed"
    )
    print(json.dumps({"run_id": report.run_id, "dry_run": dry_run, **report.counts()}))


def _sip_dialer():  # type: ignore[no-untyped-def]
    """The live SIP dialer: the voice package's SIP call (`voice call`) behind our Dialer."""
    try:
        from huifang.voice.campaign_dialer import sip_place_call
    except ImportError:
        console.print(
            "[red]实时 SIP 外呼尚未接入; 请用 --dry-run[/red] / the live SIP call is not wired"
            " into campaigns yet: use --dry-run"
        )
        raise typer.Exit(code=2) from None
    from huifang.voice.campaign_dialer import SipDialer

    return SipDialer(sip_place_call)


@campaign_app.command("status")
def status_command(
    name: Annotated[str | None, typer.Argument(help="活动名称 (省略: 全部)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table | json")] = "table",
    why: Annotated[
        bool, typer.Option("--why", help="现在可拨任务数及不可拨原因 / eligible now, and why not")
    ] = False,
    at: Annotated[str | None, typer.Option("--at", help="时刻 (ISO), 默认现在 / moment")] = None,
) -> None:
    """活动设置与拨打情况 / campaign settings and calls so far."""
    from huifang.services import campaigns as cs
    from huifang.store.campaign_models import CampaignCall, CampaignRun

    engine = _engine()
    try:
        views = [cs.get_campaign(engine, name)] if name else cs.list_campaigns(engine)
    except CampaignError as exc:
        _fail(exc)
        return
    out = []
    with transaction(engine) as s:
        for v in views:
            calls = dict(
                s.execute(
                    select(CampaignCall.status, func.count())
                    .where(CampaignCall.campaign_id == v.id)
                    .group_by(CampaignCall.status)
                ).all()
            )
            last = s.scalar(
                select(CampaignRun)
                .where(CampaignRun.campaign_id == v.id)
                .order_by(CampaignRun.id.desc())
                .limit(1)
            )
            out.append(
                {
                    **v.as_json(),
                    "calls": {k: int(n) for k, n in calls.items()},
                    "last_run": None
                    if last is None
                    else {
                        "id": last.id,
                        "status": last.status,
                        "started_at": str(last.started_at),
                        "ended_at": str(last.ended_at) if last.ended_at else None,
                        "dry_run": last.dry_run,
                        "counts": last.counts,
                    },
                }
            )
    if why:
        moment = datetime.fromisoformat(at) if at else datetime.now(UTC)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=cs.ZoneInfo(load_settings().timezone))
        for o in out:
            o["now"] = cs.explain(engine, int(o["id"]), moment)  # type: ignore[call-overload]
    if fmt == "json":
        print(json.dumps(out, ensure_ascii=False))
        return
    table = Table("#", "名称", "状态", "目的", "时段", "并发", "次数/间隔", "拨打记录", "上次运行")
    for o in out:
        last = o["last_run"]
        table.add_row(
            str(o["id"]),
            str(o["name"]),
            str(o["status"]),
            ",".join(o["purposes"]) or "全部允许外呼的",  # type: ignore[arg-type]
            str(o["window"]),
            str(o["max_concurrent"]),
            f"{o['max_attempts']}/{o['retry_minutes']}min",
            ", ".join(f"{k} {n}" for k, n in o["calls"].items()) or "-",  # type: ignore[attr-defined]
            "-" if last is None else f"#{last['id']} {last['status']}",  # type: ignore[index]
        )
    console.print(table)
    for o in out:
        if "now" in o:
            reasons = ", ".join(f"{k} {n}" for k, n in o["now"].items())  # type: ignore[attr-defined]
            console.print(f"{o['name']}: {reasons}", highlight=False)


@campaign_app.command("report")
def report_command(
    name: Annotated[str | None, typer.Argument(help="活动名称 (省略: 全部)")] = None,
    start: Annotated[str | None, typer.Option("--from", help="YYYY-MM-DD")] = None,
    end: Annotated[str | None, typer.Option("--to", help="YYYY-MM-DD")] = None,
    by: Annotated[str, typer.Option("--by", help="total | campaign | branch | tier")] = "total",
    fmt: Annotated[str, typer.Option("--format", help="table | json")] = "table",
) -> None:
    """接通率、完成率、转人工率、平均通话时长、单次完成成本 / the voice channel's figures."""
    from huifang.domain.followup_metrics import voice_metrics
    from huifang.services import campaigns as cs
    from huifang.services.followup_metrics import channel_cost_figures, load_call_facts

    last = date.fromisoformat(end) if end else business_today()
    first = date.fromisoformat(start) if start else last - timedelta(days=29)
    engine = _engine()
    try:
        calls = load_call_facts(engine)
        if name:
            wanted = cs.get_campaign(engine, name).spec.name
            calls = [c for c in calls if c.campaign == wanted]
        rows = voice_metrics(calls, first, last, by)
    except (CampaignError, ValueError) as exc:
        _fail(exc)
        return
    costs = channel_cost_figures(engine, first, last)
    data = {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "voice": [
            {
                "group": m.group,
                "calls": m.calls,
                "connected": m.connected,
                "completed": m.completed,
                "handed_over": m.handed_over,
                "connection_rate": str(m.connection_rate)
                if m.connection_rate is not None
                else None,
                "completion_rate": str(m.completion_rate)
                if m.completion_rate is not None
                else None,
                "handover_rate": str(m.handover_rate) if m.handover_rate is not None else None,
                "average_handle_time_s": str(m.average_handle_time_s)
                if m.average_handle_time_s is not None
                else None,
                "cost": str(m.cost),
                "cost_per_completed": str(m.cost_per_completed)
                if m.cost_per_completed is not None
                else None,
            }
            for m in rows
        ],
        "cost_by_channel": [
            {
                "channel": c.channel,
                "attempts": c.attempts,
                "minutes": c.minutes,
                "cost": str(c.cost),
                "completed": c.completed,
                "cost_per_completed": str(c.cost_per_completed)
                if c.cost_per_completed is not None
                else None,
            }
            for c in costs
        ],
    }
    if fmt == "json":
        print(json.dumps(data, ensure_ascii=False))
        return
    table = Table(
        "分组",
        "外呼",
        "接通率",
        "完成率",
        "转人工率",
        "平均通话(秒)",
        "费用",
        "单次完成成本",
        title=f"智能外呼 / voice agent {first} – {last}",
    )
    for m in rows:
        table.add_row(
            m.group,
            f"{m.calls:,}",
            _pct(m.connection_rate),
            _pct(m.completion_rate),
            _pct(m.handover_rate),
            "-" if m.average_handle_time_s is None else str(m.average_handle_time_s),
            f"¥{m.cost:,}",
            "-" if m.cost_per_completed is None else f"¥{m.cost_per_completed:,}",
        )
    console.print(table)
    cost_table = Table("渠道 / channel", "尝试", "分钟", "费用", "完成", "单次完成成本")
    for c in costs:
        cost_table.add_row(
            c.channel,
            f"{c.attempts:,}",
            f"{c.minutes:,}",
            f"¥{c.cost:,}",
            f"{c.completed:,}",
            "-" if c.cost_per_completed is None else f"¥{c.cost_per_completed:,}",
        )
    console.print(cost_table)
