"""Early-warning rules (贷后预警规则): which loans need attention now, why, and what to do.

Why: the seed articles list the signals a post-loan team must catch early — a missed first
payment, any overdue, payments that come in short, collateral worth less than the loan, a
follow-up finding that income fell or the job is gone, the car sold, transferred or wrecked,
a borrower who cannot be reached, an industry in a downturn, a health event. Each signal
becomes an alert with a severity and recommended actions (contact now, raise the follow-up
cadence, field visit, revalue the collateral, offer restructuring, ask for a guarantor).

The rules are data: a versioned YAML file (``huifang/rules/early_warning.yaml``) read and
validated by `huifang.risk_rules` into a `RuleSet`. This module is pure: `evaluate` takes
the rule set, one loan's `LoanSnapshot` (its state as of a date plus its events) and an
`EvaluationContext` (LTV bands, the industry watch list) and returns `AlertHit`s.

Deduplication: every hit carries an *episode* — a date or period taken from the data that
marks when the condition began (the oldest overdue due date, the first valuation of the
current run above the band, the first failed attempt since the last successful contact …).
The alert key ``contract|rule|episode`` is therefore stable from one night to the next.
`plan_alerts` merges hits with the stored alerts: a loan with an unresolved alert for the
rule keeps that one alert (refreshed); a key already resolved is not raised again; anything
else is a new alert. A condition that clears and later returns starts a new episode.

Lifecycle: open → acknowledged → resolved, or open → resolved; resolving needs a note;
nothing leaves resolved (`acknowledge`, `resolve`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from huifang.domain.collateral import DEFAULT_LTV_BANDS, LtvBands, ltv_band

# --- vocabularies --------------------------------------------------------------------------


class Severity(StrEnum):
    """How urgent an alert is, least to most."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)

    @property
    def zh(self) -> str:
        return {"low": "低", "medium": "中", "high": "高", "critical": "严重"}[self.value]


class Action(StrEnum):
    """What the post-loan team is recommended to do about an alert."""

    CONTACT_NOW = "contact-now"
    RAISE_CADENCE = "raise-cadence"
    FIELD_VISIT = "field-visit"
    REVALUE_COLLATERAL = "revalue-collateral"
    OFFER_RESTRUCTURING = "offer-restructuring"
    ASK_GUARANTOR = "ask-guarantor"

    @property
    def zh(self) -> str:
        return _ACTION_ZH[self]


_ACTION_ZH: Mapping[Action, str] = MappingProxyType(
    {
        Action.CONTACT_NOW: "立即联系",
        Action.RAISE_CADENCE: "提高回访频率",
        Action.FIELD_VISIT: "上门走访",
        Action.REVALUE_COLLATERAL: "重新评估抵押车辆",
        Action.OFFER_RESTRUCTURING: "提供重组方案",
        Action.ASK_GUARANTOR: "要求增加担保人",
    }
)


class EventKind(StrEnum):
    """Things that happened to a loan, as recorded by follow-ups, visits and dialers."""

    INCOME_DROP = "income-drop"  # 收入下降
    JOB_LOSS = "job-loss"  # 失业
    VEHICLE_SOLD = "vehicle-sold"  # 车辆被卖
    VEHICLE_TRANSFERRED = "vehicle-transferred"  # 车辆过户/转借
    VEHICLE_DAMAGED = "vehicle-damaged"  # 车辆受损
    HEALTH_EVENT = "health-event"  # 重大疾病/意外
    CONTACT_FAILED = "contact-failed"  # 联系未接通
    CONTACT_SUCCEEDED = "contact-succeeded"  # 联系上本人

    @property
    def zh(self) -> str:
        return _EVENT_ZH[self]


