"""Script files: structural errors located by line and YAML path; the six standard scripts are
valid, every step of each is reachable by some answers, and the main paths end as intended."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from huifang.cli_scripts import sample_context
from huifang.domain import scripts as sc
from huifang.domain.findings import FindingKind, check_rules_against_scripts, evaluate_findings
from huifang.finding_rules import load_finding_rules
from huifang.script_files import (
    ScriptFileError,
    check_script_text,
    load_script_file,
    load_standard_scripts,
    parse_script,
    standard_script,
    standard_script_files,
)

TODAY = date(2025, 3, 10)
STANDARD = load_standard_scripts()
RULES = load_finding_rules()

GOOD = """\
id: tiny
version: 2
title: {zh: 小话术, en: Tiny}
purpose: routine
variables: [id_last4, amount_due]
steps:
  - disclosure: notice
    code: recording_notice
    zh: 本次通话将录音。
    en: This call is recorded.
  - ask: id4
    type: free_text
    pattern: "[0-9]{3}[0-9X]"
    zh: 请说身份证后四位。
    en: The last four ID characters, please.
    identity: {pass: [{q: id4, eq: $id_last4}], on_fail: failed}
  - ask: ok
    type: choice
    zh: 好吗？
    en: OK?
    options:
      - {code: "yes", zh: 好, en: fine}
      - {code: "no", zh: 不好, en: not fine}
  - branch: br
    rules:
      - when: [{q: ok, eq: "no"}]
        goto: sorry
    default: done
  - say: sorry
    zh: 您应还{amount_due}。
    en: You owe {amount_due}.
  - end: done
    outcome: completed
    zh: 再见。
    en: Goodbye.
  - end: failed
    outcome: identity_failed
    zh: 再见。
    en: Goodbye.
