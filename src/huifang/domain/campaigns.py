"""Voice-agent campaigns (智能外呼任务): which follow-up tasks the voice agent may dial now, and
what a finished call means for the task.

Why: seed 002's lender covered 50 % more borrowers a month at 30 % less cost by letting an
automated voice agent make the routine calls. Huifang's campaign takes the tasks the nightly
run opened whose purpose allows the voice channel (the follow-up policy's ``channels``) and
dials them inside a calling window in each borrower's own time zone, at most
`CampaignSpec.max_concurrent` at a time, retrying per the contact strategy. A task a human
holds, a task handed over to a human and a person who asked for one are never dialed.

`eligibility` is a pure function of the campaign, one task's facts (`Candidate`), the time and
the compliance guard's inputs; it lists *every* reason against dialing (like the guard) and
the earliest moment waiting alone could lift them. `call_outcome` turns what the dialer saw
(answered or not, how the script ended, a handover, a hang-up, an explicit refusal) into the
follow-up engine's outcome code, so a bot call is recorded exactly as an agent's call.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Final
from zoneinfo import ZoneInfo

from huifang.domain.compliance import (
    Attempt,
    Channel,
    ContactPolicy,
    ContactRequest,
    HolidayCalendar,
    Outcome,
    PartyFlags,
    PartyRole,
    Purpose,
    check_contact,
)
from huifang.domain.contact_strategy import ContactStrategy
from huifang.domain.followup_policy import TIERS

# Skills the voice agent has: it speaks Chinese and English (``lang:xx`` task skills).
BOT_LANGUAGES: Final = frozenset({"zh", "en"})
# Scripts' end outcomes that complete the contact (the visit is recorded).
COMPLETED_SCRIPT_OUTCOMES: Final = frozenset({"completed", "confirmed"})
# A borrower's words that are an explicit refusal to be contacted (拒绝沟通).
REFUSAL_PHRASES: Final = (
    "别再打",
    "不要再打",
    "别打了",
    "不要打了",
    "拒绝",
    "不接受回访",
    "stop calling",
    "don't call",
    "do not call",
)


class CampaignError(ValueError):
    """A campaign setting that cannot be used; the message is Chinese / English."""


class CampaignStatus(StrEnum):
    ACTIVE = "active"  # 进行中: `run` dials
    PAUSED = "paused"  # 暂停: nothing is dialed
    FINISHED = "finished"  # 已结束


@dataclass(frozen=True)
class CampaignSpec:
    """A campaign's settings.

    purposes, branches, tiers: the task filter (empty: every task whose purpose allows the
        voice channel, every branch, every tier).
    script: a script id to run instead of each task's own (None: the task's script).
    window_start, window_end: the campaign's calling window in the *borrower's* local time,
        start inclusive, end exclusive; the compliance guard's window still applies inside it.
    max_concurrent: calls in progress at once (lines).
    max_attempts: voice-agent calls per task before it is left to the agents.
    retry_minutes: least time between two voice-agent calls on one task (the strategy's
        own backoff after each outcome applies as well).
    cost_per_call, cost_per_minute: what a call costs (line, ASR/TTS), CNY; minutes are
        billed per started minute, as carriers do.
    """

    name: str
    window_start: time
    window_end: time
    max_concurrent: int
    max_attempts: int
    retry_minutes: int
    purposes: frozenset[str] = frozenset()
    branches: frozenset[str] = frozenset()
    tiers: frozenset[str] = frozenset()
    script: str | None = None
    status: CampaignStatus = CampaignStatus.ACTIVE
    cost_per_call: Decimal = Decimal("0.02")
    cost_per_minute: Decimal = Decimal("0.12")

    def __post_init__(self) -> None:
        if not self.name or not self.name.strip():
            raise CampaignError("活动名称不能为空 / the campaign needs a name")
        if self.window_start >= self.window_end:
            raise CampaignError(
                f"呼叫时段结束 {self.window_end:%H:%M} 不晚于开始 {self.window_start:%H:%M}"
                f" / window end {self.window_end:%H:%M} is not after its start"
                f" {self.window_start:%H:%M}"
            )
        if not 1 <= self.max_concurrent <= 1000:
            raise CampaignError("并发数应在 1–1000 之间 / max concurrent calls must be 1–1000")
        if self.max_attempts < 1:
            raise CampaignError("每个任务至少拨打 1 次 / max attempts must be at least 1")
        if self.retry_minutes < 0:
            raise CampaignError("重拨间隔不能为负 / retry spacing cannot be negative")
        unknown = set(self.tiers) - set(TIERS)
        if unknown:
            raise CampaignError(f"未知的风险等级 {sorted(unknown)} / unknown tiers")
        if self.cost_per_call < 0 or self.cost_per_minute < 0:
            raise CampaignError("费用不能为负 / costs cannot be negative")


def strategy_defaults(strategy: ContactStrategy) -> tuple[int, int]:
    """(max attempts, retry minutes) a campaign takes from the contact strategy when it is not
    told otherwise: the failed attempts allowed on one person before the next contact, and
    the backoff after a no-answer."""
    return (
        strategy.max_attempts_per_contact,
        strategy.outcomes[Outcome.NO_ANSWER].backoff_minutes,
    )


@dataclass(frozen=True)
class Candidate:
    """What eligibility needs to know about one open task.

    held_until: the live lease of someone else (an agent or another line), else None.
    voice_calls: the voice-agent calls already made on the task (start times).
    handed_over: a voice-agent call on the task was handed to a human: agents finish it.
    dial_open: a campaign dialed the task and its result is not recorded yet.
    """

    task_id: int
    purpose: str
    branch: str
    tier: str
    timezone: str
    due_on: date
    skills: tuple[str, ...] = ()
    status: str = "open"
    next_role: PartyRole = PartyRole.BORROWER
    next_attempt_at: datetime | None = None
    snoozed_until: datetime | None = None
    held_until: datetime | None = None
    voice_calls: tuple[datetime, ...] = ()
    handed_over: bool = False
    dial_open: bool = False


@dataclass(frozen=True)
class GuardInputs:
    """The compliance guard's inputs for a voice-agent call to the task's next person."""

    number: str
    history: Sequence[Attempt]
    flags: PartyFlags
    policy: ContactPolicy
    calendar: HolidayCalendar
    purpose: Purpose = Purpose.ROUTINE
    debtor_numbers: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Reason:
    """One reason not to dial now; `until` is when waiting alone lifts it (None: it does not)."""

    code: str
    zh: str
    en: str
    until: datetime | None = None


@dataclass(frozen=True)
class Eligibility:
    reasons: tuple[Reason, ...] = ()

    @property
    def eligible(self) -> bool:
        return not self.reasons

    @property
    def next_at(self) -> datetime | None:
        """The earliest moment the task could become eligible by waiting (None: eligible
        now, or some reason does not lift by waiting). A hint: re-check then."""
        if not self.reasons or any(r.until is None for r in self.reasons):
            return None
        return max(r.until for r in self.reasons if r.until is not None)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)


def _utc(t: datetime) -> datetime:
    if t.tzinfo is None:
        raise ValueError(f"时间必须带时区 / must be timezone-aware: {t.isoformat()}")
    return t.astimezone(UTC)


def window_opening(spec: CampaignSpec, now: datetime, timezone: str) -> datetime | None:
    """None when `now` is inside the campaign window on the borrower's clock, else the next
    moment the window opens there (start inclusive, end exclusive)."""
    tz = ZoneInfo(timezone)
    local = now.astimezone(tz)
    clock = local.time().replace(tzinfo=None, fold=0)
    if spec.window_start <= clock < spec.window_end:
        return None
    day = local.date() if clock < spec.window_start else local.date() + timedelta(days=1)
    return datetime.combine(day, spec.window_start, tz)


def window_end(spec: CampaignSpec, day: date, timezones: Iterable[str]) -> datetime:
    """When a run on `day` stops dialing: the campaign window's end in the last of the
    borrowers' zones to reach it (Asia/Shanghai when there are none)."""
    zones = set(timezones) or {"Asia/Shanghai"}
    return max(datetime.combine(day, spec.window_end, ZoneInfo(z)) for z in zones)


