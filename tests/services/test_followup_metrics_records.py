"""Metrics from stored records on both databases, against hand-counted numbers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from followup_book import make_book
from sqlalchemy import Engine

from huifang.domain.compliance import Channel, NoHolidays, Outcome, PartyRole
from huifang.domain.followup_metrics import Dimension
from huifang.services.followup import AgentSpec, add_agent, generate_tasks, list_tasks, route_tasks
from huifang.services.followup_attempts import AttemptInput, Guard, record_attempt
from huifang.services.followup_metrics import followup_metrics

SH = ZoneInfo("Asia/Shanghai")
GUARD = Guard(calendar=NoHolidays())


def test_metrics_from_the_records(engine: Engine) -> None:
    make_book(engine)
    generate_tasks(engine, date(2026, 3, 20), now=datetime(2026, 3, 20, tzinfo=UTC))
    wang = add_agent(engine, AgentSpec("wang", "王", "SZ01", skills=("business",), capacity=20))
    route_tasks(engine)
    tasks = {(t.contract_no, t.purpose): t.id for t in list_tasks(engine)}

    def attempt(key: tuple[str, str], day: int, hour: int, outcome: Outcome) -> None:
        at = datetime(2026, 3, day, hour, tzinfo=SH)
        record_attempt(
            engine,
            tasks[key],
            AttemptInput(Channel.AGENT_CALL, PartyRole.BORROWER, at, outcome, agent_id=wang),
            guard=GUARD,
        )

    attempt(("L-LOW", "first-visit"), 21, 9, Outcome.NO_ANSWER)
    attempt(("L-LOW", "first-visit"), 21, 14, Outcome.RIGHT_PARTY_CONTACT)  # done 3/21, on time
    attempt(("L-HIGH", "first-visit"), 21, 10, Outcome.BUSY)
    attempt(("L-LATE", "missed-payment"), 21, 10, Outcome.RIGHT_PARTY_CONTACT)  # done, late
    attempt(("L-LATE", "first-visit"), 21, 22, Outcome.NO_ANSWER)  # refused by the guard
    (m,) = followup_metrics(engine, date(2025, 12, 1), date(2026, 3, 31))
    # due in the period: 5 (L-LATE's first visit was due 2025-11-08); completed: L-LOW's first
    # visit (deadline 2026-02-09) and L-LATE's missed-payment contact (deadline 2025-12-10),
    # both late
    assert (m.due, m.completed_of_due, m.completed, m.on_time) == (5, 2, 2, 0)
    assert m.coverage == Decimal("0.4000") and m.on_time_rate == Decimal("0")
    assert (m.attempts, m.connected, m.right_party, m.attempts_on_completed) == (4, 2, 2, 3)
    assert m.connection_rate == Decimal("0.5000") and m.attempts_per_completion == Decimal("1.50")
    branch = {
        x.group: x
        for x in followup_metrics(engine, date(2025, 12, 1), date(2026, 3, 31), Dimension.BRANCH)
    }
    assert (branch["BJ01"].due, branch["BJ01"].attempts) == (1, 0)
    agent = {
        x.group: x
        for x in followup_metrics(engine, date(2025, 12, 1), date(2026, 3, 31), Dimension.AGENT)
    }
    assert agent["wang"].attempts == 4 and agent["-"].due == 1  # BJ01 has no agent
