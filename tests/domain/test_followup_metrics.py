"""Follow-up metrics on a hand-computed fixture (every number below was worked out by hand)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from huifang.domain.followup_metrics import (
    TOTAL,
    AttemptFact,
    Dimension,
    Metrics,
    TaskFact,
    compute_metrics,
    ratio,
)

D = date
# task: id, branch, tier, agent, completing channel, due, deadline, status, completed on
TASKS = [
    TaskFact(
        1, "SZ01", "low", "wang", "agent-call", D(2026, 3, 5), D(2026, 3, 10), "done", D(2026, 3, 8)
    ),
    TaskFact(
        2,
        "SZ01",
        "high",
        "li",
        "field-visit",
        D(2026, 3, 10),
        D(2026, 3, 12),
        "done",
        D(2026, 3, 15),
    ),
    TaskFact(3, "SZ01", "low", "wang", None, D(2026, 3, 20), D(2026, 3, 25), "open", None),
    TaskFact(
        4,
        "BJ01",
        "medium",
        "zhao",
        "agent-call",
        D(2026, 2, 25),
        D(2026, 3, 2),
        "done",
        D(2026, 3, 1),
    ),
    TaskFact(5, "BJ01", "medium", "zhao", None, D(2026, 3, 12), D(2026, 3, 14), "cancelled", None),
    TaskFact(
        6, "BJ01", "low", "zhao", "agent-call", D(2026, 3, 30), D(2026, 4, 5), "done", D(2026, 4, 2)
    ),
]


def A(
    task: int, branch: str, tier: str, agent: str, channel: str, on: date, outcome: str | None
) -> AttemptFact:
    return AttemptFact(task, branch, tier, agent, channel, on, outcome)


ATTEMPTS = [
    A(1, "SZ01", "low", "wang", "agent-call", D(2026, 3, 6), "no-answer"),
    A(1, "SZ01", "low", "wang", "agent-call", D(2026, 3, 8), "right-party-contact"),
    A(2, "SZ01", "high", "li", "agent-call", D(2026, 3, 11), "switched-off"),
    A(2, "SZ01", "high", "li", "agent-call", D(2026, 3, 11), None),  # refused by the guard
    A(2, "SZ01", "high", "li", "sms", D(2026, 3, 14), None),  # message: not an attempt
    A(2, "SZ01", "high", "li", "field-visit", D(2026, 3, 15), "right-party-contact"),
    A(3, "SZ01", "low", "wang", "agent-call", D(2026, 3, 21), "busy"),
    A(3, "SZ01", "low", "wang", "agent-call", D(2026, 3, 22), "third-party-contact"),
    A(4, "BJ01", "medium", "zhao", "agent-call", D(2026, 2, 27), "no-answer"),  # before the period
    A(4, "BJ01", "medium", "zhao", "agent-call", D(2026, 3, 1), "right-party-contact"),
    A(6, "BJ01", "low", "zhao", "agent-call", D(2026, 3, 31), "hung-up"),
    A(6, "BJ01", "low", "zhao", "agent-call", D(2026, 4, 2), "right-party-contact"),  # after
]
MARCH = (D(2026, 3, 1), D(2026, 3, 31))


def by(dim: Dimension) -> dict[str, Metrics]:
    return {m.group: m for m in compute_metrics(TASKS, ATTEMPTS, *MARCH, by=dim)}


def counts(m: Metrics) -> tuple[int, ...]:
    return (
        m.due,
        m.completed_of_due,
        m.completed,
        m.on_time,
        m.attempts,
        m.connected,
        m.right_party,
        m.attempts_on_completed,
    )


def test_total() -> None:
    (m,) = compute_metrics(TASKS, ATTEMPTS, *MARCH)
    assert m.group == TOTAL
    assert counts(m) == (4, 2, 3, 2, 8, 5, 3, 6)
    assert m.coverage == Decimal("0.5000")
    assert m.connection_rate == Decimal("0.6250")
    assert m.right_party_rate == Decimal("0.3750")
    assert m.on_time_rate == Decimal("0.6667")
    assert m.attempts_per_completion == Decimal("2.00")


def test_by_branch() -> None:
    m = by(Dimension.BRANCH)
    assert counts(m["SZ01"]) == (3, 2, 2, 1, 6, 3, 2, 4)
    assert counts(m["BJ01"]) == (1, 0, 1, 1, 2, 2, 1, 2)
    assert m["BJ01"].coverage == Decimal("0") and m["SZ01"].coverage == Decimal("0.6667")


def test_by_channel() -> None:
    m = by(Dimension.CHANNEL)
    assert counts(m["agent-call"]) == (2, 1, 2, 2, 7, 4, 2, 5)
    assert counts(m["field-visit"]) == (1, 1, 1, 0, 1, 1, 1, 1)
    assert counts(m["-"]) == (1, 0, 0, 0, 0, 0, 0, 0)
    assert "sms" not in m  # messages are not attempts
    assert m["-"].connection_rate is None  # no attempts: no rate, not 0


def test_by_tier_and_agent() -> None:
    tier = by(Dimension.TIER)
    assert counts(tier["low"]) == (3, 1, 1, 1, 5, 3, 1, 2)
    assert counts(tier["high"]) == (1, 1, 1, 0, 2, 1, 1, 2)
    assert counts(tier["medium"]) == (0, 0, 1, 1, 1, 1, 1, 2)
    agent = by(Dimension.AGENT)
    assert counts(agent["wang"]) == (2, 1, 1, 1, 4, 2, 1, 2)
    assert counts(agent["li"]) == (1, 1, 1, 0, 2, 1, 1, 2)


def test_ratio_and_period() -> None:
    assert ratio(1, 3) == Decimal("0.3333") and ratio(2, 3) == Decimal("0.6667")
    assert ratio(5, 0) is None
    with pytest.raises(ValueError):
        compute_metrics(TASKS, ATTEMPTS, D(2026, 3, 31), D(2026, 3, 1))
