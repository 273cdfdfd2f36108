"""Compliance guard: may this contact be made now, and if not, why not and from when.

Every contact attempt by any channel (agent call, voice agent, SMS, e-mail, field visit,
self-service link) is checked here before it is made, and the same check can be replayed
later by an auditor. The guard is a pure function of the request, the history of attempts
about the same debt, the flags recorded on the people involved, a `ContactPolicy` and a
holiday calendar; it returns a `Decision` that lists *every* rule the request breaks (not
just the first), each with a stable code and a Chinese and an English explanation, and the
earliest moment at which waiting alone would make the request pass.

Rules and where they come from (BRIEF.md "Contact rules to start from"; each is a policy
setting and the defaults, `CHINA_DEFAULT`, are the strictest of them):

* Calling window in the borrower's local time, start inclusive, end exclusive (default
  08:00–21:00: 20:59 passes, 21:00 does not). The China Banking Association consumer-loan
  collection guideline (2026) forbids 22:00–08:00; FDCPA/TCPA allow 08:00–21:00; Huifang
  takes the narrower one. Messages count as contacts (CBA), so by default the window
  applies to every channel; `window_channels` can narrow that. A person's recorded consent
  to be contacted outside the window lifts this rule for that person (CBA, FDCPA §805(a)).
* Statutory holidays (法定节假日, from the calendar adapter): only the purposes listed in
  `holiday_purposes` may contact on them; by default only a callback the borrower asked for.
* At most 6 unanswered call attempts per local day on one number (CBA). "Unanswered" is
  read strictly: any call that did not become a conversation.
* At most 3 conversations per local day with one person, by any channel, voice agent
  included (NIFA post-loan collection guideline 2025).
* At most 7 calls in any rolling 7 days about the debt (Regulation F §1006.14(b)). Reg F
  counts calls to one person; Huifang counts every call in the history it is given (the
  history of one debt), which is stricter. The window is measured in local wall-clock
  days, so a call at 10:00 counts until 10:00 seven days later even across a DST change.
* No calls to a person within `quiet_days_after_conversation` days after a conversation
  with them (Reg F: 7; none in China).
* Third parties (anyone whose role is not in `debtor_roles`) may be contacted only when
  the debtor is unreachable (NIFA) — see `debtor_unreachable` — and never again once they
  have refused (NIFA), whether the refusal is a flag or an attempt outcome in the history.
* Do-not-call numbers and withdrawn consent are checked at dial time; a person who asked
  for a human (PIPL art. 24) is never called by the voice agent, but may be by an agent.
* Calls and field visits are recorded, with a notice (`recording_notice`); a request that
  would not be recorded is refused (CBA).
* No loan detail is disclosed before the person's identity is verified, and never to a
  third party (`disclosure_allowed`; PIPL art. 28 makes financial account data sensitive).

Time: every instant is a timezone-aware `datetime`; instants are compared in UTC (Python
compares two datetimes sharing a tzinfo by wall time, which is wrong across DST), and
every day, window and "N days later" is computed in the borrower's IANA zone (default
Asia/Shanghai). Where a local wall time is ambiguous or skipped by a DST change, the later
instant is taken, which is the stricter choice for every rule here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Final, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIMEZONE: Final = "Asia/Shanghai"


class Channel(StrEnum):
    """How a contact is made."""

    AGENT_CALL = "agent-call"  # 人工外呼
    VOICE_AGENT = "voice-agent"  # 智能外呼
    SMS = "sms"  # 短信
    EMAIL = "email"  # 电子邮件
    FIELD_VISIT = "field-visit"  # 外访 / 上门
    SELF_SERVICE_LINK = "self-service-link"  # 自助链接


ALL_CHANNELS: Final = frozenset(Channel)
# Telephone calls: what the unanswered, rolling and quiet-period rules count and restrict.
CALL_CHANNELS: Final = frozenset({Channel.AGENT_CALL, Channel.VOICE_AGENT})
# Channels whose attempts can become a conversation (the daily conversation cap).
CONVERSATION_CHANNELS: Final = CALL_CHANNELS | {Channel.FIELD_VISIT}


class PartyRole(StrEnum):
    """Who the contacted person is to the loan (the loan book's contact relations)."""

    BORROWER = "borrower"  # 借款人 (the loan book's relation "self")
    SPOUSE = "spouse"  # 配偶
    EMERGENCY = "emergency"  # 紧急联系人
    EMPLOYER = "employer"  # 单位
    GUARANTOR = "guarantor"  # 担保人
    LEGAL_REP = "legal-rep"  # 法定代表人 of a business borrower


OBLIGOR_ROLES: Final = frozenset({PartyRole.BORROWER, PartyRole.GUARANTOR, PartyRole.LEGAL_REP})


class Purpose(StrEnum):
    """Why the contact is made; the holiday rule is set per purpose."""

    ROUTINE = "routine"  # 定期回访
    EVENT = "event"  # 事件触发回访
    OVERDUE = "overdue"  # 逾期提醒 / 催收
    VERIFICATION = "verification"  # 贷前核实、贷时审查
    CALLBACK = "callback"  # 客户要求的回电


class Outcome(StrEnum):
    """What an attempt achieved (the follow-up engine's outcome codes)."""

    RIGHT_PARTY_CONTACT = "right-party-contact"  # 本人接通
    THIRD_PARTY_CONTACT = "third-party-contact"  # 他人接听
    NO_ANSWER = "no-answer"  # 无人接听
    BUSY = "busy"  # 占线
    SWITCHED_OFF = "switched-off"  # 关机 / 停机
    INVALID_NUMBER = "invalid-number"  # 空号
    REFUSED = "refused"  # 拒接 / 拒绝沟通
    CALLBACK_REQUESTED = "callback-requested"  # 约定回电
    HUNG_UP = "hung-up"  # 接通后挂断
    WRONG_PERSON = "wrong-person"  # 非本人号码


# On a debtor's number: the debtor was not reached, the line may still be theirs.
FAILED_OUTCOMES: Final = frozenset(
    {Outcome.NO_ANSWER, Outcome.BUSY, Outcome.SWITCHED_OFF, Outcome.THIRD_PARTY_CONTACT}
)
# On a debtor's number: the number no longer reaches the debtor at all.
DEAD_NUMBER_OUTCOMES: Final = frozenset({Outcome.INVALID_NUMBER, Outcome.WRONG_PERSON})
# Someone answered on the debtor's side: the debtor is reachable, even if unwilling.
REACHED_OUTCOMES: Final = frozenset(
    {
        Outcome.RIGHT_PARTY_CONTACT,
        Outcome.REFUSED,
        Outcome.CALLBACK_REQUESTED,
        Outcome.HUNG_UP,
    }
)


class RefusalCode(StrEnum):
    """Stable, machine-readable reason codes (stored with every refused attempt)."""

    OUTSIDE_HOURS = "contact.outside_hours"
    HOLIDAY = "contact.statutory_holiday"
    UNANSWERED_CAP = "contact.daily_unanswered_cap"
    CONVERSATION_CAP = "contact.daily_conversation_cap"
    ROLLING_CALL_CAP = "contact.rolling_call_cap"
    QUIET_PERIOD = "contact.quiet_period"
    DO_NOT_CALL = "contact.do_not_call"
    CONSENT_WITHDRAWN = "contact.consent_withdrawn"
    HUMAN_REQUESTED = "contact.human_requested"
    THIRD_PARTY_REFUSED = "contact.third_party_refused"
    DEBTOR_REACHABLE = "contact.debtor_reachable"
    RECORDING_OFF = "contact.recording_off"
    IDENTITY_NOT_VERIFIED = "disclosure.identity_not_verified"
    THIRD_PARTY_DISCLOSURE = "disclosure.third_party"


# The reasons that waiting alone lifts; the others need a change of flags, history or request.
TIME_BASED_CODES: Final = frozenset(
    {
        RefusalCode.OUTSIDE_HOURS,
        RefusalCode.HOLIDAY,
        RefusalCode.UNANSWERED_CAP,
        RefusalCode.CONVERSATION_CAP,
        RefusalCode.ROLLING_CALL_CAP,
        RefusalCode.QUIET_PERIOD,
    }
)


class HolidayCalendar(Protocol):
    """Tells statutory public holidays (法定节假日) from other days; weekends are not holidays.

    `huifang.calendars.ChineseHolidayCalendar` implements it over `chinesecalendar`.
    """

    def is_holiday(self, d: date, /) -> bool: ...


class NoHolidays:
    """A calendar without holidays: for policies that ignore them and for tests."""

    def is_holiday(self, d: date, /) -> bool:
        return False


class InvalidPolicy(ValueError):
    """A `ContactPolicy` whose settings contradict each other or make no sense.

    Carries a Chinese message (what `str(exc)` returns) and an English one, like
    `identifiers.InvalidIdentifier`.
    """

    message_zh: str
    message_en: str

    def __init__(self, message_zh: str, message_en: str) -> None:
        super().__init__(message_zh)
        self.message_zh = message_zh
        self.message_en = message_en

    def __str__(self) -> str:
        return self.message_zh

    def __reduce__(self) -> tuple[type[InvalidPolicy], tuple[str, str]]:
        return (type(self), (self.message_zh, self.message_en))


@dataclass(frozen=True)
class ContactPolicy:
    """Every setting of the compliance guard. The defaults are `CHINA_DEFAULT`.

    name:                          shown in reports and refusals' audit trail.
    window_start, window_end:      local calling window, start inclusive, end exclusive.
    window_channels:               channels the window applies to (all: messages are contacts).
    holiday_purposes:              purposes allowed on statutory holidays (only callbacks).
    max_unanswered_per_number_per_day: calls without a conversation on one number per
                                   local day (CBA: 6); None = no cap.
    max_conversations_per_person_per_day: conversations with one person per local day, any
                                   channel (NIFA: 3); None = no cap.
    max_calls_per_rolling_period, rolling_period_days: calls about the debt in any rolling
                                   period (Reg F: 7 in 7 days); None = no cap.
    quiet_days_after_conversation: no calls to a person for this many days after a
                                   conversation with them (Reg F: 7; China: 0).
    debtor_roles:                  roles that are the debtor's side: told about the loan once
                                   identified, not subject to the third-party rules; the
                                   others are third parties.
    third_party_only_when_unreachable: third parties only when `debtor_unreachable` (NIFA).
    unreachable_roles:             whose numbers must all have failed for the debtor to be
                                   unreachable.
    unreachable_failed_attempts, unreachable_distinct_days, unreachable_lookback_days:
                                   each of those numbers needs this many failed calls on at
                                   least this many local days within the lookback, all after
                                   the last time the debtor was reached (a dead number counts
                                   as failed at once).
    recording_channels:            channels whose contacts must be recorded (with notice).
    identity_verification_required: no loan detail before the identity check.
    """

    name: str = "china-default"
    window_start: time = time(8, 0)
    window_end: time = time(21, 0)
    window_channels: frozenset[Channel] = ALL_CHANNELS
    holiday_purposes: frozenset[Purpose] = frozenset({Purpose.CALLBACK})
    max_unanswered_per_number_per_day: int | None = 6
    max_conversations_per_person_per_day: int | None = 3
    max_calls_per_rolling_period: int | None = 7
    rolling_period_days: int = 7
    quiet_days_after_conversation: int = 0
    debtor_roles: frozenset[PartyRole] = OBLIGOR_ROLES
    third_party_only_when_unreachable: bool = True
    unreachable_roles: frozenset[PartyRole] = OBLIGOR_ROLES
    unreachable_failed_attempts: int = 3
    unreachable_distinct_days: int = 2
    unreachable_lookback_days: int = 7
    recording_channels: frozenset[Channel] = CONVERSATION_CHANNELS
    identity_verification_required: bool = True

    def __post_init__(self) -> None:
        # Accept any iterable of enum values (or their strings) and store typed frozensets,
        # so that a policy built from a file or by hand compares and hashes the same.
        for name, enum in (
            ("window_channels", Channel),
            ("holiday_purposes", Purpose),
            ("debtor_roles", PartyRole),
            ("unreachable_roles", PartyRole),
            ("recording_channels", Channel),
        ):
            raw = getattr(self, name)
            if isinstance(raw, str):
                raise InvalidPolicy(f"{name} 应为列表", f"{name} must be a list")
            try:
                object.__setattr__(self, name, frozenset(enum(v) for v in raw))
            except (ValueError, TypeError):
                allowed = ", ".join(e.value for e in enum)
                raise InvalidPolicy(
                    f"{name} 含有未知的取值（允许：{allowed}）",
                    f"{name} has an unknown value (allowed: {allowed})",
                ) from None
        for name in ("window_start", "window_end"):
            t = getattr(self, name)
            if not isinstance(t, time) or t.tzinfo is not None:
                raise InvalidPolicy(
                    f"{name} 应为不带时区的当地时间", f"{name} must be a local time without zone"
                )
        if self.window_start >= self.window_end:
            raise InvalidPolicy(
                f"呼叫时段结束 {_hm(self.window_end)} 不晚于开始 {_hm(self.window_start)}",
                f"calling window end {_hm(self.window_end)} is not after its start "
                f"{_hm(self.window_start)}",
            )
        for name in (
            "max_unanswered_per_number_per_day",
            "max_conversations_per_person_per_day",
            "max_calls_per_rolling_period",
        ):
            value = getattr(self, name)
            if value is not None:
                _require_int(name, value, minimum=1)
        _require_int("rolling_period_days", self.rolling_period_days, minimum=1)
        _require_int("quiet_days_after_conversation", self.quiet_days_after_conversation, 0)
        _require_int("unreachable_failed_attempts", self.unreachable_failed_attempts, 1)
        _require_int("unreachable_distinct_days", self.unreachable_distinct_days, 1)
        _require_int("unreachable_lookback_days", self.unreachable_lookback_days, 1)
        for name in ("debtor_roles", "unreachable_roles"):
            if PartyRole.BORROWER not in getattr(self, name):
                raise InvalidPolicy(f"{name} 必须包含借款人", f"{name} must include the borrower")


def _require_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidPolicy(f"{name} 应为整数", f"{name} must be an integer")
    if value < minimum:
        raise InvalidPolicy(
            f"{name} 应不小于 {minimum}（现为 {value}）",
            f"{name} must be at least {minimum} (is {value})",
        )


CHINA_DEFAULT: Final = ContactPolicy()

# US lenders: FDCPA §805(a)(1) hours, Regulation F §1006.14(b) call frequency and quiet
# period. No unanswered or conversation caps and no holiday rule in US law; the spouse is
# the consumer's side (FDCPA §805(d)); no federal recording requirement.
US_REG_F: Final = ContactPolicy(
    name="us-reg-f",
    holiday_purposes=frozenset(Purpose),
    max_unanswered_per_number_per_day=None,
    max_conversations_per_person_per_day=None,
    max_calls_per_rolling_period=7,
    rolling_period_days=7,
    quiet_days_after_conversation=7,
    debtor_roles=OBLIGOR_ROLES | {PartyRole.SPOUSE},
    recording_channels=frozenset(),
)


# The China Banking Association consumer-loan collection guideline (2026) alone: no calls
# or visits 22:00–08:00, at most 6 unanswered attempts a day on one contact method, calls
# recorded. It sets no conversation cap and no third-party rule of its own.
CBA_2026: Final = ContactPolicy(
    name="cba-2026",
    window_end=time(22, 0),
    holiday_purposes=frozenset(Purpose),
    max_conversations_per_person_per_day=None,
    max_calls_per_rolling_period=None,
    third_party_only_when_unreachable=False,
)

# The NIFA post-loan collection guideline (2025) alone: at most 3 effective conversations a
# day per debtor (intelligent voice included), third parties only when the debtor is
# unreachable and never after they refuse. Hours follow the CBA night rule.
NIFA_2025: Final = ContactPolicy(
    name="nifa-2025",
    window_end=time(22, 0),
    holiday_purposes=frozenset(Purpose),
    max_unanswered_per_number_per_day=None,
    max_calls_per_rolling_period=None,
    recording_channels=frozenset(),
)

PROFILES: Final[Mapping[str, ContactPolicy]] = MappingProxyType(
    {p.name: p for p in (CHINA_DEFAULT, CBA_2026, NIFA_2025, US_REG_F)}
)
"""The named profiles a policy file may start from (`based_on`)."""


def _min_cap(values: Iterable[int | None]) -> int | None:
    caps = [v for v in values if v is not None]
    return min(caps) if caps else None


def strictest(*policies: ContactPolicy) -> ContactPolicy:
    """One policy at least as strict as each given one, setting by setting.

    Narrowest window, fewest holiday purposes, lowest caps over the longest rolling period,
    longest quiet period, fewest debtor roles (so more people are third parties), most
    roles that must be unreachable, the most failed attempts over the most days within the
    shortest lookback, recording and identity checks wherever any policy wants them. A
    request `strictest(p, q)` allows is allowed by `p` and by `q`.

    Raises `InvalidPolicy` when the calling windows do not overlap.
    """
    if not policies:
        raise InvalidPolicy("至少需要一个策略", "at least one policy is needed")
    return ContactPolicy(
        name="strictest(" + ", ".join(p.name for p in policies) + ")",
        window_start=max(p.window_start for p in policies),
        window_end=min(p.window_end for p in policies),
        window_channels=frozenset().union(*(p.window_channels for p in policies)),
        holiday_purposes=frozenset.intersection(*(p.holiday_purposes for p in policies)),
        max_unanswered_per_number_per_day=_min_cap(
            p.max_unanswered_per_number_per_day for p in policies
        ),
        max_conversations_per_person_per_day=_min_cap(
            p.max_conversations_per_person_per_day for p in policies
        ),
        max_calls_per_rolling_period=_min_cap(p.max_calls_per_rolling_period for p in policies),
        rolling_period_days=max(p.rolling_period_days for p in policies),
        quiet_days_after_conversation=max(p.quiet_days_after_conversation for p in policies),
        debtor_roles=frozenset.intersection(*(p.debtor_roles for p in policies)),
        third_party_only_when_unreachable=any(
            p.third_party_only_when_unreachable for p in policies
        ),
        unreachable_roles=frozenset().union(*(p.unreachable_roles for p in policies)),
        unreachable_failed_attempts=max(p.unreachable_failed_attempts for p in policies),
        unreachable_distinct_days=max(p.unreachable_distinct_days for p in policies),
        unreachable_lookback_days=min(p.unreachable_lookback_days for p in policies),
        recording_channels=frozenset().union(*(p.recording_channels for p in policies)),
        identity_verification_required=any(p.identity_verification_required for p in policies),
    )


_SET_FIELDS: Final = {
    "window_channels": Channel,
    "holiday_purposes": Purpose,
    "debtor_roles": PartyRole,
    "unreachable_roles": PartyRole,
    "recording_channels": Channel,
}
_CAP_FIELDS: Final = frozenset(
    {
        "max_unanswered_per_number_per_day",
        "max_conversations_per_person_per_day",
        "max_calls_per_rolling_period",
    }
)
_TIME_FIELDS: Final = frozenset({"window_start", "window_end"})
_BOOL_FIELDS: Final = frozenset(
    {"third_party_only_when_unreachable", "identity_verification_required"}
)
_POLICY_FIELDS: Final = frozenset(f.name for f in fields(ContactPolicy))
_FILE_ONLY_KEYS: Final = frozenset({"version", "based_on", "description"})


def policy_from_mapping(data: Mapping[str, object]) -> ContactPolicy:
    """A `ContactPolicy` from a policy file's mapping (the YAML adapter's output), validated.

    ``based_on`` names profiles from `PROFILES` (default ``[china-default]``); the policy
    starts from the strictest combination of them and every other key overrides one setting
    by its field name. Times are ``"HH:MM"``, caps an integer or null (no cap), sets a list
    of enum values. ``version`` (a positive integer) and ``description`` are for the file's
    history and are not settings. Raises `InvalidPolicy` naming the setting, in Chinese and
    English, for an unknown key, a wrong type or settings that contradict each other.
    """
    for key in data:
        if key not in _POLICY_FIELDS and key not in _FILE_ONLY_KEYS:
            known = ", ".join(sorted(_POLICY_FIELDS | _FILE_ONLY_KEYS))
            raise InvalidPolicy(
                f"未知的设置 {key!r}（可用：{known}）", f"unknown setting {key!r} (known: {known})"
            )
    version = data.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidPolicy("version 应为正整数", "version must be a positive integer")
    raw_bases = data.get("based_on", [CHINA_DEFAULT.name])
    if isinstance(raw_bases, str):
        raw_bases = [raw_bases]
    if not isinstance(raw_bases, list) or not raw_bases:
        raise InvalidPolicy("based_on 应为策略名称列表", "based_on must be a list of profiles")
    bases = []
    for name in raw_bases:
        if name not in PROFILES:
            known = ", ".join(PROFILES)
            raise InvalidPolicy(
                f"based_on 中未知的策略 {name!r}（可用：{known}）",
                f"unknown profile {name!r} in based_on (known: {known})",
            )
        bases.append(PROFILES[name])
    policy = bases[0] if len(bases) == 1 else strictest(*bases)
    changes: dict[str, object] = {}
    for key, value in data.items():
        if key in _FILE_ONLY_KEYS:
            continue
        if key in _TIME_FIELDS:
            changes[key] = _parse_hm(key, value)
        elif key in _CAP_FIELDS:
            changes[key] = value  # None or an integer; checked by ContactPolicy
        elif key in _BOOL_FIELDS:
            if not isinstance(value, bool):
                raise InvalidPolicy(f"{key} 应为 true 或 false", f"{key} must be true or false")
            changes[key] = value
        elif key in _SET_FIELDS:
            if not isinstance(value, list):
                raise InvalidPolicy(f"{key} 应为列表", f"{key} must be a list")
            changes[key] = frozenset(value)
        elif key == "name":
            if not isinstance(value, str) or not value.strip():
                raise InvalidPolicy("name 应为非空文字", "name must be non-empty text")
            changes[key] = value
        else:
            changes[key] = value
    return replace(policy, **changes)  # type: ignore[arg-type]


def _parse_hm(name: str, value: object) -> time:
    if isinstance(value, str):
        try:
            hours, minutes = value.split(":")
            if len(minutes) == 2:
                return time(int(hours), int(minutes))
        except ValueError:
            pass
    raise InvalidPolicy(
        f'{name} 应为 "HH:MM" 格式的当地时间（现为 {value!r}）',
        f'{name} must be a local time "HH:MM" (is {value!r})',
    )


def policy_to_mapping(policy: ContactPolicy) -> dict[str, object]:
    """The settings of `policy` as plain values, the inverse of `policy_from_mapping`."""
    out: dict[str, object] = {}
    for f in fields(ContactPolicy):
        value = getattr(policy, f.name)
        if isinstance(value, time):
            out[f.name] = _hm(value)
        elif isinstance(value, frozenset):
            out[f.name] = sorted(str(v) for v in value)
        else:
            out[f.name] = value
    return out


@dataclass(frozen=True)
class Party:
    """One person: a role, and an id that tells apart two people with the same role
    (two emergency contacts); empty when the role names one person."""

    role: PartyRole
    ident: str = ""


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{name} 必须带时区（{value.isoformat()}） / {name} must be timezone-aware"
        )


