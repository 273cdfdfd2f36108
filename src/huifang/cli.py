"""The `huifang` command: thin entry points that translate arguments into service calls."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.engine import make_url

from huifang import (
    cli_campaigns,
    cli_faq,
    cli_loans,
    cli_model,
    cli_report,
    cli_risk,
    cli_run,
    cli_scripts,
    cli_sip,
    cli_tasks,
    cli_voice,
    cli_voice_calls,
    cli_web,
)
from huifang.domain.money import format_cny
from huifang.services.book import BookSummary, book_summary
from huifang.services.demo_data import DemoFiles, write_demo_files
from huifang.services.importing import ImportReport, import_files
from huifang.settings import business_today, load_settings
from huifang.store.db import current_revision, make_engine, upgrade

app = typer.Typer(
    help="Huifang (回访): 汽车贷款贷后管理与回访平台 / post-loan management and follow-up.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="数据库 / database schema", no_args_is_help=True)
app.add_typer(db_app, name="db")
console = Console()


def _engine():  # type: ignore[no-untyped-def]
    engine = make_engine(load_settings().database_url)
    upgrade(engine)
    return engine


def progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """建立或升级数据库结构 / create or migrate the schema to the newest revision."""
    settings = load_settings()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    console.print(f"数据库已是最新版本 {current_revision(engine)}: {engine.url!r}")


@app.command("import")
def import_command(
    files: Annotated[list[Path], typer.Argument(help="CSV/XLSX 文件 (机构/产品/贷款/还款流水)")],
    update: Annotated[
        bool, typer.Option("--update", help="更新已存在但内容不同的合同 / update changed loans")
    ] = False,
) -> None:
    """导入核心系统导出的贷款数据 (全部成功或全部不写入) / import the loan book, all or nothing."""
    engine = _engine()
    with progress_bar() as bar:
        tasks: dict[str, int] = {}

        def advance(name: str, done: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(f"导入 {name}", total=None)
            bar.update(tasks[name], completed=done)

        report = import_files(engine, files, update_existing=update, progress=advance)
    print_import_report(report)
    if not report.ok:
        raise typer.Exit(code=1)


def print_import_report(report: ImportReport, limit: int = 50) -> None:
    if report.ok:
        console.print(f"[green]导入成功[/green] (run #{report.run_id}) / import committed")
        table = Table("项目 / item", "数量 / count")
        for key, value in sorted(report.counts.items()):
            table.add_row(key, f"{value:,}")
        console.print(table)
        return
    console.print(
        f"[red]导入失败: {len(report.errors):,} 处错误, 未写入任何数据[/red] "
        "/ import rejected, nothing written"
    )
    table = Table("文件", "行号", "列", "值", "原因")
    for e in report.errors[:limit]:
        table.add_row(e.file, str(e.row), e.column, e.value, e.reason)
    console.print(table)
    if len(report.errors) > limit:
        console.print(f"… 另有 {len(report.errors) - limit:,} 处错误")
    for path in report.error_reports:
        console.print(f"错误报告 / error report: {path}")


@app.command("book")
def book_command() -> None:
    """贷款账簿概览 / what is in the loan book."""
    print_book(book_summary(_engine()))


def print_book(summary: BookSummary) -> None:
    table = Table("项目 / item", "数值 / value", title="贷款账簿 / loan book")
    table.add_row("机构 branches", f"{summary.branches:,}")
    table.add_row("产品 products", f"{summary.products:,}")
    for kind, n in sorted(summary.borrowers_by_kind.items()):
        table.add_row(f"借款人 borrowers · {_ZH.get(kind, kind)}", f"{n:,}")
    for status, n in sorted(summary.loans_by_status.items()):
        table.add_row(f"贷款 loans · {_ZH.get(status, status)}", f"{n:,}")
    for method, amount in sorted(summary.principal_by_method.items()):
        table.add_row(f"放款本金 principal · {_ZH.get(method, method)}", format_cny(amount))
    for fuel, n in sorted(summary.vehicles_by_fuel.items()):
        table.add_row(f"车辆 vehicles · {_ZH.get(fuel, fuel)}", f"{n:,}")
    table.add_row("担保人 guarantors", f"{summary.guarantors:,}")
    table.add_row("还款流水 payments", f"{summary.payments:,}")
    table.add_row("还款金额 paid", format_cny(summary.payments_total))
    console.print(table)


_ZH = {
    "individual": "个人",
    "business": "企业",
    "active": "正常",
    "closed": "结清",
    "written-off": "核销",
    "equal-installment": "等额本息",
    "equal-principal": "等额本金",
    "interest-first": "先息后本",
    "balloon": "尾款",
    "petrol": "汽油",
    "diesel": "柴油",
    "hybrid": "油电混合",
    "phev": "插电混动",
    "erev": "增程式",
    "bev": "纯电动",
    "fcev": "燃料电池",
}


@app.command("demo-data")
def demo_data_command(
    loans: Annotated[int, typer.Option("--loans", min=1, help="贷款笔数 / number of loans")] = 3000,
    seed: Annotated[int, typer.Option("--seed", help="随机种子 / seed")] = 2026,
    out: Annotated[Path, typer.Option("--out", help="输出目录 / output folder")] = Path(
        "huifang-data/demo"
    ),
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="数据截止日 YYYY-MM-DD, 默认今天")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv | xlsx")] = "csv",
    do_import: Annotated[
        bool, typer.Option("--import/--no-import", help="写入数据库 / import into the database")
    ] = True,
) -> None:
    """生成可复现的演示贷款组合 (并导入) / a reproducible synthetic portfolio, then import it."""
    files = _write_demo(loans, seed, out, _parse_date(as_of), fmt)
    if do_import:
        _import_demo(files)


def _write_demo(loans: int, seed: int, out: Path, as_of: date, fmt: str) -> DemoFiles:
    with progress_bar() as bar:
        task = bar.add_task("生成演示数据 / generating", total=loans)
        files = write_demo_files(
            out,
            loans=loans,
            seed=seed,
            as_of=as_of,
            fmt=fmt,
            progress=lambda done: bar.update(task, completed=done),
        )
    console.print(
        f"已生成 {files.loans:,} 笔贷款, {files.payments:,} 条还款流水 → {out}"
        f" / wrote {files.loans:,} loans and {files.payments:,} payments (as of {as_of})"
    )
    return files


def _import_demo(files: DemoFiles) -> None:
    engine = _engine()
    totals = {
        "loans.csv": files.loans,
        "payments.csv": files.payments,
        "loans.xlsx": files.loans,
        "payments.xlsx": files.payments,
    }
    with progress_bar() as bar:
        tasks: dict[str, int] = {}

        def advance(name: str, done: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(f"导入 {name}", total=totals.get(name))
            bar.update(tasks[name], completed=done)

        report = import_files(engine, files.paths, progress=advance)
    print_import_report(report)
    if not report.ok:
        raise typer.Exit(code=1)


@app.command("demo")
def demo_command(
    loans: Annotated[int, typer.Option("--loans", min=1, help="贷款笔数 / number of loans")] = 3000,
    seed: Annotated[int, typer.Option("--seed")] = 2026,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="最后启动网页服务")] = True,
) -> None:
    """演示: 建库, 生成并导入演示组合, 打印账簿 / the demo on the embedded SQLite database."""
    settings = load_settings()
    console.rule("Huifang 回访 · 演示 / demo")
    console.print(f"数据库 / database: {settings.database_url}")
    _fresh_demo_database(settings.database_url)
    files = _write_demo(loans, seed, settings.home / "demo", business_today(), "csv")
    _import_demo(files)
    cli_run.demo_run(business_today())
    print_book(book_summary(_engine()))
    cli_web.demo_finish(serve_after=serve)


def _fresh_demo_database(url: str) -> None:
    """The demo starts from an empty book: an embedded SQLite file is recreated; a server
    database that already holds loans is left alone and the demo refuses to run."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        path = Path(parsed.database)
        for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            stale.unlink(missing_ok=True)
        return
    if book_summary(_engine()).loans:
        console.print("[red]演示只在空数据库上运行 / the demo needs an empty database[/red]")
        raise typer.Exit(code=2)


def _parse_date(text: str | None) -> date:
    if text is None:
        return business_today()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"日期格式应为 YYYY-MM-DD: {text}") from None


cli_loans.register(app)
cli_model.register(app)
cli_report.register(app)
cli_risk.register(app)
cli_tasks.register(app)
cli_web.register(app)
cli_scripts.register(app)
cli_run.register(app)
cli_voice.register(app)
cli_sip.register(app)
cli_faq.register(app)
cli_campaigns.register(app)
cli_voice_calls.register(app)

if __name__ == "__main__":
    app()
