"""Follow-up policy (回访策略): which contacts a loan is due, when, by when and how urgently.

Why: the seed articles describe three checks — pre-loan verification (贷前核实/贷前调查), review
at disbursement (贷时审查) and post-loan management (贷后管理) — and a rhythm for the last one:
a first contact within a month of disbursement, then routine contacts by risk tier (quarterly,
monthly for high risk), plus contacts triggered by events (a missed payment, a bucket change,
an LTV breach, an early-repayment request, changed contact details, a risk finding in the last
contact, a borrower in a flagged industry). Follow-up ends when the loan is closed.

Everything here is a setting of `FollowupPolicy`, which is built from a plain mapping (the
versioned file ``huifang/policies/followup.yaml`` is read by `huifang.policy_files`) and
validated on the way in: every error names the setting's path, in Chinese and English.

`tasks_due` is a pure function: (policy, loan snapshot, completed contacts, events, as-of)
→ the tasks the loan is due, at most one per purpose, each with its due date, SLA deadline,
priority, required skills and the reason. It is deterministic, so generating tasks twice on
the same data yields the same tasks; the task store keeps one open task per loan and purpose.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from huifang.domain.compliance import Channel
from huifang.domain.schedule import add_months

TIERS: Final = ("low", "medium", "high")


class Stage(StrEnum):
    """The three checks of an auto loan's life (三查)."""

    PRE_LOAN = "pre-loan"  # 贷前核实
    DISBURSEMENT = "disbursement"  # 贷时审查
    POST_LOAN = "post-loan"  # 贷后管理

    @property
    def zh(self) -> str:
        return _STAGE_ZH[self]


_STAGE_ZH: Final = {
    Stage.PRE_LOAN: "贷前核实",
    Stage.DISBURSEMENT: "贷时审查",
    Stage.POST_LOAN: "贷后回访",
}


class EventKind(StrEnum):
    """Events that trigger a contact of their own."""

    MISSED_PAYMENT = "missed-payment"  # 逾期未还
    BUCKET_CHANGE = "bucket-change"  # 逾期阶段上升 (M1→M2 …)
    LTV_BREACH = "ltv-breach"  # 抵押率超限
    EARLY_REPAYMENT_REQUEST = "early-repayment-request"  # 申请提前还款
    CONTACT_CHANGED = "contact-changed"  # 联系方式变更
    RISK_FINDING = "risk-finding"  # 上次回访发现风险
    FLAGGED_INDUSTRY = "flagged-industry"  # 借款人属于关注行业


class LoanPhase(StrEnum):
    """Where a loan stands, as far as follow-up is concerned."""

    APPLIED = "applied"  # 已申请, awaiting pre-loan verification
    APPROVED = "approved"  # 已审批, awaiting disbursement
    ACTIVE = "active"  # 已放款
    CLOSED = "closed"  # 已结清 / 核销: follow-up ends


class PolicyError(ValueError):
    """A policy mapping that cannot be used; `path` names the setting (``events.ltv-breach``)."""

    def __init__(self, path: str, message_zh: str, message_en: str) -> None:
        super().__init__(f"{path}: {message_zh} / {message_en}")
        self.path = path
        self.message_zh = message_zh
        self.message_en = message_en


@dataclass(frozen=True)
class PurposeRule:
    """How tasks of one purpose are handled: stage, SLA, priority (1 = most urgent), skills
    an agent needs for them, the script (话术) they are worked with, and the call channels
    allowed for them (``voice-agent``: a campaign of the voice agent may dial them; routine
    contacts are, risk findings and collections of a bucket change are not)."""

    purpose: str
    stage: Stage
    sla_days: int
    priority: int
    skills: tuple[str, ...]
    script: str
    label_zh: str
    label_en: str
    channels: tuple[Channel, ...] = (Channel.AGENT_CALL,)

    @property
    def voice_allowed(self) -> bool:
        """Whether the voice agent (智能外呼) may work tasks of this purpose."""
        return Channel.VOICE_AGENT in self.channels


@dataclass(frozen=True)
class EventRule:
    """An event kind → the purpose of the contact it triggers and how soon.

    due_after_days: days after the event the contact is due (0: the same day).
    repeat_months:  only for standing conditions (a flagged industry): how often the contact
                    repeats while the condition holds.
    """

    kind: EventKind
    purpose: str
    due_after_days: int = 0
    repeat_months: int | None = None


