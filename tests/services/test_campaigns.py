"""Voice-agent campaigns on both databases: runs record attempts as an agent's calls, respect
lines and windows, never double-dial on a re-run or after a crash, and never hold a task an
agent holds (PostgreSQL, concurrent claims)."""

from __future__ import annotations

import asyncio
import itertools
import threading
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from followup_book import make_book
from sqlalchemy import Engine, func, select

from huifang.domain.campaigns import CallSetup, CampaignSpec
from huifang.domain.compliance import NoHolidays
from huifang.services import campaigns as cs
from huifang.services.followup import (
    AgentSpec,
    add_agent,
    claim_next,
    generate_tasks,
    get_task,
    list_tasks,
)
from huifang.services.followup_attempts import Guard
from huifang.services.followup_metrics import channel_cost_figures, voice_channel_metrics
from huifang.store.campaign_models import CampaignCall, CampaignRun
from huifang.store.db import make_engine, transaction
from huifang.store.followup_models import ContactAttempt, FollowupTask, PartyFlag, Visit
from huifang.voice.campaign_dialer import BorrowerModel, SimulatedDialer

SH = ZoneInfo("Asia/Shanghai")
GUARD = Guard(calendar=NoHolidays())
ALWAYS = BorrowerModel(answer={"low": 1.0, "medium": 1.0, "high": 1.0}, answered=(), dead_number=0)
NEVER = BorrowerModel(answer={"low": 0.0, "medium": 0.0, "high": 0.0}, dead_number=0)
HUMAN = BorrowerModel(
    answer={"low": 1.0, "medium": 1.0, "high": 1.0},
    answered=(("asks_for_human", 1.0),),
    dead_number=0,
)


def at(hour: int, minute: int = 0, day: int = 23) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=SH)


def setup(engine: Engine, lines: int = 3, **kw) -> int:  # type: ignore[no-untyped-def]
    make_book(engine)
    generate_tasks(engine, date(2026, 3, 20), now=datetime(2026, 3, 20, tzinfo=UTC))
    spec = CampaignSpec("夜间外呼", time(9), time(20, 30), lines, 3, 60, **kw)
    return cs.create_campaign(engine, spec, now=at(8)).id


class Counting(SimulatedDialer):
    """The simulated dialer, counting calls in flight (the lines in use)."""

    def __init__(self, clock: cs.Clock, model: BorrowerModel, crash_on: int | None = None):
        super().__init__(clock, seed=7, model=model)
        self.live = 0
        self.most = 0
        self.placed: list[tuple[int, datetime]] = []
        self.crash_on = crash_on

    async def dial(self, request: cs.DialRequest) -> cs.DialResult:
        self.placed.append((request.task_id, request.at))
        if self.crash_on is not None and len(self.placed) == self.crash_on:
            raise Crash  # the process dies mid-call
        self.live += 1
        self.most = max(self.most, self.live)
        try:
            return await super().dial(request)
        finally:
            self.live -= 1


class Crash(BaseException):
    """Stands for the process dying: nothing after it runs."""


def run(engine: Engine, campaign: int, dialer: SimulatedDialer, clock: cs.SimClock, **kw):  # type: ignore[no-untyped-def]
    return asyncio.run(cs.run_campaign(engine, campaign, dialer, clock=clock, guard=GUARD, **kw))


def test_a_run_records_voice_calls_as_attempts_and_completes_visits(engine: Engine) -> None:
    campaign = setup(engine)
    clock = cs.SimClock(at(9))
    dialer = Counting(clock, ALWAYS)
    report = run(engine, campaign, dialer, clock)
    # L-LOW and L-BJ first visits, L-LATE first visit then missed payment (one loan at a time);
    # L-HIGH needs the business skill, bucket-change does not allow the voice channel
    by_task = {t.id: t for t in list_tasks(engine)}
    dialed = {by_task[t].contract_no + "/" + by_task[t].purpose for t, _ in dialer.placed}
    assert dialed == {
        "L-LOW/first-visit",
        "L-BJ/first-visit",
        "L-LATE/first-visit",
        "L-LATE/missed-payment",
    }
    assert report.dials == 4 and report.completed == 4 and report.refused_by_guard == 0
    assert dialer.most <= 3
    with transaction(engine) as s:
        attempts = list(s.scalars(select(ContactAttempt).order_by(ContactAttempt.id)))
        assert {a.channel for a in attempts} == {"voice-agent"}
        assert all(a.outcome == "right-party-contact" and a.identity_verified for a in attempts)
        assert all(a.answers and a.script_id for a in attempts)
        visits = list(s.scalars(select(Visit)))
        assert {v.channel for v in visits} == {"voice-agent"}
        assert all(v.attempt_id is not None for v in visits)
        calls = list(s.scalars(select(CampaignCall)))
        assert {c.status for c in calls} == {"recorded"}
        assert all(c.transcript and c.cost > 0 for c in calls)
    # the same loan's two tasks were never on the line at once
    late = [when for t, when in dialer.placed if by_task[t].contract_no == "L-LATE"]
    assert late[0] < late[1]
    figures = voice_channel_metrics(engine, date(2026, 3, 23), date(2026, 3, 23))
    assert figures[0].calls == 4 and figures[0].completion_rate == Decimal("1.0000")
    costs = {
        c.channel: c for c in channel_cost_figures(engine, date(2026, 3, 1), date(2026, 3, 31))
    }
    assert costs["voice-agent"].completed == 4
    assert costs["voice-agent"].cost == sum((c.cost for c in calls), Decimal("0"))