@dataclass(frozen=True)
class Attempt:
    """A contact attempt already made about this debt (the history the caps count).

    number: the phone number, e-mail or visit address used; compared after removing
    spaces, dashes and a +86/0086 prefix. was_conversation: the attempt became a
    conversation with someone (what the conversation cap and quiet period count).
    """

    at: datetime
    channel: Channel
    party_role: PartyRole
    number: str
    outcome: Outcome
    was_conversation: bool = False
    party_id: str = ""

    def __post_init__(self) -> None:
        _require_aware("Attempt.at", self.at)

    @property
    def party(self) -> Party:
        return Party(self.party_role, self.party_id)


@dataclass(frozen=True)
class PartyFlags:
    """What people have told us about contacting them, checked at dial time.

    do_not_call:           numbers (or addresses) never to be contacted, by any channel.
    consent_withdrawn:     people who withdrew consent to be contacted (PIPL art. 15;
                           FDCPA §805(c) cease-communication).
    third_party_refused:   third parties who refused to be contacted again (NIFA).
    consent_outside_hours: people who agreed to be contacted outside the window (CBA).
    human_requested:       people who asked for a human instead of automation (PIPL art. 24).
    """

    do_not_call: frozenset[str] = frozenset()
    consent_withdrawn: frozenset[Party] = frozenset()
    third_party_refused: frozenset[Party] = frozenset()
    consent_outside_hours: frozenset[Party] = frozenset()
    human_requested: frozenset[Party] = frozenset()


