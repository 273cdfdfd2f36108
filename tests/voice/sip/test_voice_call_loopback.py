"""The Done-means test of the voice agent: a real SIP call on loopback from our agent to
Debian's baresip playing a scripted borrower, through the whole first post-loan visit script,
and the stored record checked against what the borrower said.

The borrower is baresip: auto-answer, no registrar, `ctrl_tcp` drives it. Its audio source is
a long silent WAV (`aufile`); to answer, the test switches the source to a WAV of the reply
synthesized by espeak-ng (`ausrc aufile,reply.wav`) and back to silence when the reply is
over, or presses keys (`sndcode`, RFC 4733). baresip's `sndfile` records what it heard.
The test decides *what* to answer from the agent's live events (the question being asked,
or a read-back "You said …, is that right?") — a human borrower would understand the words;
the audio path itself is entirely real: TTS → G.711 → RTP → baresip, and espeak-ng → baresip → RTP →
our jitter buffer → Silero VAD → Whisper → NLU. Speech answers three yes/no questions and
the income (a number); keys answer the ID digits, the choices, the other yes/no questions and
the confirmations (each recognition costs seconds of CPU on this shared 2-core machine).

The agent speaks English here: Whisper-base recognizes espeak-ng's English, not its Mandarin
(docs/voice.md). Skipped only when baresip is not installed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import queue
import shutil
import socket
import subprocess
import threading
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, func, select

from huifang.domain.compliance import ContactPolicy, NoHolidays
from huifang.security.pii import current_ring, seal
from huifang.services import voice_calls
from huifang.services.followup import generate_tasks, list_tasks
from huifang.services.followup_attempts import Guard
from huifang.settings import business_today
from huifang.store.db import make_engine, transaction, upgrade
from huifang.store.followup_models import ContactAttempt, FollowupTask, Visit
from huifang.store.models import Borrower, Branch, Loan, Product, Vehicle
from huifang.store.voice_models import CallRecording, CallTranscriptTurn
from huifang.voice.sip.media import RATE, resample_pcm, voiced_span, write_wav_8k

from .baresip_control import Control, free_port, running_baresip

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("baresip") is None or shutil.which("espeak-ng") is None,
        reason="baresip and espeak-ng are needed (scripts/test.sh installs them)",
    ),
]

ID_NUMBER = "110105194912310037"  # identity check: the last four are 0037
MOBILE = "13812345670"  # baresip answers as this number; any other is 404 Not Found
ALWAYS_OPEN = Guard(
    ContactPolicy(window_start=clock(0, 0), window_end=clock(23, 59, 59, 999999)), NoHolidays()
)


@dataclass(frozen=True)
class Reply:
    """What the scripted borrower answers to a question: words (spoken; asked again, the
    borrower says it the next way, as people do) or keys. `keys_third`: asked a third time
    (recognition failed twice), the borrower keys the answer, as the agent's keypad hint
    invites - so the call completes however the recognizer does on a given run."""

    speech: tuple[str, ...] = ()
    keys: str | None = None
    keys_third: str | None = None


# Keyed by a distinctive part of each English question of first_visit.yaml.
REPLIES: dict[str, Reply] = {
    "Am I speaking with": Reply(("Yes, speaking.", "Yes, I am.", "Yes."), keys_third="1"),
    "last four characters": Reply(keys="0037#"),
    "Is that correct?": Reply(keys="1"),
    "Is that clear?": Reply(keys="1"),
    "mainly used for": Reply(keys="1"),
    "difficulty paying": Reply(("No.", "No, I don't.", "No difficulty."), keys_third="2"),
    "current state of your vehicle": Reply(keys="1"),
    "used by you or your family": Reply(keys="1"),
    "job changed": Reply(keys="1"),
    "monthly income": Reply(
        ("Eight thousand five hundred.", "About eight thousand five hundred yuan.", "8500 yuan."),
        keys_third="8500#",
    ),
    "gone up, stayed the same": Reply(keys="2"),
    "home address changed": Reply(keys="2"),
    "phone number changed": Reply(keys="2"),
    "serious illness": Reply(("No.", "No, we haven't.", "No, nothing like that."), keys_third="2"),
    "questions or suggestions": Reply(keys="#"),
}
EXPECTED = {
    "identity_confirmed": True,
    "id_last4": "0037",
    "loan_info_correct": True,
    "repayment_method_understood": True,
    "vehicle_use": "personal",
    "repayment_difficulty": False,
    "vehicle_status": "normal",
    "vehicle_in_use": True,
    "job_status": "unchanged",
    "monthly_income": "8500",
    "income_change": "same",
    "address_changed": False,
    "phone_changed": False,
    "health_issue": False,
}
FAQ_QUESTION = "When is my next payment?"
SPOKEN = {  # what a confirmation must repeat for the borrower to say yes to it
    True: "“yes”",
    False: "“no”",
    "8500": "8,500",
}


def speak_8k(text: str, path: Path) -> bytes:
    """espeak-ng's English as 8 kHz PCM."""
    subprocess.run(["espeak-ng", "-v", "en", "-w", str(path), text], check=True, timeout=30)
    with wave.open(str(path)) as w:
        rate, pcm = w.getframerate(), w.readframes(w.getnframes())
    return resample_pcm(pcm, rate, RATE)


