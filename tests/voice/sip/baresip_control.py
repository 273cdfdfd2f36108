"""baresip's ctrl_tcp client for the loopback tests: JSON commands and events in netstrings."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any


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