NO_FLAGS: Final = PartyFlags()


@dataclass(frozen=True)
class ContactRequest:
    """A contact about to be made.

    timezone:       the borrower's IANA zone; every local-time rule is computed in it.
    party_id:       see `Party`.
    debtor_numbers: all phone numbers known for the debtor's side (`unreachable_roles`);
                    the numbers tried in the history are added. The debtor is unreachable
                    only when every one of them has failed, so pass them all.
    recorded:       whether this contact will be recorded (with the notice).
    """

    at: datetime
    channel: Channel
    party_role: PartyRole
    number: str
    purpose: Purpose = Purpose.ROUTINE
    timezone: str = DEFAULT_TIMEZONE
    party_id: str = ""
    debtor_numbers: frozenset[str] = frozenset()
    recorded: bool = True

    def __post_init__(self) -> None:
        _require_aware("ContactRequest.at", self.at)
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"未知的时区 {self.timezone!r} / unknown time zone {self.timezone!r}"
            ) from None

    @property
    def party(self) -> Party:
        return Party(self.party_role, self.party_id)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def local_at(self) -> datetime:
        """The request's moment on the borrower's clock."""
        return self.at.astimezone(self.zone)


@dataclass(frozen=True)
class Refusal:
    """One broken rule: stable code, Chinese and English explanation, and when it lifts.

    lifts_at: for a time-based rule, the earliest moment this rule alone would pass (in
    the borrower's zone); None for rules that waiting does not lift.
    """

    code: RefusalCode
    message_zh: str
    message_en: str
    lifts_at: datetime | None = None

    @property
    def time_based(self) -> bool:
        return self.code in TIME_BASED_CODES

    def message(self, language: str = "zh") -> str:
        return self.message_en if language.lower().startswith("en") else self.message_zh


