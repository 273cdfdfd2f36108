"""Risk commands: `huifang alerts …`, `huifang collateral …`, `huifang risk tiers`.

Thin entry points: each parses its arguments, calls one use case of `huifang.services.risk`
and prints the result (Chinese first, English second; `--format json` for scripts).
"""

from __future__ import annotations

import getpass
import json
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine

from huifang.domain.collateral import Inspection, VehicleCondition
from huifang.domain.early_warning import AlertStatus, AlertTransitionError, Severity
from huifang.risk_rules import RulesFileError
from huifang.services.risk import (
    AlertView,
    RiskError,
    acknowledge_alert,
    assess_tiers,
    evaluate_alerts,
    list_alerts,
    load_risk_config,
    record_inspection,
    resolve_alert,
    revalue_book,
)
from huifang.settings import business_today, load_settings
from huifang.store.db import make_engine, upgrade
from huifang.valuation_params import ValuationParamsError

console = Console()


class OutputFormat(StrEnum):
    JSON = "json"
    TABLE = "table"


def _engine() -> Engine:
    engine = make_engine(load_settings().database_url)
    upgrade(engine)
    return engine


def _date(text: str | None, what: str) -> date:
    if text is None:
        return business_today()
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise typer.BadParameter(f"{what} 应为 YYYY-MM-DD / must be YYYY-MM-DD: {text!r}") from None


def _actor(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _config():  # type: ignore[no-untyped-def]
    try:
        return load_risk_config()
    except (RulesFileError, ValuationParamsError) as exc:
        console.print(f"[red]参数文件有误 / bad parameter file:[/red] {exc}")
        raise typer.Exit(code=2) from None


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(type(value))


def alert_json(alert: AlertView) -> dict[str, Any]:
    return {
        "id": alert.id,
        "key": alert.key,
        "contract_no": alert.contract_no,
        "rule": alert.rule_id,
        "rule_version": alert.rule_version,
        "severity": alert.severity,
        "status": alert.status,
        "actions": list(alert.actions),
        "title_zh": alert.title_zh,
        "title_en": alert.title_en,
        "facts": dict(alert.facts),
        "first_seen_on": alert.first_seen_on,
        "last_seen_on": alert.last_seen_on,
        "acknowledged_by": alert.acknowledged_by,
        "acknowledged_at": alert.acknowledged_at,
        "resolved_by": alert.resolved_by,
        "resolved_at": alert.resolved_at,
        "resolution_note": alert.resolution_note,
    }


_SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "green"}


def _alert_table(alerts: list[AlertView]) -> Table:
    table = Table(title=f"风险预警 / alerts ({len(alerts)})")
    for header in ("编号 id", "合同 contract", "严重 severity", "状态 status", "预警 alert",
                   "建议 actions", "首次 first seen", "最近 last seen"):  # fmt: skip
        table.add_column(header)
    for a in alerts:
        severity = Severity(a.severity)
        table.add_row(
            str(a.id),
            a.contract_no,
            f"[{_SEVERITY_STYLE[a.severity]}]{severity.zh} {a.severity}[/]",
            f"{AlertStatus(a.status).zh} {a.status}",
            a.title_zh,
            ", ".join(a.actions),
            a.first_seen_on.isoformat(),
            a.last_seen_on.isoformat(),
        )
    return table