_EVENT_ZH: Mapping[EventKind, str] = MappingProxyType(
    {
        EventKind.INCOME_DROP: "收入下降",
        EventKind.JOB_LOSS: "失业",
        EventKind.VEHICLE_SOLD: "车辆被出售",
        EventKind.VEHICLE_TRANSFERRED: "车辆被过户或转借",
        EventKind.VEHICLE_DAMAGED: "车辆受损",
        EventKind.HEALTH_EVENT: "健康事件",
        EventKind.CONTACT_FAILED: "联系未接通",
        EventKind.CONTACT_SUCCEEDED: "联系上本人",
    }
)
CONTACT_KINDS = frozenset({EventKind.CONTACT_FAILED, EventKind.CONTACT_SUCCEEDED})
FINDING_KINDS = frozenset(EventKind) - CONTACT_KINDS


class RuleKind(StrEnum):
    """The condition a rule tests; each kind has its own parameter class."""

    FIRST_PAYMENT_DEFAULT = "first-payment-default"
    DAYS_PAST_DUE = "days-past-due"
    PARTIAL_PAYMENTS = "partial-payments"
    LTV_ABOVE_BAND = "ltv-above-band"
    FINDING = "finding"
    LOST_CONTACT = "lost-contact"
    INDUSTRY_WATCHLIST = "industry-watchlist"


# --- rule parameters -----------------------------------------------------------------------


def _positive(name: str, value: int) -> None:
    if value < 1:
        raise ValueError(f"{name} 必须是正整数: {value}")


@dataclass(frozen=True)
class FirstPaymentDefaultParams:
    """The first installment is still unpaid `min_days_past_due` days after its due date."""

    min_days_past_due: int = 1

    def __post_init__(self) -> None:
        _positive("min_days_past_due", self.min_days_past_due)


@dataclass(frozen=True)
class DaysPastDueParams:
    """The loan is at least `min_dpd` days past due."""

    min_dpd: int = 1

    def __post_init__(self) -> None:
        _positive("min_dpd", self.min_dpd)


@dataclass(frozen=True)
class PartialPaymentsParams:
    """`in_a_row` consecutive installments, the last due within `lookback_days`, were each
    paid in part (more than nothing, less than due) in their own period."""

    in_a_row: int = 2
    lookback_days: int = 120

    def __post_init__(self) -> None:
        _positive("in_a_row", self.in_a_row)
        _positive("lookback_days", self.lookback_days)


@dataclass(frozen=True)
class LtvAboveBandParams:
    """The latest valuation's LTV is in a band worse than `band` (a code of the LTV bands)."""

    band: str = "watch"

    def __post_init__(self) -> None:
        if not self.band.strip():
            raise ValueError("band 不能为空")


@dataclass(frozen=True)
class FindingParams:
    """A follow-up finding of one of `kinds` dated within the last `within_days`."""

    kinds: frozenset[EventKind] = frozenset()
    within_days: int = 90

    def __post_init__(self) -> None:
        if not self.kinds:
            raise ValueError("kinds 至少要有一种发现")
        wrong = sorted(k.value for k in self.kinds if k in CONTACT_KINDS)
        if wrong:
            raise ValueError(f"kinds 只能是回访发现, 不能是联系结果: {wrong}")
        _positive("within_days", self.within_days)


@dataclass(frozen=True)
class LostContactParams:
    """At least `failed_attempts` failed contact attempts since the last successful one."""

    failed_attempts: int = 6

    def __post_init__(self) -> None:
        _positive("failed_attempts", self.failed_attempts)


@dataclass(frozen=True)
class IndustryWatchlistParams:
    """The borrower's industry is on the managers' watch list (no settings)."""


RuleParams = (
    FirstPaymentDefaultParams
    | DaysPastDueParams
    | PartialPaymentsParams
    | LtvAboveBandParams
    | FindingParams
    | LostContactParams
    | IndustryWatchlistParams
)
PARAMS_FOR_KIND: Mapping[RuleKind, type[RuleParams]] = MappingProxyType(
    {
        RuleKind.FIRST_PAYMENT_DEFAULT: FirstPaymentDefaultParams,
        RuleKind.DAYS_PAST_DUE: DaysPastDueParams,
        RuleKind.PARTIAL_PAYMENTS: PartialPaymentsParams,
        RuleKind.LTV_ABOVE_BAND: LtvAboveBandParams,
        RuleKind.FINDING: FindingParams,
        RuleKind.LOST_CONTACT: LostContactParams,
        RuleKind.INDUSTRY_WATCHLIST: IndustryWatchlistParams,
    }
)


