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
