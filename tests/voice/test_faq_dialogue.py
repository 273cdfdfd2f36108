"""The inbound FAQ call: recording notice, identity check before any figure, questions
answered in a loop (ASR-like errors included), handover on request, goodbye or silence."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine

from huifang.domain.money import format_cny
from huifang.security import audit
from huifang.services import loan_views
from huifang.services.demo_data import write_demo_files
from huifang.services.importing import import_files
from huifang.services.self_service import loan_borrower
from huifang.store.db import make_engine, upgrade
from huifang.voice.console import ScriptedChannel
from huifang.voice.dialogue import Heard
from huifang.voice.faq_dialogue import (
    find_caller,
    read_birth_date,
    read_id_suffix,
    run_inbound_faq,
)

AS_OF = date(2026, 11, 1)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    tmp: Path = tmp_path_factory.mktemp(f"faqcall{uuid.uuid4().hex[:6]}")
    eng = make_engine(f"sqlite:///{tmp / 'huifang.db'}")
    upgrade(eng)
    files = write_demo_files(tmp / "demo", loans=12, seed=11, as_of=AS_OF)
    assert import_files(eng, files.paths).ok
    yield eng
    eng.dispose()


def _quotable(engine: Engine) -> tuple[int, loan_views.BorrowerView]:
    for loan_id in range(1, 13):
        try:
            loan_views.loan_payoff_quote(engine, loan_id, AS_OF)
        except (ValueError, LookupError):
            continue
        view = loan_views.borrower_360(engine, loan_borrower(engine, loan_id), AS_OF)
        if view.birth_date is not None and view.loans[0].loan_id == loan_id:
            return loan_id, view
    pytest.skip("no quotable loan")


def test_verified_caller_hears_own_payoff_and_can_ask_for_a_person(engine: Engine) -> None:
    loan_id, who = _quotable(engine)
    assert who.birth_date is not None
    found = find_caller(engine, who.mobile)
    assert found is not None and found[0] == who.borrower_id
    dob = who.birth_date
    channel = ScriptedChannel(
        [
            " ".join(who.id_number[-4:]),  # spoken digit by digit
            f"{dob.year}年{dob.month}月{dob.day}日",
            "提前还宽要多少钱",  # ASR error: 款 → 宽
            "逾期会上征信吗",
            "转人工",
        ]
    )
    record = run_inbound_faq(engine, channel, caller_number=who.mobile, language="zh", today=AS_OF)
    quote = loan_views.loan_payoff_quote(engine, loan_id, AS_OF).quote
    said = "\n".join(channel.spoken)
    assert record.verified and record.loan_id == loan_id
    assert record.answered == ["prepay_cost", "late_payment"]
    assert format_cny(quote.total) in said
    assert record.ended == "handover" and record.handover_reason == "borrower_request"
    assert "录音" in channel.spoken[0]  # the recording notice comes first
    assert record.knowledge_version >= 1
    assert audit.search(engine, action="faq.answer", limit=5)[0].detail["channel"] == "voice"


def test_failed_identity_gets_generic_answers_only(engine: Engine) -> None:
    loan_id, _who = _quotable(engine)
    channel = ScriptedChannel(
        ["0000", "19000101", "0000", "#19000101", "提前还款要多少钱", "没有了"]
    )
    record = run_inbound_faq(engine, channel, loan_id=loan_id, today=AS_OF)
    quote = loan_views.loan_payoff_quote(engine, loan_id, AS_OF).quote
    said = "\n".join(channel.spoken)
    assert not record.verified and record.answered == ["prepay_cost"]
    assert format_cny(quote.total) not in said and "¥" not in said
    assert "身份信息未能核实" in said and record.ended == "goodbye"
    failed = audit.search(engine, action="selfservice.identity_failed", limit=10)
    assert len(failed) >= 2 and failed[0].detail["channel"] == "voice-faq"


def test_unknown_caller_in_english_and_silence_ends_the_call(engine: Engine) -> None:
    channel = ScriptedChannel(["When can I repay early?", "", ""])
    record = run_inbound_faq(
        engine, channel, caller_number="13900000000", language="en", today=AS_OF
    )
    assert record.loan_id is None and not record.verified
    assert record.answered == ["prepay_when"] and record.ended == "silence"
    assert "lock-in" in "\n".join(channel.spoken)


def test_reading_the_identity_answers() -> None:
    assert read_id_suffix(Heard("一二三叉")) == "123X"
    assert read_id_suffix(Heard("幺零零七")) == "1007"
    assert read_id_suffix(Heard(keys="123*")) == "123X"
    assert read_id_suffix(Heard("one two three four")) == "1234"
    assert read_id_suffix(Heard("不知道")) is None
    today = date(2026, 11, 1)
    assert read_birth_date(Heard("一九八五年三月十二日"), today) == date(1985, 3, 12)
    assert read_birth_date(Heard("March 12 1985"), today) == date(1985, 3, 12)
    assert read_birth_date(Heard("12th of March 1985"), today) == date(1985, 3, 12)
    assert read_birth_date(Heard(keys="19850312#"), today) == date(1985, 3, 12)
    assert read_birth_date(Heard("明天"), today) is None


def test_a_caller_asking_for_a_person_gets_an_agent_callback_task(
    engine: Engine, tmp_path: Path
) -> None:
    """The whole inbound call with a scripted caller who asks for a person, stored as the
    telephony stores it: a callback task for an agent (the policy's inbound-callback purpose,
    due when the calling window opens) with the call's transcript linked."""
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    from sqlalchemy import select

    from huifang.domain.compliance import ContactPolicy, NoHolidays
    from huifang.services import voice_calls
    from huifang.services.followup_attempts import Guard
    from huifang.store.db import transaction
    from huifang.store.followup_models import FollowupTask

    loan_id, who = _quotable(engine)
    dob = who.birth_date
    assert dob is not None
    channel = ScriptedChannel([who.id_number[-4:], f"#{dob:%Y%m%d}", "我要人工服务"])
    record = run_inbound_faq(engine, channel, caller_number=who.mobile, language="zh", today=AS_OF)
    assert record.handover_reason == "borrower_request" and record.loan_id == loan_id
    assert "人工" in channel.spoken[-1]  # the caller hears that a person will call back
    started = datetime(2026, 11, 2, 21, 30, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Monday
    report = voice_calls.CallReport(
        started_at=started,
        ended_at=started + timedelta(minutes=1),
        turns=[
            voice_calls.TurnRecord(t.speaker, t.text, t.confidence, t.step_id, None, None)
            for t in record.turns
        ],
        handover_reason=record.handover_reason,
        direction=voice_calls.INBOUND,
    )
    facts = voice_calls.InboundFacts(
        record.verified, tuple(record.answered), f"{record.knowledge_id} v1"
    )
    stored = voice_calls.record_inbound_call(
        engine,
        loan_id,
        who.mobile,
        "zh",
        report,
        facts,
        directory=tmp_path,
        guard=Guard(ContactPolicy(), NoHolidays()),
    )
    with transaction(engine) as s:
        task = s.scalar(select(FollowupTask).where(FollowupTask.id == stored.callback_task_id))
        assert task is not None
        assert (task.loan_id, task.purpose, task.status) == (loan_id, "inbound-callback", "open")
        assert task.trigger_ref == f"attempt:{stored.attempt_id}"
        assert task.next_attempt_at is not None and task.due_on == date(2026, 11, 3)
        assert task.next_attempt_at.replace(tzinfo=UTC) == datetime(2026, 11, 3, 0, 0, tzinfo=UTC)
    transcript = voice_calls.transcripts(engine, [stored.attempt_id])[stored.attempt_id]
    assert [t.text for t in transcript if t.speaker == "borrower"][-1] == "我要人工服务"
