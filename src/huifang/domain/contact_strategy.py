"""Contact strategy (联系策略): after each attempt's outcome, what happens next on a task.

Why: connection rate is the known weak point of follow-up (接通率低, seed 001/002). A cloud
outbound service retries a failed call up to three times at a set interval; that is the floor.
Huifang retries in another time-of-day slot, backs off, respects a daily and weekly cap per
task, then turns to the alternate contacts (spouse, emergency contact, employer, guarantor),
and finally escalates: an SMS with a self-service link, and a field visit (外访) for high-risk,
self-employed and business borrowers.

What follows each outcome code is configured, not coded: the ``contact_strategy`` section of
the follow-up policy maps every `Outcome` to an `Action` with a backoff and whether to move to
another slot. `next_step` is a pure function of the strategy, the task's attempts so far, the
contacts on file and the borrower's profile; the compliance guard (`compliance.check_contact`)
still has the last word on each attempt when it is made.

Times are timezone-aware; slots, days and the weekly window are in the borrower's zone.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Final
from zoneinfo import ZoneInfo

from huifang.domain.compliance import Channel, Outcome, PartyRole
from huifang.domain.followup_policy import TIERS, PolicyError


class Action(StrEnum):
    """What an outcome leads to (configured per outcome)."""

    COMPLETE = "complete"  # the contact happened: the task can be completed
    RETRY = "retry"  # the same person again, after a backoff, maybe in another slot
    CALLBACK = "callback"  # at the time the person asked for
    NEXT_CONTACT = "next-contact"  # this number/person is no use: the next alternate contact
    ESCALATE = "escalate"  # straight to the escalation ladder


class StepKind(StrEnum):
    """What the task should do next."""

    CALL = "call"  # call `role` at `at` on `channels[0]`
    COMPLETE = "complete"  # record the visit, close the task
    ESCALATE = "escalate"  # contact by `channels` (SMS + self-service link, field visit)
    GIVE_UP = "give-up"  # every way is used up: close the task as unreachable (失联)


@dataclass(frozen=True)
class Slot:
    """A time-of-day slot in the borrower's local time, start inclusive, end exclusive."""

    name: str
    start: time
    end: time


@dataclass(frozen=True)
class OutcomeRule:
    outcome: Outcome
    action: Action
    backoff_minutes: int = 0
    change_slot: bool = False


@dataclass(frozen=True)
class Escalation:
    """The last resort. SMS with a self-service link first (if on); a field visit for the
    borrowers it names (any of: tier in `field_tiers`, self-employed, business)."""

    sms_self_service: bool = True
    wait_days_after_sms: int = 3
    field_tiers: frozenset[str] = frozenset({"high"})
    field_self_employed: bool = True
    field_business: bool = True


@dataclass(frozen=True)
class ContactStrategy:
    timezone: str
    call_channel: Channel
    slots: tuple[Slot, ...]
    max_attempts_per_day: int
    max_attempts_per_week: int
    max_attempts_per_contact: int
    alternates: tuple[PartyRole, ...]
    callback_default_hours: int
    outcomes: Mapping[Outcome, OutcomeRule]
    escalation: Escalation


@dataclass(frozen=True)
class TaskAttempt:
    """An attempt already made on the task (compliance-refused ones are not attempts)."""

    at: datetime
    role: PartyRole
    channel: Channel
    outcome: Outcome
    callback_at: datetime | None = None


@dataclass(frozen=True)
class BorrowerProfile:
    tier: str = "low"
    self_employed: bool = False
    business: bool = False


@dataclass(frozen=True)
class NextStep:
    kind: StepKind
    at: datetime | None
    role: PartyRole | None
    channels: tuple[Channel, ...]
    reason_zh: str
    reason_en: str


# --------------------------------------------------------------------------------------------


