"""Findings (回访发现): rules over a follow-up's answers that raise typed risk events.

A follow-up script (`huifang.domain.scripts`) collects typed answers; the finding rules, kept
in a versioned data file (``huifang/rules/findings.yaml``, loaded by
`huifang.finding_rules`), turn them into `Finding`s: income down by more than a threshold,
job lost or changed, vehicle sold / transferred / pledged elsewhere / damaged, address or
phone changed, the borrower ill, the business in trouble, a promise to pay with a date …
Each finding becomes one row of ``risk_events`` (kind, severity, details); the early-warning
rules (`early_warning.EventKind`, whose values the shared kinds reuse) turn them into alerts
and tiers, and the follow-up policy's ``risk-finding`` event opens a new contact.

A rule holds when every condition in `when` holds (the scripts' own `Condition`, so a rule
reads like a branch) and, if it has one, its `PercentDrop`: an answer below a baseline from
the loan book (e.g. the monthly income declared at application) by more than a percentage.
A question the script did not ask, or that was skipped, satisfies no comparison, so a rule
about business revenue never fires on a consumer visit. Several rules may raise the same
kind; a run raises each kind once, from its most severe rule (the first listed on a tie).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import TypeAlias

from huifang.domain.early_warning import EventKind, Severity
from huifang.domain.scripts import (
    AnswerType,
    AnswerValue,
    Ask,
    Condition,
    Op,
    Script,
    Text,
    condition_holds,
)


class FindingKind(StrEnum):
    """The typed risk events a follow-up can raise (``risk_events.kind``).

    The kinds the early-warning rules already know keep their `early_warning.EventKind`
    values, so those rules fire on them unchanged.
    """

    INCOME_DROP = EventKind.INCOME_DROP.value  # 收入下降
    JOB_LOSS = EventKind.JOB_LOSS.value  # 失业
    JOB_CHANGE = "job-change"  # 工作变动
    VEHICLE_SOLD = EventKind.VEHICLE_SOLD.value  # 车辆被出售
    VEHICLE_TRANSFERRED = EventKind.VEHICLE_TRANSFERRED.value  # 车辆过户/转借
    VEHICLE_PLEDGED = "vehicle-pledged"  # 车辆另行抵押/质押
    VEHICLE_DAMAGED = EventKind.VEHICLE_DAMAGED.value  # 车辆受损
    HEALTH_EVENT = EventKind.HEALTH_EVENT.value  # 重大疾病/意外
    ADDRESS_CHANGED = "address-changed"  # 住址变更
    PHONE_CHANGED = "phone-changed"  # 联系电话变更
    BUSINESS_TROUBLE = "business-trouble"  # 经营困难
    FUND_MISUSE = "fund-misuse"  # 贷款资金挪用
    PROMISE_TO_PAY = "promise-to-pay"  # 承诺还款
    REPAYMENT_DIFFICULTY = "repayment-difficulty"  # 还款困难
    APPLICATION_DISOWNED = "application-disowned"  # 本人否认申请 (疑似冒名)

    @property
    def zh(self) -> str:
        return _KIND_ZH[self]


_KIND_ZH: Mapping[FindingKind, str] = MappingProxyType(
    {
        FindingKind.INCOME_DROP: "收入下降",
        FindingKind.JOB_LOSS: "失业",
        FindingKind.JOB_CHANGE: "工作变动",
        FindingKind.VEHICLE_SOLD: "车辆被出售",
        FindingKind.VEHICLE_TRANSFERRED: "车辆被过户或转借",
        FindingKind.VEHICLE_PLEDGED: "车辆另行抵押或质押",
        FindingKind.VEHICLE_DAMAGED: "车辆受损",
        FindingKind.HEALTH_EVENT: "健康事件",
        FindingKind.ADDRESS_CHANGED: "住址变更",
        FindingKind.PHONE_CHANGED: "联系电话变更",
        FindingKind.BUSINESS_TROUBLE: "经营困难",
        FindingKind.FUND_MISUSE: "贷款资金用途不符",
        FindingKind.PROMISE_TO_PAY: "承诺还款",
        FindingKind.REPAYMENT_DIFFICULTY: "还款困难",
        FindingKind.APPLICATION_DISOWNED: "本人否认申请",
    }
)

DetailValue: TypeAlias = str | bool | None
"""A finding's detail as stored in JSON: dates ISO, amounts as exact decimal strings."""


