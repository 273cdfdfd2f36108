"""The SIP user agent: places outbound calls and accepts inbound ones, with G.711 audio over
RTP and DTMF as RFC 4733 telephone-events or in SIP INFO requests (``application/dtmf-relay``
and ``application/dtmf``, as some PBXs and trunks send keys).

Built on aiosipua (SIP signalling) and aiortp (RTP, G.711, telephone-events), both pure
Python on asyncio, chosen by the measured spike in docs/telephony.md. No registrar is needed:
a call goes straight to `host:port` (the lender's SIP trunk or PBX, FreeSWITCH/Asterisk, or
a softphone), taken from the SIP URI or given as `proxy`.

Audio model: the call sends one 20 ms frame every 20 ms for its whole life; `Call.play`
queues a source's frames and waits until they have been sent, and silence fills the time
between prompts, as a telephone would. Every received frame (decoded to 8 kHz PCM) goes to
the call's sink, e.g. a `Recorder` or the ASR's buffer. A BYE from the far end ends the call
(`Call.ended_by == "remote"`); received DTMF digits, from RTP events or SIP INFO alike,
queue up in `Call.dtmf`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Coroutine
from typing import Any

import aiortp
from aiosipua import IncomingCall, SipDigestAuth, SipUAS, parse_uri
from aiosipua.message import SipRequest, SipResponse
from aiosipua.sdp import SdpMessage, _extract_codecs
from aiosipua.sdp_negotiate import build_sdp, negotiate_sdp
from aiosipua.transaction import T1, T2, TransactionState
from aiosipua.transport import UdpSipTransport, _UdpProtocol
from aiosipua.uac import SipUAC

from huifang.voice.sip.media import (
    FRAME_MS,
    FRAME_SAMPLES,
    SILENCE,
    AudioSink,
    AudioSource,
    frames,
)

log = logging.getLogger(__name__)

CODECS = {"PCMU": 0, "PCMA": 8}
"""G.711 µ-law and A-law with their static RTP payload types (RFC 3551)."""
DTMF_PAYLOAD_TYPE = 101
INFO_DTMF_TYPES = ("application/dtmf-relay", "application/dtmf")
"""The SIP INFO bodies that carry a key: ``Signal=5`` lines (dtmf-relay) or the bare key."""
_KEYS = "0123456789*#ABCD"
_EVENT_KEYS = {"10": "*", "11": "#", "12": "A", "13": "B", "14": "C", "15": "D"}


def info_key(content_type: str | None, body: str) -> str | None:
    """The key carried by a SIP INFO body, or None if the body holds none.

    ``application/dtmf-relay``: ``Signal=5`` (and ``Duration=160``) lines; ``application/dtmf``:
    the key alone. The key is a digit, ``*``, ``#`` or A–D; some devices send the RFC 4733
    event number instead (10 for ``*``, 11 for ``#``), which is read the same."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind == "application/dtmf-relay":
        match = re.search(r"^\s*signal\s*=\s*(\S+)\s*$", body, re.IGNORECASE | re.MULTILINE)
        value = match.group(1) if match else ""
    elif kind == "application/dtmf":
        value = body.strip()
    else:
        return None
    value = _EVENT_KEYS.get(value, value).upper()
    return value if len(value) == 1 and value in _KEYS else None


class CallFailed(RuntimeError):
    """The call could not be set up: rejected (busy, not found…), no answer, or no common
    codec. The message is bilingual and carries the SIP status where there is one."""


class _Protocol(_UdpProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # aiosipua asserts isinstance(transport, asyncio.DatagramTransport), which is false
        # on Python 3.11 (the selector transport only became a subclass in 3.12).
        self._owner._udp_transport = transport  # type: ignore[assignment]


class _Transport(UdpSipTransport):
    """aiosipua's UDP transport, also usable with port 0 (the bound port is read back)."""

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self), local_addr=self.local_addr
        )
        self._udp_transport = transport
        host, port = transport.get_extra_info("sockname")[:2]
        self.local_addr = (host, port)