def _transition_error(exc: Exception) -> typer.Exit:
    console.print(f"[red]{exc}[/red]")
    return typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    """Add the `alerts`, `collateral` and `risk` command groups to `app`."""
    alerts_app = typer.Typer(help="风险预警 / early-warning alerts", no_args_is_help=True)
    collateral_app = typer.Typer(help="抵押车辆 / collateral", no_args_is_help=True)
    risk_app = typer.Typer(help="风险分层 / risk tiers", no_args_is_help=True)
    app.add_typer(alerts_app, name="alerts")
    app.add_typer(collateral_app, name="collateral")
    app.add_typer(risk_app, name="risk")

    @alerts_app.command("list")
    def alerts_list(
        status: Annotated[
            AlertStatus | None, typer.Option(help="只看此状态 / only this status")
        ] = None,
        contract: Annotated[str | None, typer.Option(help="合同编号 / contract number")] = None,
        format: Annotated[
            OutputFormat, typer.Option(help="输出格式 / output")
        ] = OutputFormat.TABLE,
    ) -> None:
        """列出预警 (严重程度从高到低) / list alerts, most severe first."""
        alerts = list_alerts(_engine(), status, contract)
        if format is OutputFormat.JSON:
            typer.echo(
                json.dumps(
                    [alert_json(a) for a in alerts],
                    ensure_ascii=False,
                    indent=2,
                    default=_json_default,
                )
            )
        else:
            console.print(_alert_table(alerts))

    @alerts_app.command("evaluate")
    def alerts_evaluate(
        as_of: Annotated[str | None, typer.Option(help="评估日 YYYY-MM-DD (默认今天)")] = None,
        contract: Annotated[
            list[str] | None, typer.Option(help="只评估这些合同 / only these contracts")
        ] = None,
    ) -> None:
        """按预警规则评估在贷贷款并更新预警 / run the early-warning rules over the book."""
        day = _date(as_of, "--as-of")
        config = _config()
        with _progress() as bar:
            task = bar.add_task(f"评估预警 / evaluating {day}", total=None)
            report = evaluate_alerts(
                _engine(),
                day,
                config,
                contract_nos=contract,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        console.print(
            f"规则版本 {report.rules_version}: 评估 {report.loans} 笔, 新增预警 {report.new},"
            f" 更新 {report.refreshed}, 已解决未重开 {report.already_resolved}"
            f" / {report.loans} loans, {report.new} new, {report.refreshed} refreshed,"
            f" {report.already_resolved} already resolved"
        )
        for rule, count in sorted(report.by_rule.items()):
            console.print(f"  {rule}: {count}")
        for contract_no, reason in report.failed:
            console.print(f"[yellow]未能评估 / not evaluated {contract_no}: {reason}[/yellow]")

    @alerts_app.command("ack")
    def alerts_ack(
        alert_id: Annotated[int, typer.Argument(help="预警编号 / alert id")],
        by: Annotated[str | None, typer.Option(help="确认人 / who (默认当前用户)")] = None,
    ) -> None:
        """确认预警 (待处理 → 已确认) / acknowledge an alert."""
        try:
            alert = acknowledge_alert(_engine(), alert_id, _actor(by))
        except (AlertTransitionError, RiskError) as exc:
            raise _transition_error(exc) from None
        console.print(f"预警 {alert.id} 已确认 / acknowledged by {alert.acknowledged_by}")

    @alerts_app.command("resolve")
    def alerts_resolve(
        alert_id: Annotated[int, typer.Argument(help="预警编号 / alert id")],
        note: Annotated[str, typer.Option(help="处理说明 (必填) / what was done or found")],
        by: Annotated[str | None, typer.Option(help="处理人 / who (默认当前用户)")] = None,
    ) -> None:
        """解决预警并填写说明 / resolve an alert with a note."""
        try:
            alert = resolve_alert(_engine(), alert_id, _actor(by), note)
        except (AlertTransitionError, RiskError) as exc:
            raise _transition_error(exc) from None
        console.print(f"预警 {alert.id} 已解决 / resolved: {alert.resolution_note}")

    @collateral_app.command("revalue")
    def collateral_revalue(
        as_of: Annotated[str | None, typer.Option(help="估值日 YYYY-MM-DD (默认今天)")] = None,
        contract: Annotated[
            list[str] | None, typer.Option(help="只估这些合同 / only these contracts")
        ] = None,
    ) -> None:
        """按估值日重估在贷车辆并计算抵押率 / revalue the book's cars and LTV as of a date."""
        day = _date(as_of, "--as-of")
        config = _config()
        with _progress() as bar:
            task = bar.add_task(f"车辆重估 / revaluing {day}", total=None)
            report = revalue_book(
                _engine(),
                day,
                config,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                contract_nos=contract,
            )
        bands = config.valuation.ltv_bands
        table = Table(title=f"{day} 抵押率分布 / LTV bands ({config.valuation.version})")
        table.add_column("分档 band")
        table.add_column("贷款数 loans", justify="right")
        for band in bands.bands:
            table.add_row(f"{band.zh} {band.code}", str(report.by_band.get(band.code, 0)))
        console.print(table)
        console.print(f"已估值 {report.valued} 笔 / {report.valued} loans valued")
        for contract_no, text in report.ltv_alerts:
            console.print(f"[red]抵押率预警 / LTV alert {contract_no}: {text}[/red]")
        for contract_no, reason in report.failed:
            console.print(f"[yellow]未能估值 / not valued {contract_no}: {reason}[/yellow]")

    @collateral_app.command("inspect")
    def collateral_inspect(
        contract: Annotated[str, typer.Argument(help="合同编号 / contract number")],
        inspector: Annotated[str, typer.Option(help="检查人 / inspector")],
        condition: Annotated[VehicleCondition, typer.Option(help="车况 / condition grade")],
        on: Annotated[str | None, typer.Option(help="检查日 YYYY-MM-DD (默认今天)")] = None,
        mileage: Annotated[int | None, typer.Option(min=0, help="里程 km / odometer")] = None,
        photo: Annotated[
            list[str] | None, typer.Option(help="照片路径, 可多次 / photo path, repeatable")
        ] = None,
        notes: Annotated[str, typer.Option(help="备注 / notes")] = "",
    ) -> None:
        """登记车辆检查并按检查日重估 / record an inspection and revalue the car."""
        try:
            inspection = Inspection(
                _date(on, "--on"), inspector, condition, mileage, tuple(photo or ()), notes
            )
            inspection_id, result = record_inspection(_engine(), contract, inspection, _config())
        except ValueError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(code=1) from None
        console.print(f"检查记录 {inspection_id} 已登记 / inspection recorded")
        console.print(result.valuation.explain("zh"))
        if result.ltv is not None and result.band is not None:
            console.print(f"抵押率 LTV {result.ltv} ({result.band.zh} {result.band.code})")
        if result.ltv_alert:
            console.print(f"[red]{result.ltv_alert}[/red]")

    @risk_app.command("tiers")
    def risk_tiers(
        as_of: Annotated[str | None, typer.Option(help="评估日 YYYY-MM-DD (默认今天)")] = None,
    ) -> None:
        """评估风险分层并记录变化 / assess tiers and record changes."""
        day = _date(as_of, "--as-of")
        config = _config()
        with _progress() as bar:
            task = bar.add_task(f"风险分层 / tiers {day}", total=None)
            report = assess_tiers(
                _engine(),
                day,
                config,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        console.print(
            f"评估 {report.loans} 笔, 等级变化 {len(report.changes)} 条 / "
            f"{report.loans} loans, {len(report.changes)} tier changes; "
            + ", ".join(f"{k}: {v}" for k, v in sorted(report.by_tier.items()))
        )