def next_step(
    strategy: ContactStrategy,
    history: Sequence[TaskAttempt],
    contacts: Sequence[PartyRole],
    profile: BorrowerProfile,
    now: datetime,
    escalated: Sequence[Channel] = (),
    *,
    blocked: Collection[PartyRole] = (),
    timezone: str | None = None,
) -> NextStep:
    """The next thing to do on a task after `history` (oldest first), as of `now`.

    contacts:  the roles the loan book has a number for (the borrower is always tried first).
    escalated: escalation channels already used on the task (SMS, field visit).
    blocked:   roles the compliance guard refuses for reasons waiting does not lift (a third
               party while the debtor is reachable, or after refusing): skipped like a dead
               number.
    timezone:  the borrower's zone for the slots (default: the strategy's).
    """
    if now.tzinfo is None:
        raise ValueError("now 必须带时区 / now must be timezone-aware")
    tz = ZoneInfo(timezone or strategy.timezone)
    calls = sorted((a for a in history if a.channel in _CALLS), key=lambda a: a.at)
    if not calls:
        return _call(strategy, PartyRole.BORROWER, now, calls, tz, "首次拨打借款人", "first call")
    last = calls[-1]
    rule = strategy.outcomes[last.outcome]
    if rule.action is Action.COMPLETE:
        return NextStep(StepKind.COMPLETE, now, last.role, (), "已接通本人", "right party reached")
    if rule.action is Action.ESCALATE:
        return _escalate(strategy, profile, now, escalated, f"{_ZH[last.outcome]}, 升级处理")
    if rule.action is Action.CALLBACK and last.role not in blocked:
        at = last.callback_at or last.at + timedelta(hours=strategy.callback_default_hours)
        at = max(at, now)
        return NextStep(
            StepKind.CALL,
            at,
            last.role,
            (strategy.call_channel,),
            "按约定时间回电",
            "call back at the agreed time",
        )
    dead = _dead_roles(strategy, calls) | set(blocked)
    if rule.action is Action.RETRY and last.role not in dead:
        earliest = max(now, last.at + timedelta(minutes=rule.backoff_minutes))
        if rule.change_slot:
            earliest = _other_slot(strategy, last.at, earliest, tz)
        return _call(
            strategy,
            last.role,
            earliest,
            calls,
            tz,
            f"{_ZH[last.outcome]}, {rule.backoff_minutes}分钟后换时段重拨"
            if rule.change_slot
            else f"{_ZH[last.outcome]}, {rule.backoff_minutes}分钟后重拨",
            f"{last.outcome.value}: retry after {rule.backoff_minutes} min"
            + (" in another slot" if rule.change_slot else ""),
        )
    order = (PartyRole.BORROWER, *strategy.alternates)
    for role in order:
        if role in dead or (role is not PartyRole.BORROWER and role not in contacts):
            continue
        return _call(
            strategy,
            role,
            max(now, last.at),
            calls,
            tz,
            f"改拨备用联系人: {_ROLE_ZH[role]}",
            f"try alternate contact: {role.value}",
        )
    return _escalate(strategy, profile, now, escalated, "所有联系人均未联系上, 升级处理")


_CALLS: Final = frozenset({Channel.AGENT_CALL, Channel.VOICE_AGENT})


def _dead_roles(strategy: ContactStrategy, calls: Sequence[TaskAttempt]) -> set[PartyRole]:
    """Roles not to call again on this task: a next-contact outcome, a refusal by a third
    party, or `max_attempts_per_contact` attempts without reaching anyone."""
    dead: set[PartyRole] = set()
    counts: dict[PartyRole, int] = {}
    for a in calls:
        action = strategy.outcomes[a.outcome].action
        if action is Action.NEXT_CONTACT:
            dead.add(a.role)
        if a.outcome is Outcome.REFUSED and a.role is not PartyRole.BORROWER:
            dead.add(a.role)
        if action is Action.RETRY:
            counts[a.role] = counts.get(a.role, 0) + 1
            if counts[a.role] >= strategy.max_attempts_per_contact:
                dead.add(a.role)
    return dead