@dataclass(frozen=True)
class Voice:
    path: Path
    seconds: float


@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Voice]:
    d = tmp_path_factory.mktemp("borrower")
    out: dict[str, Voice] = {}
    tail = bytes(2 * RATE * 3)  # the source is switched back to silence before this ends
    said = {t for r in REPLIES.values() for t in r.speech} | {FAQ_QUESTION}
    for i, text in enumerate(sorted(said)):
        pcm = speak_8k(text, d / f"raw{i}.wav")
        write_wav_8k(d / f"reply{i}.wav", pcm + tail)
        out[text] = Voice(d / f"reply{i}.wav", len(pcm) / 2 / RATE)
    write_wav_8k(d / "silence.wav", bytes(2 * RATE * 600))
    out[""] = Voice(d / "silence.wav", 600.0)
    return out


@dataclass
class Baresip:
    uri: str
    ctrl_port: int
    recordings: Path
    log: Path


@pytest.fixture
def baresip(tmp_path: Path, voices: dict[str, Voice]) -> Iterator[Baresip]:
    rtp = free_port(socket.SOCK_DGRAM) & ~1
    with running_baresip(
        tmp_path, user=MOBILE, audio_source=voices[""].path, rtp_ports=(rtp, rtp + 10)
    ) as running:
        uri = f"sip:{{number}}@127.0.0.1:{running.sip_port}"
        yield Baresip(uri, running.ctrl_port, running.recordings, running.log)


def make_loan(engine: Engine) -> int:
    """One borrower with a loan disbursed three weeks ago: a first-visit task is due."""
    disbursed = business_today() - timedelta(days=10)
    with transaction(engine) as s:
        branch = Branch(code="SZ01", name="深圳南山支行", timezone="Asia/Shanghai")
        product = Product(
            code="EI36",
            name="等额本息36期",
            repayment_method="equal-installment",
            annual_rate=Decimal("0.06"),
            min_term_months=12,
            max_term_months=60,
        )
        borrower = Borrower(
            kind="individual",
            name="Zhang Wei",  # the call is in English
            id_type="resident-id",
            **seal(current_ring(), "borrowers", {"id_number": ID_NUMBER, "mobile": MOBILE}),
            branch=branch,
            monthly_income=Decimal("9000"),
            birth_date=date(1949, 12, 31),  # as in the ID number
        )
        loan = Loan(
            contract_no="L-VOICE",
            borrower=borrower,
            product=product,
            branch=branch,
            vehicle=Vehicle(
                vin="LVSHCAMB1CE000001",
                brand="BYD",
                model="Qin",
                condition="new",
                fuel_type="bev",
                price=Decimal("150000"),
                plate="粤B12345",
            ),
            principal=Decimal("100000"),
            annual_rate=Decimal("0.06"),
            term_months=36,
            repayment_method="equal-installment",
            disbursement_date=disbursed,
            repayment_day=min(disbursed.day, 28),
            down_payment=Decimal("50000"),
            vehicle_price=Decimal("150000"),
            credit_score=720,
            status="active",
        )
        s.add_all([branch, product, loan])
        s.flush()
        loan_id = loan.id
    generate_tasks(engine, business_today(), now=datetime.now(UTC))
    return next(
        t.id for t in list_tasks(engine) if (t.loan_id, t.purpose) == (loan_id, "first-visit")
    )