@dataclass(frozen=True)
class Decision:
    """The guard's answer: allowed exactly when there is no reason against.

    next_allowed_at: None when allowed, or when some reason is not lifted by waiting
    (do-not-call, consent, third-party rules, recording); otherwise the earliest moment
    (borrower's zone) at which the same request, with no new history, passes every
    time-based rule at once — e.g. the next window opening on a day that is not a holiday.
    """

    reasons: tuple[Refusal, ...] = ()
    next_allowed_at: datetime | None = None

    @property
    def allowed(self) -> bool:
        return not self.reasons

    @property
    def codes(self) -> tuple[RefusalCode, ...]:
        return tuple(r.code for r in self.reasons)


ALLOWED: Final = Decision()


# --- time helpers -------------------------------------------------------------------------


def _utc(t: datetime) -> datetime:
    return t.astimezone(UTC)


def _resolve(naive: datetime, tz: ZoneInfo) -> datetime:
    """The instant (UTC) of a local wall time; the later one when DST makes it ambiguous or
    skips it (the stricter choice for every rule here)."""
    return max(
        naive.replace(tzinfo=tz, fold=0).astimezone(UTC),
        naive.replace(tzinfo=tz, fold=1).astimezone(UTC),
    )


def _at_local(d: date, t: time, tz: ZoneInfo) -> datetime:
    return _resolve(datetime.combine(d, t), tz)


