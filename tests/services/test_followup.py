"""Follow-up tasks on both databases: generation, routing, claims, reassign, snooze, cancel."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from followup_book import make_book
from sqlalchemy import Engine, func, select

from huifang.services.calls import task_and_agent
from huifang.services.followup import (
    AgentSpec,
    TaskError,
    TaskUnavailable,
    add_agent,
    cancel_task,
    claim_next,
    claim_task,
    generate_tasks,
    get_task,
    list_tasks,
    reassign_task,
    release_task,
    route_tasks,
    snooze_task,
)
from huifang.store.db import make_engine, transaction
from huifang.store.followup_models import FollowupTask

NOW = datetime(2026, 3, 20, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def _purposes(engine: Engine) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for t in list_tasks(engine, status="open"):
        out.setdefault(t.contract_no, set()).add(t.purpose)
    return out


def test_generation_follows_the_policy_and_is_idempotent(engine: Engine) -> None:
    make_book(engine)
    report = generate_tasks(engine, date(2026, 3, 20), now=NOW)
    assert _purposes(engine) == {
        "L-LOW": {"first-visit"},
        "L-HIGH": {"first-visit"},
        "L-BJ": {"first-visit"},
        # never paid: first visit, missed payment (2025-12-06), buckets M2 (01-05) and M3 (02-04)
        "L-LATE": {"first-visit", "missed-payment", "bucket-change"},
    }
    assert report.created == 6
    late = {t.purpose: t for t in list_tasks(engine) if t.contract_no == "L-LATE"}
    assert late["missed-payment"].due_on == date(2025, 12, 7)
    assert late["bucket-change"].due_on == date(2026, 1, 5)  # the earliest unhandled bucket
    assert late["missed-payment"].tier == "high"  # > 30 days overdue
    assert late["missed-payment"].priority == 1
    high = next(t for t in list_tasks(engine) if t.contract_no == "L-HIGH")
    assert high.skills == ("business",)
    again = generate_tasks(engine, date(2026, 3, 20), now=NOW)
    assert (again.created, again.already_open) == (0, 6)
    again = generate_tasks(engine, date(2026, 3, 21), now=NOW)
    assert again.created == 0
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(FollowupTask)) == 6


def test_one_open_task_per_loan_and_purpose_is_enforced_by_the_database(engine: Engine) -> None:
    ids = make_book(engine)
    generate_tasks(engine, date(2026, 3, 20), now=NOW)
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"), transaction(engine) as s:
        t = s.scalars(select(FollowupTask).where(FollowupTask.loan_id == ids["L-LOW"])).one()
        s.add(
            FollowupTask(
                loan_id=t.loan_id,
                branch_id=t.branch_id,
                purpose=t.purpose,
                stage=t.stage,
                due_on=t.due_on,
                deadline=t.deadline,
                priority=1,
                tier="low",
                script="x",
                reason="dup",
                policy_version=1,
            )
        )


def test_cancelled_task_is_not_recreated_and_closed_loan_tasks_end(engine: Engine) -> None:
    make_book(engine)
    generate_tasks(engine, date(2026, 3, 20), now=NOW)
    low = next(t for t in list_tasks(engine) if t.contract_no == "L-LOW")
    with pytest.raises(TaskError, match="原因"):
        cancel_task(engine, low.id, " ")
    done = cancel_task(engine, low.id, "客户已移居海外", now=NOW)
    assert (done.status, done.status_reason) == ("cancelled", "取消 / cancelled: 客户已移居海外")
    assert generate_tasks(engine, date(2026, 3, 21), now=NOW).created == 0
    with pytest.raises(TaskUnavailable):
        snooze_task(engine, low.id, NOW + timedelta(days=1), "x")


def test_routing_by_branch_skill_and_load(engine: Engine) -> None:
    make_book(engine)
    generate_tasks(engine, date(2026, 3, 20), now=NOW)
    a = add_agent(engine, AgentSpec("wang", "王坐席", "SZ01", capacity=3))
    b = add_agent(engine, AgentSpec("li", "李坐席", "SZ01", skills=("business",), capacity=3))
    report = route_tasks(engine)
    tasks = {(t.contract_no, t.purpose): t for t in list_tasks(engine)}
    assert tasks[("L-HIGH", "first-visit")].assigned_to == "li"  # only li has "business"
    assert tasks[("L-BJ", "first-visit")].assigned_to is None  # no agent in BJ01: branch queue
    assert report.queued == 1 and report.assigned == 5
    counts = {"wang": 0, "li": 0}
    for t in tasks.values():
        if t.assigned_to:
            counts[t.assigned_to] += 1
    assert counts == {"wang": 3, "li": 2}  # balanced up to capacity
    assert a != b


def test_claim_reassign_snooze(engine: Engine) -> None:
    make_book(engine)
    generate_tasks(engine, date(2026, 3, 20), now=NOW)
    wang = add_agent(engine, AgentSpec("wang", "王", "SZ01", capacity=10))
    li = add_agent(engine, AgentSpec("li", "李", "SZ01", skills=("business",), capacity=10))
    first = claim_next(engine, wang, now=NOW)
    assert first is not None and first.claimed_by == "wang" and first.priority == 1
    with pytest.raises(TaskUnavailable):
        claim_task(engine, first.id, li, now=NOW)
    # the lease expires; then li may take it
    taken = claim_task(engine, first.id, li, now=NOW + timedelta(minutes=31))
    assert taken.claimed_by == "li" and get_task(engine, first.id) == taken
    release_task(engine, first.id, li)
    moved = reassign_task(engine, first.id, li, "熟悉该客户")
    assert (moved.assigned_to, moved.claimed_by) == ("li", None)
    # the one-query read gives the same view as the writers' (assigned and claimed names)
    assert get_task(engine, first.id) == moved
    assert task_and_agent(engine, first.id, "li") == (moved, li)
    assert task_and_agent(engine, first.id, "nobody") == (moved, None)
    with pytest.raises(TaskError, match="不存在"):
        get_task(engine, 10**9)
    with pytest.raises(TaskError, match="机构"):
        bj = add_agent(engine, AgentSpec("zhao", "赵", "BJ01"))
        reassign_task(engine, first.id, bj, "x")
    snoozed = snooze_task(engine, first.id, NOW + timedelta(days=2), "客户出差")
    assert snoozed.snoozed_until == NOW + timedelta(days=2)
    seen = set()
    while (t := claim_next(engine, li, now=NOW)) is not None:
        seen.add(t.id)
    assert first.id not in seen
    high = next(t for t in list_tasks(engine) if t.contract_no == "L-HIGH")
    assert high.id in seen  # li has the business skill
    while (t := claim_next(engine, wang, now=NOW)) is not None:
        assert t.contract_no != "L-HIGH"


@pytest.mark.postgres
def test_concurrent_claimers_never_share_a_task(pg_url: str) -> None:
    engine = make_engine(pg_url)
    try:
        make_book(engine)
        generate_tasks(engine, date(2026, 3, 20), now=NOW)
        agents = [
            add_agent(
                engine, AgentSpec(f"a{i}", f"坐席{i}", "SZ01", skills=("business",), capacity=50)
            )
            for i in range(8)
        ]
        claimed: dict[int, list[int]] = {a: [] for a in agents}
        barrier = threading.Barrier(len(agents))
        errors: list[BaseException] = []

        def work(agent_id: int) -> None:
            try:
                barrier.wait()
                while (t := claim_next(engine, agent_id, now=NOW)) is not None:
                    claimed[agent_id].append(t.id)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(a,)) for a in agents]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        all_ids = [i for ids in claimed.values() for i in ids]
        assert len(all_ids) == len(set(all_ids)) == 5  # the five SZ01 tasks, each once
    finally:
        engine.dispose()


def test_concurrent_generation_creates_each_task_once(db_url: str) -> None:
    engines = [make_engine(db_url) for _ in range(3)]
    try:
        make_book(engines[0])
        results: list[int] = []
        errors: list[BaseException] = []

        def run(e: Engine) -> None:
            try:
                results.append(generate_tasks(e, date(2026, 3, 20), now=NOW).created)
            except BaseException as exc:  # pragma: no cover
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(e,)) for e in engines]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert sum(results) == 6
        assert len(list_tasks(engines[0])) == 6
    finally:
        for e in engines:
            e.dispose()