class ScriptedBorrower:
    """Answers the agent's questions through baresip (see the module docstring)."""

    def __init__(self, control: Control, voices: dict[str, Voice]) -> None:
        self.control, self.voices = control, voices
        self.said = ""  # the agent's last line
        self.asked: list[str] = []
        self.answered: list[tuple[str, Reply]] = []
        self.times: dict[str, int] = {}
        self._silence: asyncio.Task[None] | None = None

    def reply_to(self, question: str, last_said: str) -> Reply:
        if last_said.startswith("You said"):
            expected = self.answered[-1][0] if self.answered else ""
            want = SPOKEN.get(EXPECTED_BY_KEY.get(expected))  # type: ignore[arg-type]
            return Reply(keys="1" if want and want in last_said else "2")
        for key, reply in REPLIES.items():
            if key in question:
                asked_before = sum(k == key for k, _ in self.answered)
                self.answered.append((key, reply))
                if asked_before >= 2 and reply.keys_third is not None:
                    return Reply(keys=reply.keys_third)
                return reply
        raise AssertionError(f"unexpected question: {question!r} (last said {last_said!r})")

    async def answer(self, reply: Reply) -> None:
        if reply.keys is not None:
            await self.control.command("sndcode", reply.keys)
            return
        assert reply.speech
        key = self.answered[-1][0]
        self.times[key] = self.times.get(key, -1) + 1
        voice = self.voices[reply.speech[self.times[key] % len(reply.speech)]]
        await self.control.command("ausrc", f"aufile,{voice.path}")
        if self._silence is not None:
            self._silence.cancel()
        self._silence = asyncio.ensure_future(self._back_to_silence(voice.seconds + 0.3))

    async def _back_to_silence(self, after: float) -> None:
        await asyncio.sleep(after)
        await self.control.command("ausrc", f"aufile,{self.voices[''].path}")


EXPECTED_BY_KEY: dict[str, object] = {
    "Am I speaking with": True,
    "difficulty paying": False,
    "monthly income": "8500",
    "serious illness": False,
}