def field_visit_eligible(strategy: ContactStrategy, profile: BorrowerProfile) -> bool:
    e = strategy.escalation
    return (
        profile.tier in e.field_tiers
        or (e.field_self_employed and profile.self_employed)
        or (e.field_business and profile.business)
    )


def _escalate(
    strategy: ContactStrategy,
    profile: BorrowerProfile,
    now: datetime,
    used: Sequence[Channel],
    why: str,
) -> NextStep:
    channels: list[Channel] = []
    if strategy.escalation.sms_self_service and Channel.SMS not in used:
        channels += [Channel.SMS, Channel.SELF_SERVICE_LINK]
    if field_visit_eligible(strategy, profile) and Channel.FIELD_VISIT not in used:
        channels.append(Channel.FIELD_VISIT)
    if not channels:
        return NextStep(
            StepKind.GIVE_UP,
            now,
            None,
            (),
            f"{why}; 已无可用方式 (失联)",
            "no way left: unreachable",
        )
    names = "、".join(_CHANNEL_ZH[c] for c in channels)
    return NextStep(
        StepKind.ESCALATE,
        now,
        PartyRole.BORROWER,
        tuple(channels),
        f"{why}: {names}",
        "escalate: " + ", ".join(c.value for c in channels),
    )


def _slot_of(strategy: ContactStrategy, local: datetime) -> int | None:
    for i, s in enumerate(strategy.slots):
        if s.start <= local.time() < s.end:
            return i
    return None


def _align(strategy: ContactStrategy, at: datetime, tz: ZoneInfo) -> datetime:
    """`at` if inside a slot, else the start of the next slot (local time)."""
    local = at.astimezone(tz)
    if _slot_of(strategy, local) is not None:
        return local
    day = local.date()
    for _ in range(3):
        for s in strategy.slots:
            start = datetime.combine(day, s.start, tz)
            if start >= local:
                return start
        day += timedelta(days=1)
    raise AssertionError("no slot")  # pragma: no cover - slots are validated non-empty


def _other_slot(
    strategy: ContactStrategy, last: datetime, earliest: datetime, tz: ZoneInfo
) -> datetime:
    """The first slot moment at or after `earliest` in another time-of-day slot than `last`'s
    (a number that does not answer in the morning is tried in the afternoon or evening)."""
    last_local = last.astimezone(tz)
    last_slot = _slot_of(strategy, last_local)
    at = _align(strategy, earliest, tz)
    for _ in range(len(strategy.slots) * 3):
        slot = _slot_of(strategy, at)
        if slot != last_slot:
            return at
        s = strategy.slots[slot if slot is not None else 0]
        at = _align(strategy, datetime.combine(at.date(), s.end, tz), tz)
    return at


def _call(
    strategy: ContactStrategy,
    role: PartyRole,
    earliest: datetime,
    calls: Sequence[TaskAttempt],
    tz: ZoneInfo,
    why_zh: str,
    why_en: str,
) -> NextStep:
    """A call at the first slot moment ≥ `earliest` that the daily and weekly caps allow."""
    at = _align(strategy, earliest, tz)
    for _ in range(60):
        local_day = at.date()
        today = [a for a in calls if a.at.astimezone(tz).date() == local_day]
        if len(today) >= strategy.max_attempts_per_day:
            at = _align(strategy, datetime.combine(local_day + timedelta(days=1), time(0), tz), tz)
            why_zh, why_en = why_zh + "; 今日次数已满, 次日再拨", why_en + "; daily cap reached"
            continue
        window = [a for a in calls if at - timedelta(days=7) < a.at <= at]
        if len(window) >= strategy.max_attempts_per_week:
            oldest = min(a.at for a in window)
            at = _align(strategy, oldest + timedelta(days=7), tz)
            why_zh, why_en = why_zh + "; 7日次数已满", why_en + "; weekly cap reached"
            continue
        break
    return NextStep(StepKind.CALL, at, role, (strategy.call_channel,), why_zh, why_en)


