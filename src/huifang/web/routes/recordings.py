# ruff: noqa: B008  (FastAPI dependencies are declared as parameter defaults)
"""Voice-agent call records in the workspace: the recording (WAV, for an <audio> element)
and the per-turn transcript of a contact attempt.

Both endpoints need `loans.read` and the loan's branch in the caller's scope (404 for an
attempt without a recording, 403 for another branch), and every read is written to the
audit log (``read.recording`` / ``read.transcript``). The recording is checked against its
stored SHA-256 before a byte is sent, so an altered file is refused, not played. The borrower
360 page and the auditors' QA page (worktree ``editors-qa``) both use them; see docs/web.md.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel

from huifang.security import audit
from huifang.security.roles import Permission, Principal
from huifang.services import loan_views, voice_calls
from huifang.services.followup import TaskError
from huifang.services.loan_views import NotFound
from huifang.web.deps import actor, check_branch, get_engine, require
from huifang.web.routes.api import ERRORS

api = APIRouter(prefix="/api/v1", tags=["voice"])

AttemptId = Annotated[int, Path(ge=1, le=2**62)]


def _guard(request: Request, principal: Principal, attempt_id: int) -> voice_calls.RecordingView:
    engine = get_engine(request)
    view = voice_calls.recording(engine, attempt_id)
    if view is None:
        raise NotFound(f"no recording for attempt {attempt_id}")
    check_branch(principal, loan_views.loan_branch(engine, view.loan_id))
    return view


def _audit(
    request: Request, principal: Principal, action: str, view: voice_calls.RecordingView
) -> None:
    engine = get_engine(request)
    audit.record_now(
        engine,
        actor(request, principal),
        action,
        target_type="attempt",
        target_id=view.attempt_id,
        branch_code=loan_views.loan_branch(engine, view.loan_id),
        detail={"loan_id": view.loan_id, "sha256": view.sha256},
    )


@api.get(
    "/voice-calls/{voice_attempt_id}/recording",
    responses={**ERRORS, 200: {"content": {"audio/wav": {}}}},
    response_class=Response,
)
def recording_audio(
    request: Request,
    voice_attempt_id: AttemptId,
    principal: Principal = require(Permission.LOANS_READ),
) -> Response:
    """通话录音 (WAV, 双声道: 左坐席/机器人, 右借款人) / a voice-agent call's recording."""
    attempt_id = voice_attempt_id
    view = _guard(request, principal, attempt_id)
    try:
        data = voice_calls.verified_audio(view)
    except TaskError as exc:
        return Response(str(exc), status_code=409, media_type="text/plain; charset=utf-8")
    _audit(request, principal, "read.recording", view)
    return Response(
        data,
        media_type="audio/wav",
        headers={
            "Cache-Control": "private, no-store",
            "Content-Disposition": f'inline; filename="attempt-{attempt_id}.wav"',
        },
    )


class TurnOut(BaseModel):
    speaker: str
    text: str
    confidence: float | None
    step_id: str | None
    start_s: float | None
    end_s: float | None


class TranscriptOut(BaseModel):
    attempt_id: int
    loan_id: int
    seconds: float
    channels: int
    direction: str
    language: str
    handover_reason: str | None
    recording_url: str
    turns: list[TurnOut]


@api.get(
    "/voice-calls/{voice_attempt_id}/transcript", response_model=TranscriptOut, responses=ERRORS
)
def recording_transcript(
    request: Request,
    voice_attempt_id: AttemptId,
    principal: Principal = require(Permission.LOANS_READ),
) -> TranscriptOut:
    """通话转写 (逐轮: 说话人、内容、置信度、起止秒) / a voice-agent call's transcript."""
    attempt_id = voice_attempt_id
    view = _guard(request, principal, attempt_id)
    turns = voice_calls.transcripts(get_engine(request), [attempt_id]).get(attempt_id, [])
    _audit(request, principal, "read.transcript", view)
    return TranscriptOut(
        attempt_id=attempt_id,
        loan_id=view.loan_id,
        seconds=view.seconds,
        channels=view.channels,
        direction=view.direction,
        language=view.language,
        handover_reason=view.handover_reason,
        recording_url=f"/api/v1/voice-calls/{attempt_id}/recording",
        turns=[TurnOut(**t.__dict__) for t in turns],
    )