def _plus_local_days(t: datetime, days: int, tz: ZoneInfo) -> datetime:
    """`t` plus `days` on the local wall clock (10:00 → 10:00 `days` later), as UTC."""
    return _resolve(t.astimezone(tz).replace(tzinfo=None) + timedelta(days=days), tz)


def _hm(t: time) -> str:
    return t.strftime("%H:%M")


def _stamp(t: datetime, tz: ZoneInfo) -> str:
    return t.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _contact_key(number: str) -> str:
    """A number or address in the form compared by the rules."""
    text = number.strip().lower()
    if "@" in text:
        return text
    text = "".join(ch for ch in text if ch not in " -()\t")
    for prefix in ("+86", "0086"):
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


# --- the rules ----------------------------------------------------------------------------


def _time_refusals(
    request: ContactRequest,
    history: Sequence[Attempt],
    flags: PartyFlags,
    policy: ContactPolicy,
    calendar: HolidayCalendar,
) -> list[Refusal]:
    """The rules that waiting lifts, evaluated at `request.at`."""
    tz = request.zone
    now = _utc(request.at)
    local = request.at.astimezone(tz)
    today = local.date()
    tomorrow_0 = _at_local(today + timedelta(days=1), time(0), tz)
    past = [a for a in history if _utc(a.at) <= now]
    party = request.party
    key = _contact_key(request.number)
    out: list[Refusal] = []

    if request.channel in policy.window_channels and party not in flags.consent_outside_hours:
        clock = local.time().replace(fold=0)
        start, end = policy.window_start, policy.window_end
        if not start <= clock < end:
            opens = _at_local(today if clock < start else today + timedelta(days=1), start, tz)
            out.append(
                Refusal(
                    RefusalCode.OUTSIDE_HOURS,
                    f"当地时间 {_hm(clock)} 超出允许的呼叫时段 {_hm(start)}–{_hm(end)}",
                    f"local time {_hm(clock)} is outside the calling window "
                    f"{_hm(start)}–{_hm(end)}",
                    opens.astimezone(tz),
                )
            )

    if request.purpose not in policy.holiday_purposes and calendar.is_holiday(today):
        after: datetime | None = None
        for i in range(1, 367):
            if not calendar.is_holiday(today + timedelta(days=i)):
                after = _at_local(today + timedelta(days=i), time(0), tz).astimezone(tz)
                break
        out.append(
            Refusal(
                RefusalCode.HOLIDAY,
                f"{today.isoformat()} 是法定节假日，不进行{_PURPOSE_ZH[request.purpose]}联系",
                f"{today.isoformat()} is a statutory holiday: no {request.purpose.value} contacts",
                after,
            )
        )

    cap = policy.max_unanswered_per_number_per_day
    if cap is not None and request.channel in CALL_CHANNELS:
        unanswered = sum(
            1
            for a in past
            if a.channel in CALL_CHANNELS
            and not a.was_conversation
            and _contact_key(a.number) == key
            and a.at.astimezone(tz).date() == today
        )
        if unanswered >= cap:
            out.append(
                Refusal(
                    RefusalCode.UNANSWERED_CAP,
                    f"该号码当日已有 {unanswered} 次未接通呼叫，达到每日上限 {cap} 次",
                    f"this number already has {unanswered} unanswered calls today, "
                    f"the daily cap is {cap}",
                    tomorrow_0.astimezone(tz),
                )
            )

    cap = policy.max_conversations_per_person_per_day
    if cap is not None and request.channel in CONVERSATION_CHANNELS:
        talks = sum(
            1
            for a in past
            if a.was_conversation and a.party == party and a.at.astimezone(tz).date() == today
        )
        if talks >= cap:
            out.append(
                Refusal(
                    RefusalCode.CONVERSATION_CAP,
                    f"当日已与该联系人有效沟通 {talks} 次（含智能外呼），达到每日上限 {cap} 次",
                    f"already {talks} conversations with this person today (voice agent "
                    f"included), the daily cap is {cap}",
                    tomorrow_0.astimezone(tz),
                )
            )

    cap = policy.max_calls_per_rolling_period
    days = policy.rolling_period_days
    if cap is not None and request.channel in CALL_CHANNELS:
        ends = sorted(
            free
            for a in past
            if a.channel in CALL_CHANNELS and (free := _plus_local_days(a.at, days, tz)) > now
        )
        if len(ends) >= cap:
            out.append(
                Refusal(
                    RefusalCode.ROLLING_CALL_CAP,
                    f"近 {days} 天内已呼叫 {len(ends)} 次，达到上限 {cap} 次",
                    f"{len(ends)} calls in the last {days} days, the cap is {cap}",
                    ends[len(ends) - cap].astimezone(tz),
                )
            )

    quiet = policy.quiet_days_after_conversation
    if quiet > 0 and request.channel in CALL_CHANNELS:
        quiet_ends = [
            free
            for a in past
            if a.was_conversation
            and a.party == party
            and (free := _plus_local_days(a.at, quiet, tz)) > now
        ]
        if quiet_ends:
            last = max(quiet_ends)
            out.append(
                Refusal(
                    RefusalCode.QUIET_PERIOD,
                    f"与该联系人沟通后 {quiet} 天内不再致电（至 {_stamp(last, tz)}）",
                    f"no calls within {quiet} days after a conversation with this person "
                    f"(until {_stamp(last, tz)})",
                    last.astimezone(tz),
                )
            )
    return out