_ZH: Final = {
    Outcome.RIGHT_PARTY_CONTACT: "本人接通",
    Outcome.THIRD_PARTY_CONTACT: "他人接听",
    Outcome.NO_ANSWER: "无人接听",
    Outcome.BUSY: "占线",
    Outcome.SWITCHED_OFF: "关机",
    Outcome.INVALID_NUMBER: "空号",
    Outcome.REFUSED: "拒绝沟通",
    Outcome.CALLBACK_REQUESTED: "约定回电",
    Outcome.HUNG_UP: "接通后挂断",
    Outcome.WRONG_PERSON: "非本人号码",
}
OUTCOME_ZH: Final = MappingProxyType(_ZH)
_ROLE_ZH: Final = {
    PartyRole.BORROWER: "借款人",
    PartyRole.SPOUSE: "配偶",
    PartyRole.EMERGENCY: "紧急联系人",
    PartyRole.EMPLOYER: "单位",
    PartyRole.GUARANTOR: "担保人",
    PartyRole.LEGAL_REP: "法定代表人",
}
_CHANNEL_ZH: Final = {
    Channel.AGENT_CALL: "人工外呼",
    Channel.VOICE_AGENT: "智能外呼",
    Channel.SMS: "短信",
    Channel.EMAIL: "电子邮件",
    Channel.FIELD_VISIT: "外访",
    Channel.SELF_SERVICE_LINK: "自助链接",
}


# --------------------------------------------------------------------------------------------
# from the policy file's ``contact_strategy`` section
# --------------------------------------------------------------------------------------------


def _err(path: str, zh: str, en: str) -> PolicyError:
    return PolicyError(f"contact_strategy.{path}", zh, en)


def _int(data: Mapping[str, object], key: str, minimum: int, default: int | None = None) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _err(key, "应为整数", f"must be an integer, not {value!r}")
    if value < minimum:
        raise _err(key, f"应不小于 {minimum}", f"must be at least {minimum}")
    return value


def _time(path: str, value: object) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise _err(path, "时间格式应为 HH:MM", f"time must be HH:MM, not {value!r}") from None


_KNOWN: Final = frozenset(
    {
        "timezone",
        "call_channel",
        "slots",
        "max_attempts_per_day",
        "max_attempts_per_week",
        "max_attempts_per_contact",
        "alternates",
        "callback_default_hours",
        "outcomes",
        "escalation",
    }
)


