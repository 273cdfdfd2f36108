"""`huifang voice …`: the voice agent's commands (simulate a call with typed replies, evaluate
understanding and recognition on the synthesized corpus, speak a text)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from huifang.settings import business_today

console = Console()
voice_app = typer.Typer(help="智能外呼 / voice agent", no_args_is_help=True)

DEMO_CONTEXT: dict[str, object] = {
    "lender_name": "汇方银行",
    "agent_name": "小汇",
    "borrower_name": "张伟",
    "company_name": "汇方汽车服务有限公司",
    "branch_name": "广州分行",
    "hotline": "95555",
    "id_last4": "1234",
    "loan_amount": Decimal("150000"),
    "term_months": 36,
    "repayment_day": 15,
    "installment_amount": Decimal("4800.50"),
    "account_tail": "6789",
    "disbursement_date": date(2026, 11, 1),
    "amount_due": Decimal("4800.50"),
    "due_date": date(2026, 12, 15),
    "overdue_amount": Decimal("4800.50"),
    "days_past_due": 5,
    "outstanding_principal": Decimal("142000"),
    "masked_plate": "粤B12345",
    "vehicle_model": "比亚迪秦PLUS",
    "request_date": date(2026, 11, 23),
    "payoff_date": date(2026, 11, 30),
    "payoff_amount": Decimal("143500"),
    "prepayment_fee": Decimal("2840"),
    "interest_saved": Decimal("9800"),
}


@voice_app.command("simulate")
def simulate_command(
    purpose: Annotated[str, typer.Option("--purpose", help="话术用途 / script purpose")] = (
        "first_visit"
    ),
    script_file: Annotated[
        Path | None, typer.Option("--script", help="话术文件 YAML / script file")
    ] = None,
    language: Annotated[str, typer.Option("--lang", help="zh | en")] = "zh",
    replies: Annotated[
        list[str] | None,
        typer.Option("--reply", "-r", help="预设回答, 可重复; 省略则交互输入 (#1 = 按键1)"),
    ] = None,
    today: Annotated[str | None, typer.Option("--today", help="通话日期 YYYY-MM-DD")] = None,
) -> None:
    """用文字模拟一通外呼 / run a whole voice-agent call with typed borrower replies."""
    from huifang.domain import scripts as sc
    from huifang.script_files import load_script_file
    from huifang.services import configs
    from huifang.voice.console import ConsoleChannel, ScriptedChannel
    from huifang.voice.dialogue import Channel, Dialogue, confirm_policy

    if language not in ("zh", "en"):
        raise typer.BadParameter("--lang must be zh or en")
    lang: sc.Language = "zh" if language == "zh" else "en"
    script = (
        load_script_file(script_file)
        if script_file
        else configs.script_for_purpose(configs.configured_engine(), sc.Purpose(purpose))
    )
    day = date.fromisoformat(today) if today else business_today()
    values = {k: v for k, v in DEMO_CONTEXT.items() if k in script.variables}
    state = sc.start(script, sc.ScriptContext(day, values))  # type: ignore[arg-type]
    channel: Channel
    if replies:
        scripted = ScriptedChannel(replies)
        channel = scripted
    else:
        channel = ConsoleChannel(lambda s: console.print(s), lambda: input("借款人/borrower> "))
    record = Dialogue(state, channel, lang, confirm_policy()).run()
    console.rule("通话记录 / transcript")
    for turn in record.turns:
        conf = "" if turn.confidence is None else f" ({turn.confidence:.2f})"
        console.print(
            f"[{'cyan' if turn.speaker == 'agent' else 'green'}]{turn.speaker}[/]: "
            f"{turn.text}{conf}",
            markup=True,
            highlight=False,
        )
    console.rule("结果 / result")
    console.print(
        f"outcome: {record.outcome}  handed_over: {record.state.handed_over}"
        f"  reason: {record.handover_reason}"
    )
    for key, value in record.answers.items():
        console.print(f"  {key} = {value!r}", highlight=False)


@voice_app.command("eval")
def eval_command(
    language: Annotated[str, typer.Option("--lang", help="zh | en | all")] = "all",
    mode: Annotated[str, typer.Option("--mode", help="audio (TTS→ASR→NLU) | text (NLU)")] = (
        "audio"
    ),
    limit: Annotated[int | None, typer.Option("--limit", help="每种语言最多条数")] = None,
    show: Annotated[bool, typer.Option("--show/--no-show", help="逐条显示")] = True,
    corpus_set: Annotated[
        str, typer.Option("--set", help="main | held-out (phrasings not used for tuning)")
    ] = "main",
) -> None:
    """在合成语料上评测识别与理解 / evaluate on the synthesized corpus (WER/CER, accuracy)."""
    import json

    from huifang.voice.corpus import CORPUS, HELD_OUT
    from huifang.voice.evaluate import Outcome, evaluate

    sets = {"main": CORPUS, "held-out": HELD_OUT}
    if corpus_set not in sets:
        raise typer.BadParameter("--set must be main or held-out")

    tts = asr = None
    if mode == "audio":
        from huifang.voice.asr import WhisperASR
        from huifang.voice.tts import EspeakTTS

        tts, asr = EspeakTTS(), WhisperASR()
    elif mode != "text":
        raise typer.BadParameter("--mode must be audio or text")
    langs = ["zh", "en"] if language == "all" else [language]

    def line(o: Outcome) -> None:
        if show:
            mark = "[green]✓[/]" if o.correct else "[red]✗[/]"
            console.print(
                f"{mark} {o.reply.id:<14} said={o.reply.text!r:<28} heard={o.heard!r:<28} "
                f"→ {o.understood.intent.value} {o.understood.value!r} "
                f"({o.understood.confidence:.2f})",
                highlight=False,
            )

    summaries = []
    for lang in langs:
        replies = sets[corpus_set][lang][:limit] if limit else sets[corpus_set][lang]
        summaries.append(evaluate(replies, lang, tts, asr, progress=line).summary())
    for summary in summaries:
        console.print(summary, highlight=False)
    print(json.dumps(summaries, ensure_ascii=False))


def register(app: typer.Typer) -> None:
    """Add `huifang voice` to the main command."""
    app.add_typer(voice_app, name="voice")
