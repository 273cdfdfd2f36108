"""The auditor's services on both databases: refusals search, the reproducible sample of
contacts, one contact's record (masked, with its findings), reviews and the summary."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from followup_book import make_book
from sqlalchemy import Engine

from huifang.domain import qa as qa_rules
from huifang.domain.compliance import Channel, NoHolidays, Outcome, PartyRole
from huifang.security import audit
from huifang.services import qa
from huifang.services.followup import AgentSpec, add_agent, generate_tasks, list_tasks
from huifang.services.followup_attempts import AttemptInput, Guard, record_attempt

SH = ZoneInfo("Asia/Shanghai")
GUARD = Guard(calendar=NoHolidays())
AUDITOR = audit.Actor("aud", "auditor", "127.0.0.1")
MARCH = (date(2026, 3, 1), date(2026, 3, 31))


def _call(t: datetime, outcome: Outcome, agent: int, **kw: object) -> AttemptInput:
    return AttemptInput(
        Channel.AGENT_CALL,
        PartyRole.BORROWER,
        t,
        outcome,
        agent_id=agent,
        ended_at=t + timedelta(minutes=3),
        **kw,  # type: ignore[arg-type]
    )


def _contacts(engine: Engine) -> dict[str, int]:
    """SZ01: two right-party contacts (one with a new phone), one no-answer, one refusal
    (outside hours); BJ01: one right-party contact."""
    make_book(engine)
    li = add_agent(engine, AgentSpec("li", "李", "SZ01"))
    zhao = add_agent(engine, AgentSpec("zhao", "赵", "BJ01"))
    generate_tasks(engine, date(2026, 3, 20), now=datetime(2026, 3, 20, tzinfo=UTC))
    tasks = {(t.contract_no, t.purpose): t.id for t in list_tasks(engine)}
    out: dict[str, int] = {}
    refused = record_attempt(
        engine,
        tasks[("L-LOW", "first-visit")],
        _call(datetime(2026, 3, 23, 22, tzinfo=SH), Outcome.NO_ANSWER, li),
        guard=GUARD,
    )
    assert not refused.allowed
    out["refused"] = refused.attempt_id
    out["no_answer"] = record_attempt(
        engine,
        tasks[("L-LOW", "first-visit")],
        _call(datetime(2026, 3, 24, 9, tzinfo=SH), Outcome.NO_ANSWER, li),
        guard=GUARD,
    ).attempt_id
    out["low"] = record_attempt(
        engine,
        tasks[("L-LOW", "first-visit")],
        _call(
            datetime(2026, 3, 24, 15, tzinfo=SH),
            Outcome.RIGHT_PARTY_CONTACT,
            li,
            answers={"phone_changed": True, "new_phone": "13900001111", "job_status": "lost"},
            note="客户态度良好",
        ),
        guard=GUARD,
    ).attempt_id
    out["high"] = record_attempt(
        engine,
        tasks[("L-HIGH", "first-visit")],
        _call(datetime(2026, 3, 25, 10, tzinfo=SH), Outcome.RIGHT_PARTY_CONTACT, li),
        guard=GUARD,
    ).attempt_id
    out["bj"] = record_attempt(
        engine,
        tasks[("L-BJ", "first-visit")],
        _call(datetime(2026, 3, 25, 11, tzinfo=SH), Outcome.RIGHT_PARTY_CONTACT, zhao),
        guard=GUARD,
    ).attempt_id
    return out


def test_refusals_by_period_branch_reason_and_contract(engine: Engine) -> None:
    ids = _contacts(engine)
    rows, total = qa.refusals(engine, ["SZ01"], start=MARCH[0], end=MARCH[1])
    assert total == 1 and rows[0].attempt_id == ids["refused"]
    assert rows[0].codes == ("contact.outside_hours",) and rows[0].agent == "li"
    assert rows[0].contract_no == "L-LOW" and "21:00" in rows[0].reason
    assert qa.refusals(engine, ["BJ01"], start=MARCH[0], end=MARCH[1])[1] == 0
    assert qa.refusals(engine, ["SZ01"], start=date(2026, 3, 24), end=MARCH[1])[1] == 0
    by_code = qa.refusals(
        engine, ["SZ01"], start=MARCH[0], end=MARCH[1], code="contact.do_not_call"
    )
    assert by_code[1] == 0
    assert (
        qa.refusals(engine, ["SZ01"], start=MARCH[0], end=MARCH[1], code="contact.outside_hours")[1]
        == 1
    )
    assert qa.refusals(engine, ["SZ01"], start=MARCH[0], end=MARCH[1], contract="L-HIGH")[1] == 0
    with pytest.raises(qa_rules.QaError):
        qa.refusals(engine, ["SZ01"], start=MARCH[0], end=MARCH[1], code="x%")
    with pytest.raises(qa_rules.QaError):
        qa.refusals(engine, ["SZ01"], start=MARCH[1], end=MARCH[0])


def test_the_sample_holds_only_conversations_of_the_scope_and_is_reproducible(
    engine: Engine,
) -> None:
    ids = _contacts(engine)
    req = qa.SampleRequest(*MARCH, branches=("SZ01",), size=20, seed=7)
    rows, pool = qa.draw(engine, req, "aud")
    assert pool == 2 and [r.attempt_id for r in rows] == [ids["low"], ids["high"]]
    one = qa.SampleRequest(*MARCH, branches=("SZ01", "BJ01"), size=1, seed=7)
    first = qa.draw(engine, one, "aud")[0]
    assert len(first) == 1 and qa.draw(engine, one, "aud")[0] == first
    seeds = {
        qa.draw(engine, qa.SampleRequest(*MARCH, ("SZ01", "BJ01"), size=1, seed=s), "a")[0][
            0
        ].attempt_id
        for s in range(12)
    }
    assert len(seeds) > 1  # the seed decides
    assert qa.draw(engine, qa.SampleRequest(*MARCH, ("SZ01",), agent="zhao"), "a")[1] == 0
    assert qa.draw(engine, qa.SampleRequest(*MARCH, ("BJ01",), agent="zhao"), "a")[1] == 1
    sms = qa.SampleRequest(*MARCH, ("SZ01",), channel="sms")
    assert qa.draw(engine, sms, "a")[1] == 0
    with pytest.raises(qa_rules.QaError):
        qa.draw(engine, qa.SampleRequest(*MARCH, ("SZ01",), channel="fax"), "a")


def test_a_contact_is_shown_masked_with_its_findings_and_reviews_are_editable(
    engine: Engine,
) -> None:
    ids = _contacts(engine)
    assert qa.attempt_branch(engine, ids["low"]) == "SZ01"
    assert qa.attempt_branch(engine, 10**9) is None
    d = qa.contact(engine, ids["low"], "aud")
    assert d.answers["new_phone"] == "139****1111" and d.answers["job_status"] == "lost"
    assert d.contact_number.startswith("138****") and d.note == "客户态度良好"
    assert any(f["kind"] == "job-loss" for f in d.findings)
    assert d.row.agent == "li" and d.reviews == () and d.transcript == ()
    with pytest.raises(qa.QaNotFound):
        qa.contact(engine, ids["refused"], "aud")
    scores = {c.code: c.max_score for c in qa_rules.CRITERIA}
    first = qa.save_review(engine, ids["low"], AUDITOR, scores, "很好", branch_code="SZ01")
    assert first.total == qa_rules.MAX_TOTAL
    again = qa.save_review(engine, ids["low"], AUDITOR, scores, "很好", branch_code="SZ01")
    assert again.id == first.id  # unchanged: no new entry
    edited = qa.save_review(
        engine, ids["low"], AUDITOR, {**scores, "politeness": 1}, "语气生硬", branch_code="SZ01"
    )
    assert edited.id == first.id and edited.total == qa_rules.MAX_TOTAL - 2
    other = audit.Actor("aud2", "auditor")
    qa.save_review(engine, ids["low"], other, {c.code: 0 for c in qa_rules.CRITERIA}, "")
    assert len(qa.contact(engine, ids["low"], "aud").reviews) == 2
    with pytest.raises(qa_rules.QaError):
        qa.save_review(engine, ids["low"], AUDITOR, {**scores, "politeness": 9}, "")
    with pytest.raises(qa.QaNotFound):
        qa.save_review(engine, ids["refused"], AUDITOR, scores, "")
    entries = audit.search(engine, action="qa.review")
    assert [e.action for e in entries] == ["qa.review", "qa.review.update", "qa.review"]
    assert entries[1].detail["before"]["scores"]["politeness"] == 3  # type: ignore[index]
    rows, _pool = qa.draw(engine, qa.SampleRequest(*MARCH, ("SZ01",)), "aud")
    mine = {r.attempt_id: (r.my_total, r.reviews) for r in rows}
    assert mine[ids["low"]] == (qa_rules.MAX_TOTAL - 2, 2) and mine[ids["high"]] == (None, 0)
    summary = qa.summary(engine, qa.SampleRequest(*MARCH, ("SZ01",)))
    assert [s.agent for s in summary] == ["li", qa_rules.ALL_AGENTS]
    assert str(summary[0].averages["politeness"]) == "0.50" and summary[0].reviews == 2
    assert qa.summary(engine, qa.SampleRequest(*MARCH, ("BJ01",))) == ()