@dataclass(frozen=True)
class Rule:
    """One early-warning rule: what it tests, how severe a hit is and what to do about it."""

    id: str
    kind: RuleKind
    zh: str
    en: str
    severity: Severity
    actions: tuple[Action, ...]
    params: RuleParams

    def __post_init__(self) -> None:
        if not self.id.strip() or "|" in self.id:
            raise ValueError(f"规则编号不能为空或含 '|': {self.id!r}")
        if not self.zh.strip() or not self.en.strip():
            raise ValueError(f"规则 {self.id} 必须有中英文名称")
        if not self.actions:
            raise ValueError(f"规则 {self.id} 至少要有一个建议措施")
        if len(set(self.actions)) != len(self.actions):
            raise ValueError(f"规则 {self.id} 的建议措施重复")
        if not isinstance(self.params, PARAMS_FOR_KIND[self.kind]):
            raise ValueError(f"规则 {self.id} 的参数与类型 {self.kind.value} 不符")


@dataclass(frozen=True)
class RuleSet:
    """A versioned set of rules; ids are unique."""

    version: str
    rules: tuple[Rule, ...]

    def __post_init__(self) -> None:
        if not self.version.strip():
            raise ValueError("规则集必须有版本号")
        ids = [r.id for r in self.rules]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"规则编号重复: {duplicates}")

    def check_bands(self, bands: LtvBands) -> None:
        """Refuse LTV rules naming a band that the bands do not have, or the worst band
        (nothing is worse than it, so the rule could never fire)."""
        codes = [b.code for b in bands.bands]
        for rule in self.rules:
            if isinstance(rule.params, LtvAboveBandParams):
                if rule.params.band not in codes:
                    raise ValueError(f"规则 {rule.id}: 抵押率分档 {rule.params.band!r} 不存在")
                if rule.params.band == codes[-1]:
                    raise ValueError(f"规则 {rule.id}: 不能以最高档 {codes[-1]} 为界")


# --- the watch list --------------------------------------------------------------------------


def _fold(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if not ch.isspace() and ch not in "-_·・/")


@dataclass(frozen=True)
class WatchedIndustry:
    """An industry the managers watch (关注行业), since a date, with the reason."""

    name: str
    reason: str
    since: date
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name.strip() or not self.reason.strip():
            raise ValueError("关注行业必须有名称和原因")

    def matches(self, industry: str) -> bool:
        """Exact match of the folded text with the name or an alias; a Chinese term (two
        characters or more) also matches inside a longer description (餐饮 in 餐饮服务业).
        Latin terms match only whole, so 'it' does not match 'retail'."""
        target = _fold(industry)
        if not target:
            return False
        for term in (self.name, *self.aliases):
            folded = _fold(term)
            if folded == target:
                return True
            if not folded.isascii() and len(folded) >= 2 and folded in target:
                return True
        return False


@dataclass(frozen=True)
class IndustryWatchlist:
    """The list managers maintain (``huifang/rules/industry_watchlist.yaml``)."""

    version: str
    entries: tuple[WatchedIndustry, ...] = ()

    def match(self, industry: str | None, as_of: date) -> WatchedIndustry | None:
        """The first entry listed since `as_of` or earlier that matches, or None."""
        if industry is None:
            return None
        for entry in self.entries:
            if entry.since <= as_of and entry.matches(industry):
                return entry
        return None


# --- the loan's state ------------------------------------------------------------------------


@dataclass(frozen=True)
class RiskEvent:
    """An event on a loan: a follow-up finding or a contact attempt's result.

    `ref` identifies the source record (a visit, an attempt) for the alert's evidence.
    """

    kind: EventKind
    occurred_on: date
    ref: str = ""
    detail: str = ""