class FindingRuleError(ValueError):
    """A finding rule that makes no sense; a bilingual message naming the rule."""

    def __init__(self, rule_id: str, zh: str, en: str) -> None:
        super().__init__(f"{rule_id}: {zh} / {en}")
        self.rule_id = rule_id
        self.message = Text(zh, en)


@dataclass(frozen=True, slots=True)
class PercentDrop:
    """The answer to `question` is below the context value `baseline` by more than
    `more_than_pct` percent of the baseline (strictly: exactly the threshold is no drop).

    Holds only when both are numbers and the baseline is positive.
    """

    question: str
    baseline: str
    more_than_pct: Decimal

    def holds(self, answers: Mapping[str, AnswerValue], context: Mapping[str, object]) -> bool:
        answer, base = answers.get(self.question), context.get(self.baseline)
        if not _is_number(answer) or not _is_number(base):
            return False
        current, baseline = Decimal(answer), Decimal(base)  # type: ignore[arg-type]
        if baseline <= 0:
            return False
        return (baseline - current) * 100 > self.more_than_pct * baseline

    def drop_pct(self, answers: Mapping[str, AnswerValue], context: Mapping[str, object]) -> str:
        """The drop in percent, to one decimal, as text for the event's details."""
        current = Decimal(answers[self.question])  # type: ignore[arg-type]
        baseline = Decimal(context[self.baseline])  # type: ignore[arg-type]
        return str(((baseline - current) * 100 / baseline).quantize(Decimal("0.1")))


def _is_number(value: object) -> bool:
    return isinstance(value, Decimal | int) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class FindingRule:
    """One rule: when every condition holds (and the drop, if any), raise `kind`.

    details: answer ids copied into the event (e.g. the promised date and amount), so the
    risk officer sees the evidence without opening the visit.
    """

    id: str
    kind: FindingKind
    severity: Severity
    description: Text
    when: tuple[Condition, ...] = ()
    drop: PercentDrop | None = None
    details: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.when and self.drop is None:
            raise FindingRuleError(self.id, "规则没有任何条件", "the rule has no condition")
        if self.drop is not None and self.drop.more_than_pct < 0:
            raise FindingRuleError(self.id, "下降比例不能为负", "the drop threshold is negative")
        for c in self.when:
            if c.question == "":
                raise FindingRuleError(self.id, "条件缺少问题", "a condition names no question")

    def holds(self, answers: Mapping[str, AnswerValue], context: Mapping[str, object]) -> bool:
        """Whether this rule fires on these answers and loan-book values."""
        if not all(condition_holds(c, answers, context) for c in self.when):
            return False
        return self.drop is None or self.drop.holds(answers, context)

    def questions(self) -> tuple[str, ...]:
        """Every question id the rule reads."""
        ids = [c.question for c in self.when]
        if self.drop is not None:
            ids.append(self.drop.question)
        return (*ids, *self.details)


@dataclass(frozen=True, slots=True)
class FindingRules:
    """A versioned set of finding rules (the rules file); rule ids are unique."""

    version: int
    rules: tuple[FindingRule, ...]

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise FindingRuleError(rule.id, "规则编号重复", "duplicate rule id")
            seen.add(rule.id)
        if self.version < 1:
            raise FindingRuleError("version", "版本应为正整数", "version must be positive")


@dataclass(frozen=True, slots=True)
class Finding:
    """A risk event raised from a follow-up's answers, ready to store as ``risk_events``.

    details: JSON-safe evidence (answers named by the rule, the drop in percent, the rule id
    and rules version), so the event can be traced back to the exact rule that raised it.
    """

    kind: FindingKind
    severity: Severity
    rule_id: str
    description: Text
    details: Mapping[str, DetailValue] = field(default_factory=dict)


