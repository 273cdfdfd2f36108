"""`huifang sip …`: place or answer one SIP call from the command line (G.711, no registrar),
say a text (espeak-ng) or play a WAV, send DTMF, record what the far end says, and print a
JSON summary. For trying a trunk, a PBX or a softphone by hand; see docs/telephony.md."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from huifang.voice.sip import Call, Recorder

sip_app = typer.Typer(help="电话 (SIP) / telephony", no_args_is_help=True)

Say = Annotated[str | None, typer.Option("--say", help="用TTS朗读的文本 / text to speak")]
Lang = Annotated[str, typer.Option("--lang", help="zh 或 en / TTS language")]
Wav = Annotated[Path | None, typer.Option("--wav", help="8 kHz单声道WAV / 8 kHz mono WAV to play")]
Dtmf = Annotated[str, typer.Option("--dtmf", help="说完后发送的按键 / digits to send")]
Record = Annotated[Path | None, typer.Option("--record", help="录下对方声音 / WAV of the far end")]
Listen = Annotated[
    float, typer.Option("--listen", help="说完后最多再听几秒 / seconds to listen afterwards")
]
Bind = Annotated[str, typer.Option("--bind", help="本地SIP地址 / local SIP host:port")]


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise typer.BadParameter(f"需要 host:port / host:port expected, got {text!r}")
    return host, int(port)


def _prompt(say: str | None, lang: str, wav: Path | None) -> bytes:
    from huifang.voice.sip.media import read_wav_8k

    if say and wav:
        raise typer.BadParameter("--say 与 --wav 只能选一个 / use --say or --wav, not both")
    if wav:
        return read_wav_8k(wav)
    if say:
        from huifang.voice.sip.bridge import to_call
        from huifang.voice.tts import EspeakTTS

        return to_call(EspeakTTS().synthesize(say, lang))
    return b""


async def _converse(call: Call, prompt: bytes, dtmf: str, listen: float) -> list[str]:
    from huifang.voice.sip import pcm_source

    if prompt:
        await call.play(pcm_source(prompt))
    if dtmf and call.dtmf_enabled:
        await call.send_dtmf(dtmf)
    try:
        await call.wait_ended(listen)
    except TimeoutError:
        await call.hangup()
    digits: list[str] = []
    while not call.dtmf.empty():
        digits.append(call.dtmf.get_nowait())
    return digits


def _summary(call: Call, heard: Recorder, record: Path | None, digits: list[str]) -> None:
    if record:
        heard.save(record)
    summary = {
        "direction": call.direction,
        "remote": call.remote_uri,
        "codec": call.codec,
        "ended_by": call.ended_by,
        "sent_s": round(call.frames_sent * 0.02, 2),
        "received_s": round(heard.seconds, 2),
        "dtmf_received": digits,
        "recording": str(record) if record else None,
    }
    typer.echo(json.dumps(summary, ensure_ascii=False))


@sip_app.command("call")
def call_command(
    uri: Annotated[str, typer.Argument(help="例如 sip:1001@10.0.0.1:5060")],
    say: Say = None,
    lang: Lang = "zh",
    wav: Wav = None,
    dtmf: Dtmf = "",
    record: Record = None,
    listen: Listen = 10.0,
    bind: Bind = "127.0.0.1:0",
    proxy: Annotated[
        str | None, typer.Option("--proxy", help="SIP中继/PBX host:port / trunk or PBX")
    ] = None,
    timeout: Annotated[float, typer.Option(help="等待接听秒数 / seconds to wait")] = 30.0,
) -> None:
    """拨打一个SIP电话 / place one SIP call."""
    from huifang.voice.sip import CallFailed, Recorder, SipAgent

    host, port = _address(bind)
    prompt = _prompt(say, lang, wav)
    target = _address(proxy) if proxy else None

    async def run() -> None:
        heard = Recorder()
        async with SipAgent(host, port) as agent:
            call = await agent.call(uri, sink=heard, proxy=target, timeout=timeout)
            digits = await _converse(call, prompt, dtmf, listen)
        _summary(call, heard, record, digits)

    try:
        asyncio.run(run())
    except CallFailed as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc


@sip_app.command("answer")
def answer_command(
    say: Say = None,
    lang: Lang = "zh",
    wav: Wav = None,
    dtmf: Dtmf = "",
    record: Record = None,
    listen: Listen = 10.0,
    bind: Bind = "127.0.0.1:5060",
    timeout: Annotated[float, typer.Option(help="等待来电秒数 / seconds to wait")] = 60.0,
    faq: Annotated[
        bool,
        typer.Option(
            "--faq", help="由智能客服接听 (先核实身份) / the FAQ assistant answers (identity first)"
        ),
    ] = False,
    calls: Annotated[int, typer.Option("--calls", help="--faq: 接听几通 / calls to take")] = 1,
) -> None:
    """接听下一个来电 / answer the next inbound call."""
    from huifang.voice.sip import Recorder, SipAgent

    host, port = _address(bind)
    if faq:
        _answer_faq(host, port, lang, timeout, calls)
        return
    prompt = _prompt(say, lang, wav)

    async def run() -> None:
        heard = Recorder()
        async with SipAgent(host, port) as agent:
            typer.echo(f"等待来电 / waiting on {agent.uri}", err=True)
            call = await agent.answer(sink=heard, timeout=timeout)
            digits = await _converse(call, prompt, dtmf, listen)
        _summary(call, heard, record, digits)

    try:
        asyncio.run(run())
    except TimeoutError as exc:
        typer.echo(f"没有来电 / no call within {timeout} s", err=True)
        raise typer.Exit(1) from exc


def _answer_faq(host: str, port: int, lang: str, timeout: float, calls: int) -> None:
    """Incoming calls answered by the FAQ assistant over SIP (TTS + ASR), one JSON line per
    event and a summary per call (`huifang.voice.calling.answer_inbound`)."""
    from huifang.settings import load_settings
    from huifang.store.db import make_engine, upgrade
    from huifang.voice.asr import WhisperASR
    from huifang.voice.calling import answer_inbound
    from huifang.voice.sip import SipAgent
    from huifang.voice.sip.channel import LoopThread
    from huifang.voice.tts import EspeakTTS

    if lang not in ("zh", "en"):
        raise typer.BadParameter("--lang must be zh or en")
    engine = make_engine(load_settings().database_url)
    upgrade(engine)
    tts, asr = EspeakTTS(), WhisperASR()

    def emit(event: dict[str, object]) -> None:
        typer.echo(json.dumps(event, ensure_ascii=False, default=str))

    with LoopThread() as loop:
        agent = SipAgent(host, port)
        loop.run(agent.start(), timeout=10)
        typer.echo(f"等待来电 / waiting on {agent.uri}", err=True)
        try:
            for _ in range(calls):
                try:
                    done = answer_inbound(
                        engine,
                        agent,
                        loop,
                        tts=tts,
                        asr=asr,
                        language="zh" if lang == "zh" else "en",
                        timeout=timeout,
                        on_event=emit,
                    )
                except TimeoutError as exc:
                    typer.echo(f"没有来电 / no call within {timeout} s", err=True)
                    raise typer.Exit(1) from exc
                emit(
                    {
                        "event": "summary",
                        "caller": done.caller,
                        "verified": done.verified,
                        "loan_id": done.loan_id,
                        "handover_reason": done.handover_reason,
                        "turns": len(done.turns),
                        "recording": str(done.recording),
                        "recording_sha256": done.recording_sha256,
                        "attempt_id": done.attempt_id,
                    }
                )
        finally:
            loop.run(agent.stop(), timeout=10)


def register(app: typer.Typer) -> None:
    app.add_typer(sip_app, name="sip")