def matches(spec: CampaignSpec, purpose: str, branch: str, tier: str) -> bool:
    """Whether a task falls under the campaign's filter."""
    return (
        (not spec.purposes or purpose in spec.purposes)
        and (not spec.branches or branch in spec.branches)
        and (not spec.tiers or tier in spec.tiers)
    )


def bot_can_do(skills: Iterable[str], prefix: str = "lang:") -> bool:
    """The voice agent has no skill but languages: a task needing ``business`` or ``field``
    (a business visit, a field visit) is for people."""
    return all(s.startswith(prefix) and s[len(prefix) :] in BOT_LANGUAGES for s in skills)


def eligibility(
    spec: CampaignSpec,
    task: Candidate,
    voice_allowed: bool,
    now: datetime,
    guard: GuardInputs | None = None,
) -> Eligibility:
    """Every reason the campaign may not dial `task` at `now` (none: dial it).

    voice_allowed: whether the follow-up policy allows the voice channel for the task's
    purpose. guard: the compliance guard's inputs; the guard is consulted last, with the
    request a dial would make now (channel ``voice-agent``, the task's next person).
    """
    at = _utc(now)
    out: list[Reason] = []
    if spec.status is not CampaignStatus.ACTIVE:
        out.append(Reason("campaign.inactive", "外呼活动未在进行中", "the campaign is not active"))
    if not matches(spec, task.purpose, task.branch, task.tier):
        out.append(
            Reason("campaign.filter", "任务不在本活动范围内", "not in the campaign's filter")
        )
    if not voice_allowed:
        out.append(
            Reason(
                "policy.voice_not_allowed",
                f"回访策略不允许对“{task.purpose}”使用智能外呼",
                f"the policy does not allow the voice agent for {task.purpose}",
            )
        )
    if not bot_can_do(task.skills):
        out.append(
            Reason(
                "bot.skills",
                f"任务需要人工技能 {list(task.skills)}",
                f"the task needs skills of a person: {list(task.skills)}",
            )
        )
    if task.next_role is not PartyRole.BORROWER:
        out.append(
            Reason(
                "bot.third_party",
                "智能外呼只联系借款人本人，备用联系人由坐席联系",
                "the voice agent calls only the borrower; agents call alternate contacts",
            )
        )
    if task.handed_over:
        out.append(
            Reason(
                "campaign.handed_over",
                "该任务的智能外呼已转人工，由坐席完成",
                "a voice call on this task was handed to a person; agents finish it",
            )
        )
    if task.dial_open:
        out.append(
            Reason(
                "campaign.dial_open",
                "该任务已有一通外呼尚未记录结果",
                "a voice call on this task has no recorded result yet",
            )
        )
    if len(task.voice_calls) >= spec.max_attempts:
        out.append(
            Reason(
                "campaign.max_attempts",
                f"智能外呼已拨打 {len(task.voice_calls)} 次，达到上限 {spec.max_attempts} 次",
                f"{len(task.voice_calls)} voice calls made,"
                f" the campaign allows {spec.max_attempts}",
            )
        )
    if task.held_until is not None and _utc(task.held_until) > at:
        out.append(
            Reason("task.held", "任务已被他人领取", "someone else holds the task", task.held_until)
        )
    if task.snoozed_until is not None and _utc(task.snoozed_until) > at:
        out.append(Reason("task.snoozed", "任务暂缓中", "the task is snoozed", task.snoozed_until))
    tz = ZoneInfo(task.timezone)
    if task.due_on > at.astimezone(tz).date():
        out.append(
            Reason(
                "task.not_due",
                f"任务 {task.due_on.isoformat()} 才到期",
                f"the task is due on {task.due_on}",
                datetime.combine(task.due_on, time(0), tz),
            )
        )
    if task.next_attempt_at is not None and _utc(task.next_attempt_at) > at:
        out.append(
            Reason(
                "task.retry_later",
                "联系策略安排的下次联系时间未到",
                "the contact strategy's next attempt is later",
                task.next_attempt_at,
            )
        )
    if task.voice_calls and spec.retry_minutes:
        free = _utc(max(task.voice_calls, key=_utc)) + timedelta(minutes=spec.retry_minutes)
        if free > at:
            out.append(
                Reason(
                    "campaign.retry_spacing",
                    f"距上次智能外呼不足 {spec.retry_minutes} 分钟",
                    f"less than {spec.retry_minutes} min since the last voice call",
                    free,
                )
            )
    opens = window_opening(spec, now, task.timezone)
    if opens is not None:
        out.append(
            Reason(
                "campaign.outside_window",
                f"借款人当地时间 {now.astimezone(tz):%H:%M} 不在活动时段"
                f" {spec.window_start:%H:%M}–{spec.window_end:%H:%M} 内",
                f"borrower's local time {now.astimezone(tz):%H:%M} is outside the campaign window"
                f" {spec.window_start:%H:%M}–{spec.window_end:%H:%M}",
                opens,
            )
        )
    if guard is not None and task.next_role is PartyRole.BORROWER:
        request = ContactRequest(
            at=now,
            channel=Channel.VOICE_AGENT,
            party_role=PartyRole.BORROWER,
            number=guard.number,
            purpose=guard.purpose,
            timezone=task.timezone,
            debtor_numbers=guard.debtor_numbers,
            recorded=True,
        )
        decision = check_contact(request, guard.history, guard.flags, guard.policy, guard.calendar)
        for r in decision.reasons:
            until = decision.next_allowed_at if r.time_based else None
            out.append(Reason(str(r.code), r.message_zh, r.message_en, until))
    return Eligibility(tuple(out))


