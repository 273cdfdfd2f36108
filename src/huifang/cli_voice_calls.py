"""`huifang voice call`: the voice agent calls the borrower of a follow-up task over SIP —
compliance guard first, then the task's script by voice, then the call stored as a contact
attempt with its recording and transcript. Prints one JSON line per event as the call goes
(what was said, heard, keyed) and a JSON summary last. See docs/telephony.md."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from huifang.cli_voice import voice_app


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise typer.BadParameter(f"需要 host:port / host:port expected, got {text!r}")
    return host, int(port)


def _emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


@voice_app.command("call")
def call_command(
    task: Annotated[int, typer.Option("--task", help="回访任务编号 / follow-up task id")],
    target: Annotated[
        str,
        typer.Option(
            "--target",
            envvar="HUIFANG_SIP_TARGET",
            help="SIP URI模板, {number}=借款人号码 / URI template: sip:{number}@10.0.0.1:5060",
        ),
    ],
    proxy: Annotated[
        str | None,
        typer.Option("--proxy", envvar="HUIFANG_SIP_PROXY", help="SIP中继/PBX host:port"),
    ] = None,
    bind: Annotated[
        str, typer.Option("--bind", envvar="HUIFANG_SIP_BIND", help="本地SIP地址 host:port")
    ] = "127.0.0.1:0",
    language: Annotated[str, typer.Option("--lang", help="zh | en")] = "zh",
    tts_speed: Annotated[int, typer.Option("--tts-speed", help="espeak-ng 语速 (词/分)")] = 150,
    no_input: Annotated[float, typer.Option("--no-input", help="无应答等待秒数")] = 6.0,
    ring: Annotated[float, typer.Option("--ring", help="振铃等待秒数 / ring timeout")] = 40.0,
    recordings: Annotated[
        Path | None, typer.Option("--recordings", help="录音目录 (默认 HUIFANG_RECORDINGS_DIR)")
    ] = None,
) -> None:
    """智能外呼一个回访任务 / the voice agent calls a task's borrower and records the visit."""
    from huifang.services.followup import TaskError
    from huifang.settings import load_settings
    from huifang.store.db import make_engine, upgrade
    from huifang.voice.asr import WhisperASR
    from huifang.voice.calling import SipTarget, call_task
    from huifang.voice.sip.channel import ListenSettings
    from huifang.voice.tts import EspeakTTS

    if language not in ("zh", "en"):
        raise typer.BadParameter("--lang must be zh or en")
    if "{number}" not in target:
        raise typer.BadParameter("--target 须含 {number} / the target needs {number}")
    sip_target = SipTarget(target, _address(proxy) if proxy else None, ring_timeout_s=ring)
    engine = make_engine(load_settings().database_url)
    upgrade(engine)
    tts, asr = EspeakTTS(speed=tts_speed), WhisperASR()
    try:
        outcome = call_task(
            engine,
            task,
            sip_target,
            tts=tts,
            asr=asr,
            language="zh" if language == "zh" else "en",
            bind=_address(bind),
            listen=ListenSettings(no_input_s=no_input),
            on_event=_emit,
            recordings=recordings,
        )
    except TaskError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    result = outcome.result
    _emit(
        {
            "event": "summary",
            "task_id": task,
            "attempt_id": result.attempt_id,
            "allowed": result.allowed,
            "refusals": [r[0] for r in result.refusals],
            "outcome": outcome.outcome.value if outcome.outcome else None,
            "visit_id": result.visit_id,
            "task_status": result.task_status,
            "new_alerts": [a.id for a in outcome.new_alerts],
            "recording": str(outcome.recording_path) if outcome.recording_path else None,
            "recording_sha256": outcome.recording_sha256,
        }
    )
    if not result.allowed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """`huifang voice call` joins the `voice` group (registered by cli_voice)."""
    del app
