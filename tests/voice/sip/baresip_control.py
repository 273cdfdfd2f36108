"""baresip for the loopback tests: one way to run it (`running_baresip`: a configuration
written to a temp dir, no registrar, auto-answer, `aufile` as the microphone, `sndfile`
recording what it hears, `ctrl_tcp` to drive it) and its ctrl_tcp client (`Control`: JSON
commands and events in netstrings)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def free_port(kind: int) -> int:
    """A free local port of `kind` (socket.SOCK_DGRAM or SOCK_STREAM)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class RunningBaresip:
    """A started baresip: its SIP and ctrl_tcp ports, where its `sndfile` writes what it
    heard (``*-dec.wav``) and its log."""

    sip_port: int
    ctrl_port: int
    recordings: Path
    log: Path


@contextlib.contextmanager
def running_baresip(
    workdir: Path, *, user: str, audio_source: Path, rtp_ports: tuple[int, int]
) -> Iterator[RunningBaresip]:
    """baresip as the account ``sip:USER@127.0.0.1:PORT`` (no registrar, auto-answer, G.711),
    playing `audio_source` as its microphone; stopped (terminate, then kill) on exit.
    Waits until ctrl_tcp accepts connections; fails with baresip's log if it does not."""
    sip_port, ctrl_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    cfg, heard = workdir / "baresip", workdir / "baresip-heard"
    cfg.mkdir()
    heard.mkdir()
    (cfg / "config").write_text(
        "\n".join(
            [
                "poll_method epoll",
                f"sip_listen 127.0.0.1:{sip_port}",
                "net_interface 127.0.0.1",
                f"rtp_ports {rtp_ports[0]}-{rtp_ports[1]}",
                f"audio_source aufile,{audio_source}",
                "audio_player aubridge,nil",
                "audio_alert aubridge,nil",
                "module_path /usr/lib/baresip/modules",
                "module g711.so",
                "module aufile.so",
                "module aubridge.so",
                "module sndfile.so",
                "module_app account.so",
                "module_app menu.so",
                "module_app ctrl_tcp.so",
                f"ctrl_tcp_listen 127.0.0.1:{ctrl_port}",
                f"snd_path {heard}",
                "",
            ]
        )
    )
    (cfg / "accounts").write_text(
        f"<sip:{user}@127.0.0.1:{sip_port}>;regint=0;answermode=auto;audio_codecs=PCMU,PCMA\n"
    )
    (cfg / "contacts").write_text("")
    log_path = workdir / "baresip.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            ["baresip", "-f", str(cfg)], stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
        try:
            deadline = time.monotonic() + 10
            while True:
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", ctrl_port)),
                ):
                    break
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"baresip did not start: {log_path.read_text()}")
                time.sleep(0.05)
            yield RunningBaresip(sip_port, ctrl_port, heard, log_path)
        finally:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class Control:
    """baresip's ctrl_tcp: JSON commands and events in netstrings."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.events: list[dict[str, Any]] = []
        self._task = asyncio.ensure_future(self._read())

    @classmethod
    async def connect(cls, port: int) -> Control:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def _read(self) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                size = int((await self.reader.readuntil(b":"))[:-1])
                self.events.append(json.loads((await self.reader.readexactly(size + 1))[:-1]))

    async def command(self, command: str, params: str = "") -> None:
        data = json.dumps({"command": command, "params": params, "token": command}).encode()
        self.writer.write(b"%d:%s," % (len(data), data))
        await self.writer.drain()

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("type") == kind]

    async def close(self) -> None:
        self.writer.close()
        self._task.cancel()