"""


def test_good_file_parses_and_is_valid() -> None:
    script, problems = check_script_text(GOOD, "tiny.yaml")
    assert problems == ()
    assert script is not None
    assert (script.id, script.version, len(script.steps)) == ("tiny", 2, 7)
    ask = script.step("ok")
    assert isinstance(ask, sc.Ask) and [o.code for o in ask.options] == ["yes", "no"]


@pytest.mark.parametrize(
    ("old", "new", "code", "path", "line"),
    [
        ("version: 2", "version: two", "structure", "version", 2),
        ("    type: choice", "    type: colour", "structure", "steps[2].type", 18),
        (
            '      - {code: "yes",',
            "      - {code: yes,",
            "structure",
            "steps[2].options[0].code",
            22,
        ),
        ("    en: OK?", "    en: ''", "missing_english", "steps[2].en", 20),
        ("        goto: sorry", "        goto: nowhere", "unknown_target", "steps[3]", 25),
        (
            "    zh: 您应还{amount_due}。",
            "    zh: 您应还{overdue_amount}。",
            "unknown_variable",
            "steps[4]",
            28,
        ),
        ("  - say: sorry", "  - shout: sorry", "structure", "steps[4]", 28),
        (
            "    outcome: completed",
            "    outcome: completed\n    colour: red",
            "structure",
            "steps[5].colour",
            34,
        ),
        (
            '      - when: [{q: ok, eq: "no"}]',
            '      - when: [{q: ok, eq: "maybe"}]',
            "unknown_option",
            "steps[3]",
            25,
        ),
    ],
)
def test_problems_are_located(old: str, new: str, code: str, path: str, line: int) -> None:
    assert old in GOOD
    _script, problems = check_script_text(GOOD.replace(old, new), "tiny.yaml")
    assert (code, path) in {(p.code, p.path) for p in problems}, problems
    found = next(p for p in problems if (p.code, p.path) == (code, path))
    assert found.line is not None and abs(found.line - line) <= 1, found
    assert str(found).startswith("tiny.yaml:")


def test_unreachable_step_and_missing_branch_default() -> None:
    text = GOOD.replace("    default: done\n", "").replace(
        "  - end: failed",
        "  - say: lost\n    zh: 孤\n    en: lone\n    next: done\n  - end: failed",
    )
    _script, problems = check_script_text(text, "tiny.yaml")
    assert {"missing_default", "unreachable_step"} <= {p.code for p in problems}


def test_yaml_syntax_error_has_a_line() -> None:
    with pytest.raises(ScriptFileError) as e:
        parse_script("id: x\nsteps: [\n", "bad.yaml")
    assert e.value.problems[0].code == "yaml"
    assert e.value.problems[0].line is not None


def test_load_script_file_raises_with_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("{amount_due}", "{nickname}").replace("goto: sorry", "goto: x"))
    with pytest.raises(ScriptFileError) as e:
        load_script_file(bad)
    assert {"unknown_variable", "unknown_target"} <= {p.code for p in e.value.problems}
    # A structural problem stops before the domain rules: the structure is reported first.
    bad.write_text(GOOD.replace("en: OK?", "en: ''").replace("goto: sorry", "goto: x"))
    with pytest.raises(ScriptFileError) as e:
        load_script_file(bad)
    assert {p.code for p in e.value.problems} == {"missing_english"}


# --- the standard scripts ---------------------------------------------------------------------

PURPOSES = {
    "first_visit",
    "routine",
    "missed_payment",
    "business_visit",
    "pre_loan_verification",
    "early_repayment_confirmation",
}


def test_six_standard_scripts_one_per_purpose() -> None:
    assert set(STANDARD) == PURPOSES
    assert len(standard_script_files()) == 6
    for purpose in sc.Purpose:
        assert standard_script(purpose).purpose is purpose
    for script in STANDARD.values():
        assert sc.validate_script(script) == []
        assert script.required_disclosures == ("recording_notice",)


def test_the_follow_up_policy_names_only_standard_scripts() -> None:
    import yaml

    text = (Path(__file__).parents[1] / "src/huifang/policies/followup.yaml").read_text("utf-8")
    named = {p["script"] for p in yaml.safe_load(text)["purposes"].values()}
    assert named <= set(STANDARD)


def test_finding_rules_fit_the_standard_scripts() -> None:
    assert check_rules_against_scripts(RULES, STANDARD.values()) == []


def _candidates(ask: sc.Ask) -> list[object]:
    t = ask.answer_type
    if t is sc.AnswerType.YES_NO:
        out: list[object] = [True, False]
    elif t is sc.AnswerType.CHOICE:
        out = [o.code for o in ask.options]
    elif t is sc.AnswerType.NUMBER:
        out = [Decimal(3)]
    elif t is sc.AnswerType.MONEY:
        out = [Decimal("5000.00"), Decimal("20000.00")]
    elif t is sc.AnswerType.DATE:
        out = [TODAY + timedelta(days=5)]
    elif ask.id == "id_last4":
        out = ["123X", "123X", "123X", "0000"]
    elif ask.validation.pattern is not None:
        out = ["13912345678"]
    else:
        out = ["说明文字"]
    if not ask.required:
        out.append(None)
    return out


@pytest.mark.parametrize("name", sorted(PURPOSES))
def test_every_step_is_reached_by_some_answers(name: str) -> None:
    """Seeded random walks through the script: together they visit every step, every run
    ends at an end or handover, and nothing unrendered (***) is ever said."""
    script = STANDARD[name]
    begin = sc.start(script, sample_context(script, TODAY))
    rng = random.Random(name)
    visited: set[str] = set()
    outcomes: set[str] = set()
    for _ in range(150):
        state = begin
        while not state.finished:
            step = sc.current_step(state)
            assert isinstance(step, sc.Ask)
            state = sc.answer(state, rng.choice(_candidates(step)))
            assert state.error is None, (step.id, state.error)
        visited |= {e.step_id for e in sc.transcript(state) if e.step_id is not None}
        assert state.outcome is not None
        outcomes.add(state.outcome)
        for e in sc.transcript(state):
            for text in (e.text.zh, e.text.en):
                assert "***" not in text.replace("粤B***45", ""), e
        if not state.identity_verified:
            assert not {e.step_id for e in sc.transcript(state) if e.kind is sc.EntryKind.ASK} - {
                "identity_confirmed",
                "id_last4",
            }
    branches = {s.id for s in script.steps if isinstance(s, sc.Branch)}
    assert {s.id for s in script.steps} - branches <= visited
    assert {"wrong_person", "identity_failed"} <= outcomes


def drive(name: str, *given: object, **values: object) -> sc.RunState:
    script = STANDARD[name]
    context = sample_context(script, TODAY)
    if values:
        context = sc.ScriptContext(TODAY, {**context.values, **values})  # type: ignore[dict-item]
    state = sc.start(script, context)
    for g in given:
        assert not state.finished, f"run ended before answer {g!r}"
        state = sc.answer(state, g)
        assert state.error is None, (g, state.error)
    return state


def kinds(state: sc.RunState) -> set[FindingKind]:
    found = evaluate_findings(RULES, sc.answers(state), state.context.values)
    return {f.kind for f in found}


OPENING = ("是", "123x")


def test_routine_all_well() -> None:
    state = drive(
        "routine",
        *OPENING,
        "是",
        "没有",
        "正常",
        "是",
        "没变",
        "12000",
        "持平",
        "否",
        "否",
        "否",
        "",
    )
    assert state.outcome == "completed" and state.identity_verified
    assert kinds(state) == set()
    said = " ".join(e.text.zh for e in sc.transcript(state))
    assert "¥4,560.12" in said and "粤B***45" in said and "粤B12345" not in said


def test_routine_with_trouble_everywhere() -> None:
    state = drive(
        "routine",
        *OPENING,
        "否",
        "是",
        "卖了",
        "失业了",
        "三千",
        "少了",
        "是",
        "上海市浦东新区",
        "是",
        "139 1234 5678",
        "是",
        "",
    )
    assert state.outcome == "completed"
    assert "offer_help" in {e.step_id for e in sc.transcript(state)}
    assert sc.answers(state)["new_phone"] == "13912345678"
    assert kinds(state) == {
        FindingKind.VEHICLE_SOLD,
        FindingKind.JOB_LOSS,
        FindingKind.INCOME_DROP,
        FindingKind.ADDRESS_CHANGED,
        FindingKind.PHONE_CHANGED,
        FindingKind.HEALTH_EVENT,
        FindingKind.REPAYMENT_DIFFICULTY,
    }


def test_wrong_person_and_failed_identity_reveal_nothing() -> None:
    wrong = drive("missed_payment", "不是")
    assert wrong.outcome == "wrong_person" and not wrong.identity_verified
    failed = drive("missed_payment", "是", "9999")
    assert failed.outcome == "identity_failed"
    for state in (wrong, failed):
        said = " ".join(e.text.zh for e in sc.transcript(state))
        assert "逾期" not in said and "4,612" not in said


def test_missed_payment_promise_to_pay() -> None:
    state = drive("missed_payment", *OPENING, "忘了", "是", "这周五", "4612.5", "正常", "是")
    assert state.outcome == "completed"
    assert sc.answers(state)["promise_date"] == date(2025, 3, 14)
    found = evaluate_findings(RULES, sc.answers(state), state.context.values)
    assert [(f.kind, dict(f.details)) for f in found] == [
        (
            FindingKind.PROMISE_TO_PAY,
            {
                "rule": "promise_to_pay",
                "rules_version": "1",
                "promise_date": "2025-03-14",
                "promise_amount": "4612.50",
            },
        )
    ]


def test_missed_payment_promise_date_must_be_within_30_days() -> None:
    state = drive("missed_payment", *OPENING, "忘了", "是")
    state = sc.answer(state, "2025-05-01")
    assert state.error is not None and state.position == "promise_date"


def test_missed_payment_hardship() -> None:
    state = drive("missed_payment", *OPENING, "生病住院", "不能", "住院两个月", "是", "正常", "是")
    assert state.outcome == "completed"
    assert kinds(state) == {FindingKind.HEALTH_EVENT, FindingKind.REPAYMENT_DIFFICULTY}


def test_missed_payment_dispute_goes_to_a_person() -> None:
    state = drive("missed_payment", *OPENING, "金额不对")
    assert state.handed_over and state.outcome == "handed_over"


def test_first_visit_paths() -> None:
    disputed = drive("first_visit", *OPENING, "不对")
    assert disputed.handed_over
    said = " ".join(e.text.zh for e in sc.transcript(disputed))
    assert "2025年2月18日" in said and "¥150,000.00" in said
    ok = drive(
        "first_visit",
        *OPENING,
        "对",
        "清楚",
        "自用",
        "否",
        "发生事故",
        "换了工作",
        "",
        "8000",
        "增加",
        "否",
        "否",
        "否",
        "",
    )
    assert ok.outcome == "completed"
    assert kinds(ok) == {
        FindingKind.VEHICLE_DAMAGED,
        FindingKind.JOB_CHANGE,
        FindingKind.INCOME_DROP,
    }


def test_business_visit_fund_misuse_and_trouble() -> None:
    state = drive(
        "business_visit",
        *OPENING,
        "部分",
        "一部分用于归还其他借款",
        "停业了",
        "减少",
        "",
        "是",
        "12",
        "正常",
        "是",
        "否",
        "是",
        "",
    )
    assert state.outcome == "completed"
    found = {f.kind: f for f in evaluate_findings(RULES, sc.answers(state), state.context.values)}
    assert set(found) == {
        FindingKind.FUND_MISUSE,
        FindingKind.BUSINESS_TROUBLE,
        FindingKind.REPAYMENT_DIFFICULTY,
    }
    assert found[FindingKind.BUSINESS_TROUBLE].severity.value == "high"
    assert found[FindingKind.FUND_MISUSE].details["fund_use_detail"] == "一部分用于归还其他借款"
    said = " ".join(e.text.zh for e in sc.transcript(state))
    assert "示例汽车服务有限公司" in said


def test_business_visit_as_agreed_skips_the_detail() -> None:
    state = drive(
        "business_visit",
        *OPENING,
        "按约定",
        "正常",
        "持平",
        "",
        "否",
        "",
        "正常",
        "是",
        "否",
        "否",
        "",
    )
    assert state.outcome == "completed"
    assert "fund_use_detail" not in sc.answers(state)
    assert kinds(state) == set()


def test_pre_loan_verification_paths() -> None:
    disowned = drive("pre_loan_verification", *OPENING, "不是")
    assert disowned.handed_over and disowned.outcome == "application_disowned"
    assert kinds(disowned) == {FindingKind.APPLICATION_DISOWNED}
    unclear = drive("pre_loan_verification", *OPENING, "是", "是", "是", "上班", "", "一万二", "是")
    unclear = sc.answer(unclear, "不清楚")  # unsure is not a no: asked again
    assert unclear.position == "terms_understood" and unclear.error is not None


def test_pre_loan_terms_not_understood_are_explained() -> None:
    state = drive(
        "pre_loan_verification", *OPENING, "是", "是", "是", "上班", "", "一万二", "是", "否", ""
    )
    assert state.outcome == "completed"
    assert "explain_terms" in {e.step_id for e in sc.transcript(state)}
    assert kinds(state) == set()


def test_early_repayment_full_and_partial() -> None:
    full = drive(
        "early_repayment_confirmation", *OPENING, "是", "全部结清", "是", "3月20日", "存款"
    )
    assert full.outcome == "confirmed"
    said = " ".join(e.text.zh for e in sc.transcript(full))
    assert "¥101,234.56" in said and "¥1,975.31" in said
    partial = drive(
        "early_repayment_confirmation",
        *OPENING,
        "是",
        "部分",
        "五万",
        "减少月供",
        "不了解",
        "下周一",
        "存款",
    )
    assert partial.outcome == "confirmed"
    got = sc.answers(partial)
    assert got["partial_amount"] == Decimal("50000.00")
    assert got["partial_option"] == "lower_installment"
    assert got["planned_payment_date"] == date(2025, 3, 17)
    steps = {e.step_id for e in sc.transcript(partial)}
    assert "explain_fee" in steps and "full_quote" not in steps
    disowned = drive("early_repayment_confirmation", *OPENING, "不是")
    assert disowned.outcome == "request_disowned" and disowned.handed_over