def _offer(host: str, rtp_port: int, codecs: tuple[str, ...]) -> SdpMessage:
    """An SDP offer with the given G.711 codecs in order of preference and telephone-event."""
    sdp = build_sdp(
        host, rtp_port, CODECS[codecs[0]], codecs[0], dtmf_payload_type=DTMF_PAYLOAD_TYPE
    )
    audio = sdp.audio
    assert audio is not None
    audio.formats = [str(CODECS[c]) for c in codecs] + [str(DTMF_PAYLOAD_TYPE)]
    audio.attributes["rtpmap"] = [f"{CODECS[c]} {c}/8000" for c in codecs] + [
        f"{DTMF_PAYLOAD_TYPE} telephone-event/8000"
    ]
    audio.codecs = _extract_codecs(audio)
    return sdp


def _telephone_event(sdp: SdpMessage) -> int | None:
    """The payload type of telephone-event (RFC 4733) in an SDP, if it has one."""
    audio = sdp.audio
    codecs = audio.codecs if audio is not None else []
    return next(
        (c.payload_type for c in codecs if c.encoding_name.lower() == "telephone-event"), None
    )


def _chosen(answer: SdpMessage, offered: tuple[str, ...]) -> tuple[str, int, int | None]:
    """(codec name, payload type, telephone-event payload type) from an SDP answer."""
    audio = answer.audio
    if audio is None:
        raise CallFailed("对方SDP没有音频 / the answer has no audio stream")
    dtmf = _telephone_event(answer)
    by_pt = {pt: name for name, pt in CODECS.items() if name in offered}
    for fmt in audio.formats:
        if fmt.isdigit() and int(fmt) in by_pt:
            return by_pt[int(fmt)], int(fmt), dtmf
    raise CallFailed(
        f"没有共同的编解码器 / no common codec: offered {', '.join(offered)}, "
        f"answered {' '.join(audio.formats)}"
    )