def _standing_refusals(
    request: ContactRequest,
    history: Sequence[Attempt],
    flags: PartyFlags,
    policy: ContactPolicy,
) -> list[Refusal]:
    """The rules that waiting does not lift, evaluated at `request.at`."""
    now = _utc(request.at)
    past = [a for a in history if _utc(a.at) <= now]
    party = request.party
    out: list[Refusal] = []

    if _contact_key(request.number) in {_contact_key(n) for n in flags.do_not_call}:
        out.append(
            Refusal(
                RefusalCode.DO_NOT_CALL,
                "该号码在免打扰（勿扰）名单中",
                "this number is on the do-not-call list",
            )
        )
    if party in flags.consent_withdrawn:
        out.append(
            Refusal(
                RefusalCode.CONSENT_WITHDRAWN,
                "该联系人已撤回联系同意",
                "this person has withdrawn consent to be contacted",
            )
        )
    if request.channel is Channel.VOICE_AGENT and party in flags.human_requested:
        out.append(
            Refusal(
                RefusalCode.HUMAN_REQUESTED,
                "该联系人要求人工服务，不得使用智能外呼（个人信息保护法第二十四条）",
                "this person asked for a human: no voice-agent calls (PIPL art. 24)",
            )
        )
    if request.party_role not in policy.debtor_roles:
        refused = party in flags.third_party_refused or any(
            a.party == party and a.outcome is Outcome.REFUSED for a in past
        )
        if refused:
            out.append(
                Refusal(
                    RefusalCode.THIRD_PARTY_REFUSED,
                    "该第三方已明确拒绝，不得再次联系",
                    "this third party has refused and may not be contacted again",
                )
            )
        if policy.third_party_only_when_unreachable and not debtor_unreachable(
            request, history, policy
        ):
            out.append(
                Refusal(
                    RefusalCode.DEBTOR_REACHABLE,
                    "债务人尚未失联，不得联系第三方",
                    "the debtor is not unreachable: third parties may not be contacted",
                )
            )
    if request.channel in policy.recording_channels and not request.recorded:
        out.append(
            Refusal(
                RefusalCode.RECORDING_OFF,
                f"{_CHANNEL_ZH[request.channel]}必须全程录音并告知",
                f"{request.channel.value} contacts must be recorded, with notice",
            )
        )
    return out