@dataclass(frozen=True)
class InstallmentRecord:
    """One installment due on or before the snapshot date.

    `received` is the cash the borrower paid in the installment's own period: after the
    previous installment's due date (for the first, from disbursement) up to the end of
    this one's. It is measured as cash, not as what the allocation order credited to the
    installment, so that penalty interest taken first from an exact payment does not make
    a borrower who paid in full look like one who paid in part. `settled_on` is when the
    installment was paid in full (None: not yet).
    """

    period: int
    due_date: date
    amount_due: Decimal
    received: Decimal
    settled_on: date | None = None

    def __post_init__(self) -> None:
        if self.amount_due < 0 or self.received < 0:
            raise ValueError("应还和已还金额不能为负")

    @property
    def partial(self) -> bool:
        """Paid in part in its period: more than nothing, less than due."""
        return Decimal(0) < self.received < self.amount_due


@dataclass(frozen=True)
class LoanSnapshot:
    """What the rules see of one loan on `as_of`.

    * `installments`: those due on or before `as_of`, in period order.
    * `oldest_overdue_due_date`: due date of the oldest installment unpaid on `as_of`.
    * `ltv_history`: (valuation date, LTV) of the stored valuations on or before `as_of`,
      oldest first.
    * `events`: findings and contact attempts on or before `as_of` (later ones are ignored).
    """

    contract_no: str
    as_of: date
    dpd: int = 0
    oldest_overdue_due_date: date | None = None
    installments: tuple[InstallmentRecord, ...] = ()
    ltv_history: tuple[tuple[date, Decimal], ...] = ()
    industry: str | None = None
    events: tuple[RiskEvent, ...] = ()

    def __post_init__(self) -> None:
        if not self.contract_no.strip() or "|" in self.contract_no:
            raise ValueError(f"合同编号不能为空或含 '|': {self.contract_no!r}")
        if self.dpd < 0:
            raise ValueError("逾期天数不能为负")
        if (self.dpd > 0) != (self.oldest_overdue_due_date is not None):
            raise ValueError("有逾期天数时必须给出最早逾期应还日, 反之亦然")
        periods = [i.period for i in self.installments]
        if periods != sorted(set(periods)):
            raise ValueError("期次必须递增且不重复")


@dataclass(frozen=True)
class EvaluationContext:
    """What the rules need besides the loan: the LTV bands and the industry watch list."""

    ltv_bands: LtvBands = DEFAULT_LTV_BANDS
    watchlist: IndustryWatchlist = field(default_factory=lambda: IndustryWatchlist("empty"))