def test_retries_follow_the_strategy_and_the_run_stops_at_the_window_end(engine: Engine) -> None:
    campaign = setup(engine, lines=2)
    clock = cs.SimClock(at(9))
    dialer = Counting(clock, NEVER)
    report = run(engine, campaign, dialer, clock)
    assert report.dials == len(dialer.placed) and report.connected == 0
    assert dialer.most <= 2
    for _task, when in dialer.placed:
        local = when.astimezone(SH).time()
        assert time(9) <= local < time(20, 30)
    per_task: dict[int, list[datetime]] = {}
    for task, when in dialer.placed:
        per_task.setdefault(task, []).append(when)
    for times in per_task.values():
        # the strategy's no-answer retry (60 min, another slot) and the campaign's cap
        assert len(times) <= 3
        assert all(b - a >= timedelta(minutes=60) for a, b in itertools.pairwise(times))
    assert report.ended_at is not None and report.ended_at <= at(20, 31)
    # run again the same evening: nothing more is dialed today
    again = run(engine, campaign, Counting(clock, NEVER), clock)
    assert again.dials == 0


def test_rerunning_does_not_dial_again(engine: Engine) -> None:
    campaign = setup(engine)
    clock = cs.SimClock(at(9))
    first = run(engine, campaign, Counting(clock, ALWAYS), clock, once=True)
    assert first.dials >= 3
    second = Counting(clock, ALWAYS)
    again = run(engine, campaign, second, clock, once=True)
    dialed_before = {t for (t,) in _calls(engine, first.run_id)}
    assert not dialed_before & {t for t, _ in second.placed}
    assert again.settled == 0


def _calls(engine: Engine, run_id: int) -> list[tuple[int]]:
    with transaction(engine) as s:
        return [
            (t,)
            for t in s.scalars(select(CampaignCall.task_id).where(CampaignCall.run_id == run_id))
        ]


def test_a_crash_mid_call_is_settled_not_redialed(engine: Engine) -> None:
    campaign = setup(engine, lines=1)
    clock = cs.SimClock(at(9))
    crashing = Counting(clock, ALWAYS, crash_on=1)
    with pytest.raises(Crash):
        run(engine, campaign, crashing, clock)
    ((lost_task, lost_at),) = crashing.placed
    with transaction(engine) as s:
        (row,) = s.scalars(select(CampaignCall))
        assert row.status == "dialing"
        assert s.scalar(select(CampaignRun.status)) == "failed"
    # the task stays with the bot's lease until it expires: an agent cannot take it now
    agent = add_agent(engine, AgentSpec("a1", "坐席", "SZ01"))
    held = claim_next(engine, agent, now=at(9, 1))
    assert held is None or held.id != lost_task
    clock.set(at(9, 5))
    again = Counting(clock, ALWAYS)
    report = run(engine, campaign, again, clock, once=True)
    assert report.settled == 1
    assert lost_task not in {t for t, _ in again.placed}
    with transaction(engine) as s:
        row = s.scalar(select(CampaignCall).where(CampaignCall.task_id == lost_task))
        assert row is not None and row.status == "interrupted" and row.attempt_id is not None
        attempt = s.get(ContactAttempt, row.attempt_id)
        assert attempt is not None and attempt.outcome == "no-answer"
        assert attempt.channel == "voice-agent" and "interrupted" in (attempt.note or "")
        task = s.get(FollowupTask, lost_task)
        assert task is not None and task.claimed_by_id is None
    assert get_task(engine, lost_task).next_attempt_at == lost_at + timedelta(minutes=60)