@dataclass(frozen=True)
class FollowupPolicy:
    """A versioned follow-up policy. Build it with `policy_from_mapping`."""

    version: int
    name: str
    purposes: Mapping[str, PurposeRule]
    first_visit_purpose: str
    first_visit_start_days: int
    first_visit_within_days: int
    routine_purpose: str
    cadence_months: Mapping[str, int]
    cadence_counts: frozenset[str]
    pre_loan_purpose: str
    disbursement_purpose: str
    events: Mapping[EventKind, EventRule]
    flagged_industries: frozenset[str]
    generate_ahead_days: int
    tier_priority_boost: Mapping[str, int]
    business_skill: str
    language_skill_prefix: str
    default_language: str
    reverify_purpose: str
    key_answers: frozenset[str]
    reverify_answers: frozenset[str]
    strategy: Mapping[str, object] = field(default_factory=dict)
    # the purpose of the agent's callback task opened when a borrower who called the voice
    # assistant asks for a person; None in a policy without an `inbound` section (then such a
    # request is attached to an open task of the loan, or only kept on the call's attempt)
    inbound_callback_purpose: str | None = None

    def rule(self, purpose: str) -> PurposeRule:
        try:
            return self.purposes[purpose]
        except KeyError:
            raise KeyError(
                f"策略中没有回访目的 {purpose!r} / unknown purpose {purpose!r}"
            ) from None


@dataclass(frozen=True)
class LoanSnapshot:
    """What the policy needs to know about a loan on the as-of date.

    opened_on: the application date (APPLIED), approval date (APPROVED) or disbursement date.
    tier: "low" | "medium" | "high". language: the borrower's preferred language ("zh").
    """

    loan_id: int
    phase: LoanPhase
    opened_on: date
    tier: str
    borrower_kind: str = "individual"
    self_employed: bool = False
    industry: str | None = None
    language: str = "zh"


@dataclass(frozen=True)
class CompletedContact:
    """A follow-up contact that was completed (a visit), by purpose."""

    purpose: str
    completed_on: date


@dataclass(frozen=True)
class LoanEvent:
    """Something that happened to the loan. `ref` identifies it (idempotent re-derivation)."""

    kind: EventKind
    occurred_on: date
    ref: str = ""


@dataclass(frozen=True)
class DueTask:
    """A contact the loan is due: what for, from when, by when, how urgent, who can do it."""

    loan_id: int
    purpose: str
    stage: Stage
    due_on: date
    deadline: date
    priority: int
    skills: tuple[str, ...]
    script: str
    reason_zh: str
    reason_en: str
    trigger_ref: str = ""


# --------------------------------------------------------------------------------------------
# tasks due
# --------------------------------------------------------------------------------------------


def tasks_due(
    policy: FollowupPolicy,
    loan: LoanSnapshot,
    contacts: Sequence[CompletedContact],
    events: Sequence[LoanEvent],
    as_of: date,
) -> tuple[DueTask, ...]:
    """The tasks `loan` is due on `as_of` (due on or before `as_of + generate_ahead_days`).

    At most one task per purpose: for several unhandled events of one purpose, the earliest.
    An event is handled by a completed contact of its purpose on or after the event's date.
    A closed loan is due nothing. Sorted by priority, due date and purpose.
    """
    if loan.tier not in TIERS:
        raise ValueError(f"未知的风险等级 {loan.tier!r} / unknown risk tier {loan.tier!r}")
    if loan.phase is LoanPhase.CLOSED:
        return ()
    horizon = as_of + timedelta(days=policy.generate_ahead_days)
    found: list[DueTask] = []
    if loan.phase is LoanPhase.APPLIED:
        found.extend(_stage_task(policy, loan, contacts, policy.pre_loan_purpose))
    elif loan.phase is LoanPhase.APPROVED:
        found.extend(_stage_task(policy, loan, contacts, policy.disbursement_purpose))
    else:
        found.extend(_post_loan_tasks(policy, loan, contacts, events))
    best: dict[str, DueTask] = {}
    for task in found:
        if task.due_on > horizon:
            continue
        if task.purpose not in best or task.due_on < best[task.purpose].due_on:
            best[task.purpose] = task
    return tuple(sorted(best.values(), key=lambda t: (t.priority, t.due_on, t.purpose)))


def _done_since(contacts: Sequence[CompletedContact], purposes: Iterable[str], since: date) -> bool:
    wanted = set(purposes)
    return any(c.purpose in wanted and c.completed_on >= since for c in contacts)


