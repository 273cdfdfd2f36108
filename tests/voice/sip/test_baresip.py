"""A real SIP call on loopback against an independent endpoint: Debian's baresip.

baresip runs from a configuration written to a temp dir: no registrar, auto-answer, its
`aufile` module plays a scripted borrower's reply synthesized by espeak-ng, its `sndfile`
filter records what it hears, and `ctrl_tcp` drives it (dialling us for the inbound test)
and reports its events (DTMF received, call closed). Nothing on the audio path is mocked:
the prompt goes through our G.711 encoder, RTP over UDP, baresip's decoder; the borrower's
reply comes back the same way. baresip hangs up when its file ends, which tests our hangup
detection. (baresip 1.0's aufile only plays; sndfile writes `dump-…-dec.wav`, what it heard.)
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from huifang.settings import business_today
from huifang.voice.sip import Recorder, SipAgent, pcm_source
from huifang.voice.sip.media import RATE, read_wav_8k, resample_pcm, voiced_span, write_wav_8k

from .baresip_control import Control, running_baresip

pytestmark = pytest.mark.skipif(
    shutil.which("baresip") is None,
    reason="baresip is not installed (apt-get install baresip-core; scripts/test.sh does it)",
)

PROMPT = "您好，请问您是张三本人吗？"
# The borrower answers in English: Whisper-base transcribes espeak-ng's English reliably but
# not its Mandarin, even without a phone line in between (see docs/telephony.md).
REPLY = "Yes, this is John speaking."
GAP_S = 0.6  # silence before the borrower answers and after


def speak(text: str, voice: str, path: Path) -> bytes:
    """Synthesize speech with espeak-ng and return it as 8 kHz PCM."""
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True)
    with wave.open(str(path)) as w:
        rate, pcm = w.getframerate(), w.readframes(w.getnframes())
    return resample_pcm(pcm, rate, RATE)


@dataclass
class Baresip:
    """A running baresip with its SIP address, recording dir and ctrl_tcp port."""

    uri: str
    ctrl_port: int
    recordings: Path

    def heard(self) -> bytes:
        """What baresip decoded from the call (its sndfile dump), as 8 kHz PCM."""
        (dump,) = self.recordings.glob("*-dec.wav")
        return read_wav_8k(dump)


@dataclass(frozen=True)
class Voices:
    prompt: bytes  # what our agent says
    reply: bytes  # what the borrower says (without the surrounding silence)
    borrower_wav: Path  # what baresip plays: silence, the reply, silence


@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory) -> Voices:
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is required (apt-get install espeak-ng; scripts/test.sh does it)")
    d = tmp_path_factory.mktemp("voices")
    prompt = speak(PROMPT, "cmn", d / "prompt.wav")
    reply = speak(REPLY, "en", d / "reply.wav")
    lead = bytes(2 * int(RATE * (len(prompt) / 2 / RATE + GAP_S)))
    tail = bytes(2 * int(RATE * GAP_S))
    write_wav_8k(d / "borrower.wav", lead + reply + tail)
    return Voices(prompt, reply, d / "borrower.wav")


@pytest.fixture
def baresip(tmp_path: Path, voices: Voices) -> Iterator[Baresip]:
    with running_baresip(
        tmp_path, user="borrower", audio_source=voices.borrower_wav, rtp_ports=(32000, 32400)
    ) as running:
        yield Baresip(
            f"sip:borrower@127.0.0.1:{running.sip_port}", running.ctrl_port, running.recordings
        )


def span_length(pcm: bytes) -> float:
    span = voiced_span(pcm)
    assert span is not None, "silence where speech was expected"
    return span[1] - span[0]


def test_outbound_call_to_baresip(baresip: Baresip, voices: Voices, tmp_path: Path) -> None:
    """We dial baresip (no registrar), say the prompt and press 1; baresip answers with the
    borrower's reply and hangs up when its file ends."""

    async def scenario() -> tuple[Recorder, str, list[dict[str, object]]]:
        control = await Control.connect(baresip.ctrl_port)
        heard = Recorder()
        async with SipAgent("127.0.0.1", 0, rtp_ports=(34_000, 34_400)) as agent:
            call = await agent.call(baresip.uri, sink=heard, timeout=10)
            assert call.codec == "PCMU" and call.dtmf_enabled
            await call.play(pcm_source(voices.prompt))
            await call.send_dtmf("1")
            ended_by = await call.wait_ended(timeout=30)
        await asyncio.sleep(0.2)
        await control.close()
        return heard, ended_by, control.events

    heard, ended_by, events = asyncio.run(scenario())
    heard.save(tmp_path / "agent-heard.wav")
    assert ended_by == "remote"  # baresip's BYE at the end of its file
    dtmf = [e for e in events if e.get("type") == "CALL_DTMF_START"]
    assert [e["param"] for e in dtmf] == ["1"]

    # baresip heard our prompt: speech as long as the prompt's, at the start of the call
    theirs = baresip.heard()
    assert span_length(theirs) == pytest.approx(span_length(voices.prompt), abs=0.15)
    start, _ = voiced_span(theirs) or (0.0, 0.0)
    assert start < 1.0
    # and the call lasted as long as the borrower's file (baresip's decoder runs a little
    # past the end of its file until the BYE is out)
    borrower_s = len(read_wav_8k(voices.borrower_wav)) / 2 / RATE
    assert borrower_s - 0.3 < len(theirs) / 2 / RATE < borrower_s + 1.0

    # we heard the borrower: speech as long as the reply, after our prompt
    assert span_length(heard.pcm) == pytest.approx(span_length(voices.reply), abs=0.15)
    start, _ = voiced_span(heard.pcm) or (0.0, 0.0)
    prompt_s = len(voices.prompt) / 2 / RATE
    assert prompt_s - 0.3 < start < prompt_s + 2 * GAP_S + 1.0

    assert waveform_match(heard.pcm, voices.reply) > 0.95
    asr_check(heard.pcm)