def test_first_visit_over_a_real_sip_call(
    tmp_path: Path, baresip: Baresip, voices: dict[str, Voice]
) -> None:
    from huifang.voice.asr import WhisperASR
    from huifang.voice.calling import SipTarget, call_task
    from huifang.voice.sip.channel import ListenSettings
    from huifang.voice.tts import EspeakTTS

    engine = make_engine(f"sqlite:///{tmp_path / 'huifang.db'}")
    upgrade(engine)
    task_id = make_loan(engine)
    events: queue.Queue[dict[str, Any]] = queue.Queue()
    asr = WhisperASR()
    rtp = free_port(socket.SOCK_DGRAM) & ~1
    outcome: list[voice_calls.VoiceCallOutcome] = []
    errors: list[BaseException] = []

    def agent() -> None:
        try:
            outcome.append(
                call_task(
                    engine,
                    task_id,
                    SipTarget(baresip.uri, ring_timeout_s=10),
                    tts=EspeakTTS(speed=240),
                    asr=asr,
                    language="en",
                    rtp_ports=(rtp, rtp + 20),
                    listen=ListenSettings(no_input_s=10.0, end_silence_s=0.7),
                    on_event=events.put,
                    recordings=tmp_path / "recordings",
                    guard=ALWAYS_OPEN,
                )
            )
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)
        finally:
            events.put({"event": "done"})

    async def borrower() -> tuple[ScriptedBorrower, list[dict[str, Any]]]:
        control = await Control.connect(baresip.ctrl_port)
        b = ScriptedBorrower(control, voices)
        seen: list[dict[str, Any]] = []
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    event = await loop.run_in_executor(None, events.get, True, 150)
                except queue.Empty:
                    raise AssertionError(f"the call stalled; events so far: {seen}") from None
                seen.append(event)
                if event["event"] == "say":
                    b.said = event["text"]
                elif event["event"] == "listen":
                    question = event["question"] or ""
                    b.asked.append(question)
                    await b.answer(b.reply_to(question, b.said))
                elif event["event"] == "done":
                    return b, seen
        finally:
            await control.close()

    thread = threading.Thread(target=agent, daemon=True)
    thread.start()
    _, seen = asyncio.run(asyncio.wait_for(borrower(), 900))
    thread.join(30)
    if errors:
        raise errors[0]
    (result,) = outcome
    log = "\n".join(json.dumps(e, ensure_ascii=False) for e in seen)

    # the attempt: a right-party contact by the voice agent, completed as a visit
    assert result.result.allowed, log
    assert result.outcome is not None and result.outcome.value == "right-party-contact", log
    with transaction(engine) as s:
        attempt = s.get(ContactAttempt, result.result.attempt_id)
        assert attempt is not None
        assert attempt.channel == "voice-agent" and attempt.identity_verified
        assert attempt.script_id == "first_visit" and attempt.recording_ref
        answers = dict(attempt.answers or {})
        visit = s.scalar(select(Visit).where(Visit.attempt_id == attempt.id))
        assert visit is not None and visit.channel == "voice-agent"
        assert visit.answers == answers
        task = s.get(FollowupTask, task_id)
        assert task is not None and task.status == "done"
        rec = s.scalar(select(CallRecording).where(CallRecording.attempt_id == attempt.id))
        turns = list(
            s.scalars(
                select(CallTranscriptTurn)
                .where(CallTranscriptTurn.attempt_id == attempt.id)
                .order_by(CallTranscriptTurn.seq)
            )
        )
    # the stored answers are what the borrower said or keyed
    got = {k: answers.get(k) for k in EXPECTED}
    assert Decimal(str(got["monthly_income"])) == Decimal("8500"), log
    got["monthly_income"] = "8500"
    assert got == EXPECTED, log
    assert answers.get("remarks") in (None, ""), log

    # identity first: no loan detail was spoken before the ID digits were keyed
    said = [e["text"] for e in seen if e["event"] == "say"]
    details = next(i for i, t in enumerate(said) if "You received a loan of" in t)
    identity = next(i for i, t in enumerate(said) if "last four characters" in t)
    assert identity < details
    assert not any("¥" in t for t in said[:identity])

    # the transcript: every turn, in order, timed on the recording
    assert [t.seq for t in turns] == list(range(1, len(turns) + 1))
    assert turns[0].speaker == "agent" and "Hello" in turns[0].text
    borrower_turns = [t for t in turns if t.speaker == "borrower"]
    assert any(t.text == "[按键 0037#]" for t in borrower_turns), log
    spoken = [t for t in borrower_turns if not t.text.startswith("[按键")]
    assert len(spoken) >= 4 and all(t.confidence is not None for t in spoken)
    assert any("8" in t.text and "500" in t.text.replace(",", "") for t in spoken), log
    starts = [t.start_s for t in turns if t.start_s is not None]
    assert len(starts) == len(turns) and starts == sorted(starts)
    assert all(t.end_s is not None and t.end_s >= t.start_s for t in turns)  # type: ignore[operator]

    # the recording: a two-channel WAV as long as the call, both voices in it, unaltered
    assert rec is not None and rec.channels == 2
    path = tmp_path / "recordings" / rec.path
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == rec.sha256 == result.recording_sha256
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getframerate()) == (2, RATE)
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    assert abs(len(pcm) / RATE - rec.seconds) < 0.1
    agent_ch, borrower_ch = pcm[:, 0].tobytes(), pcm[:, 1].tobytes()
    assert voiced_span(agent_ch) is not None and voiced_span(borrower_ch) is not None
    # each spoken answer is on the borrower's channel where the transcript puts it
    for t in spoken:
        assert t.start_s is not None and t.end_s is not None
        seg = borrower_ch[int(t.start_s * RATE) * 2 : int(t.end_s * RATE) * 2]
        assert voiced_span(seg) is not None, (t.text, t.start_s, t.end_s)

    # baresip heard the agent: its recording holds the agent's speech
    (dump,) = baresip.recordings.glob("*-dec.wav")
    with wave.open(str(dump)) as w:
        heard = w.readframes(w.getnframes())
    assert voiced_span(heard) is not None


