"""The SIP user agent against itself on loopback: real SIP over UDP, real RTP with G.711 and
RFC 4733 events (no mocks). The test against an independent endpoint is test_baresip.py."""

from __future__ import annotations

import asyncio
import math
from array import array

import pytest

from huifang.voice.sip import CallFailed, Recorder, SipAgent, pcm_source
from huifang.voice.sip.agent import _offer
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