def _task(
    policy: FollowupPolicy,
    loan: LoanSnapshot,
    purpose: str,
    due_on: date,
    deadline: date,
    reason_zh: str,
    reason_en: str,
    trigger_ref: str = "",
) -> DueTask:
    rule = policy.rule(purpose)
    boost = policy.tier_priority_boost.get(loan.tier, 0)
    skills = set(rule.skills)
    if loan.borrower_kind == "business":
        skills.add(policy.business_skill)
    if loan.language != policy.default_language:
        skills.add(policy.language_skill_prefix + loan.language)
    return DueTask(
        loan_id=loan.loan_id,
        purpose=purpose,
        stage=rule.stage,
        due_on=due_on,
        deadline=max(deadline, due_on),
        priority=max(1, rule.priority - boost),
        skills=tuple(sorted(skills)),
        script=rule.script,
        reason_zh=reason_zh,
        reason_en=reason_en,
        trigger_ref=trigger_ref,
    )


def _stage_task(
    policy: FollowupPolicy,
    loan: LoanSnapshot,
    contacts: Sequence[CompletedContact],
    purpose: str,
) -> list[DueTask]:
    if _done_since(contacts, [purpose], loan.opened_on):
        return []
    rule = policy.rule(purpose)
    return [
        _task(
            policy,
            loan,
            purpose,
            loan.opened_on,
            loan.opened_on + timedelta(days=rule.sla_days),
            f"{rule.stage.zh}: {rule.label_zh}",
            f"{rule.stage.value}: {rule.label_en}",
        )
    ]


def _post_loan_tasks(
    policy: FollowupPolicy,
    loan: LoanSnapshot,
    contacts: Sequence[CompletedContact],
    events: Sequence[LoanEvent],
) -> list[DueTask]:
    out: list[DueTask] = []
    disbursed = loan.opened_on
    first_done = [
        c.completed_on
        for c in contacts
        if c.purpose == policy.first_visit_purpose and c.completed_on >= disbursed
    ]
    if not first_done:
        out.append(
            _task(
                policy,
                loan,
                policy.first_visit_purpose,
                disbursed + timedelta(days=policy.first_visit_start_days),
                disbursed + timedelta(days=policy.first_visit_within_days),
                f"放款后{policy.first_visit_within_days}天内首次回访",
                f"first contact within {policy.first_visit_within_days} days of disbursement",
            )
        )
    else:
        counted = first_done + [
            c.completed_on
            for c in contacts
            if c.purpose in policy.cadence_counts and c.completed_on >= disbursed
        ]
        last = max(counted)
        months = policy.cadence_months[loan.tier]
        due = add_months(last, months, last.day)
        rule = policy.rule(policy.routine_purpose)
        out.append(
            _task(
                policy,
                loan,
                policy.routine_purpose,
                due,
                due + timedelta(days=rule.sla_days),
                f"定期回访: {_TIER_ZH[loan.tier]}每{months}个月 (上次 {last.isoformat()})",
                f"routine contact: {loan.tier} risk every {months} months (last {last})",
            )
        )
    all_events = list(events)
    flagged = policy.events.get(EventKind.FLAGGED_INDUSTRY)
    if flagged is not None and loan.industry and loan.industry in policy.flagged_industries:
        all_events.append(_flagged_event(policy, flagged, loan, contacts))
    for event in all_events:
        ev_rule = policy.events.get(event.kind)
        if ev_rule is None or event.occurred_on < disbursed:
            continue
        if _done_since(contacts, [ev_rule.purpose], event.occurred_on):
            continue
        rule = policy.rule(ev_rule.purpose)
        due = event.occurred_on + timedelta(days=ev_rule.due_after_days)
        out.append(
            _task(
                policy,
                loan,
                ev_rule.purpose,
                due,
                due + timedelta(days=rule.sla_days),
                f"事件触发: {_EVENT_ZH[event.kind]} ({event.occurred_on.isoformat()})",
                f"event: {event.kind.value} ({event.occurred_on})",
                event.ref,
            )
        )
    return out


def _flagged_event(
    policy: FollowupPolicy,
    rule: EventRule,
    loan: LoanSnapshot,
    contacts: Sequence[CompletedContact],
) -> LoanEvent:
    """A flagged industry is a standing condition: a contact now, then every `repeat_months`."""
    done = [
        c.completed_on
        for c in contacts
        if c.purpose == rule.purpose and c.completed_on >= loan.opened_on
    ]
    if not done or rule.repeat_months is None:
        start = loan.opened_on
    else:
        last = max(done)
        start = add_months(last, rule.repeat_months, last.day)
    return LoanEvent(EventKind.FLAGGED_INDUSTRY, start, f"industry:{loan.industry}:{start}")


