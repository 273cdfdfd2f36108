"""Findings: every rule kind fires on its answers and not on a near miss; the income-drop
threshold at its boundary; one finding per kind from the most severe rule; checks against
the scripts' questions."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from huifang.domain.early_warning import EventKind, Severity
from huifang.domain.findings import (
    FindingKind,
    FindingRule,
    FindingRuleError,
    FindingRules,
    PercentDrop,
    check_rules_against_scripts,
    evaluate_findings,
)
from huifang.domain.scripts import (
    AnswerType,
    AnswerValue,
    Ask,
    Condition,
    End,
    Op,
    Option,
    Purpose,
    Script,
    Text,
)
from huifang.finding_rules import load_finding_rules

RULES = load_finding_rules()
BASE = {"declared_monthly_income": Decimal("10000.00")}


def found(answers: dict[str, AnswerValue], context: dict[str, object] | None = None) -> set[str]:
    return {
        f.kind.value
        for f in evaluate_findings(RULES, answers, BASE if context is None else context)
    }


@pytest.mark.parametrize(
    ("answers", "kind"),
    [
        ({"income_change": "down"}, "income-drop"),
        ({"missed_reason": "income_drop"}, "income-drop"),
        ({"job_status": "lost"}, "job-loss"),
        ({"missed_reason": "job_loss"}, "job-loss"),
        ({"job_status": "changed", "new_employer": "某公司"}, "job-change"),
        ({"vehicle_status": "sold"}, "vehicle-sold"),
        ({"vehicle_status": "transferred"}, "vehicle-transferred"),
        ({"vehicle_in_use": False}, "vehicle-transferred"),
        ({"vehicle_status": "pledged"}, "vehicle-pledged"),
        ({"vehicle_status": "damaged"}, "vehicle-damaged"),
        ({"address_changed": True, "new_address": "上海"}, "address-changed"),
        ({"phone_changed": True, "new_phone": "13912345678"}, "phone-changed"),
        ({"health_issue": True}, "health-event"),
        ({"missed_reason": "illness"}, "health-event"),
        ({"operations": "trouble"}, "business-trouble"),
        ({"operations": "suspended"}, "business-trouble"),
        ({"operations": "slower"}, "business-trouble"),
        ({"revenue_change": "down"}, "business-trouble"),
        ({"overdue_payables": True}, "business-trouble"),
        ({"missed_reason": "business_trouble"}, "business-trouble"),
        ({"fund_use": "other"}, "fund-misuse"),
        ({"fund_use": "partly_other"}, "fund-misuse"),
        ({"will_pay": True, "promise_date": date(2025, 3, 14)}, "promise-to-pay"),
        ({"will_pay": False}, "repayment-difficulty"),
        ({"repayment_difficulty": True}, "repayment-difficulty"),
        ({"applied_loan": False}, "application-disowned"),
    ],
)
def test_each_rule_fires(answers: dict[str, AnswerValue], kind: str) -> None:
    assert found(answers) == {kind}


@pytest.mark.parametrize(
    "answers",
    [
        {"income_change": "same", "monthly_income": Decimal("9000")},
        {"job_status": "unchanged"},
        {"vehicle_status": "normal", "vehicle_in_use": True},
        {"address_changed": False, "phone_changed": False, "health_issue": False},
        {"operations": "normal", "revenue_change": "up", "overdue_payables": False},
        {"fund_use": "as_agreed"},
        {"will_pay": True},  # no date: not a promise
        {"missed_reason": "forgot"},
        {"applied_loan": True, "repayment_difficulty": False},
        {},
    ],
)
def test_near_misses_raise_nothing(answers: dict[str, AnswerValue]) -> None:
    assert found(answers) == set()


def test_income_drop_threshold_is_strictly_more_than_30_percent() -> None:
    assert found({"monthly_income": Decimal("7000.00")}) == set()  # exactly 30 %
    assert found({"monthly_income": Decimal("6999.99")}) == {"income-drop"}
    (f,) = evaluate_findings(RULES, {"monthly_income": Decimal("6000.00")}, BASE)
    assert f.severity is Severity.HIGH and f.rule_id == "income_below_declared"
    assert dict(f.details) == {
        "rule": "income_below_declared",
        "rules_version": "1",
        "monthly_income": "6000.00",
        "drop_pct": "40.0",
        "baseline": "10000.00",
    }


def test_income_drop_needs_a_positive_baseline() -> None:
    assert found({"monthly_income": Decimal("0")}, {}) == set()
    assert found({"monthly_income": Decimal("0")}, {"declared_monthly_income": Decimal(0)}) == set()


def test_one_finding_per_kind_from_the_most_severe_rule() -> None:
    both = {"income_change": "down", "monthly_income": Decimal("5000")}
    (f,) = evaluate_findings(RULES, both, BASE)
    assert (f.kind, f.severity, f.rule_id) == (
        FindingKind.INCOME_DROP,
        Severity.HIGH,
        "income_below_declared",
    )
    (g,) = evaluate_findings(RULES, {"operations": "slower", "overdue_payables": True}, BASE)
    assert (g.severity, g.rule_id) == (Severity.HIGH, "business_overdue_payables")


def test_findings_come_in_kind_order_with_json_safe_details() -> None:
    answers: dict[str, AnswerValue] = {
        "will_pay": True,
        "promise_date": date(2025, 3, 14),
        "promise_amount": Decimal("4612.50"),
        "vehicle_status": "sold",
    }
    out = evaluate_findings(RULES, answers, BASE)
    assert [f.kind for f in out] == [FindingKind.VEHICLE_SOLD, FindingKind.PROMISE_TO_PAY]
    assert out[1].details["promise_date"] == "2025-03-14"
    assert out[1].details["promise_amount"] == "4612.50"


def test_shared_kinds_are_the_early_warning_event_kinds() -> None:
    for kind in EventKind:
        if kind.value.startswith("contact-"):
            continue
        assert FindingKind(kind.value).zh


def test_rule_and_rule_set_validation() -> None:
    t = Text("说明", "text")
    with pytest.raises(FindingRuleError, match="no condition"):
        FindingRule("r", FindingKind.JOB_LOSS, Severity.LOW, t)
    with pytest.raises(FindingRuleError, match="negative"):
        FindingRule(
            "r", FindingKind.INCOME_DROP, Severity.LOW, t, drop=PercentDrop("a", "b", Decimal(-1))
        )
    rule = FindingRule("r", FindingKind.JOB_LOSS, Severity.LOW, t, (Condition("x", Op.EQ, "y"),))
    with pytest.raises(FindingRuleError, match="duplicate"):
        FindingRules(1, (rule, rule))


def test_check_rules_against_scripts_reports_dead_and_mistyped_rules() -> None:
    t = Text("问", "q")
    script = Script(
        "s",
        1,
        t,
        Purpose.ROUTINE,
        (),
        (
            Ask("status", t, AnswerType.CHOICE, (Option("ok", t), Option("bad", t))),
            Ask("income", t, AnswerType.FREE_TEXT),
            End("end", t, "completed"),
        ),
    )
    rules = FindingRules(
        1,
        (
            FindingRule(
                "unknown_q",
                FindingKind.JOB_LOSS,
                Severity.LOW,
                t,
                (Condition("nope", Op.EQ, True),),
            ),
            FindingRule(
                "bad_code",
                FindingKind.JOB_LOSS,
                Severity.LOW,
                t,
                (Condition("status", Op.EQ, "lost"),),
            ),
            FindingRule(
                "bad_type",
                FindingKind.JOB_LOSS,
                Severity.LOW,
                t,
                (Condition("status", Op.EQ, True),),
            ),
            FindingRule(
                "bad_drop",
                FindingKind.INCOME_DROP,
                Severity.LOW,
                t,
                drop=PercentDrop("income", "declared_monthly_income", Decimal(30)),
            ),
            FindingRule(
                "fine", FindingKind.JOB_LOSS, Severity.LOW, t, (Condition("status", Op.EQ, "bad"),)
            ),
        ),
    )
    problems = check_rules_against_scripts(rules, [script])
    assert [p.en.split(":")[0] for p in problems] == [
        "unknown_q",
        "bad_code",
        "bad_type",
        "bad_drop",
    ]
