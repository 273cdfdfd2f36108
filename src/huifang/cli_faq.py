"""FAQ commands: `huifang faq validate [FILE]`, `huifang faq ask QUESTION`, and the inbound
FAQ call simulated with typed replies, `huifang voice faq` (added to the voice group).

Thin entry points over `huifang.faq_files` (the knowledge file), `huifang.services.faq` (an
answer for a loan) and `huifang.voice.faq_dialogue` (the inbound call)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import Engine, select

console = Console()
faq_app = typer.Typer(help="常见问题知识库 / the borrower FAQ", no_args_is_help=True)


def _engine() -> Engine:
    from huifang.settings import load_settings
    from huifang.store.db import make_engine, upgrade

    engine = make_engine(load_settings().database_url)
    upgrade(engine)
    return engine


def _lang(language: str) -> str:
    if language not in ("zh", "en"):
        raise typer.BadParameter("--lang must be zh or en")
    return language


def _loan_id(engine: Engine, contract: str) -> int:
    from huifang.store.db import transaction
    from huifang.store.models import Loan

    with transaction(engine) as s:
        found = s.scalar(select(Loan.id).where(Loan.contract_no == contract))
    if found is None:
        raise typer.BadParameter(f"没有合同 {contract} / no contract {contract}")
    return int(found)


@faq_app.command("validate")
def validate_command(
    file: Annotated[
        Path | None, typer.Argument(help="知识库文件 (默认: 内置) / knowledge file")
    ] = None,
) -> None:
    """检查知识库文件 / check a knowledge file (exit 1 with every problem)."""
    from huifang.faq_files import FaqFileError, load_knowledge_file, shipped_file

    source = file if file is not None else shipped_file()
    try:
        kb = load_knowledge_file(source)
    except FaqFileError as exc:
        for problem in exc.problems:
            console.print(f"[red]✗[/] {problem}", highlight=False)
        raise typer.Exit(1) from None
    console.print(
        f"[green]✓[/] {kb.id} v{kb.version}: {len(kb.entries)} 条 / entries "
        f"({', '.join(e.id for e in kb.entries)})",
        highlight=False,
    )


@faq_app.command("ask")
def ask_command(
    question: Annotated[str, typer.Argument(help="问题 / the question")],
    contract: Annotated[
        str | None, typer.Option("--contract", help="合同编号 (引用该贷款数据)")
    ] = None,
    verified: Annotated[
        bool, typer.Option("--verified", help="已核验身份 (可引用本人数据) / identity verified")
    ] = False,
    language: Annotated[str, typer.Option("--lang", help="zh | en")] = "zh",
    today: Annotated[str | None, typer.Option("--today", help="日期 YYYY-MM-DD")] = None,
) -> None:
    """回答一个问题 (JSON) / answer one question, as the page and the voice assistant do."""
    from huifang.services import faq

    engine = _engine() if contract else None
    loan_id = _loan_id(engine, contract) if engine is not None and contract else None
    reply = faq.ask(
        engine,
        question,
        language="en" if _lang(language) == "en" else "zh",
        loan_id=loan_id,
        verified=verified,
        today=date.fromisoformat(today) if today else None,
        channel="cli",
    )
    print(json.dumps(reply.__dict__, ensure_ascii=False))


def voice_faq_command(
    caller: Annotated[
        str | None, typer.Option("--caller", help="来电号码 (按手机号找借款人) / calling number")
    ] = None,
    contract: Annotated[str | None, typer.Option("--contract", help="合同编号")] = None,
    language: Annotated[str, typer.Option("--lang", help="zh | en")] = "zh",
    replies: Annotated[
        list[str] | None,
        typer.Option("--reply", "-r", help="预设回答, 可重复; 省略则交互输入 (#1 = 按键1)"),
    ] = None,
    today: Annotated[str | None, typer.Option("--today", help="日期 YYYY-MM-DD")] = None,
) -> None:
    """模拟一通呼入智能客服电话 / an inbound FAQ call with typed replies: identity check,
    then questions answered from the knowledge base, 转人工 hands over."""
    from huifang.voice.console import ConsoleChannel, ScriptedChannel
    from huifang.voice.dialogue import Channel
    from huifang.voice.faq_dialogue import run_inbound_faq

    engine = _engine()
    loan_id = _loan_id(engine, contract) if contract else None
    channel: Channel
    if replies:
        channel = ScriptedChannel(replies)
    else:
        channel = ConsoleChannel(lambda s: console.print(s), lambda: input("来电者/caller> "))
    record = run_inbound_faq(
        engine,
        channel,
        caller_number=caller,
        loan_id=loan_id,
        language="en" if _lang(language) == "en" else "zh",
        today=date.fromisoformat(today) if today else None,
    )
    console.rule("通话记录 / transcript")
    for turn in record.turns:
        colour = "cyan" if turn.speaker == "agent" else "green"
        console.print(f"[{colour}]{turn.speaker}[/]: {turn.text}", highlight=False)
    console.rule("结果 / result")
    console.print(
        f"knowledge: {record.knowledge_id} v{record.knowledge_version}  verified: "
        f"{record.verified}  answered: {record.answered}  ended: {record.ended}  "
        f"handover: {record.handover_reason}",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add `huifang faq` and `huifang voice faq`."""
    from huifang.cli_voice import voice_app

    app.add_typer(faq_app, name="faq")
    voice_app.command("faq")(voice_faq_command)
