"""The voice-agent call's pure parts: SIP statuses → attempt outcomes, the dial target, the
caller's number, the handover reason, the call's events."""

from __future__ import annotations

from datetime import date

import pytest

from huifang.domain import scripts as sc
from huifang.domain.compliance import Outcome
from huifang.script_files import standard_script
from huifang.voice.calling import (
    SipTarget,
    _Events,
    _ObservedChannel,
    caller_number,
    handover_reason,
    not_connected,
    target_from_env,
)
from huifang.voice.dialogue import Heard
from huifang.voice.nlu import Expectation
from huifang.voice.sip.agent import CallFailed


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("486 Busy Here", Outcome.BUSY),
        ("404 Not Found", Outcome.INVALID_NUMBER),
        ("603 Decline", Outcome.REFUSED),
        ("480 Temporarily Unavailable", Outcome.SWITCHED_OFF),
        ("487 Request Terminated", Outcome.NO_ANSWER),
        ("No response within 30s", Outcome.NO_ANSWER),
    ],
)
def test_not_connected(status: str, outcome: Outcome) -> None:
    failure = CallFailed(f"呼叫失败 / call to sip:1@h failed: Call rejected: {status}")
    assert not_connected(failure) is outcome


def test_target_and_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    target = SipTarget("sip:{number}@10.0.0.1:5060")
    assert target.for_number("138-1234 5670") == "sip:13812345670@10.0.0.1:5060"
    assert caller_number("sip:13812345670@127.0.0.1:5070") == "13812345670"
    assert caller_number("<sip:+8613812345670@pbx>") == "+8613812345670"
    monkeypatch.delenv("HUIFANG_SIP_TARGET", raising=False)
    with pytest.raises(ValueError, match="HUIFANG_SIP_TARGET"):
        target_from_env()
    monkeypatch.setenv("HUIFANG_SIP_TARGET", "sip:{number}@pbx")
    monkeypatch.setenv("HUIFANG_SIP_PROXY", "10.0.0.1:5060")
    assert target_from_env() == SipTarget("sip:{number}@pbx", ("10.0.0.1", 5060))


def test_handover_reason_from_the_borrower_or_the_script() -> None:
    from huifang.cli_voice import DEMO_CONTEXT

    script = standard_script(sc.Purpose("first_visit"))
    values = {k: v for k, v in DEMO_CONTEXT.items() if k in script.variables}
    state = sc.start(script, sc.ScriptContext(date(2026, 11, 23), values))  # type: ignore[arg-type]
    assert handover_reason(state, None) is None
    assert handover_reason(state, "distress") == "distress"
    handed = sc.request_handover(state, sc.Text("转人工", "handover"))
    assert handover_reason(handed, None) == handed.position


class _CutShort:
    """Stands in for a SipChannel whose second question the borrower cuts short."""

    def __init__(self) -> None:
        self.barge_ins = 0
        self.listened = 0

    def speak(self, text: str) -> None:
        pass

    def listen(self, expect: object) -> Heard:
        self.listened += 1
        if self.listened == 2:
            self.barge_ins += 1
        return Heard(text="是的", confidence=0.9)


def test_the_call_events_report_a_question_cut_short() -> None:
    events: list[dict[str, object]] = []
    channel = _ObservedChannel(_CutShort(), _Events(events.append))  # type: ignore[arg-type]
    expect = Expectation("yes_no", date(2026, 11, 23))
    channel.listen(expect)
    channel.listen(expect)
    assert [e["event"] for e in events] == ["heard", "barge_in", "heard"]
