"""Text channels: the borrower's replies typed (a console) or scripted (a list), for the
`huifang voice simulate` command and for tests. A reply starting with `#` is keypad input
(`#1` presses 1); an empty reply is silence. Scripted replies may also be what a recognizer
would have heard (`Heard`: text with its confidence), to drive the confirm-if-low policy."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from huifang.voice.dialogue import Heard
from huifang.voice.nlu import Expectation


def heard_from_text(reply: str) -> Heard:
    """A typed reply as the channel hears it."""
    if reply.startswith("#") and len(reply) > 1:
        return Heard(keys=reply[1:])
    return Heard(text=reply)


class ScriptedChannel:
    """Replies from a list (typed text, or `Heard` as a recognizer gives it); records what
    the agent said. Runs out → silence."""

    def __init__(self, replies: Iterable[str | Heard]) -> None:
        self._replies = list(replies)
        self.spoken: list[str] = []

    def speak(self, text: str) -> None:
        self.spoken.append(text)

    def listen(self, expect: Expectation) -> Heard:
        reply = self._replies.pop(0) if self._replies else ""
        return reply if isinstance(reply, Heard) else heard_from_text(reply)


class ConsoleChannel:
    """Prints what the agent says and reads the borrower's reply from `read`."""

    def __init__(self, write: Callable[[str], None], read: Callable[[], str]) -> None:
        self._write, self._read = write, read

    def speak(self, text: str) -> None:
        self._write(f"坐席/agent: {text}")

    def listen(self, expect: Expectation) -> Heard:
        return heard_from_text(self._read())