def strategy_from_mapping(data: Mapping[str, object]) -> ContactStrategy:
    """Build and validate the strategy; every outcome code must have a rule."""
    for key in data:
        if key not in _KNOWN:
            raise _err(str(key), "未知的设置项", "unknown setting")
    tz_name = str(data.get("timezone", "Asia/Shanghai"))
    try:
        ZoneInfo(tz_name)
    except (KeyError, ValueError):
        raise _err("timezone", "未知的时区", f"unknown time zone {tz_name!r}") from None
    try:
        call_channel = Channel(str(data.get("call_channel", Channel.AGENT_CALL.value)))
    except ValueError:
        raise _err("call_channel", "未知的渠道", "unknown channel") from None
    raw_slots = data.get("slots")
    if not isinstance(raw_slots, list) or not raw_slots:
        raise _err("slots", "至少需要一个时段", "at least one slot is needed")
    slots: list[Slot] = []
    for i, s in enumerate(raw_slots):
        if not isinstance(s, Mapping) or set(s) != {"name", "start", "end"}:
            raise _err(f"slots[{i}]", "应含 name, start, end", "needs name, start, end")
        slot = Slot(
            str(s["name"]),
            _time(f"slots[{i}].start", s["start"]),
            _time(f"slots[{i}].end", s["end"]),
        )
        if slot.start >= slot.end:
            raise _err(f"slots[{i}]", "结束应晚于开始", "end must be after start")
        if slots and slot.start < slots[-1].end:
            raise _err(f"slots[{i}]", "时段应按时间先后且不重叠", "slots must be ordered, apart")
        slots.append(slot)
    raw_alt = data.get("alternates", [])
    if not isinstance(raw_alt, list):
        raise _err("alternates", "应为列表", "must be a list")
    try:
        alternates = tuple(PartyRole(str(r)) for r in raw_alt)
    except ValueError:
        allowed = ", ".join(r.value for r in PartyRole)
        raise _err("alternates", f"未知的联系人角色 (允许: {allowed})", "unknown role") from None
    if PartyRole.BORROWER in alternates:
        raise _err("alternates", "借款人不是备用联系人", "the borrower is not an alternate")
    raw_outcomes = data.get("outcomes")
    if not isinstance(raw_outcomes, Mapping):
        raise _err("outcomes", "缺少结果规则", "outcome rules are missing")
    outcomes: dict[Outcome, OutcomeRule] = {}
    for key, value in raw_outcomes.items():
        try:
            outcome = Outcome(str(key))
        except ValueError:
            raise _err(f"outcomes.{key}", "未知的结果代码", "unknown outcome code") from None
        if not isinstance(value, Mapping) or not set(value) <= {
            "action",
            "backoff_minutes",
            "change_slot",
        }:
            raise _err(f"outcomes.{key}", "应含 action[, backoff_minutes, change_slot]", "bad rule")
        try:
            action = Action(str(value.get("action")))
        except ValueError:
            allowed = ", ".join(a.value for a in Action)
            raise _err(f"outcomes.{key}.action", f"应为 {allowed}", f"must be {allowed}") from None
        change = value.get("change_slot", False)
        if not isinstance(change, bool):
            raise _err(f"outcomes.{key}.change_slot", "应为 true/false", "must be a boolean")
        outcomes[outcome] = OutcomeRule(
            outcome, action, _int(value, "backoff_minutes", 0, 0), change
        )
    missing = [o.value for o in Outcome if o not in outcomes]
    if missing:
        raise _err("outcomes", f"缺少结果代码的规则: {missing}", f"no rule for outcomes {missing}")
    if outcomes[Outcome.RIGHT_PARTY_CONTACT].action is not Action.COMPLETE:
        raise _err("outcomes.right-party-contact", "本人接通应为 complete", "must be complete")
    raw_esc = data.get("escalation", {})
    if not isinstance(raw_esc, Mapping):
        raise _err("escalation", "应为映射", "must be a mapping")
    field = raw_esc.get("field_visit", {})
    if not isinstance(field, Mapping) or not set(field) <= {"tiers", "self_employed", "business"}:
        raise _err("escalation.field_visit", "应含 tiers, self_employed, business", "bad setting")
    tiers = field.get("tiers", ["high"])
    if not isinstance(tiers, list) or not set(tiers) <= set(TIERS):
        raise _err("escalation.field_visit.tiers", "未知的风险等级", "unknown risk tier")
    if not set(raw_esc) <= {"sms_self_service", "wait_days_after_sms", "field_visit"}:
        raise _err("escalation", "未知的设置项", "unknown setting")
    escalation = Escalation(
        sms_self_service=bool(raw_esc.get("sms_self_service", True)),
        wait_days_after_sms=_int(raw_esc, "wait_days_after_sms", 0, 3),
        field_tiers=frozenset(str(t) for t in tiers),
        field_self_employed=bool(field.get("self_employed", True)),
        field_business=bool(field.get("business", True)),
    )
    return ContactStrategy(
        timezone=tz_name,
        call_channel=call_channel,
        slots=tuple(slots),
        max_attempts_per_day=_int(data, "max_attempts_per_day", 1, 3),
        max_attempts_per_week=_int(data, "max_attempts_per_week", 1, 7),
        max_attempts_per_contact=_int(data, "max_attempts_per_contact", 1, 4),
        alternates=alternates,
        callback_default_hours=_int(data, "callback_default_hours", 1, 24),
        outcomes=MappingProxyType(outcomes),
        escalation=escalation,
    )