def test_a_request_for_a_human_becomes_an_agents_callback(engine: Engine) -> None:
    campaign = setup(
        engine, lines=1, purposes=frozenset({"first-visit"}), branches=frozenset({"BJ01"})
    )
    clock = cs.SimClock(at(10))
    report = run(engine, campaign, Counting(clock, HUMAN), clock)
    assert report.dials == 1 and report.handed_over == 1
    (task,) = [t for t in list_tasks(engine) if t.contract_no == "L-BJ"]
    assert task.status == "open" and task.next_attempt_at is not None
    with transaction(engine) as s:
        call = s.scalar(select(CampaignCall))
        assert call is not None and call.handover_reason == "borrower_request"
        assert call.outcome == "callback-requested"
        assert any("转人工" in (t["text"] or "") for t in call.transcript or [])
        flag = s.scalar(select(PartyFlag.flag))
        assert flag == "human-requested"
    # the bot never calls that borrower again; an agent takes the callback
    clock.set(at(15))
    assert run(engine, campaign, Counting(clock, HUMAN), clock).dials == 0


@pytest.mark.postgres
def test_no_task_is_held_by_the_bot_and_an_agent_at_once(pg_url: str) -> None:
    engine = make_engine(pg_url)
    try:
        campaign = setup(engine, lines=5)
        agents = [add_agent(engine, AgentSpec(f"sz{i}", "坐席", "SZ01")) for i in range(3)]
        agents += [add_agent(engine, AgentSpec("bj0", "坐席", "BJ01"))]
        run_id = cs._start_run(engine, campaign, at(10), "test", True)
        now = at(10).astimezone(UTC)
        held: dict[int, list[str]] = {}
        lock = threading.Lock()
        barrier = threading.Barrier(len(agents) + 1)

        def agent_claims(agent_id: int) -> None:
            eng = make_engine(pg_url)
            barrier.wait()
            while (view := claim_next(eng, agent_id, now=now)) is not None:
                with lock:
                    held.setdefault(view.id, []).append(f"agent{agent_id}")
            eng.dispose()

        def bot_claims() -> None:
            eng = make_engine(pg_url)
            barrier.wait()
            for _ in range(3):
                batch = cs.claim_batch(eng, campaign, run_id, now, 5, guard=GUARD, policy=_policy())
                with lock:
                    for pick in batch.picks:
                        held.setdefault(pick.task_id, []).append("bot")
            eng.dispose()

        threads = [threading.Thread(target=agent_claims, args=(a,)) for a in agents]
        threads.append(threading.Thread(target=bot_claims))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert held and all(len(holders) == 1 for holders in held.values())
        with transaction(engine) as s:
            dials = s.scalar(select(func.count()).select_from(CampaignCall))
        assert dials == sum(h == ["bot"] for h in held.values())
    finally:
        engine.dispose()


def _policy():  # type: ignore[no-untyped-def]
    from huifang.policy_files import load_followup_policy

    return load_followup_policy()


def test_the_bot_does_not_dial_a_task_an_agent_holds(engine: Engine) -> None:
    campaign = setup(engine, purposes=frozenset({"first-visit"}), branches=frozenset({"BJ01"}))
    agent = add_agent(engine, AgentSpec("bj1", "坐席", "BJ01"))
    view = claim_next(engine, agent, now=at(10))
    assert view is not None and view.contract_no == "L-BJ"
    clock = cs.SimClock(at(10, 5))
    dialer = Counting(clock, ALWAYS)
    assert run(engine, campaign, dialer, clock, once=True).dials == 0
    assert dialer.placed == []
    assert CallSetup.ANSWERED.value == "answered"


class Cancelling(Counting):
    """A manager cancels the task while the bot is on the line."""

    async def dial(self, request: cs.DialRequest) -> cs.DialResult:
        from huifang.services.followup import cancel_task

        cancel_task(self.engine, request.task_id, "客户已结清", now=request.at)
        return await super().dial(request)


def test_a_task_closed_during_the_call_is_settled_by_the_next_run(engine: Engine) -> None:
    campaign = setup(engine, lines=1, branches=frozenset({"BJ01"}))
    clock = cs.SimClock(at(10))
    dialer = Cancelling(clock, ALWAYS)
    dialer.engine = engine  # type: ignore[attr-defined]
    report = run(engine, campaign, dialer, clock)
    assert report.dials == 0 and report.failed == 1
    clock.set(at(10, 30))
    again = run(engine, campaign, Counting(clock, ALWAYS), clock)
    assert again.settled == 1 and again.dials == 0
    with transaction(engine) as s:
        (row,) = s.scalars(select(CampaignCall))
        assert row.status == "interrupted" and row.attempt_id is not None