def test_inbound_call_is_answered_by_the_faq_assistant(
    tmp_path: Path, baresip: Baresip, voices: dict[str, Voice]
) -> None:
    """baresip (the borrower's phone) calls us; the FAQ assistant checks identity by keys
    (ID last four, date of birth), then answers a spoken question with the borrower's own
    next payment, and closes after two silences."""
    from huifang.voice.asr import WhisperASR
    from huifang.voice.calling import InboundCall, answer_inbound
    from huifang.voice.sip import SipAgent
    from huifang.voice.sip.channel import ListenSettings, LoopThread
    from huifang.voice.tts import EspeakTTS

    engine = make_engine(f"sqlite:///{tmp_path / 'huifang.db'}")
    upgrade(engine)
    make_loan(engine)
    events: queue.Queue[dict[str, Any]] = queue.Queue()
    asr = WhisperASR()
    rtp = free_port(socket.SOCK_DGRAM) & ~1
    done: list[InboundCall] = []
    errors: list[BaseException] = []
    ready = threading.Event()
    address: list[str] = []

    def assistant() -> None:
        try:
            with LoopThread() as loop:
                agent = SipAgent("127.0.0.1", 0, rtp_ports=(rtp, rtp + 20))
                loop.run(agent.start(), timeout=10)
                address.append(agent.uri)
                ready.set()
                try:
                    done.append(
                        answer_inbound(
                            engine,
                            agent,
                            loop,
                            tts=EspeakTTS(speed=240),
                            asr=asr,
                            language="en",
                            listen=ListenSettings(no_input_s=3.0, end_silence_s=0.7),
                            recordings=tmp_path / "recordings",
                            timeout=20,
                            on_event=events.put,
                        )
                    )
                finally:
                    loop.run(agent.stop(), timeout=10)
        except BaseException as exc:
            errors.append(exc)
        finally:
            ready.set()
            events.put({"event": "done"})

    async def borrower() -> list[dict[str, Any]]:
        control = await Control.connect(baresip.ctrl_port)
        b = ScriptedBorrower(control, voices)
        seen: list[dict[str, Any]] = []
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, ready.wait, 20)
        assert address, errors
        await control.command("dial", address[0])
        asked = 0
        try:
            while True:
                event = await loop.run_in_executor(None, events.get, True, 150)
                seen.append(event)
                if event["event"] == "say":
                    b.said = event["text"]
                elif event["event"] == "listen":
                    asked += 1
                    if "last four" in b.said:
                        await b.answer(Reply(keys="0037#"))
                    elif "date of birth" in b.said:
                        await b.answer(Reply(keys="19491231#"))
                    elif asked == 3:
                        b.answered.append(("faq", Reply((FAQ_QUESTION,))))
                        await b.answer(Reply((FAQ_QUESTION,)))
                    # afterwards: silence, until the assistant says goodbye
                elif event["event"] == "done":
                    return seen
        finally:
            await control.close()

    thread = threading.Thread(target=assistant, daemon=True)
    thread.start()
    seen = asyncio.run(asyncio.wait_for(borrower(), 600))
    thread.join(30)
    if errors:
        raise errors[0]
    (call,) = done
    log = "\n".join(json.dumps(e, ensure_ascii=False) for e in seen)
    assert call.caller == MOBILE and call.verified, log
    assert call.answered == ["next_payment"], log
    said = [e["text"] for e in seen if e["event"] == "say"]
    verified_at = next(i for i, t in enumerate(said) if "identity is verified" in t)
    assert not any("¥" in t for t in said[:verified_at])  # no figure before the check
    assert any("Your next payment of ¥" in t for t in said[verified_at:]), log
    assert call.recording is not None and call.recording.exists()
    assert hashlib.sha256(call.recording.read_bytes()).hexdigest() == call.recording_sha256
    assert [t.speaker for t in call.turns][:1] == ["agent"]

    # stored like an outbound call: an inbound attempt on the caller's loan, no task, with
    # the recording and every turn of the transcript
    assert call.attempt_id is not None
    with transaction(engine) as s:
        attempt = s.get(ContactAttempt, call.attempt_id)
        assert attempt is not None
        assert (attempt.direction, attempt.task_id, attempt.loan_id) == (
            "inbound",
            None,
            call.loan_id,
        )
        assert (attempt.outcome, attempt.identity_verified) == ("right-party-contact", True)
        assert attempt.answers == {"faq_entries": ["next_payment"]}
        rec = s.scalar(select(CallRecording).where(CallRecording.attempt_id == attempt.id))
        stored_turns = s.scalar(
            select(func.count()).where(CallTranscriptTurn.attempt_id == attempt.id)
        )
    assert rec is not None and rec.direction == "inbound" and rec.sha256 == call.recording_sha256
    assert call.recording == tmp_path / "recordings" / rec.path
    assert stored_turns == len(call.turns)
    keyed = [t for t in voice_calls.transcripts(engine, [attempt.id])[attempt.id] if t.step_id]
    assert [t.text for t in keyed] == ["****", "****"]  # ID tail and date of birth masked