def waveform_match(received: bytes, sent: bytes) -> float:
    """Best correlation coefficient of the sent speech against the received audio over all
    alignments: G.711 and a clean loopback keep the waveform, so this is close to 1."""
    import numpy as np

    rx = np.frombuffer(received, dtype="<i2").astype(np.float64)
    tx = np.frombuffer(sent, dtype="<i2").astype(np.float64)
    (tx_start, tx_end), (rx_start, _) = voiced_span(sent), voiced_span(received)
    ref = tx[int(tx_start * RATE) : int(tx_end * RATE)]
    guess = int(rx_start * RATE)
    best = 0.0
    for lag in range(max(0, guess - 400), guess + 400):
        seg = rx[lag : lag + len(ref)]
        if len(seg) == len(ref):
            best = max(best, float(np.corrcoef(seg, ref)[0, 1]))
    return best


def asr_check(pcm: bytes) -> None:
    """Transcribe what we heard with the voice package's Whisper ASR, when it is usable."""
    pytest.importorskip("faster_whisper")
    import numpy as np

    from huifang.voice.asr import WhisperASR
    from huifang.voice.audio import Audio, resample
    from huifang.voice.nlu import Expectation, Intent, understand_transcript

    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    t = WhisperASR().transcribe(Audio(resample(samples, RATE)), "en", "", "yes_no")
    u = understand_transcript([t.text, *t.alternatives], Expectation("yes_no", business_today()))
    assert (u.intent, u.value) == (Intent.ANSWER, True), t  # the yes survives the phone line


def test_inbound_call_from_baresip(baresip: Baresip, voices: Voices) -> None:
    """baresip dials us through ctrl_tcp; we answer, speak, and hear the borrower."""

    async def scenario() -> tuple[Recorder, str]:
        control = await Control.connect(baresip.ctrl_port)
        heard = Recorder()
        async with SipAgent("127.0.0.1", 0, rtp_ports=(34_400, 34_800)) as agent:
            await control.command("dial", agent.uri)
            call = await agent.answer(sink=heard, timeout=10)
            assert call.direction == "inbound" and "borrower" in call.remote_uri
            await call.play(pcm_source(voices.prompt))
            ended_by = await call.wait_ended(timeout=30)
        await control.close()
        assert [e["param"] for e in control.of_type("CALL_CLOSED")] == ["end of file"]
        return heard, ended_by

    heard, ended_by = asyncio.run(scenario())
    assert ended_by == "remote"
    assert span_length(heard.pcm) == pytest.approx(span_length(voices.reply), abs=0.15)
    assert span_length(baresip.heard()) == pytest.approx(span_length(voices.prompt), abs=0.15)


def test_cli_call_to_baresip(baresip: Baresip, tmp_path: Path) -> None:
    """`huifang sip call` says a text through espeak-ng, presses 2, records the borrower and
    prints a JSON summary; baresip hangs up at the end of its file."""
    from typer.testing import CliRunner

    from huifang.cli import app

    record = tmp_path / "heard.wav"
    args = ["sip", "call", baresip.uri, "--say", PROMPT, "--dtmf", "2"]
    result = CliRunner().invoke(app, [*args, "--record", str(record), "--listen", "30"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["ended_by"] == "remote" and summary["codec"] == "PCMU"
    assert summary["received_s"] > 2
    assert voiced_span(read_wav_8k(record)) is not None
