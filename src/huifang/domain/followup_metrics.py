"""Follow-up metrics from the records: coverage, connection rate (接通率), right-party contact
rate, on-time completion and attempts per completion — in total and by branch, agent,
channel or tier.

Definitions (for a period [start, end], dates in the lender's zone):

* coverage (覆盖率) = tasks due in the period that were completed by `end` / tasks due in the
  period (cancelled tasks are not due: the loan closed or the contact was called off).
* connection rate (接通率) = attempts in the period that someone answered (`CONNECTED`) /
  attempts in the period with an outcome (calls and field visits; messages and attempts the
  compliance guard refused are not attempts).
* right-party contact rate (本人接通率) = right-party contacts / the same attempts.
* on-time rate (及时率) = tasks completed in the period on or before their deadline / tasks
  completed in the period.
* attempts per completion = attempts with an outcome on the tasks completed in the period
  (whenever made) / tasks completed in the period.

Grouping: a task belongs to its branch, its tier, the agent who completed it (else the one
it is assigned to) and the channel that completed it; an attempt to its branch, its task's
tier, its own agent and channel. Tasks not completed have no channel: by channel they are
grouped under "-". A rate with an empty denominator is None, never 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Final

CONNECTED: Final = frozenset(
    {
        "right-party-contact",
        "third-party-contact",
        "refused",
        "callback-requested",
        "hung-up",
        "wrong-person",
    }
)
TOTAL: Final = "全部/all"
NONE: Final = "-"


class Dimension(StrEnum):
    TOTAL = "total"
    BRANCH = "branch"
    AGENT = "agent"
    CHANNEL = "channel"
    TIER = "tier"


@dataclass(frozen=True)
class TaskFact:
    task_id: int
    branch: str
    tier: str
    agent: str | None
    channel: str | None  # the completing channel
    due_on: date
    deadline: date
    status: str
    completed_on: date | None


@dataclass(frozen=True)
class AttemptFact:
    task_id: int
    branch: str
    tier: str
    agent: str | None
    channel: str
    on: date
    outcome: str | None  # None: a message, or refused by the guard


@dataclass(frozen=True)
class Metrics:
    group: str
    due: int
    completed_of_due: int
    completed: int
    on_time: int
    attempts: int
    connected: int
    right_party: int
    attempts_on_completed: int

    @property
    def coverage(self) -> Decimal | None:
        return ratio(self.completed_of_due, self.due)

    @property
    def connection_rate(self) -> Decimal | None:
        return ratio(self.connected, self.attempts)

    @property
    def right_party_rate(self) -> Decimal | None:
        return ratio(self.right_party, self.attempts)

    @property
    def on_time_rate(self) -> Decimal | None:
        return ratio(self.on_time, self.completed)

    @property
    def attempts_per_completion(self) -> Decimal | None:
        return ratio(self.attempts_on_completed, self.completed, Decimal("0.01"))


def ratio(n: int, d: int, places: Decimal = Decimal("0.0001")) -> Decimal | None:
    """n / d rounded half-up (to 0.01 %), None when d is 0."""
    if d == 0:
        return None
    return (Decimal(n) / Decimal(d)).quantize(places, rounding=ROUND_HALF_UP)


def _task_key(dim: Dimension) -> Callable[[TaskFact], str]:
    return {
        Dimension.TOTAL: lambda t: TOTAL,
        Dimension.BRANCH: lambda t: t.branch,
        Dimension.AGENT: lambda t: t.agent or NONE,
        Dimension.CHANNEL: lambda t: t.channel or NONE,
        Dimension.TIER: lambda t: t.tier,
    }[dim]


def _attempt_key(dim: Dimension) -> Callable[[AttemptFact], str]:
    return {
        Dimension.TOTAL: lambda a: TOTAL,
        Dimension.BRANCH: lambda a: a.branch,
        Dimension.AGENT: lambda a: a.agent or NONE,
        Dimension.CHANNEL: lambda a: a.channel,
        Dimension.TIER: lambda a: a.tier,
    }[dim]


def compute_metrics(
    tasks: Iterable[TaskFact],
    attempts: Iterable[AttemptFact],
    start: date,
    end: date,
    by: Dimension = Dimension.TOTAL,
) -> tuple[Metrics, ...]:
    """The metrics of the period per group (sorted by group name)."""
    if end < start:
        raise ValueError(f"期间结束早于开始 / period ends before it starts: {start} – {end}")
    task_list: Sequence[TaskFact] = list(tasks)
    attempt_list: Sequence[AttemptFact] = list(attempts)
    tkey, akey = _task_key(by), _attempt_key(by)
    counts: dict[str, list[int]] = {}

    def row(group: str) -> list[int]:
        return counts.setdefault(group, [0] * 8)

    completed_ids: set[int] = set()
    for t in task_list:
        done = t.status == "done" and t.completed_on is not None
        if start <= t.due_on <= end and t.status != "cancelled":
            r = row(tkey(t))
            r[0] += 1
            if done and t.completed_on is not None and t.completed_on <= end:
                r[1] += 1
        if done and t.completed_on is not None and start <= t.completed_on <= end:
            r = row(tkey(t))
            r[2] += 1
            r[3] += t.completed_on <= t.deadline
            completed_ids.add(t.task_id)
    for a in attempt_list:
        if a.outcome is None:
            continue
        if start <= a.on <= end:
            r = row(akey(a))
            r[4] += 1
            r[5] += a.outcome in CONNECTED
            r[6] += a.outcome == "right-party-contact"
        if a.task_id in completed_ids:
            row(akey(a))[7] += 1
    return tuple(Metrics(group, *values) for group, values in sorted(counts.items()))


# --------------------------------------------------------------------------------------------
# the voice channel (智能外呼) and the cost of a completed contact by channel
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallFact:
    """One voice-agent call of a campaign.

    connected: someone answered (`CONNECTED`); completed: the call completed the contact
    (right-party, the visit recorded); handed_over: the bot handed the call to a person;
    duration_s: from dialing to hang-up; cost: what the call cost (CNY).
    """

    campaign: str
    branch: str
    tier: str
    on: date
    outcome: str | None
    connected: bool
    completed: bool
    handed_over: bool
    duration_s: int
    cost: Decimal


@dataclass(frozen=True)
class VoiceMetrics:
    """Voice-agent figures for a group of calls.

    connection rate = connected / calls; completion rate = completed / connected; handover
    rate = handed over / connected; average handle time = seconds of connected calls /
    connected calls; cost per completed contact = cost of every call / completed calls.
    """

    group: str
    calls: int
    connected: int
    completed: int
    handed_over: int
    talk_s: int
    cost: Decimal

    @property
    def connection_rate(self) -> Decimal | None:
        return ratio(self.connected, self.calls)

    @property
    def completion_rate(self) -> Decimal | None:
        return ratio(self.completed, self.connected)

    @property
    def handover_rate(self) -> Decimal | None:
        return ratio(self.handed_over, self.connected)

    @property
    def average_handle_time_s(self) -> Decimal | None:
        return ratio(self.talk_s, self.connected, Decimal("0.1"))

    @property
    def cost_per_completed(self) -> Decimal | None:
        return ratio_money(self.cost, self.completed)


def ratio_money(amount: Decimal, d: int) -> Decimal | None:
    """amount / d to the fen (half-up), None when d is 0."""
    if d == 0:
        return None
    return (amount / Decimal(d)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


VOICE_DIMENSIONS: Final = ("total", "campaign", "branch", "tier")


def voice_metrics(
    calls: Iterable[CallFact], start: date, end: date, by: str = "total"
) -> tuple[VoiceMetrics, ...]:
    """The voice-agent figures of the calls made in [start, end], per group (sorted)."""
    if end < start:
        raise ValueError(f"期间结束早于开始 / period ends before it starts: {start} – {end}")
    if by not in VOICE_DIMENSIONS:
        raise ValueError(f"未知维度 {by} / unknown dimension (allowed: {VOICE_DIMENSIONS})")
    key: Callable[[CallFact], str] = {
        "total": lambda c: TOTAL,
        "campaign": lambda c: c.campaign,
        "branch": lambda c: c.branch,
        "tier": lambda c: c.tier,
    }[by]
    groups: dict[str, list[CallFact]] = {}
    for c in calls:
        if start <= c.on <= end:
            groups.setdefault(key(c), []).append(c)
    if by == "total" and not groups:
        groups[TOTAL] = []
    return tuple(
        VoiceMetrics(
            group,
            len(items),
            sum(c.connected for c in items),
            sum(c.completed for c in items),
            sum(c.handed_over for c in items),
            sum(c.duration_s for c in items if c.connected),
            sum((c.cost for c in items), Decimal("0.00")),
        )
        for group, items in sorted(groups.items())
    )


@dataclass(frozen=True)
class Rates:
    """What a contact costs on a channel (CNY): per attempt, and per started minute."""

    per_attempt: Decimal
    per_minute: Decimal

    def cost(self, duration_s: int) -> Decimal:
        minutes = -(-max(0, duration_s) // 60)
        return (self.per_attempt + self.per_minute * minutes).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP
        )


@dataclass(frozen=True)
class ChannelCost:
    """Cost per completed contact on one channel.

    attempts: attempts with an outcome made in the period on the channel; cost: their cost
    (the attempt's own when known — a voice call's —, else the channel's `Rates` over its
    duration); completed: tasks completed in the period by that channel.
    """

    channel: str
    attempts: int
    minutes: int
    cost: Decimal
    completed: int

    @property
    def cost_per_completed(self) -> Decimal | None:
        return ratio_money(self.cost, self.completed)


def channel_costs(
    tasks: Iterable[TaskFact],
    attempts: Iterable[AttemptCost],
    start: date,
    end: date,
    rates: Mapping[str, Rates],
) -> tuple[ChannelCost, ...]:
    """Cost per completed contact by channel over [start, end] (channels in `rates`)."""
    completed: dict[str, int] = dict.fromkeys(rates, 0)
    for t in tasks:
        channel = t.channel or NONE
        if (
            t.status == "done"
            and t.completed_on is not None
            and start <= t.completed_on <= end
            and channel in completed
        ):
            completed[channel] += 1
    counts: dict[str, list[int]] = {c: [0, 0] for c in rates}
    costs: dict[str, Decimal] = dict.fromkeys(rates, Decimal("0.00"))
    for a in attempts:
        if a.channel not in rates or not start <= a.on <= end:
            continue
        counts[a.channel][0] += 1
        counts[a.channel][1] += -(-max(0, a.duration_s) // 60)
        costs[a.channel] += a.cost if a.cost is not None else rates[a.channel].cost(a.duration_s)
    return tuple(
        ChannelCost(c, counts[c][0], counts[c][1], costs[c], completed[c]) for c in sorted(rates)
    )


@dataclass(frozen=True)
class AttemptCost:
    """An attempt with an outcome, for the cost figures: channel, day, duration, and its own
    cost when it is known (a voice call's)."""

    channel: str
    on: date
    duration_s: int
    cost: Decimal | None = None
