"""The SIP user agent against itself on loopback: real SIP over UDP, real RTP with G.711 and
RFC 4733 events, keys in SIP INFO (no mocks). The test against an independent endpoint is
test_baresip.py."""

from __future__ import annotations

import asyncio
import math
from array import array
from typing import Any

import pytest
from aiosipua.message import SipMessage, SipResponse

from huifang.voice.sip import CallFailed, Recorder, SipAgent, pcm_source
from huifang.voice.sip.agent import _offer, info_key
from huifang.voice.sip.media import rms, voiced_span


def tone(seconds: float, hz: float, level: float = 0.5) -> bytes:
    n = int(seconds * 8000)
    return array(
        "h", (int(level * 32767 * math.sin(2 * math.pi * hz * i / 8000)) for i in range(n))
    ).tobytes()


def test_offer_lists_g711_in_order_and_telephone_event() -> None:
    sdp = _offer("127.0.0.1", 20_000, ("PCMA", "PCMU"))
    audio = sdp.audio
    assert audio is not None
    assert audio.formats == ["8", "0", "101"]
    assert [c.encoding_name for c in audio.codecs] == ["PCMA", "PCMU", "telephone-event"]
    assert sdp.rtp_address == ("127.0.0.1", 20_000)


def test_only_g711_is_accepted() -> None:
    with pytest.raises(ValueError, match="PCMU"):
        SipAgent(codecs=("opus",))


def test_call_audio_dtmf_and_hangup_both_ways() -> None:
    async def scenario() -> None:
        async with (
            SipAgent("127.0.0.1", 0, user="borrower", rtp_ports=(31_000, 31_100)) as callee,
            SipAgent("127.0.0.1", 0, user="agent", rtp_ports=(31_100, 31_200)) as caller,
        ):
            heard_by_callee, heard_by_caller = Recorder(), Recorder()
            answering = asyncio.ensure_future(callee.answer(sink=heard_by_callee, timeout=5))
            out = await caller.call(callee.uri, sink=heard_by_caller, timeout=5)
            inbound = await answering
            assert (out.direction, inbound.direction) == ("outbound", "inbound")
            assert out.codec == inbound.codec == "PCMU"
            assert "agent" in inbound.remote_uri

            await asyncio.gather(
                out.play(pcm_source(tone(0.6, 440))), inbound.play(pcm_source(tone(0.4, 700)))
            )
            await out.send_dtmf("19#")
            await inbound.send_dtmf("0")
            assert [await inbound.next_dtmf(2) for _ in range(3)] == ["1", "9", "#"]
            assert await out.next_dtmf(2) == "0"
            assert await out.next_dtmf(0.1) is None

            await asyncio.sleep(0.2)
            await inbound.hangup()
            assert await out.wait_ended(5) == "remote"
            assert inbound.ended_by == "local"
            await out.hangup()  # already ended: nothing happens
            assert out.ended_by == "remote"

            # each side heard the other's tone: level and length (G.711 keeps the level
            # within a few per cent; the span is measured on 20 ms frames)
            for heard, seconds in ((heard_by_callee, 0.6), (heard_by_caller, 0.4)):
                span = voiced_span(heard.pcm)
                assert span is not None
                assert span[1] - span[0] == pytest.approx(seconds, abs=0.06)
                voiced = heard.pcm[int(span[0] * 16000) : int(span[1] * 16000)]
                assert rms(voiced) == pytest.approx(0.5 / math.sqrt(2), rel=0.1)
            assert out.frames_sent >= 30 and inbound.frames_received >= 30

    asyncio.run(scenario())


def test_no_common_codec_is_rejected_with_488() -> None:
    async def scenario() -> None:
        async with (
            SipAgent("127.0.0.1", 0, codecs=("PCMA",), rtp_ports=(31_200, 31_300)) as callee,
            SipAgent("127.0.0.1", 0, codecs=("PCMU",), rtp_ports=(31_300, 31_400)) as caller,
        ):
            answering = asyncio.ensure_future(callee.answer(timeout=5))
            with pytest.raises(CallFailed, match="488"):
                await caller.call(callee.uri, timeout=5)
            with pytest.raises(CallFailed, match="codec"):
                await answering

    asyncio.run(scenario())


def test_unanswered_call_fails_after_timeout() -> None:
    async def scenario() -> None:
        async with SipAgent("127.0.0.1", 0, rtp_ports=(31_400, 31_500)) as caller:
            with pytest.raises(CallFailed, match="failed"):
                await caller.call("sip:nobody@127.0.0.1:9", timeout=0.5)

    asyncio.run(scenario())


class LossyRelay(asyncio.DatagramProtocol):
    """A UDP relay in front of the callee that loses the first `drop` datagrams from the
    caller (a lost INVITE) and forwards everything else both ways."""

    def __init__(self, callee: tuple[str, int], drop: int) -> None:
        self.callee, self.drop, self.caller = callee, drop, None
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        if addr == self.callee:
            if self.caller is not None:
                self.transport.sendto(data, self.caller)
            return
        self.caller = addr
        if self.drop > 0:
            self.drop -= 1
            return
        self.transport.sendto(data, self.callee)