def debtor_unreachable(
    request: ContactRequest, history: Sequence[Attempt], policy: ContactPolicy
) -> bool:
    """Whether the debtor counts as unreachable (失联) at `request.at`.

    The debtor's numbers are `request.debtor_numbers` plus every number called for a
    person in `policy.unreachable_roles`. Each of them must have, after the last attempt
    that reached the debtor's side (`REACHED_OUTCOMES`, or a conversation that was not
    with someone else) and within the last `unreachable_lookback_days`, either a
    dead-number outcome (`DEAD_NUMBER_OUTCOMES`) or at least `unreachable_failed_attempts`
    failed calls (`FAILED_OUTCOMES`) on at least `unreachable_distinct_days` local days.
    The calls on a number count whoever they were meant for: they tell about the line.
    No known number: not unreachable (nobody has tried).
    """
    tz = request.zone
    now = _utc(request.at)
    past = [a for a in history if _utc(a.at) <= now]
    ours = [a for a in past if a.party_role in policy.unreachable_roles]
    numbers = {_contact_key(n) for n in request.debtor_numbers} | {
        _contact_key(a.number) for a in ours if a.channel in CALL_CHANNELS
    }
    if not numbers:
        return False
    since = _plus_local_days(request.at, -policy.unreachable_lookback_days, tz)
    reached = [_utc(a.at) for a in ours if _reached(a)]
    if reached:
        since = max(since, max(reached))
    for number in numbers:
        calls = [
            a
            for a in past
            if a.channel in CALL_CHANNELS
            and _contact_key(a.number) == number
            and _utc(a.at) > since
        ]
        if any(a.outcome in DEAD_NUMBER_OUTCOMES for a in calls):
            continue
        failed = [a for a in calls if a.outcome in FAILED_OUTCOMES]
        days = {a.at.astimezone(tz).date() for a in failed}
        if (
            len(failed) < policy.unreachable_failed_attempts
            or len(days) < policy.unreachable_distinct_days
        ):
            return False
    return True