def _detail(value: AnswerValue) -> DetailValue:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def evaluate_findings(
    rules: FindingRules,
    answers: Mapping[str, AnswerValue],
    context: Mapping[str, object] | None = None,
) -> tuple[Finding, ...]:
    """The findings `answers` raise under `rules`, one per kind, in the order of `FindingKind`.

    `context` holds the loan-book values the rules compare with (``declared_monthly_income``
    …); the script run's context values are the natural choice. Pure and deterministic, so a
    corrected visit can be re-evaluated and the difference raised.
    """
    ctx: Mapping[str, object] = context or {}
    best: dict[FindingKind, FindingRule] = {}
    for rule in rules.rules:
        if not rule.holds(answers, ctx):
            continue
        held = best.get(rule.kind)
        if held is None or rule.severity.rank > held.severity.rank:
            best[rule.kind] = rule
    out = []
    for kind in FindingKind:
        if kind not in best:
            continue
        rule = best[kind]
        details: dict[str, DetailValue] = {"rule": rule.id, "rules_version": str(rules.version)}
        for question in rule.details:
            if question in answers:
                details[question] = _detail(answers[question])
        if rule.drop is not None:
            details["drop_pct"] = rule.drop.drop_pct(answers, ctx)
            details["baseline"] = _detail(ctx[rule.drop.baseline])  # type: ignore[arg-type]
        out.append(Finding(kind, rule.severity, rule.id, rule.description, details))
    return tuple(out)


_ANSWER_VALUE_TYPES: Mapping[AnswerType, tuple[type, ...]] = MappingProxyType(
    {
        AnswerType.YES_NO: (bool,),
        AnswerType.CHOICE: (str,),
        AnswerType.NUMBER: (Decimal,),
        AnswerType.MONEY: (Decimal,),
        AnswerType.DATE: (date,),
        AnswerType.FREE_TEXT: (str,),
    }
)


def check_rules_against_scripts(rules: FindingRules, scripts: Iterable[Script]) -> list[Text]:
    """Problems that make a rule dead or wrong against the scripts in use; [] when fine.

    Every question a rule reads must be asked by at least one script; everywhere it is asked
    it must have a type the condition's value fits (a choice code the question offers, a
    number for a number …), and a percent drop needs a number or money question.
    """
    asks: dict[str, list[Ask]] = {}
    for script in scripts:
        for ask in script.asks():
            asks.setdefault(ask.id, []).append(ask)
    problems: list[Text] = []
    for rule in rules.rules:
        for question in rule.questions():
            if question not in asks:
                problems.append(
                    Text(
                        f"{rule.id}: 没有任何话术提问 {question}",
                        f"{rule.id}: no script asks {question!r}",
                    )
                )
        for c in rule.when:
            for ask in asks.get(c.question, []):
                problems.extend(_condition_problems(rule.id, c, ask))
        if rule.drop is not None:
            for ask in asks.get(rule.drop.question, []):
                if ask.answer_type not in (AnswerType.NUMBER, AnswerType.MONEY):
                    problems.append(
                        Text(
                            f"{rule.id}: {ask.id} 不是数字或金额, 无法计算下降比例",
                            f"{rule.id}: {ask.id!r} is not a number or money question",
                        )
                    )
    return problems


def _condition_problems(rule_id: str, c: Condition, ask: Ask) -> Sequence[Text]:
    if c.op in (Op.ANSWERED, Op.NOT_ANSWERED) or c.var is not None:
        return ()
    values = c.value if isinstance(c.value, tuple) else (c.value,)
    expected = _ANSWER_VALUE_TYPES[ask.answer_type]
    out = []
    codes = {o.code for o in ask.options}
    for value in values:
        fits = isinstance(value, expected) and (not isinstance(value, bool) or bool in expected)
        if not fits:
            out.append(
                Text(
                    f"{rule_id}: 比较值 {value!r} 与问题 {ask.id} 的类型 {ask.answer_type} 不符",
                    f"{rule_id}: value {value!r} does not fit {ask.id!r} ({ask.answer_type})",
                )
            )
        elif ask.answer_type is AnswerType.CHOICE and value not in codes:
            out.append(
                Text(
                    f"{rule_id}: 问题 {ask.id} 没有选项 {value}",
                    f"{rule_id}: question {ask.id!r} has no option {value!r}",
                )
            )
    return out