class Call:
    """One established call: audio out (`play`), audio in (the sink), DTMF both ways, hangup."""

    def __init__(
        self,
        *,
        call_id: str,
        direction: str,
        remote_uri: str,
        codec: str,
        rtp: aiortp.RTPSession,
        sink: AudioSink | None,
        send_bye: Callable[[], Any],
        on_closed: Callable[[Call], Any],
        dtmf_enabled: bool,
    ) -> None:
        self.call_id = call_id
        self.direction = direction
        self.remote_uri = remote_uri
        self.codec = codec
        self.dtmf: asyncio.Queue[str] = asyncio.Queue()
        self.ended_by: str | None = None
        self.frames_sent = 0
        self.frames_received = 0
        self.dtmf_enabled = dtmf_enabled
        self._rtp = rtp
        self._sink = sink
        self._send_bye = send_bye
        self._on_closed = on_closed
        # frames to send, tagged with the prompt generation they belong to (`stop_playing`)
        self._queue: asyncio.Queue[tuple[int, bytes | None]] = asyncio.Queue(maxsize=25)
        self._generation = 0
        self._drained = asyncio.Event()
        self._drained.set()
        self._ended = asyncio.Event()
        self._timestamp = 0
        rtp.on_audio = self._received
        rtp.on_dtmf = lambda digit, _duration: self.dtmf.put_nowait(digit)
        self._sender = asyncio.get_running_loop().create_task(self._send_loop())

    def __repr__(self) -> str:
        return f"Call({self.direction} {self.remote_uri} {self.codec} ended_by={self.ended_by})"

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    def _received(self, pcm: bytes, _timestamp: int) -> None:
        self.frames_received += 1
        if self._sink is not None:
            self._sink(pcm)

    async def _send_loop(self) -> None:
        """One frame every 20 ms on an absolute schedule (no drift): queued audio or silence."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        tick = 0
        while not self._ended.is_set():
            frame = self._next_frame()
            self._rtp.send_audio_pcm(frame, self._timestamp)
            self._timestamp = (self._timestamp + FRAME_SAMPLES) & 0xFFFFFFFF
            self.frames_sent += 1
            tick += 1
            await asyncio.sleep(max(0.0, start + tick * FRAME_MS / 1000 - loop.time()))

    def _next_frame(self) -> bytes:
        """The next frame of the prompt playing, else silence (between prompts, or a source
        slower than real time); frames of a prompt that was stopped are dropped."""
        while True:
            try:
                generation, frame = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return SILENCE
            if generation != self._generation:
                continue
            if frame is None:  # end-of-prompt marker: everything before it is on the wire
                self._drained.set()
                return SILENCE
            return frame

    async def play(self, source: AudioSource) -> None:
        """Send a source's audio in real time; returns when it has been sent, or was stopped
        (`stop_playing`), or the call ended."""
        if self.ended:
            return
        generation = self._generation
        self._drained.clear()
        async for frame in frames(source):
            if self.ended or generation != self._generation:
                return
            await self._queue.put((generation, frame))
        await self._queue.put((generation, None))
        ended = asyncio.ensure_future(self._ended.wait())
        drained = asyncio.ensure_future(self._drained.wait())
        await asyncio.wait({ended, drained}, return_when=asyncio.FIRST_COMPLETED)
        ended.cancel()
        drained.cancel()

    def stop_playing(self) -> int:
        """Stop the prompt playing now (barge-in): its frames not yet sent are dropped, and
        `play` returns. The number of frames sent so far (where the prompt stopped)."""
        self._generation += 1
        while not self._queue.empty():
            self._queue.get_nowait()
        self._drained.set()
        return self.frames_sent

    async def send_dtmf(self, digits: str, duration_ms: int = 160) -> None:
        """Send digits as RFC 4733 telephone-events, one after the other."""
        if not self.dtmf_enabled:
            raise CallFailed("对方不支持RFC 4733 DTMF / the far end offered no telephone-event")
        for digit in digits:
            if self.ended:
                return
            self._rtp.send_dtmf(digit, duration_ms, timestamp=self._timestamp)
            await asyncio.sleep((duration_ms + 100) / 1000)

    async def next_dtmf(self, timeout: float) -> str | None:
        """The next digit pressed by the far end, or None after `timeout` seconds."""
        try:
            return await asyncio.wait_for(self.dtmf.get(), timeout)
        except TimeoutError:
            return None

    async def wait_ended(self, timeout: float | None = None) -> str:
        """Wait until the call ends; "remote" (their BYE) or "local" (our hangup)."""
        await asyncio.wait_for(self._ended.wait(), timeout)
        assert self.ended_by is not None
        return self.ended_by

    async def hangup(self) -> None:
        """Send BYE and release the media; nothing happens if the call already ended."""
        if self.ended:
            return
        with contextlib.suppress(ValueError):  # dialog already terminated
            self._send_bye()
        await self._close("local")

    async def _close(self, by: str) -> None:
        if self.ended:
            return
        self.ended_by = by
        self._ended.set()
        self._sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._sender
        await self._rtp.close()
        self._on_closed(self)


class SipAgent:
    """A SIP user agent on one UDP address: `call(uri)` dials out, `answer()` takes the next
    inbound call. Use as `async with SipAgent(...) as agent:`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 5060,
        *,
        user: str = "huifang",
        rtp_ports: tuple[int, int] = (20_000, 30_000),
        codecs: tuple[str, ...] = ("PCMU", "PCMA"),
        user_agent: str = "Huifang",
    ) -> None:
        unknown = [c for c in codecs if c not in CODECS]
        if not codecs or unknown:
            raise ValueError(f"只支持G.711 / only PCMU and PCMA are supported, got {codecs}")
        self.host = host
        self.user = user
        self.codecs = codecs
        self.user_agent = user_agent
        self._transport = _Transport()
        self._transport.local_addr = (host, port)
        self._uac = SipUAC(self._transport)
        self._uas = SipUAS(self._transport, uac=self._uac, user_agent=user_agent)
        self._uas.on_invite = self._on_invite
        self._uas.on_bye = self._on_bye
        # aiosipua answers INFO with 405; keys sent in INFO join the RFC 4733 ones instead
        self._uas._handlers["INFO"] = self._on_info
        self._ports = aiortp.PortAllocator(rtp_ports)
        self._incoming: asyncio.Queue[IncomingCall] = asyncio.Queue()
        self._calls: dict[str, Call] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # keeps fire-and-forget tasks alive
        self.invite_retransmissions = 0

    @property
    def port(self) -> int:
        return self._transport.local_addr[1]

    @property
    def uri(self) -> str:
        return f"sip:{self.user}@{self.host}:{self.port}"

    async def start(self) -> None:
        await self._uas.start()
        log.info("SIP agent listening on %s", self.uri)

    async def stop(self) -> None:
        for call in list(self._calls.values()):
            await call.hangup()
        await self._uas.stop()

    async def __aenter__(self) -> SipAgent:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    def _on_invite(self, incoming: IncomingCall) -> None:
        if incoming.call_id in self._calls:  # re-INVITE: keep the session as it is
            return
        incoming.ringing()
        self._incoming.put_nowait(incoming)

    def _on_bye(self, call: Any, _request: Any) -> None:
        ours = self._calls.get(call.call_id)
        if ours is not None:
            self._spawn(ours._close("remote"))

    def _on_info(self, request: SipRequest, _addr: tuple[str, int]) -> None:
        """An in-dialog INFO (RFC 6086): a key in ``application/dtmf-relay`` or
        ``application/dtmf`` goes to the call's `dtmf` queue like an RFC 4733 event. Other
        bodies are refused with 415 and the types we take; an empty INFO (a keep-alive) is
        answered 200."""
        uas = self._uas
        _, dialog = uas._find_dialog(request.call_id or "")
        if dialog is None:
            uas._send_error(request, 481, "Call/Transaction Does Not Exist")
            return
        if not uas._validate_in_dialog(dialog, request):
            return
        key: str | None = None
        if request.body:
            kind = (request.content_type or "").split(";", 1)[0].strip().lower()
            if kind not in INFO_DTMF_TYPES:
                self._reply(dialog.create_response(request, 415, "Unsupported Media Type"))
                return
            key = info_key(kind, request.text)
            if key is None:
                self._reply(dialog.create_response(request, 400, "Bad DTMF Signal"))
                return
        self._reply(dialog.create_response(request, 200, "OK"))
        call = self._calls.get(request.call_id or "")
        if key is not None and call is not None and not call.ended:
            call.dtmf.put_nowait(key)

    def _reply(self, response: SipResponse) -> None:
        if response.status_code == 415:
            response.headers.set_single("Accept", ", ".join(INFO_DTMF_TYPES))
        if self.user_agent:
            response.headers.set_single("User-Agent", self.user_agent)
        self._transport.send_reply(response)

    def _forget(self, call: Call, rtp_port: int) -> None:
        self._calls.pop(call.call_id, None)
        self._spawn(self._ports.release(rtp_port))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def call(
        self,
        uri: str,
        *,
        sink: AudioSink | None = None,
        proxy: tuple[str, int] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float = 30.0,
    ) -> Call:
        """Dial `uri` (sent to `proxy`, or to the URI's host:port) and wait for the answer.
        `auth` = (username, password) answers a trunk's digest challenge (401/407)."""
        target = parse_uri(uri)
        if proxy is None:
            if not target.host:
                raise ValueError(f"SIP URI没有主机 / SIP URI without a host: {uri!r}")
            proxy = (target.host, target.port or 5060)
        rtp_port, _ = await self._ports.allocate()
        offer = _offer(self.host, rtp_port, self.codecs)
        outgoing = self._uac.send_invite(
            self.uri,
            uri,
            proxy,
            offer,
            user_agent=self.user_agent,
            auth=SipDigestAuth(*auth) if auth else None,
        )
        retransmit = asyncio.ensure_future(self._retransmit(outgoing.invite, proxy))
        try:
            await outgoing.wait_answered(timeout)
        except (RuntimeError, TimeoutError) as exc:
            if isinstance(exc, TimeoutError):
                outgoing.cancel(self._uac)
            await self._ports.release(rtp_port)
            raise CallFailed(f"呼叫失败 / call to {uri} failed: {exc}") from exc
        finally:
            retransmit.cancel()
        answer = outgoing.sdp_answer
        if answer is None or answer.rtp_address is None:
            outgoing.hangup(self._uac)
            await self._ports.release(rtp_port)
            raise CallFailed(f"对方没有SDP应答 / {uri} answered without SDP")
        try:
            codec, pt, dtmf_pt = _chosen(answer, self.codecs)
        except CallFailed:
            outgoing.hangup(self._uac)
            await self._ports.release(rtp_port)
            raise
        rtp = await aiortp.RTPSession.create(
            local_addr=(self.host, rtp_port),
            remote_addr=answer.rtp_address,
            payload_type=pt,
            dtmf_payload_type=dtmf_pt or DTMF_PAYLOAD_TYPE,
        )
        call = Call(
            call_id=outgoing.call_id,
            direction="outbound",
            remote_uri=uri,
            codec=codec,
            rtp=rtp,
            sink=sink,
            send_bye=lambda: outgoing.hangup(self._uac),
            on_closed=lambda c: self._forget(c, rtp_port),
            dtmf_enabled=dtmf_pt is not None,
        )
        self._calls[call.call_id] = call
        return call

    async def _retransmit(self, invite: SipRequest, target: tuple[str, int]) -> None:
        """RFC 3261 timer A over UDP: resend the INVITE after T1, 2·T1, … (capped at T2) until
        the far end answers anything (aiosipua leaves retransmission to the caller)."""
        txn = next(
            (t for t in self._uac.transactions.client_transactions.values() if t.request is invite),
            None,
        )
        interval = T1
        while txn is not None and txn.state is TransactionState.TRYING:
            await asyncio.sleep(interval)
            if txn.state is TransactionState.TRYING:
                log.info("retransmitting INVITE %s", invite.call_id)
                self._transport.send(invite, target)
                self.invite_retransmissions += 1
            interval = min(2 * interval, T2)

    async def answer(self, *, sink: AudioSink | None = None, timeout: float | None = None) -> Call:
        """Wait for the next inbound call and accept it (G.711; telephone-event if offered)."""
        incoming = await asyncio.wait_for(self._incoming.get(), timeout)
        offer = incoming.sdp_offer
        if offer is None or offer.rtp_address is None:
            incoming.reject(488, "Not Acceptable Here")
            raise CallFailed("来电没有SDP / inbound INVITE without an SDP offer")
        rtp_port, _ = await self._ports.allocate()
        try:
            answer, pt = negotiate_sdp(
                offer,
                local_ip=self.host,
                rtp_port=rtp_port,
                supported_codecs=[CODECS[c] for c in self.codecs],
                dtmf_payload_type=DTMF_PAYLOAD_TYPE,
            )
        except Exception as exc:
            incoming.reject(488, "Not Acceptable Here")
            await self._ports.release(rtp_port)
            raise CallFailed(f"没有共同的编解码器 / no common codec: {exc}") from exc
        codec = next(name for name, p in CODECS.items() if p == pt)
        dtmf_pt = _telephone_event(offer)
        rtp = await aiortp.RTPSession.create(
            local_addr=(self.host, rtp_port),
            remote_addr=offer.rtp_address,
            payload_type=pt,
            dtmf_payload_type=dtmf_pt or DTMF_PAYLOAD_TYPE,
        )
        call = Call(
            call_id=incoming.call_id,
            direction="inbound",
            remote_uri=incoming.caller,
            codec=codec,
            rtp=rtp,
            sink=sink,
            send_bye=incoming.hangup,
            on_closed=lambda c: self._forget(c, rtp_port),
            dtmf_enabled=dtmf_pt is not None,
        )
        self._calls[call.call_id] = call
        incoming.accept(answer)
        return call