# --- hits ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertHit:
    """A rule that fired for a loan: the alert to raise or refresh.

    `episode` marks when the condition began (see the module docstring); `facts` are the
    figures behind it, as text, for the alert's detail page and for audit.
    """

    contract_no: str
    rule_id: str
    rule_version: str
    severity: Severity
    actions: tuple[Action, ...]
    episode: str
    zh: str
    en: str
    facts: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The deduplication key: contract | rule | episode."""
        return alert_key(self.contract_no, self.rule_id, self.episode)


def alert_key(contract_no: str, rule_id: str, episode: str) -> str:
    return f"{contract_no}|{rule_id}|{episode}"


def _hit(
    rule: Rule, rules: RuleSet, snap: LoanSnapshot, episode: str, zh: str, en: str, **facts: str
) -> AlertHit:
    return AlertHit(
        contract_no=snap.contract_no,
        rule_id=rule.id,
        rule_version=rules.version,
        severity=rule.severity,
        actions=rule.actions,
        episode=episode,
        zh=f"{rule.zh}: {zh}",
        en=f"{rule.en}: {en}",
        facts=MappingProxyType(dict(facts)),
    )


def _first_payment_default(
    rule: Rule, p: FirstPaymentDefaultParams, rules: RuleSet, snap: LoanSnapshot
) -> AlertHit | None:
    if not snap.installments:
        return None
    first = snap.installments[0]
    if first.period != 1:
        return None  # the first installment is not in the record (e.g. a restructured loan)
    if first.amount_due == 0:
        return None  # nothing was due (a 0 % interest-first loan): nothing can be unpaid
    days = (snap.as_of - first.due_date).days
    unpaid = first.settled_on is None or first.settled_on > snap.as_of
    if not unpaid or days < p.min_days_past_due:
        return None
    return _hit(
        rule,
        rules,
        snap,
        f"first-due-{first.due_date.isoformat()}",
        f"首期 {first.due_date} 应还 ¥{first.amount_due:,}, 逾期 {days} 天仍未还清",
        f"first installment due {first.due_date} (¥{first.amount_due:,}) unpaid {days} days",
        first_due_date=first.due_date.isoformat(),
        days_past_due=str(days),
        received=str(first.received),
    )


def _days_past_due(
    rule: Rule, p: DaysPastDueParams, rules: RuleSet, snap: LoanSnapshot
) -> AlertHit | None:
    if snap.dpd < p.min_dpd or snap.oldest_overdue_due_date is None:
        return None
    since = snap.oldest_overdue_due_date.isoformat()
    return _hit(
        rule,
        rules,
        snap,
        f"overdue-since-{since}",
        f"逾期 {snap.dpd} 天 (最早逾期应还日 {since})",
        f"{snap.dpd} days past due (oldest unpaid due date {since})",
        dpd=str(snap.dpd),
        oldest_overdue_due_date=since,
    )


def _partial_payments(
    rule: Rule, p: PartialPaymentsParams, rules: RuleSet, snap: LoanSnapshot
) -> AlertHit | None:
    run: list[InstallmentRecord] = []
    found: list[InstallmentRecord] | None = None
    for inst in snap.installments:
        consecutive = run and inst.period == run[-1].period + 1
        run = [*run, inst] if inst.partial and consecutive else ([inst] if inst.partial else [])
        if len(run) >= p.in_a_row and (snap.as_of - inst.due_date).days <= p.lookback_days:
            found = run[-p.in_a_row :]
    if found is None:
        return None
    periods = "、".join(str(i.period) for i in found)
    shown = ", ".join(f"{i.received}/{i.amount_due}" for i in found)
    return _hit(
        rule,
        rules,
        snap,
        f"period-{found[-1].period}",
        f"第 {periods} 期连续部分还款 (已还/应还: {shown})",
        f"periods {periods.replace('、', ', ')} each paid in part (paid/due: {shown})",
        periods=",".join(str(i.period) for i in found),
        paid_vs_due=shown,
    )


def _ltv_above_band(
    rule: Rule, p: LtvAboveBandParams, rules: RuleSet, snap: LoanSnapshot, ctx: EvaluationContext
) -> AlertHit | None:
    bands = ctx.ltv_bands
    limit = bands.rank(bands.by_code(p.band))
    history = [(d, v) for d, v in snap.ltv_history if d <= snap.as_of]
    start: date | None = None
    for valued_on, value in reversed(history):
        if bands.rank(ltv_band(value, bands)) <= limit:
            break
        start = valued_on
    if start is None:
        return None
    latest_on, latest = history[-1]
    band = ltv_band(latest, bands)
    shown = f"{(latest * 100).quantize(Decimal('0.01'))}%"
    return _hit(
        rule,
        rules,
        snap,
        f"above-{p.band}-since-{start.isoformat()}",
        f"抵押率 {shown} 处于「{band.zh}」档 (自 {start} 起高于「{bands.by_code(p.band).zh}」档)",
        f"LTV {shown} in band {band.en} (above {p.band} since {start})",
        ltv=str(latest),
        band=band.code,
        valued_on=latest_on.isoformat(),
        above_since=start.isoformat(),
    )


def _finding(rule: Rule, p: FindingParams, rules: RuleSet, snap: LoanSnapshot) -> AlertHit | None:
    earliest = snap.as_of - timedelta(days=p.within_days)
    found = sorted(
        (e for e in snap.events if e.kind in p.kinds and earliest <= e.occurred_on <= snap.as_of),
        key=lambda e: e.occurred_on,
    )
    if not found:
        return None
    latest = found[-1]
    kinds_zh = "、".join(dict.fromkeys(e.kind.zh for e in found))
    kinds_en = ", ".join(dict.fromkeys(e.kind.value for e in found))
    detail = f" ({latest.detail})" if latest.detail else ""
    return _hit(
        rule,
        rules,
        snap,
        f"{latest.kind.value}-{latest.occurred_on.isoformat()}",
        f"{kinds_zh}, 最近一次 {latest.occurred_on}{detail}",
        f"{kinds_en}, latest on {latest.occurred_on}{detail}",
        kinds=",".join(dict.fromkeys(e.kind.value for e in found)),
        latest_on=latest.occurred_on.isoformat(),
        refs=",".join(e.ref for e in found if e.ref),
    )


def _lost_contact(
    rule: Rule, p: LostContactParams, rules: RuleSet, snap: LoanSnapshot
) -> AlertHit | None:
    attempts = sorted(
        (e for e in snap.events if e.kind in CONTACT_KINDS and e.occurred_on <= snap.as_of),
        key=lambda e: e.occurred_on,
    )
    failed: list[RiskEvent] = []
    for attempt in attempts:
        failed = [] if attempt.kind is EventKind.CONTACT_SUCCEEDED else [*failed, attempt]
    if len(failed) < p.failed_attempts:
        return None
    start = failed[0].occurred_on
    return _hit(
        rule,
        rules,
        snap,
        f"unreachable-since-{start.isoformat()}",
        f"自 {start} 起连续 {len(failed)} 次联系未接通",
        f"{len(failed)} failed contact attempts in a row since {start}",
        failed_attempts=str(len(failed)),
        since=start.isoformat(),
        last_attempt_on=failed[-1].occurred_on.isoformat(),
    )


def _industry(
    rule: Rule, rules: RuleSet, snap: LoanSnapshot, ctx: EvaluationContext
) -> AlertHit | None:
    entry = ctx.watchlist.match(snap.industry, snap.as_of)
    if entry is None:
        return None
    return _hit(
        rule,
        rules,
        snap,
        f"{entry.name}-since-{entry.since.isoformat()}",
        f"借款人行业「{snap.industry}」在关注名单「{entry.name}」中: {entry.reason}",
        f"borrower's industry {snap.industry!r} is on the watch list ({entry.name}): "
        f"{entry.reason}",
        industry=snap.industry or "",
        watched=entry.name,
        watchlist_version=ctx.watchlist.version,
    )


def evaluate_rule(
    rule: Rule, rules: RuleSet, snap: LoanSnapshot, ctx: EvaluationContext
) -> AlertHit | None:
    """One rule against one loan: a hit, or None."""
    p = rule.params
    if isinstance(p, FirstPaymentDefaultParams):
        return _first_payment_default(rule, p, rules, snap)
    if isinstance(p, DaysPastDueParams):
        return _days_past_due(rule, p, rules, snap)
    if isinstance(p, PartialPaymentsParams):
        return _partial_payments(rule, p, rules, snap)
    if isinstance(p, LtvAboveBandParams):
        return _ltv_above_band(rule, p, rules, snap, ctx)
    if isinstance(p, FindingParams):
        return _finding(rule, p, rules, snap)
    if isinstance(p, LostContactParams):
        return _lost_contact(rule, p, rules, snap)
    return _industry(rule, rules, snap, ctx)


def evaluate(
    rules: RuleSet, snapshot: LoanSnapshot, context: EvaluationContext | None = None
) -> tuple[AlertHit, ...]:
    """Every rule against one loan, in rule order; at most one hit per rule."""
    ctx = context or EvaluationContext()
    hits = (evaluate_rule(rule, rules, snapshot, ctx) for rule in rules.rules)
    return tuple(h for h in hits if h is not None)


# --- merging with stored alerts --------------------------------------------------------------


class AlertStatus(StrEnum):
    """Where an alert is in its life."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"

    @property
    def zh(self) -> str:
        return {"open": "待处理", "acknowledged": "已确认", "resolved": "已解决"}[self.value]


