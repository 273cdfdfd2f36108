"""Script commands: `huifang script validate FILE…`, `script list`, `script run NAME`.

Thin entry points over `huifang.script_files` (reading and validating script files),
`huifang.domain.scripts` (the runner) and `huifang.domain.findings` (findings → risk events).
`script run` is the same runner a web form and the voice agent drive, one answer at a time,
in a terminal: it prints what is said, asks each question, re-asks on an answer it cannot
type (with the reason), and at the end prints the answers and the findings they raise. It
reads plain lines from standard input, so a test or a file can drive it
(``huifang script run routine < answers.txt``); ``/human`` (or 转人工) hands over to a
person, ``/quit`` stops the run, and an empty line skips an optional question.

Nothing is written to the database: trying a script is safe on any machine.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from huifang.domain import scripts as sc
from huifang.domain.findings import Finding, evaluate_findings
from huifang.finding_rules import FindingRulesFileError, load_finding_rules
from huifang.script_files import (
    ScriptFileError,
    check_script_file,
    load_script_file,
    load_standard_scripts,
)
from huifang.services import configs
from huifang.settings import business_today

HUMAN_COMMANDS = frozenset({"/human", "转人工", "人工", "人工服务"})
QUIT_COMMANDS = frozenset({"/quit", "/exit", "/q"})


class Lang(StrEnum):
    ZH = "zh"
    EN = "en"


# Sample values for trying a script in the terminal: a fictitious borrower, loan and vehicle.
SAMPLE_VALUES: Mapping[str, sc.ContextValue] = {
    "borrower_name": "张三",
    "company_name": "示例汽车服务有限公司",
    "agent_name": "李明",
    "lender_name": "汇方银行",
    "branch_name": "城东支行",
    "hotline": "95500",
    "loan_amount": Decimal("150000.00"),
    "term_months": 36,
    "repayment_day": 15,
    "installment_amount": Decimal("4560.12"),
    "account_tail": "6789",
    "disbursement_date": date(2025, 1, 15),
    "amount_due": Decimal("4560.12"),
    "due_date": date(2025, 3, 15),
    "overdue_amount": Decimal("4612.50"),
    "days_past_due": 12,
    "outstanding_principal": Decimal("98765.43"),
    "masked_plate": "粤B12345",
    "vehicle_model": "比亚迪 秦PLUS",
    "request_date": date(2025, 3, 1),
    "payoff_date": date(2025, 3, 20),
    "payoff_amount": Decimal("101234.56"),
    "prepayment_fee": Decimal("1975.31"),
    "interest_saved": Decimal("6543.21"),
    "id_last4": "123X",
    "declared_monthly_income": Decimal("12000.00"),
}
_SAMPLE_BY_KIND: Mapping[sc.VariableKind, sc.ContextValue] = {
    sc.VariableKind.TEXT: "示例",
    sc.VariableKind.MONEY: Decimal("1000.00"),
    sc.VariableKind.DATE: date(2025, 3, 15),
    sc.VariableKind.INTEGER: 1,
    sc.VariableKind.PLATE: "粤B12345",
}


def sample_context(
    script: sc.Script, today: date, overrides: Mapping[str, str] = {}
) -> sc.ScriptContext:
    """A context for trying `script`: the sample values, with `overrides` (name → text,
    parsed by the variable's kind). typer.BadParameter on an unknown name or a bad value."""
    values: dict[str, sc.ContextValue] = {}
    for name in (*script.variables, "declared_monthly_income"):
        variable = sc.STANDARD_VARIABLES.get(name)
        if name in SAMPLE_VALUES:
            values[name] = SAMPLE_VALUES[name]
        elif variable is not None:
            values[name] = _SAMPLE_BY_KIND[variable.kind]
    for name, text in overrides.items():
        variable = sc.STANDARD_VARIABLES.get(name)
        if variable is None:
            raise typer.BadParameter(f"未知变量 {name} / unknown variable {name}")
        values[name] = _parse_value(name, text, variable.kind)
    # Dates relative to `today` (unless set), so the sample is consistent on any day.
    relative = {
        "disbursement_date": -20,
        "due_date": -int(str(values.get("days_past_due", 12))),
        "request_date": -2,
        "payoff_date": 10,
    }
    for name, days in relative.items():
        if name in values and name not in overrides:
            values[name] = today + timedelta(days=days)
    return sc.ScriptContext(today, values)


def _parse_value(name: str, text: str, kind: sc.VariableKind) -> sc.ContextValue:
    try:
        if kind is sc.VariableKind.MONEY:
            return Decimal(text.replace(",", ""))
        if kind is sc.VariableKind.INTEGER:
            return int(text)
        if kind is sc.VariableKind.DATE:
            return date.fromisoformat(text)
    except (ValueError, InvalidOperation):
        raise typer.BadParameter(
            f"变量 {name} 的值 {text!r} 不是 {kind} / {name}={text!r} is not a {kind}"
        ) from None
    return text


def _resolve_script(name: str) -> sc.Script:
    """A standard script by id, or a script file by path."""
    path = Path(name)
    if name.endswith((".yaml", ".yml")) or path.exists():
        try:
            return load_script_file(path)
        except (ScriptFileError, OSError) as exc:
            typer.echo(f"无法加载话术 / cannot load the script: {exc}", err=True)
            raise typer.Exit(code=2) from None
    scripts = configs.scripts(configs.configured_engine())
    if name not in scripts:
        known = ", ".join(sorted(scripts))
        typer.echo(f"没有话术 {name} / no script {name!r} (standard: {known})", err=True)
        raise typer.Exit(code=2)
    return scripts[name]


_TYPE_HINTS = {
    sc.AnswerType.YES_NO: sc.Text("是/否", "yes/no"),
    sc.AnswerType.CHOICE: sc.Text("选择", "choose"),
    sc.AnswerType.NUMBER: sc.Text("数字", "a number"),
    sc.AnswerType.MONEY: sc.Text("金额 (元)", "amount in yuan"),
    sc.AnswerType.DATE: sc.Text("日期", "a date"),
    sc.AnswerType.FREE_TEXT: sc.Text("文字", "text"),
}


def _show_prompt(p: sc.Prompt, lang: Lang) -> None:
    for line in p.lines:
        typer.echo(f"  {line.get(lang.value)}")
    if p.error is not None:
        typer.echo(f"  ! {p.error.get(lang.value)}")
    if p.question is None or p.answer_type is None:
        return
    hint = _TYPE_HINTS[p.answer_type].get(lang.value)
    if not p.required:
        hint += "，可留空跳过" if lang is Lang.ZH else ", empty to skip"
    typer.echo(f"? {p.question.get(lang.value)}  [{hint}]")
    for o in p.options:
        typer.echo(f"    - {o.code}: {o.label.get(lang.value)}")


def _answer_text(value: sc.AnswerValue, lang: Lang) -> str:
    if value is None:
        return "(跳过)" if lang is Lang.ZH else "(skipped)"
    if isinstance(value, Decimal):
        return str(value)
    return sc.format_value(value, lang.value)


def _json_value(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _print_findings(findings: tuple[Finding, ...], lang: Lang) -> None:
    if not findings:
        typer.echo("未发现风险线索 / no findings")
        return
    typer.echo(f"发现 {len(findings)} 项风险线索 / findings (→ risk events):")
    for f in findings:
        details = ", ".join(
            f"{k}={v}" for k, v in f.details.items() if k not in ("rule", "rules_version")
        )
        typer.echo(
            f"  ! {f.kind.value} {f.kind.zh} [{f.severity.value}] "
            f"{f.description.get(lang.value)} (rule {f.rule_id}{'; ' + details if details else ''})"
        )


def register(app: typer.Typer) -> None:
    """Add the `script` command group to `app`."""
    script_app = typer.Typer(help="回访话术 / follow-up scripts", no_args_is_help=True)
    app.add_typer(script_app, name="script")

    @script_app.command("validate")
    def validate(
        files: Annotated[list[Path], typer.Argument(help="话术 YAML 文件 / script files")],
    ) -> None:
        """检查话术文件 (结构, 不可达步骤, 缺失分支, 未知变量 …) / validate script files.

        Exits 1 when any file has a problem, listing each with its line and YAML path.
        """
        bad = 0
        for path in files:
            if not path.is_file():
                typer.echo(f"✗ {path}: 文件不存在 / no such file")
                bad += 1
                continue
            problems = check_script_file(path)
            if problems:
                bad += 1
                typer.echo(f"✗ {path}: {len(problems)} 处问题 / problems")
                for p in problems:
                    typer.echo(f"  [{p.code}] {p}")
            else:
                script = load_script_file(path)
                typer.echo(
                    f"✓ {path}: {script.id} v{script.version} 有效 / valid "
                    f"({len(script.steps)} 步 steps, {len(script.asks())} 问 questions)"
                )
        if bad:
            raise typer.Exit(code=1)

    @script_app.command("list")
    def list_scripts() -> None:
        """列出标准话术 / the standard scripts shipped with Huifang."""
        typer.echo("标准话术 / standard scripts:")
        shipped = load_standard_scripts()
        in_force = configs.scripts(configs.configured_engine())
        for script in sorted(in_force.values(), key=lambda s: s.id):
            stored = script is not shipped.get(script.id)
            typer.echo(
                f"  {script.id:<30} v{script.version}  {script.title.zh} / {script.title.en} "
                f"({len(script.steps)} 步 steps, {len(script.asks())} 问 questions)"
                + ("  [已存版本 / stored version]" if stored else "")
            )

    @script_app.command("run")
    def run(
        name: Annotated[str, typer.Argument(help="标准话术编号或 YAML 文件 / script id or file")],
        lang: Annotated[Lang, typer.Option("--lang", help="语言 / language")] = Lang.ZH,
        today: Annotated[
            str | None, typer.Option("--today", help="当天日期 YYYY-MM-DD (相对日期以此为准)")
        ] = None,
        values: Annotated[
            list[str] | None,
            typer.Option("--set", help="变量值 name=value, 覆盖示例值 / override a sample value"),
        ] = None,
        as_json: Annotated[
            bool, typer.Option("--json", help="结束时输出 JSON 结果 / print the result as JSON")
        ] = False,
    ) -> None:
        """在终端中试运行话术 / try a script interactively (reads answers from stdin).

        /human or 转人工 hands over, /quit stops, an empty line skips an optional question.
        Exits 0 when the script reached its end or a handover, 1 when it was stopped or the
        input ended before the end.
        """
        script = _resolve_script(name)
        try:
            day = date.fromisoformat(today) if today else business_today()
        except ValueError:
            raise typer.BadParameter(f"日期格式应为 YYYY-MM-DD: {today}") from None
        overrides: dict[str, str] = {}
        for item in values or []:
            key, sep, value = item.partition("=")
            if not sep:
                raise typer.BadParameter(f"应为 name=value: {item}")
            overrides[key.strip()] = value.strip()
        context = sample_context(script, day, overrides)
        state = sc.start(script, context)
        typer.echo(
            f"== {script.title.get(lang.value)} ({script.id} v{script.version}) · "
            f"试运行身份证后四位 / sample ID tail: {context.values.get('id_last4', '-')} =="
        )
        while True:
            _show_prompt(sc.prompt(state), lang)
            if state.finished:
                break
            line = sys.stdin.readline()
            if line == "":
                typer.echo("输入结束，通话中断 / input ended, run interrupted")
                state = sc.interrupt(state, "input_ended", sc.Text("输入结束", "input ended"))
                break
            text = line.strip()
            if not sys.stdin.isatty():
                typer.echo(f"> {text}")
            if text in HUMAN_COMMANDS:
                state = sc.request_handover(
                    state, sc.Text("客户要求转人工", "the borrower asked for a person")
                )
                continue
            if text in QUIT_COMMANDS:
                state = sc.interrupt(state, "abandoned", sc.Text("已中止", "stopped"))
                break
            state = sc.answer(state, text)
        result = sc.result(state)
        try:
            rules = load_finding_rules()
        except FindingRulesFileError as exc:
            typer.echo(f"无法加载发现规则 / cannot load the finding rules: {exc}", err=True)
            raise typer.Exit(code=2) from None
        findings = evaluate_findings(rules, result.answers, context.values)
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "script_id": result.script_id,
                        "script_version": result.script_version,
                        "outcome": result.outcome,
                        "finished": result.finished,
                        "identity_verified": result.identity_verified,
                        "handed_over": result.handed_over,
                        "disclosures": list(result.disclosures),
                        "answers": {k: _json_value(v) for k, v in result.answers.items()},
                        "findings": [
                            {
                                "kind": f.kind.value,
                                "severity": f.severity.value,
                                "rule": f.rule_id,
                                "details": dict(f.details),
                            }
                            for f in findings
                        ],
                    },
                    ensure_ascii=False,
                    indent=2,
                )
            )
        else:
            typer.echo(
                f"-- 结果 / outcome: {result.outcome} · 身份核实 / identity verified: "
                f"{'是' if result.identity_verified else '否'} · 转人工 / handed over: "
                f"{'是' if result.handed_over else '否'}"
            )
            for key, value in result.answers.items():
                typer.echo(f"  {key} = {_answer_text(value, lang)}")
            _print_findings(findings, lang)
        stopped = result.outcome in ("input_ended", "abandoned")
        if stopped:
            raise typer.Exit(code=1)