def _reached(attempt: Attempt) -> bool:
    """Whether an attempt reached the person it was meant for."""
    if attempt.outcome in REACHED_OUTCOMES:
        return True
    not_them = FAILED_OUTCOMES | DEAD_NUMBER_OUTCOMES
    return attempt.was_conversation and attempt.outcome not in not_them


# Far enough for any run of holidays and caps; beyond it the guard gives no time.
_MAX_STEPS = 1000


def check_contact(
    request: ContactRequest,
    history: Sequence[Attempt],
    flags: PartyFlags,
    policy: ContactPolicy,
    calendar: HolidayCalendar,
) -> Decision:
    """Check one contact against every rule of `policy`; explain each refusal.

    `history` is the attempts made about the same debt (any party, any channel); attempts
    later than `request.at` are ignored, so a past decision can be replayed. The reasons
    are listed in a fixed order: time-based rules first, then the others.
    """
    timed = _time_refusals(request, history, flags, policy, calendar)
    standing = _standing_refusals(request, history, flags, policy)
    reasons = (*timed, *standing)
    if not reasons:
        return ALLOWED
    next_at = None if standing else _next_allowed(request, timed, history, flags, policy, calendar)
    return Decision(reasons, next_at)


def _next_allowed(
    request: ContactRequest,
    timed: list[Refusal],
    history: Sequence[Attempt],
    flags: PartyFlags,
    policy: ContactPolicy,
    calendar: HolidayCalendar,
) -> datetime | None:
    """The earliest moment at which no time-based rule refuses the same request.

    Each time-based refusal holds from the moment it is found until its `lifts_at` (history
    only grows with time), so jumping to the latest `lifts_at` and re-checking skips no
    moment that would pass.
    """
    at = request.at
    for _ in range(_MAX_STEPS):
        lifts = [r.lifts_at for r in timed]
        if any(t is None for t in lifts):
            return None
        following = max(t for t in lifts if t is not None)
        if _utc(following) <= _utc(at):
            return None  # cannot happen with consistent rules; never loop forever
        at = following
        timed = _time_refusals(replace(request, at=at), history, flags, policy, calendar)
        if not timed:
            return at.astimezone(request.zone)
    return None


def disclosure_allowed(
    identity_verified: bool,
    party_role: PartyRole,
    policy: ContactPolicy = CHINA_DEFAULT,
) -> Decision:
    """May loan details (amounts, overdue status, the loan itself) be told to this person?

    Never to a third party; to the debtor's side only after the identity check (when the
    policy requires one, as every profile here does).
    """
    if party_role not in policy.debtor_roles:
        return Decision(
            (
                Refusal(
                    RefusalCode.THIRD_PARTY_DISCLOSURE,
                    "不得向第三方透露借款信息",
                    "loan details may never be disclosed to a third party",
                ),
            )
        )
    if policy.identity_verification_required and not identity_verified:
        return Decision(
            (
                Refusal(
                    RefusalCode.IDENTITY_NOT_VERIFIED,
                    "核实身份前不得透露借款信息",
                    "no loan details before the person's identity is verified",
                ),
            )
        )
    return ALLOWED


_NOTICE: Final = {
    ("zh", False): "您好，为保障您的合法权益，本次通话将全程录音。",
    ("en", False): "Hello. To protect your rights, this call is being recorded.",
    ("zh", True): (
        "您好，我是智能语音助手，为保障您的合法权益，本次通话将全程录音。"
        "如需人工服务，请随时说“转人工”。"
    ),
    ("en", True): (
        "Hello, this is an automated voice assistant. To protect your rights, this call is "
        'being recorded. Say "agent" at any time to speak to a person.'
    ),
}


def recording_notice(language: str = "zh", *, automated: bool = False) -> str:
    """The notice said at the start of every recorded contact (CBA: calls are recorded).

    With `automated=True` (voice agent) it also says the caller is automated and offers a
    human (PIPL art. 24). `language`: "zh" (default, any "zh-*") or "en" (any "en-*").
    """
    lang = language.lower().split("-")[0].split("_")[0]
    if lang not in ("zh", "en"):
        raise ValueError(f"不支持的语言 {language!r} / unsupported language {language!r}")
    return _NOTICE[(lang, automated)]


_PURPOSE_ZH: Final = {
    Purpose.ROUTINE: "定期回访",
    Purpose.EVENT: "事件回访",
    Purpose.OVERDUE: "逾期",
    Purpose.VERIFICATION: "核实",
    Purpose.CALLBACK: "回电",
}

_CHANNEL_ZH: Final = {
    Channel.AGENT_CALL: "人工外呼",
    Channel.VOICE_AGENT: "智能外呼",
    Channel.SMS: "短信",
    Channel.EMAIL: "电子邮件",
    Channel.FIELD_VISIT: "外访",
    Channel.SELF_SERVICE_LINK: "自助链接",
}