@dataclass(frozen=True)
class StoredAlert:
    """What `plan_alerts` needs to know of an alert already stored."""

    key: str
    contract_no: str
    rule_id: str
    status: AlertStatus


@dataclass(frozen=True)
class AlertPlan:
    """What to write: new alerts, stored alerts to refresh (key, hit), hits not raised
    again because their episode was already resolved."""

    new: tuple[AlertHit, ...] = ()
    refresh: tuple[tuple[str, AlertHit], ...] = ()
    already_resolved: tuple[AlertHit, ...] = ()


def plan_alerts(hits: Iterable[AlertHit], stored: Iterable[StoredAlert]) -> AlertPlan:
    """Deduplicate hits against stored alerts (see the module docstring).

    An unresolved alert for the same loan and rule absorbs the hit whatever its episode, so
    a loan has at most one live alert per rule; a hit whose exact key was resolved is not
    raised again; two hits with the same key in one batch count once.
    """
    stored_list = list(stored)
    live = {(a.contract_no, a.rule_id): a for a in stored_list if a.status != AlertStatus.RESOLVED}
    resolved = {a.key for a in stored_list if a.status == AlertStatus.RESOLVED}
    new: dict[str, AlertHit] = {}
    refresh: dict[str, AlertHit] = {}
    skipped: list[AlertHit] = []
    for hit in hits:
        alive = live.get((hit.contract_no, hit.rule_id))
        if alive is not None:
            refresh.setdefault(alive.key, hit)
        elif hit.key in resolved:
            skipped.append(hit)
        else:
            new.setdefault(hit.key, hit)
    return AlertPlan(tuple(new.values()), tuple(refresh.items()), tuple(skipped))


