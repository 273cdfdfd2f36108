"""Corrections: append-only, maker-checker for key answers, re-verification, history (both DBs)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from followup_book import make_book
from sqlalchemy import Engine, select

from huifang.domain.compliance import Channel
from huifang.services.followup import generate_tasks, list_tasks
from huifang.services.followup_attempts import complete_visit
from huifang.services.followup_corrections import (
    CorrectionError,
    propose_correction,
    review_correction,
    visit_history,
)
from huifang.store.db import transaction
from huifang.store.followup_models import RiskEvent, Visit

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 24, 10, 0, tzinfo=SH)
ORIGINAL = {"vehicle_in_use": True, "monthly_income": "9000.00", "note": "正常"}


def _visit(engine: Engine) -> int:
    make_book(engine)
    generate_tasks(engine, date(2026, 3, 20), now=datetime(2026, 3, 20, tzinfo=UTC))
    task = next(t.id for t in list_tasks(engine) if t.contract_no == "L-LOW")
    return complete_visit(
        engine,
        task,
        channel=Channel.AGENT_CALL,
        completed_at=NOW,
        answers=ORIGINAL,
        script_id="first_visit",
        script_version=1,
    )


def test_plain_correction_applies_at_once_and_keeps_the_original(engine: Engine) -> None:
    visit = _visit(engine)
    c = propose_correction(
        engine,
        visit,
        maker="wang",
        reason="录入笔误",
        new_answers={"note": "正常, 已核实"},
        now=NOW,
    )
    assert (c.status, c.needs_review) == ("applied", False)
    assert c.changes == ({"question": "note", "old": "正常", "new": "正常, 已核实"},)
    h = visit_history(engine, visit)
    assert h.original == ORIGINAL
    assert h.effective["note"] == "正常, 已核实"
    with transaction(engine) as s:
        stored = s.get(Visit, visit)
        assert stored is not None and stored.answers == ORIGINAL  # never edited in place


def test_key_answer_needs_a_different_reviewer_and_triggers_reverification(engine: Engine) -> None:
    visit = _visit(engine)
    c = propose_correction(
        engine,
        visit,
        maker="wang",
        reason="客户实际已将车辆出租",
        new_answers={"vehicle_in_use": False},
        now=NOW,
    )
    assert (c.status, c.needs_review) == ("pending", True)
    assert visit_history(engine, visit).effective["vehicle_in_use"] is True  # not yet
    with pytest.raises(CorrectionError, match="复核人不能是更正人"):
        review_correction(engine, c.id, reviewer="wang", approve=True, now=NOW)
    with pytest.raises(CorrectionError, match="尚待复核"):
        propose_correction(
            engine, visit, maker="li", reason="x", new_answers={"note": "y"}, now=NOW
        )
    done = review_correction(
        engine, c.id, reviewer="zhao", approve=True, note="已核对录音", now=NOW
    )
    assert (done.status, done.reviewer) == ("approved", "zhao")
    assert done.reverify_task_id is not None
    reverify = [t for t in list_tasks(engine) if t.purpose == "re-verification"]
    assert [(t.id, t.contract_no, t.due_on) for t in reverify] == [
        (done.reverify_task_id, "L-LOW", date(2026, 3, 24))
    ]
    h = visit_history(engine, visit)
    assert h.original["vehicle_in_use"] is True and h.effective["vehicle_in_use"] is False
    assert [x.status for x in h.corrections] == ["approved"]
    with transaction(engine) as s:
        # the findings run again on the corrected answers (vehicle not in use), and the
        # correction itself is an event
        assert sorted(e.kind for e in s.scalars(select(RiskEvent))) == [
            "risk-finding",
            "vehicle-transferred",
            "visit-corrected",
        ]
    with pytest.raises(CorrectionError, match="approved"):
        review_correction(engine, c.id, reviewer="zhao", approve=False, note="x", now=NOW)


def test_rejected_correction_changes_nothing_and_needs_a_note(engine: Engine) -> None:
    visit = _visit(engine)
    c = propose_correction(
        engine,
        visit,
        maker="wang",
        reason="收入记错",
        new_answers={"monthly_income": "6000"},
        now=NOW,
    )
    with pytest.raises(CorrectionError, match="理由"):
        review_correction(engine, c.id, reviewer="zhao", approve=False, now=NOW)
    r = review_correction(
        engine, c.id, reviewer="zhao", approve=False, note="录音显示9000", now=NOW
    )
    assert r.status == "rejected" and r.reverify_task_id is None
    h = visit_history(engine, visit)
    assert h.effective == ORIGINAL and len(h.corrections) == 1


def test_correction_input_is_checked(engine: Engine) -> None:
    visit = _visit(engine)
    with pytest.raises(CorrectionError, match="原因"):
        propose_correction(engine, visit, maker="wang", reason=" ", new_answers={"note": "x"})
    with pytest.raises(CorrectionError, match="没有任何答案"):
        propose_correction(engine, visit, maker="wang", reason="r", new_answers={"note": "正常"})
    with pytest.raises(CorrectionError, match="不存在"):
        propose_correction(engine, 999, maker="wang", reason="r", new_answers={"note": "x"})
    c = propose_correction(
        engine,
        visit,
        maker="wang",
        reason="需复核",
        new_answers={"note": "x"},
        reverify=True,
        now=NOW,
    )
    assert c.status == "applied" and c.reverify_task_id is not None
