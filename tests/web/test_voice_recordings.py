"""Voice-agent calls in the workspace: the borrower 360 lists them with an <audio> player and
the transcript; the recording and transcript endpoints check the permission and the branch,
refuse an altered file and write every read to the audit log (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from voice_helpers import stored_voice_call
from web_helpers import HOME, login_client

from huifang.services import followup, voice_calls
from huifang.store.db import transaction
from huifang.store.followup_models import ContactAttempt
from huifang.store.models import Loan
from huifang.store.security_models import AuditEntry
from huifang.web.app import create_app

AS_OF = date(2026, 11, 1)


def _task_of(book, code: str) -> int:  # type: ignore[no-untyped-def]
    followup.generate_tasks(book.engine, AS_OF)
    tasks = followup.list_tasks(book.engine, branch=code, status="open", limit=50)
    return next(t.id for t in tasks if t.purpose == "first-visit")


def test_recording_playback_transcript_branch_and_audit(  # type: ignore[no-untyped-def]
    book, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUIFANG_RECORDINGS_DIR", str(tmp_path / "rec"))
    home_task, other_task = _task_of(book, HOME), _task_of(book, "GZ01")
    home = stored_voice_call(book.engine, home_task, tmp_path / "rec")
    other = stored_voice_call(book.engine, other_task, tmp_path / "rec")
    view = voice_calls.recording(book.engine, home)
    assert view is not None and view.path.exists()
    with transaction(book.engine) as s:
        attempt = s.get(ContactAttempt, home)
        assert attempt is not None
        assert (attempt.channel, attempt.outcome) == ("voice-agent", "hung-up")
        loan = s.get(Loan, attempt.loan_id)
        assert loan is not None
        borrower = loan.borrower_id
    app = create_app(book.engine)
    agent, _ = login_client(app, "agent")

    # the recording: WAV bytes as stored, not cached; another branch's is refused
    r = agent.get(f"/api/v1/voice-calls/{home}/recording")
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    assert r.content == view.path.read_bytes() and r.content[:4] == b"RIFF"
    assert "no-store" in r.headers["cache-control"]
    assert agent.get(f"/api/v1/voice-calls/{other}/recording").status_code in (403, 404)
    assert agent.get("/api/v1/voice-calls/999999/recording").status_code == 404

    # the transcript, turn by turn
    t = agent.get(f"/api/v1/voice-calls/{home}/transcript").json()
    assert [x["speaker"] for x in t["turns"]] == ["agent", "borrower"]
    assert t["turns"][1] == {
        "speaker": "borrower",
        "text": "喂？",
        "confidence": 0.71,
        "step_id": "identity_confirmed",
        "start_s": 0.85,
        "end_s": 1.0,
    }
    assert t["recording_url"] == f"/api/v1/voice-calls/{home}/recording"

    # every read is audited, with the recording's checksum
    with transaction(book.engine) as s:
        actions = [
            (e.action, e.actor, e.target_id)
            for e in s.scalars(select(AuditEntry).where(AuditEntry.target_type == "attempt"))
        ]
    assert ("read.recording", "agent", str(home)) in actions
    assert any(a[0] == "read.transcript" for a in actions)
    assert not any(str(a[2]) == str(other) for a in actions)

    # an altered file is refused, not played
    view.path.write_bytes(view.path.read_bytes()[:-2] + b"\1\1")
    assert agent.get(f"/api/v1/voice-calls/{home}/recording").status_code == 409

    # the borrower 360 shows the call with a player and the transcript
    page = agent.get(f"/borrowers/{borrower}").text
    assert f'src="/api/v1/voice-calls/{home}/recording"' in page
    assert "喂？" in page and "智能外呼记录" in page


def test_an_inbound_faq_call_is_an_attempt_in_the_360_and_qa(  # type: ignore[no-untyped-def]
    book, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A borrower's call to the FAQ assistant, stored through the same service as a live one
    (`voice_calls.record_inbound_call`): an inbound attempt on the loan with no task, its
    recording and transcript (identity replies masked), in the 360 and the QA sample; the
    guard does not count it as a contact we made."""
    from datetime import UTC, datetime, timedelta
    from datetime import time as clock

    from voice_helpers import tone_wav

    from huifang.domain.compliance import Channel, ContactPolicy, NoHolidays, Outcome, PartyRole
    from huifang.services import qa
    from huifang.services.followup_attempts import AttemptInput, Guard, check_before_contact

    monkeypatch.setenv("HUIFANG_RECORDINGS_DIR", str(tmp_path / "rec"))
    from huifang.store.followup_models import FollowupTask

    task = _task_of(book, HOME)
    with transaction(book.engine) as s:
        task_row = s.get(FollowupTask, task)
        assert task_row is not None
        loan = s.get(Loan, task_row.loan_id)
        assert loan is not None
        loan_id, borrower = loan.id, loan.borrower_id
    start = datetime.now(UTC) - timedelta(minutes=5)
    turns = (
        ("agent", "请说出或按键输入您身份证号码的后四位。", None, None),
        ("borrower", "[按键 002X#]", 1.0, "id_last4"),
        ("agent", "请说出您的出生日期，例如1985年3月12日，或按键输入八位数字。", None, None),
        ("borrower", "一九四九年十二月三十一日", 0.8, "birth_date"),
        ("agent", "身份核实成功。", None, None),
        ("borrower", "我下次要还多少钱？", 0.9, None),
        ("agent", "您下一期应还¥3,456.78，还款日为2026年12月15日。", None, None),
    )
    report = voice_calls.CallReport(
        started_at=start,
        ended_at=start + timedelta(seconds=42),
        turns=tuple(
            voice_calls.TurnRecord(sp, text, conf, step, i * 2.0, i * 2.0 + 1.5)
            for i, (sp, text, conf, step) in enumerate(turns)
        ),
        recording_wav=tone_wav(),
        recording_seconds=1.0,
        direction=voice_calls.INBOUND,
        codec="PCMA",
        ended_by="remote",
    )
    facts = voice_calls.InboundFacts(True, ("next_payment",), "borrower-faq v1", hung_up=True)
    stored = voice_calls.record_inbound_call(
        book.engine, loan_id, "13800000000", "zh", report, facts
    )
    assert stored.outcome is Outcome.RIGHT_PARTY_CONTACT  # verified, then hung up: answered
    assert stored.recording_path is not None and stored.recording_path.is_relative_to(
        tmp_path / "rec" / "inbound"
    )
    with transaction(book.engine) as s:
        attempt = s.get(ContactAttempt, stored.attempt_id)
        assert attempt is not None
        row = (attempt.direction, attempt.task_id, attempt.loan_id, attempt.channel)
        assert row == ("inbound", None, loan_id, "voice-agent")
        assert (attempt.status, attempt.identity_verified, attempt.was_conversation) == (
            "made",
            True,
            True,
        )
        assert attempt.contact_number == "13800000000" and attempt.duration_s == 42
        assert attempt.answers == {"faq_entries": ["next_payment"]}
        assert attempt.recording_ref and attempt.recording_ref.startswith("inbound/")
        assert "borrower-faq v1" in (attempt.note or "")

    app = create_app(book.engine)
    agent, _ = login_client(app, "agent")
    r = agent.get(f"/api/v1/voice-calls/{stored.attempt_id}/recording")
    assert r.status_code == 200 and r.content == stored.recording_path.read_bytes()
    said = [
        x["text"]
        for x in agent.get(f"/api/v1/voice-calls/{stored.attempt_id}/transcript").json()["turns"]
    ]
    assert said[1] == said[3] == "****"  # the ID tail and the date of birth are never shown
    assert said[5] == "我下次要还多少钱？"
    page = agent.get(f"/borrowers/{borrower}").text
    assert f'src="/api/v1/voice-calls/{stored.attempt_id}/recording"' in page
    assert "客户来电（智能客服）" in page and "next_payment" in page
    assert "002X" not in page and "一九四九年" not in page

    # QA draws it among the conversations of the period and shows its transcript
    days = (start.date() - timedelta(days=1), start.date() + timedelta(days=1))
    req = qa.SampleRequest(*days, (HOME,), channel="voice-agent", size=50)
    rows, _pool = qa.draw(book.engine, req, "auditor")
    assert stored.attempt_id in [r.attempt_id for r in rows]
    detail = qa.contact(book.engine, stored.attempt_id, "auditor")
    assert [t.text for t in detail.voice_turns][5] == "我下次要还多少钱？"
    auditor, _ = login_client(app, "auditor")
    page = auditor.get(f"/qa/attempts/{stored.attempt_id}")
    assert page.status_code == 200 and "我下次要还多少钱？" in page.text
    assert "002X" not in page.text
    assert "呼入" in page.text

    # the call's direction on the QA list, its API, the 360 page and the 360 API
    assert {r.attempt_id: r.direction for r in rows}[stored.attempt_id] == "inbound"
    query = f"start={days[0]}&end={days[1]}&channel=voice-agent&size=50"
    listed = auditor.get(f"/qa?{query}").text
    row = listed.split(f'id="sample-{stored.attempt_id}"', 1)[1].split("</tr>", 1)[0]
    assert "呼入" in row and "呼出" not in row
    sample = auditor.get(f"/api/v1/qa/sample?{query}").json()["sample"]
    assert {c["attempt_id"]: c["direction"] for c in sample}[stored.attempt_id] == "inbound"
    assert "呼入" in agent.get(f"/borrowers/{borrower}").text
    calls = agent.get(f"/api/v1/borrowers/{borrower}").json()["voice_calls"]
    mine = [c for c in calls if c["attempt_id"] == stored.attempt_id]
    assert [(c["direction"], c["loan_id"]) for c in mine] == [("inbound", loan_id)]
    assert mine[0]["transcript_url"] == f"/api/v1/voice-calls/{stored.attempt_id}/transcript"

    # the borrower calling us is no contact we made: a policy with a quiet day after any
    # conversation still allows our call on the loan's task
    quiet = Guard(
        ContactPolicy(
            window_start=clock(0, 0),
            window_end=clock(23, 59, 59, 999999),
            quiet_days_after_conversation=1,
        ),
        NoHolidays(),
    )
    probe = AttemptInput(Channel.VOICE_AGENT, PartyRole.BORROWER, datetime.now(UTC), None)
    decision, _number = check_before_contact(book.engine, task, probe, guard=quiet)
    assert decision.allowed, decision.reasons