# --------------------------------------------------------------------------------------------
# what a call means
# --------------------------------------------------------------------------------------------


class CallSetup(StrEnum):
    """How the call attempt itself went, before any word was said."""

    ANSWERED = "answered"
    NO_ANSWER = "no-answer"
    BUSY = "busy"
    SWITCHED_OFF = "switched-off"
    INVALID_NUMBER = "invalid-number"


_SETUP_OUTCOME: Final = {
    CallSetup.NO_ANSWER: Outcome.NO_ANSWER,
    CallSetup.BUSY: Outcome.BUSY,
    CallSetup.SWITCHED_OFF: Outcome.SWITCHED_OFF,
    CallSetup.INVALID_NUMBER: Outcome.INVALID_NUMBER,
}


def is_refusal(text: str) -> bool:
    """Whether the borrower's words refuse further contact (别再打了, stop calling)."""
    lowered = text.strip().lower()
    return any(p in lowered for p in REFUSAL_PHRASES)


def call_outcome(
    setup: CallSetup,
    script_outcome: str | None,
    *,
    identity_verified: bool = False,
    handover_reason: str | None = None,
    hung_up: bool = False,
    borrower_words: Sequence[str] = (),
) -> Outcome:
    """The follow-up outcome code of a voice-agent call.

    * not answered → no-answer, busy, switched-off, invalid-number;
    * an explicit refusal (别再打了) → refused (the strategy escalates);
    * handed over to a person (asked for a human, distress, not understood) → callback
      requested: the task waits for an agent's call back;
    * the script completed with the identity verified → right-party contact (the visit);
    * the person is not the borrower, or failed the identity check → third-party contact;
    * the borrower hung up before the end → hung-up.
    """
    if setup is not CallSetup.ANSWERED:
        return _SETUP_OUTCOME[setup]
    if any(is_refusal(w) for w in borrower_words):
        return Outcome.REFUSED
    if handover_reason is not None:
        return Outcome.CALLBACK_REQUESTED
    if script_outcome in COMPLETED_SCRIPT_OUTCOMES and identity_verified and not hung_up:
        return Outcome.RIGHT_PARTY_CONTACT
    if script_outcome in ("wrong_person", "identity_failed"):
        return Outcome.THIRD_PARTY_CONTACT
    return Outcome.HUNG_UP


def call_cost(duration_s: int, per_call: Decimal, per_minute: Decimal) -> Decimal:
    """A call's cost in CNY, to the fen (half-up): per call, plus per started minute."""
    if duration_s < 0:
        raise ValueError("通话时长不能为负 / duration cannot be negative")
    minutes = -(-duration_s // 60)
    return (per_call + per_minute * minutes).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def with_status(spec: CampaignSpec, status: CampaignStatus) -> CampaignSpec:
    return replace(spec, status=status)