def test_lost_invite_is_retransmitted() -> None:
    async def scenario() -> None:
        async with (
            SipAgent("127.0.0.1", 0, user="borrower", rtp_ports=(31_500, 31_600)) as callee,
            SipAgent("127.0.0.1", 0, user="agent", rtp_ports=(31_600, 31_700)) as caller,
        ):
            relay_transport, relay = await asyncio.get_running_loop().create_datagram_endpoint(
                lambda: LossyRelay(("127.0.0.1", callee.port), drop=2),
                local_addr=("127.0.0.1", 0),
            )
            relay_addr = relay_transport.get_extra_info("sockname")[:2]
            try:
                answering = asyncio.ensure_future(callee.answer(timeout=10))
                out = await caller.call(callee.uri, proxy=relay_addr, timeout=10)
                inbound = await answering
                assert caller.invite_retransmissions == 2
                assert relay.drop == 0
                await out.hangup()
                assert await inbound.wait_ended(5) == "remote"
            finally:
                relay_transport.close()

    asyncio.run(scenario())


class DigestChallenger(asyncio.DatagramProtocol):
    """A trunk's front door: answers an INVITE without credentials with 401 and a digest
    challenge (RFC 2617, MD5, qop=auth); checks the credentials of the retried INVITE and
    answers 486 Busy Here when they are right, 403 when they are wrong."""

    def __init__(self, user: str, password: str) -> None:
        self.user, self.password, self.nonce = user, password, "5f3c2a"
        self.results: list[int] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        self.transport = transport

    def reply(self, request: str, status: str, extra: str = "") -> str:
        keep = [
            line
            for line in request.split("\r\n")
            if line.split(":")[0].lower() in {"via", "from", "to", "call-id", "cseq"}
        ]
        return f"SIP/2.0 {status}\r\n" + "\r\n".join(keep) + f"\r\n{extra}Content-Length: 0\r\n\r\n"

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        import hashlib
        import re

        assert self.transport is not None
        text = data.decode()
        if not text.startswith("INVITE"):
            return  # ACKs
        match = re.search(r"^Authorization: Digest (.*)$", text, re.M | re.I)
        if match is None:
            challenge = (
                f'WWW-Authenticate: Digest realm="trunk", nonce="{self.nonce}", qop="auth"\r\n'
            )
            self.transport.sendto(self.reply(text, "401 Unauthorized", challenge).encode(), addr)
            return
        p = dict(re.findall(r'(\w+)="?([^",]+)"?', match.group(1)))

        def md5(s: str) -> str:
            return hashlib.md5(s.encode()).hexdigest()

        ha1 = md5(f"{p['username']}:trunk:{self.password}")
        ha2 = md5(f"INVITE:{p['uri']}")
        expected = md5(f"{ha1}:{self.nonce}:{p['nc']}:{p['cnonce']}:auth:{ha2}")
        ok = p["username"] == self.user and p["response"] == expected
        self.results.append(486 if ok else 403)
        status = "486 Busy Here" if ok else "403 Forbidden"
        self.transport.sendto(self.reply(text, status).encode(), addr)


@pytest.mark.parametrize(("password", "status"), [("s3cret", 486), ("wrong", 403)])
def test_digest_challenge_is_answered(password: str, status: int) -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        trunk_transport, trunk = await loop.create_datagram_endpoint(
            lambda: DigestChallenger("1001", "s3cret"), local_addr=("127.0.0.1", 0)
        )
        port = trunk_transport.get_extra_info("sockname")[1]
        try:
            async with SipAgent("127.0.0.1", 0, rtp_ports=(31_700, 31_800)) as caller:
                with pytest.raises(CallFailed, match=str(status)):
                    await caller.call(
                        f"sip:13800000000@127.0.0.1:{port}", auth=("1001", password), timeout=5
                    )
            assert trunk.results == [status]
        finally:
            trunk_transport.close()

    asyncio.run(scenario())