# --- lifecycle -------------------------------------------------------------------------------


class AlertTransitionError(ValueError):
    """A lifecycle step that is not allowed from the alert's status."""


@dataclass(frozen=True)
class AlertState:
    """An alert's lifecycle fields; instants are timezone-aware."""

    status: AlertStatus = AlertStatus.OPEN
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    resolution_note: str | None = None


def _check_actor(actor: str, at: datetime) -> None:
    if not actor.strip():
        raise AlertTransitionError("必须注明操作人 / an actor is required")
    if at.tzinfo is None:
        raise AlertTransitionError("时间必须带时区 / the time must be timezone-aware")


def acknowledge(state: AlertState, actor: str, at: datetime) -> AlertState:
    """open → acknowledged: someone has taken the alert on."""
    _check_actor(actor, at)
    if state.status is not AlertStatus.OPEN:
        raise AlertTransitionError(
            f"只有待处理的预警可以确认, 当前状态: {state.status.zh} / "
            f"only an open alert can be acknowledged (it is {state.status.value})"
        )
    return replace(
        state, status=AlertStatus.ACKNOWLEDGED, acknowledged_by=actor, acknowledged_at=at
    )


def resolve(state: AlertState, actor: str, at: datetime, note: str) -> AlertState:
    """open or acknowledged → resolved, with a note saying what was done or found."""
    _check_actor(actor, at)
    if state.status is AlertStatus.RESOLVED:
        raise AlertTransitionError("预警已解决, 不能再次解决 / the alert is already resolved")
    if not note.strip():
        raise AlertTransitionError("解决预警必须填写处理说明 / resolving needs a note")
    return replace(
        state,
        status=AlertStatus.RESOLVED,
        resolved_by=actor,
        resolved_at=at,
        resolution_note=note.strip(),
    )