_TIER_ZH: Final = {"low": "低风险", "medium": "中风险", "high": "高风险"}
_EVENT_ZH: Final = {
    EventKind.MISSED_PAYMENT: "逾期未还",
    EventKind.BUCKET_CHANGE: "逾期阶段上升",
    EventKind.LTV_BREACH: "抵押率超限",
    EventKind.EARLY_REPAYMENT_REQUEST: "申请提前还款",
    EventKind.CONTACT_CHANGED: "联系方式变更",
    EventKind.RISK_FINDING: "上次回访发现风险",
    EventKind.FLAGGED_INDUSTRY: "关注行业",
}


# --------------------------------------------------------------------------------------------
# building and validating a policy from a mapping (the YAML file, the settings page)
# --------------------------------------------------------------------------------------------


class _Reader:
    """Typed access to a nested mapping that reports the path of every bad value."""

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, Mapping):
            raise PolicyError(path or "<根>", "应为映射 (键: 值)", "must be a mapping")
        self.data: Mapping[str, object] = data
        self.path = path
        self.used: set[str] = set()

    def _at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def raw(self, key: str, default: object = ...) -> object:
        self.used.add(key)
        if key not in self.data:
            if default is ...:
                raise PolicyError(self._at(key), "缺少此项设置", "this setting is missing")
            return default
        return self.data[key]

    def integer(self, key: str, default: object = ..., minimum: int = 0) -> int:
        value = self.raw(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise PolicyError(self._at(key), "应为整数", f"must be an integer, not {value!r}")
        if value < minimum:
            raise PolicyError(
                self._at(key), f"应不小于 {minimum}", f"must be at least {minimum} (is {value})"
            )
        return value

    def text(self, key: str, default: object = ...) -> str:
        value = self.raw(key, default)
        if not isinstance(value, str) or not value.strip():
            raise PolicyError(self._at(key), "应为非空文本", f"must be non-empty text: {value!r}")
        return value

    def strings(self, key: str, default: object = ...) -> tuple[str, ...]:
        value = self.raw(key, default)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise PolicyError(self._at(key), "应为文本列表", f"must be a list of text: {value!r}")
        return tuple(value)

    def sub(self, key: str, default: object = ...) -> _Reader:
        return _Reader(self.raw(key, default), self._at(key))

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise PolicyError(
                self._at(str(unknown[0])),
                "未知的设置项 (拼写错误?)",
                "unknown setting (a typo?)",
            )


_CALL_CHANNELS: Final = (Channel.AGENT_CALL, Channel.VOICE_AGENT)


def _channels(p: _Reader) -> tuple[Channel, ...]:
    """A purpose's call channels (default: agent calls only); unknown ones are refused."""
    names = p.strings("channels", [Channel.AGENT_CALL.value])
    allowed = ", ".join(c.value for c in _CALL_CHANNELS)
    if not names:
        raise PolicyError(p._at("channels"), "至少需要一个渠道", "at least one channel is needed")
    out: list[Channel] = []
    for name in names:
        if name not in {c.value for c in _CALL_CHANNELS}:
            raise PolicyError(
                p._at("channels"),
                f"未知的呼叫渠道 {name!r} (允许: {allowed})",
                f"unknown call channel {name!r} (allowed: {allowed})",
            )
        out.append(Channel(name))
    return tuple(dict.fromkeys(out))


def policy_from_mapping(data: Mapping[str, object]) -> FollowupPolicy:
    """Build and validate a `FollowupPolicy`; raise `PolicyError` naming the bad setting.

    The ``contact_strategy`` section is kept as given; `huifang.domain.contact_strategy`
    validates it (`strategy_from_mapping`).
    """
    r = _Reader(data, "")
    version = r.integer("version", minimum=1)
    name = r.text("name")
    purposes: dict[str, PurposeRule] = {}
    pr = r.sub("purposes")
    for key in pr.data:
        p = pr.sub(str(key))
        try:
            stage = Stage(p.text("stage"))
        except ValueError:
            allowed = ", ".join(s.value for s in Stage)
            raise PolicyError(
                p._at("stage"), f"阶段应为 {allowed}", f"stage must be {allowed}"
            ) from None
        purposes[str(key)] = PurposeRule(
            purpose=str(key),
            stage=stage,
            sla_days=p.integer("sla_days", minimum=0),
            priority=p.integer("priority", minimum=1),
            skills=p.strings("skills", []),
            script=p.text("script"),
            label_zh=p.text("zh"),
            label_en=p.text("en"),
            channels=_channels(p),
        )
        p.done()
    pr.done()
    if not purposes:
        raise PolicyError("purposes", "至少需要一个回访目的", "at least one purpose is needed")

    def purpose_ref(reader: _Reader, key: str, stage: Stage | None = None) -> str:
        value = reader.text(key)
        if value not in purposes:
            raise PolicyError(
                reader._at(key),
                f"未定义的回访目的 {value!r}",
                f"purpose {value!r} is not defined under purposes",
            )
        if stage is not None and purposes[value].stage is not stage:
            raise PolicyError(
                reader._at(key),
                f"回访目的 {value!r} 应属于阶段 {stage.value}",
                f"purpose {value!r} must belong to stage {stage.value}",
            )
        return value

    stages = r.sub("stages")
    pre_loan = purpose_ref(stages, "pre_loan", Stage.PRE_LOAN)
    disbursement = purpose_ref(stages, "disbursement", Stage.DISBURSEMENT)
    stages.done()

    fv = r.sub("first_visit")
    first_purpose = purpose_ref(fv, "purpose", Stage.POST_LOAN)
    start_days = fv.integer("start_after_days", 0)
    within = fv.integer("within_days", minimum=1)
    if start_days > within:
        raise PolicyError(
            "first_visit.start_after_days",
            "不能晚于 within_days",
            "must not be later than within_days",
        )
    fv.done()

    rt = r.sub("routine")
    routine_purpose = purpose_ref(rt, "purpose", Stage.POST_LOAN)
    cad = rt.sub("cadence_months")
    cadence = {tier: cad.integer(tier, minimum=1) for tier in TIERS}
    cad.done()
    counts = rt.strings("counts", [])
    for c in counts:
        if c not in purposes:
            raise PolicyError("routine.counts", f"未定义的回访目的 {c!r}", f"unknown purpose {c!r}")
    rt.done()

    events: dict[EventKind, EventRule] = {}
    er = r.sub("events")
    for key in er.data:
        try:
            kind = EventKind(str(key))
        except ValueError:
            allowed = ", ".join(k.value for k in EventKind)
            raise PolicyError(
                f"events.{key}", f"未知的事件 (允许: {allowed})", f"unknown event ({allowed})"
            ) from None
        e = er.sub(str(key))
        repeat = e.raw("repeat_months", None)
        events[kind] = EventRule(
            kind=kind,
            purpose=purpose_ref(e, "purpose", Stage.POST_LOAN),
            due_after_days=e.integer("due_after_days", 0),
            repeat_months=None if repeat is None else e.integer("repeat_months", minimum=1),
        )
        e.done()
    er.done()

    boost_r = r.sub("tier_priority_boost", {})
    boost = {}
    for tier in boost_r.data:
        if tier not in TIERS:
            raise PolicyError(f"tier_priority_boost.{tier}", "未知的风险等级", "unknown risk tier")
        boost[str(tier)] = boost_r.integer(str(tier), minimum=0)
    boost_r.done()

    sk = r.sub("skills", {})
    business_skill = sk.text("business_borrower", "business")
    lang_prefix = sk.text("language_prefix", "lang:")
    default_language = sk.text("default_language", "zh")
    sk.done()

    cr = r.sub("corrections", {})
    reverify_purpose = purpose_ref(cr, "reverify_purpose")
    key_answers = frozenset(cr.strings("key_answers", []))
    reverify_answers = frozenset(cr.strings("reverify_answers", []))
    cr.done()

    ib = r.sub("inbound", {})
    inbound_callback = (
        purpose_ref(ib, "callback_purpose", Stage.POST_LOAN)
        if ib.raw("callback_purpose", None) is not None
        else None
    )
    ib.done()

    strategy = r.raw("contact_strategy", {})
    if not isinstance(strategy, Mapping):
        raise PolicyError("contact_strategy", "应为映射", "must be a mapping")
    policy = FollowupPolicy(
        version=version,
        name=name,
        purposes=MappingProxyType(purposes),
        first_visit_purpose=first_purpose,
        first_visit_start_days=start_days,
        first_visit_within_days=within,
        routine_purpose=routine_purpose,
        cadence_months=MappingProxyType(cadence),
        cadence_counts=frozenset(counts)
        or frozenset(p for p, rule in purposes.items() if rule.stage is Stage.POST_LOAN),
        pre_loan_purpose=pre_loan,
        disbursement_purpose=disbursement,
        events=MappingProxyType(events),
        flagged_industries=frozenset(r.strings("flagged_industries", [])),
        generate_ahead_days=r.integer("generate_ahead_days", 0),
        tier_priority_boost=MappingProxyType(boost),
        business_skill=business_skill,
        language_skill_prefix=lang_prefix,
        default_language=default_language,
        reverify_purpose=reverify_purpose,
        key_answers=key_answers,
        reverify_answers=reverify_answers,
        strategy=MappingProxyType(dict(strategy)),
        inbound_callback_purpose=inbound_callback,
    )
    r.done()
    return policy
