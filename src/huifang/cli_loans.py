"""Loan-arithmetic commands: `huifang schedule` and `huifang prepay-quote`.

Thin entry points over `huifang.domain.schedule` and `huifang.domain.prepayment`: parse
flags, call the domain, print JSON (for other tools to check) or a Rich table. Rates and
percentages are given in percent on the command line (`--rate 4.5` is 4.5 % a year) and
converted to fractions exactly. JSON amounts are strings with two decimals, so no tool on
the other side reads them as floats.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from huifang.domain.money import ZERO, format_cny
from huifang.domain.posting import Payment
from huifang.domain.prepayment import (
    FeeBase,
    FeeRule,
    FeeTier,
    FeeWaiver,
    PartialPrepaymentQuote,
    PayoffQuote,
    PrepaymentMode,
    PrepaymentPolicy,
    PrepaymentRefused,
    QuoteLine,
    partial_prepayment_quote,
    payoff_quote,
)
from huifang.domain.schedule import (
    InterestRounding,
    LoanTerms,
    RepaymentMethod,
    Schedule,
    ScheduleConventions,
    build_schedule,
)


class OutputFormat(StrEnum):
    JSON = "json"
    TABLE = "table"


def _amount(value: Decimal) -> str:
    return f"{value:.2f}"


def _decimal(text: str, what: str) -> Decimal:
    try:
        value = Decimal(text.replace(",", "").strip())
    except InvalidOperation:
        raise typer.BadParameter(f"{what} 不是数字: {text!r}") from None
    if not value.is_finite():
        raise typer.BadParameter(f"{what} 不是数字: {text!r}")
    return value


def _date(text: str, what: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise typer.BadParameter(f"{what} 应为 YYYY-MM-DD: {text!r}") from None


def _terms(
    principal: str,
    rate: str,
    months: int,
    method: RepaymentMethod,
    start: str,
    balloon_pct: str | None,
    repayment_day: int | None,
    first_due: str | None,
    interest_rounding: InterestRounding,
) -> LoanTerms:
    try:
        return LoanTerms(
            principal=_decimal(principal, "--principal"),
            annual_rate=_decimal(rate, "--rate") / 100,
            term_months=months,
            method=method,
            disbursement_date=_date(start, "--start"),
            repayment_day=repayment_day,
            balloon_pct=_decimal(balloon_pct, "--balloon-pct") / 100 if balloon_pct else Decimal(0),
            first_due_date=_date(first_due, "--first-due") if first_due else None,
            conventions=ScheduleConventions(interest_rounding=interest_rounding),
        )
    except ValueError as exc:
        if isinstance(exc, typer.BadParameter):
            raise
        raise typer.BadParameter(str(exc)) from None


def _installments_json(schedule: Schedule) -> list[dict[str, Any]]:
    return [
        {
            "period": i.period,
            "due_date": i.due_date.isoformat(),
            "payment": _amount(i.payment),
            "principal": _amount(i.principal),
            "interest": _amount(i.interest),
            "balance": _amount(i.balance),
        }
        for i in schedule.installments
    ]


def schedule_json(schedule: Schedule) -> dict[str, Any]:
    """The JSON document printed by `huifang schedule --format json`."""
    t = schedule.terms
    return {
        "terms": {
            "principal": _amount(t.principal),
            "annual_rate": str(t.annual_rate),
            "term_months": t.term_months,
            "method": t.method.value,
            "disbursement_date": t.disbursement_date.isoformat(),
            "repayment_day": t.effective_repayment_day,
            "balloon_pct": str(t.balloon_pct),
            "rounding": t.conventions.rounding.value,
            "interest_rounding": t.conventions.interest_rounding.value,
            "day_count": t.conventions.day_count.value,
        },
        "installments": _installments_json(schedule),
        "total_principal": _amount(schedule.total_principal),
        "total_interest": _amount(schedule.total_interest),
        "total_payment": _amount(schedule.total_payment),
    }


def _schedule_table(schedule: Schedule, title: str) -> Table:
    table = Table(title=title)
    for header in ("期数 Period", "还款日 Due", "月供 Payment", "本金 Principal", "利息 Interest"):
        table.add_column(header, justify="right")
    table.add_column("剩余本金 Balance", justify="right")
    for i in schedule.installments:
        table.add_row(
            str(i.period),
            i.due_date.isoformat(),
            format_cny(i.payment),
            format_cny(i.principal),
            format_cny(i.interest),
            format_cny(i.balance),
        )
    table.add_section()
    table.add_row(
        "合计 Total",
        "",
        format_cny(schedule.total_payment),
        format_cny(schedule.total_principal),
        format_cny(schedule.total_interest),
        "",
    )
    return table


def _fee_rule(base: FeeBase, tiers: str | None, months_of_interest: int) -> FeeRule:
    """Parse `--fee-tiers "12:3,24:2,:1"` (before month : percent; empty month = beyond)."""
    parsed: list[FeeTier] = []
    for part in (tiers or "").split(","):
        if not part.strip():
            continue
        month, _, pct = part.partition(":")
        if not pct:
            raise typer.BadParameter(f"--fee-tiers 每档应为 月数:百分比, 如 12:3 — {part!r}")
        parsed.append(
            FeeTier(int(month) if month.strip() else None, _decimal(pct, "--fee-tiers") / 100)
        )
    try:
        return FeeRule(base=base, tiers=tuple(parsed), months_of_interest=months_of_interest)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _lines_json(lines: tuple[QuoteLine, ...]) -> list[dict[str, str]]:
    return [
        {
            "code": ln.code,
            "label_zh": ln.label_zh,
            "label_en": ln.label_en,
            "amount": _amount(ln.amount),
        }
        for ln in lines
    ]


def quote_json(quote: PayoffQuote | PartialPrepaymentQuote) -> dict[str, Any]:
    """The JSON document printed by `huifang prepay-quote --format json`."""
    fee = quote.fee
    common: dict[str, Any] = {
        "as_of": quote.as_of.isoformat(),
        "valid_until": quote.valid_until.isoformat(),
        "principal": _amount(quote.principal),
        "interest": _amount(quote.interest),
        "penalty": _amount(quote.penalty),
        "fee": _amount(fee.net),
        "fee_gross": _amount(fee.gross),
        "fee_waived": _amount(fee.waived),
        "fee_basis": fee.basis,
        "fee_waiver_reason": fee.waiver.reason if fee.waiver else None,
        "credit": _amount(quote.credit),
        "total": _amount(quote.total),
        "interest_saved": _amount(quote.interest_saved),
        "lines": _lines_json(quote.lines),
    }
    if isinstance(quote, PayoffQuote):
        common.update({"kind": "full", "mode": None, "new_schedule": []})
    else:
        common.update(
            {
                "kind": "partial",
                "mode": quote.mode.value,
                "due_principal": _amount(quote.due_principal),
                "first_new_period": quote.first_new_period,
                "new_installment": _amount(quote.new_schedule.installments[0].payment),
                "new_term_months": len(quote.new_schedule),
                "new_schedule": _installments_json(quote.new_schedule),
            }
        )
    return common


def _quote_table(quote: PayoffQuote | PartialPrepaymentQuote) -> Table:
    kind = "全部结清 full payoff" if isinstance(quote, PayoffQuote) else "部分提前还款 partial"
    table = Table(title=f"提前还款报价 {kind}: {quote.as_of} (有效至 {quote.valid_until})")
    table.add_column("项目 Item")
    table.add_column("金额 Amount", justify="right")
    for ln in quote.lines:
        table.add_row(f"{ln.label_zh} {ln.label_en}", format_cny(ln.amount))
    table.add_section()
    table.add_row("节省利息 interest saved", format_cny(quote.interest_saved))
    return table


def register(app: typer.Typer) -> None:
    """Add the `schedule` and `prepay-quote` commands to `app`."""

    @app.command("schedule")
    def schedule_command(
        principal: Annotated[str, typer.Option(help="贷款本金 / principal, e.g. 180000")],
        rate: Annotated[str, typer.Option(help="年利率 % / annual rate in percent, e.g. 4.5")],
        months: Annotated[int, typer.Option(min=1, help="期数 (月) / term in months")],
        method: Annotated[RepaymentMethod, typer.Option(help="还款方式 / repayment method")],
        start: Annotated[str, typer.Option(help="放款日 YYYY-MM-DD / disbursement date")],
        balloon_pct: Annotated[
            str | None, typer.Option(help="尾款比例 % (balloon) / balloon share in percent")
        ] = None,
        repayment_day: Annotated[
            int | None, typer.Option(min=1, max=31, help="每月还款日 / repayment day")
        ] = None,
        first_due: Annotated[
            str | None, typer.Option(help="首期还款日 YYYY-MM-DD / first due date")
        ] = None,
        interest_rounding: Annotated[
            InterestRounding, typer.Option(help="利息舍入 / where interest is rounded")
        ] = InterestRounding.PER_PERIOD,
        output: Annotated[
            OutputFormat, typer.Option("--format", help="输出格式 / output format")
        ] = OutputFormat.TABLE,
    ) -> None:
        """还款计划 / repayment schedule."""
        terms = _terms(
            principal,
            rate,
            months,
            method,
            start,
            balloon_pct,
            repayment_day,
            first_due,
            interest_rounding,
        )
        schedule = build_schedule(terms)
        if output is OutputFormat.JSON:
            typer.echo(json.dumps(schedule_json(schedule), ensure_ascii=False, indent=2))
            return
        title = f"还款计划 {format_cny(terms.principal)} · {rate}% · {months} 期 · {method.value}"
        Console().print(_schedule_table(schedule, title))

    @app.command("prepay-quote")
    def prepay_quote_command(
        principal: Annotated[str, typer.Option(help="贷款本金 / principal")],
        rate: Annotated[str, typer.Option(help="年利率 % / annual rate in percent")],
        months: Annotated[int, typer.Option(min=1, help="期数 (月) / term in months")],
        method: Annotated[RepaymentMethod, typer.Option(help="还款方式 / repayment method")],
        start: Annotated[str, typer.Option(help="放款日 YYYY-MM-DD / disbursement date")],
        as_of: Annotated[str, typer.Option(help="提前还款日 YYYY-MM-DD / prepayment date")],
        amount: Annotated[
            str | None, typer.Option(help="提前还本金额 / principal to prepay (partial)")
        ] = None,
        full: Annotated[bool, typer.Option("--full", help="全部结清 / full payoff")] = False,
        mode: Annotated[
            PrepaymentMode, typer.Option(help="部分提前还款方式 / partial prepayment mode")
        ] = PrepaymentMode.LOWER_INSTALLMENT,
        balloon_pct: Annotated[str | None, typer.Option(help="尾款比例 % / balloon %")] = None,
        repayment_day: Annotated[
            int | None, typer.Option(min=1, max=31, help="每月还款日 / repayment day")
        ] = None,
        first_due: Annotated[str | None, typer.Option(help="首期还款日 / first due date")] = None,
        paid_periods: Annotated[
            int | None,
            typer.Option(
                min=0,
                help="已按时还款期数 (默认: 报价日前到期的全部) / periods paid on their due dates",
            ),
        ] = None,
        lock_in_months: Annotated[int, typer.Option(min=0, help="锁定期 (月) / lock-in")] = 0,
        min_amount: Annotated[str, typer.Option(help="最低提前还本金额 / minimum")] = "0",
        fee_base: Annotated[
            FeeBase, typer.Option(help="手续费基数 / what the fee percentage applies to")
        ] = FeeBase.PREPAID_PRINCIPAL,
        fee_tiers: Annotated[
            str | None,
            typer.Option(help='手续费分档 "月数:百分比,…", 如 "12:3,24:2,:1" / fee tiers'),
        ] = None,
        fee_months_interest: Annotated[
            int, typer.Option(min=0, help="手续费 = N 个月利息 / fee as months of interest")
        ] = 0,
        waive_reason: Annotated[
            str | None, typer.Option(help="全额减免手续费的原因 / waive the fee, with reason")
        ] = None,
        valid_days: Annotated[int, typer.Option(min=0, help="报价有效天数 / valid days")] = 0,
        output: Annotated[
            OutputFormat, typer.Option("--format", help="输出格式 / output format")
        ] = OutputFormat.JSON,
    ) -> None:
        """提前还款报价 / early-repayment quote (full payoff or partial)."""
        if full == (amount is not None):
            raise typer.BadParameter("请指定 --amount 或 --full 其中之一 / give --amount or --full")
        terms = _terms(
            principal,
            rate,
            months,
            method,
            start,
            balloon_pct,
            repayment_day,
            first_due,
            InterestRounding.PER_PERIOD,
        )
        schedule = build_schedule(terms)
        on = _date(as_of, "--as-of")
        if on < terms.disbursement_date:
            raise typer.BadParameter("--as-of 早于放款日")
        paid = (
            [i for i in schedule.installments if i.due_date < on]
            if paid_periods is None
            else list(schedule.installments[:paid_periods])
        )
        events = [Payment(f"paid-{i.period}", i.due_date, i.payment) for i in paid]
        fee_rule = (
            FeeRule(base=FeeBase.MONTHS_OF_INTEREST, months_of_interest=fee_months_interest)
            if fee_months_interest
            else _fee_rule(fee_base, fee_tiers, 0)
        )
        policy = PrepaymentPolicy(
            lock_in_months=lock_in_months,
            minimum_amount=_decimal(min_amount, "--min-amount"),
            fee=fee_rule,
            quote_valid_days=valid_days,
        )
        waiver = FeeWaiver(waive_reason) if waive_reason else None
        quote: PayoffQuote | PartialPrepaymentQuote
        try:
            if full:
                quote = payoff_quote(schedule, events, on, policy, waiver=waiver)
            else:
                assert amount is not None
                quote = partial_prepayment_quote(
                    schedule,
                    events,
                    on,
                    _decimal(amount, "--amount"),
                    mode,
                    policy,
                    waiver=waiver,
                )
        except PrepaymentRefused as refused:
            verdict = refused.eligibility
            allowed_from = verdict.allowed_from.isoformat() if verdict.allowed_from else None
            if output is OutputFormat.JSON:
                body = {"error": "refused", "reasons": list(verdict.reasons)}
                body["allowed_from"] = allowed_from  # type: ignore[assignment]
                typer.echo(json.dumps(body, ensure_ascii=False, indent=2))
            else:
                Console(stderr=True).print(f"[red]不可提前还款 / refused:[/red] {refused}")
            raise typer.Exit(code=1) from None
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        if output is OutputFormat.JSON:
            typer.echo(json.dumps(quote_json(quote), ensure_ascii=False, indent=2))
            return
        console = Console()
        console.print(_quote_table(quote))
        if isinstance(quote, PartialPrepaymentQuote):
            console.print(
                _schedule_table(quote.new_schedule, f"新还款计划 new schedule ({mode.value})")
            )
        elif quote.total == ZERO:
            console.print("溢缴款足以结清 / credit covers the payoff")
