"""`huifang report monthly`: the manager's monthly report as a PDF.

huifang report monthly --month 2026-10 --branch SZ01 --out report.pdf
huifang report monthly --month 2026-10 --out all-branches.pdf   # every branch

The figures are the manager dashboard's for the calendar month (services/monthly_report.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from huifang.services import loan_views
from huifang.services.monthly_report import (
    ReportError,
    monthly_figures,
    previous_month,
    report_pdf,
)
from huifang.settings import business_today, load_settings
from huifang.store.db import make_engine, upgrade

console = Console()
report_app = typer.Typer(help="报表 / reports", no_args_is_help=True)


@report_app.command("monthly")
def monthly_command(
    out: Annotated[Path, typer.Option("--out", help="PDF 输出路径 / output file")],
    month: Annotated[
        str | None, typer.Option(help="月份 YYYY-MM (默认上个月) / month (default: last month)")
    ] = None,
    branch: Annotated[
        list[str] | None,
        typer.Option(help="机构代码, 可重复 (默认全部) / branch code, repeatable (default all)"),
    ] = None,
    lang: Annotated[str, typer.Option(help="语言 zh|en / language")] = "zh",
) -> None:
    """月度回访报告 PDF (与管理看板同一口径) / the monthly report as a PDF."""
    if lang not in ("zh", "en"):
        console.print("[red]语言只能是 zh 或 en / lang must be zh or en[/red]")
        raise typer.Exit(code=2)
    engine = make_engine(load_settings().database_url)
    upgrade(engine)
    try:
        known = loan_views.branch_codes(engine)
        codes = list(dict.fromkeys(branch)) if branch else list(known)
        unknown = [c for c in codes if c not in known]
        if unknown:
            raise ReportError(f"未知机构 / unknown branch: {', '.join(unknown)}")
        chosen = month or previous_month(business_today())
        board = monthly_figures(engine, chosen, codes)
        body = report_pdf(board, chosen, lang=lang)
    except ReportError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(code=2) from None
    finally:
        engine.dispose()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(body)
    m = board.total
    console.print(
        f"已生成 / written: {out} ({len(body):,} bytes) — {chosen}, {', '.join(board.branches)}; "
        f"应回访 {m.due}, 完成 {m.completed}, 联系 {m.attempts}"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