def test_play_waits_for_a_slow_source() -> None:
    """A source slower than real time (a streaming TTS) leaves gaps of silence, and `play`
    still returns only after its last frame has been sent."""

    async def slow(chunks: list[bytes]):  # type: ignore[no-untyped-def]
        for chunk in chunks:
            await asyncio.sleep(0.15)
            yield chunk

    async def scenario() -> None:
        async with (
            SipAgent("127.0.0.1", 0, rtp_ports=(31_800, 31_900)) as callee,
            SipAgent("127.0.0.1", 0, rtp_ports=(31_900, 32_000)) as caller,
        ):
            heard = Recorder()
            answering = asyncio.ensure_future(callee.answer(sink=heard, timeout=5))
            out = await caller.call(callee.uri, timeout=5)
            await answering
            await out.play(slow([tone(0.1, 440), tone(0.1, 440)]))
            assert out._queue.empty()  # nothing of the prompt left unsent
            await asyncio.sleep(0.3)  # the last frames travel to the callee
            span = voiced_span(heard.pcm)
            assert span is not None
            assert span[1] - span[0] == pytest.approx(0.1 + 0.15 + 0.1, abs=0.1)
            await out.hangup()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("content_type", "body", "key"),
    [
        ("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", "5"),
        ("application/dtmf-relay; charset=utf-8", "signal= #\r\nDuration=100", "#"),
        ("Application/DTMF-Relay", "Signal=11\r\nDuration=160", "#"),  # RFC 4733 event 11
        ("application/dtmf-relay", "Signal=10", "*"),
        ("application/dtmf-relay", "Duration=160", None),
        ("application/dtmf-relay", "Signal=55", None),
        ("application/dtmf", "7", "7"),
        ("application/dtmf", " a\r\n", "A"),
        ("application/dtmf", "", None),
        ("text/plain", "Signal=5", None),
        (None, "5", None),
    ],
)
def test_key_in_a_sip_info_body(content_type: str | None, body: str, key: str | None) -> None:
    assert info_key(content_type, body) == key


def test_keys_in_sip_info_join_the_rfc4733_keys_both_ways() -> None:
    """In-dialog INFO requests sent over UDP to each side of a real call, as a PBX sends them:
    the key reaches the call's DTMF queue between RFC 4733 keys; other bodies are refused."""

    async def scenario() -> None:
        async with (
            SipAgent("127.0.0.1", 0, user="borrower", rtp_ports=(31_700, 31_800)) as callee,
            SipAgent("127.0.0.1", 0, user="agent", rtp_ports=(31_800, 31_900)) as caller,
        ):
            answering = asyncio.ensure_future(callee.answer(timeout=5))
            out = await caller.call(callee.uri, timeout=5)
            inbound = await answering
            loop = asyncio.get_running_loop()
            pbx_transport, pbx = await loop.create_datagram_endpoint(
                Responses, local_addr=("127.0.0.1", 0)
            )
            pbx_port = pbx_transport.get_extra_info("sockname")[1]
            # the caller's dialog sends to the callee (inbound call), and the other way round
            outbound_dialog = caller._uac.get_call(out.call_id).dialog  # type: ignore[union-attr]
            inbound_dialog = callee._uas.get_call(inbound.call_id).dialog  # type: ignore[union-attr]

            async def info(
                dialog: Any, to: SipAgent, content_type: str | None, body: str
            ) -> SipResponse:
                request = dialog.create_request("INFO", via_host="127.0.0.1", via_port=pbx_port)
                if content_type:
                    request.headers.set_single("Content-Type", content_type)
                request.text = body
                pbx_transport.sendto(bytes(request), ("127.0.0.1", to.port))
                return await asyncio.wait_for(pbx.responses.get(), 2)

            relay = "application/dtmf-relay"
            assert (
                await info(outbound_dialog, callee, relay, "Signal=1\r\nDuration=160\r\n")
            ).status_code == 200
            await out.send_dtmf("2")
            assert (await info(outbound_dialog, callee, "application/dtmf", "#")).status_code == 200
            assert [await inbound.next_dtmf(2) for _ in range(3)] == ["1", "2", "#"]

            assert (await info(inbound_dialog, caller, relay, "Signal=0")).status_code == 200
            assert await out.next_dtmf(2) == "0"

            refused = await info(inbound_dialog, caller, "text/plain", "Signal=5")
            assert refused.status_code == 415
            assert refused.get_header_values("accept") == [relay, "application/dtmf"]
            assert (await info(inbound_dialog, caller, relay, "Duration=160")).status_code == 400
            assert (await info(inbound_dialog, caller, None, "")).status_code == 200  # keep-alive
            assert await out.next_dtmf(0.2) is None  # none of these was a key

            stray = outbound_dialog.create_request("INFO", via_host="127.0.0.1", via_port=pbx_port)
            stray.headers.set_single("Call-ID", "no-such-call")
            stray.headers.set_single("Content-Type", relay)
            stray.text = "Signal=5"
            pbx_transport.sendto(bytes(stray), ("127.0.0.1", callee.port))
            assert (await asyncio.wait_for(pbx.responses.get(), 2)).status_code == 481
            pbx_transport.close()
            await out.hangup()

    asyncio.run(scenario())


class Responses(asyncio.DatagramProtocol):
    """The SIP responses that come back to the test's UDP socket."""

    def __init__(self) -> None:
        self.responses: asyncio.Queue[SipResponse] = asyncio.Queue()

    def datagram_received(self, data: bytes, _addr: tuple[str, int]) -> None:
        message = SipMessage.parse(data)
        if isinstance(message, SipResponse):
            self.responses.put_nowait(message)
