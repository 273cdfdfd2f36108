"""Scripts (话术): each validation error on a minimal bad script, typed-answer parsing, the
runner (branching, rejected answers, identity failure, masking, handover) and state round trips."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from huifang.domain.scripts import (
    AnswerError,
    AnswerType,
    Ask,
    Branch,
    BranchRule,
    Condition,
    ContextError,
    DatePreference,
    Disclosure,
    End,
    EntryKind,
    Handover,
    IdentityCheck,
    Op,
    Option,
    Personal,
    ProblemCode,
    Purpose,
    RunFinished,
    Say,
    Script,
    ScriptContext,
    ScriptInvalid,
    Step,
    Text,
    Validation,
    answer,
    answers,
    coerce_answer,
    condition_holds,
    interrupt,
    mask_plate,
    normalize_code,
    parse_choice,
    parse_date,
    parse_money,
    parse_number,
    parse_yes_no,
    personal_answers,
    prompt,
    render,
    request_handover,
    result,
    start,
    state_from_dict,
    state_to_dict,
    transcript,
    validate_script,
)

P = ProblemCode
TODAY = date(2025, 3, 10)  # a Monday


def T(zh: str, en: str | None = None) -> Text:
    return Text(zh, en if en is not None else f"EN {zh}")


CHOICE = (Option("a", T("甲", "alpha")), Option("b", T("乙", "beta"), ("第二个",)))


def base_steps() -> list[Step]:
    return [
        Say("hello", T("您好，我是{agent_name}", "Hello, this is {agent_name}")),
        Disclosure("notice", "recording_notice", T("本次通话将录音", "this call is recorded")),
        Ask(
            "id4",
            T("请说身份证后四位"),
            AnswerType.FREE_TEXT,
            validation=Validation(pattern="[0-9]{3}[0-9X]"),
            identity=IdentityCheck((Condition("id4", Op.EQ, var="id_last4"),), "failed"),
        ),
        Ask("q", T("选甲还是乙"), AnswerType.CHOICE, CHOICE),
        Branch("br", (BranchRule((Condition("q", Op.EQ, "a"),), "say_a"),), "done"),
        Say("say_a", T("您应还{amount_due}", "you owe {amount_due}")),
        End("done", T("再见"), "completed"),
        End("failed", T("无法核实，再见"), "identity_failed"),
    ]


def make(steps: list[Step] | None = None, **kw: object) -> Script:
    fields: dict[str, object] = {
        "id": "t",
        "version": 1,
        "title": T("测试"),
        "purpose": Purpose.ROUTINE,
        "variables": ("agent_name", "id_last4", "amount_due"),
        "steps": tuple(steps if steps is not None else base_steps()),
    }
    fields.update(kw)
    return Script(**fields)  # type: ignore[arg-type]


CONTEXT = ScriptContext(
    TODAY, {"agent_name": "李明", "id_last4": "123X", "amount_due": Decimal("4560.12")}
)


def codes(script: Script) -> set[ProblemCode]:
    return {p.code for p in validate_script(script)}


def with_step(i: int, step: Step) -> Script:
    steps = base_steps()
    steps[i] = step
    return make(steps)


def test_minimal_script_is_valid() -> None:
    assert validate_script(make()) == []


# --- validation: one minimal bad script per problem -------------------------------------------

BAD: dict[ProblemCode, Callable[[], Script]] = {
    P.EMPTY_SCRIPT: lambda: make([]),
    P.DUPLICATE_ID: lambda: make([*base_steps(), End("done", T("再见"), "completed")]),
    P.UNKNOWN_TARGET: lambda: with_step(4, Branch("br", (), "nowhere")),
    P.UNREACHABLE_STEP: lambda: make([*base_steps(), End("orphan", T("孤立"), "completed")]),
    P.MISSING_DEFAULT: lambda: with_step(
        4, Branch("br", (BranchRule((Condition("q", Op.EQ, "a"),), "say_a"),), None)
    ),
    P.FALLS_OFF_END: lambda: make([*base_steps()[:-1], Say("failed", T("无法核实"))]),
    P.NO_EXIT: lambda: with_step(5, Ask("say_a", T("再问"), AnswerType.YES_NO, next="say_a")),
    P.LOOP_WITHOUT_QUESTION: lambda: make(
        [*base_steps()[:5], Say("say_a", T("循环"), next="br"), *base_steps()[6:]]
    ),
    P.UNKNOWN_ANSWER: lambda: with_step(
        4, Branch("br", (BranchRule((Condition("nope", Op.EQ, "a"),), "say_a"),), "done")
    ),
    P.LATER_ANSWER: lambda: make(
        [
            *base_steps()[:3],
            Branch("br", (BranchRule((Condition("q", Op.EQ, "a"),), "say_a"),), "q"),
            Ask("q", T("选甲还是乙"), AnswerType.CHOICE, CHOICE),
            Say("say_a", T("好")),
            *base_steps()[6:],
        ]
    ),
    P.UNKNOWN_OPTION: lambda: with_step(
        4, Branch("br", (BranchRule((Condition("q", Op.EQ, "c"),), "say_a"),), "done")
    ),
    P.BAD_CONDITION: lambda: with_step(
        4, Branch("br", (BranchRule((Condition("q", Op.GT, "a"),), "say_a"),), "done")
    ),
    P.UNKNOWN_VARIABLE: lambda: with_step(5, Say("say_a", T("您好{nickname}", "hi {nickname}"))),
    P.BAD_TEMPLATE: lambda: with_step(5, Say("say_a", T("金额{amount_due:.2f}", "x {amount_due}"))),
    P.SECRET_SPOKEN: lambda: make(
        [
            *base_steps()[:5],
            Say("say_a", T("您的后四位是{id_last4}", "{id_last4}")),
            *base_steps()[6:],
        ]
    ),
    P.LOAN_DETAIL_BEFORE_IDENTITY: lambda: with_step(
        0, Say("hello", T("您欠款{amount_due}", "you owe {amount_due}"))
    ),
    P.NO_IDENTITY_CHECK: lambda: with_step(2, Ask("id4", T("后四位"), AnswerType.FREE_TEXT)),
    P.DUPLICATE_IDENTITY_CHECK: lambda: with_step(
        3,
        Ask(
            "q",
            T("选甲还是乙"),
            AnswerType.CHOICE,
            CHOICE,
            identity=IdentityCheck((Condition("q", Op.EQ, "a"),), "failed"),
        ),
    ),
    P.IDENTITY_FAILURE_CONTINUES: lambda: make(
        [
            *base_steps()[:7],
            Ask("failed", T("失败后还问"), AnswerType.YES_NO),
            End("bye", T("再见"), "identity_failed"),
        ],
    ),
    P.MISSING_DISCLOSURE: lambda: make([base_steps()[0], *base_steps()[2:]]),
    P.DISCLOSURE_TOO_LATE: lambda: make(
        [base_steps()[0], base_steps()[2], base_steps()[1], *base_steps()[3:]]
    ),
    P.MISSING_ENGLISH: lambda: with_step(5, Say("say_a", Text("好的", " "))),
    P.MISSING_CHINESE: lambda: with_step(5, Say("say_a", Text("", "fine"))),
    P.BAD_OPTIONS: lambda: with_step(3, Ask("q", T("选"), AnswerType.CHOICE, CHOICE[:1])),
    P.BAD_VALIDATION: lambda: with_step(
        3,
        Ask(
            "q",
            T("多少"),
            AnswerType.NUMBER,
            validation=Validation(min_value=Decimal(10), max_value=Decimal(1)),
        ),
    ),
    P.BAD_PERSONAL: lambda: with_step(
        3, Ask("q", T("选甲还是乙"), AnswerType.CHOICE, CHOICE, personal=Personal.PHONE)
    ),
    P.BAD_CODE: lambda: with_step(6, End("done", T("再见"), "Completed-OK")),
    P.FORBIDDEN_WORDING: lambda: with_step(5, Say("say_a", T("不还钱就通知你的家人", "pay"))),
}


def test_every_problem_code_has_a_bad_script() -> None:
    assert set(BAD) == set(ProblemCode)


@pytest.mark.parametrize("code", list(BAD), ids=[c.value for c in BAD])
def test_validator_rejects(code: ProblemCode) -> None:
    script = BAD[code]()
    problems = validate_script(script)
    assert code in {p.code for p in problems}, problems
    for p in problems:
        assert p.message.zh and p.message.en
    with pytest.raises(ScriptInvalid):
        start(script, CONTEXT)


def test_problems_point_at_their_step() -> None:
    problems = validate_script(BAD[P.UNKNOWN_VARIABLE]())
    assert [(p.code, p.step_id) for p in problems] == [(P.UNKNOWN_VARIABLE, "say_a")]
    assert "nickname" in problems[0].message.zh


def test_undeclared_but_catalogued_variable_is_unknown() -> None:
    script = with_step(5, Say("say_a", T("到期日{due_date}", "due {due_date}")))
    assert codes(script) == {P.UNKNOWN_VARIABLE}
    assert validate_script(replace(script, variables=(*script.variables, "due_date"))) == []


def test_loan_detail_on_the_identity_failure_path_is_rejected() -> None:
    script = with_step(7, End("failed", T("您欠{amount_due}", "you owe {amount_due}"), "x"))
    assert P.LOAN_DETAIL_BEFORE_IDENTITY in codes(script)


def test_personal_answers_are_the_marked_asks_and_the_secret_identity_answer() -> None:
    steps = base_steps()
    steps[3] = Ask("q", T("新地址"), AnswerType.FREE_TEXT, personal=Personal.ADDRESS)
    steps[4] = Branch("br", (), "say_a")
    script = make(steps)
    assert validate_script(script) == []
    # id4 is unmarked, but the identity check compares it with the secret id_last4
    assert dict(personal_answers(script)) == {"q": Personal.ADDRESS, "id4": Personal.SECRET}
    steps[3] = replace(steps[3], personal=None)  # type: ignore[type-var]
    assert dict(personal_answers(make(steps))) == {"id4": Personal.SECRET}
    # an identity check on a public fact (the name) marks nothing by itself
    steps[2] = replace(
        steps[2],  # type: ignore[type-var]
        identity=IdentityCheck((Condition("id4", Op.EQ, var="agent_name"),), "failed"),
    )
    assert dict(personal_answers(make(steps))) == {}


def test_a_loop_that_asks_again_is_allowed() -> None:
    steps = base_steps()
    steps[4] = Branch("br", (BranchRule((Condition("q", Op.EQ, "b"),), "q"),), "say_a")
    assert validate_script(make(steps)) == []


# --- answer parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("是", True),
        ("是的，是我", True),
        ("对", True),
        ("嗯嗯", True),
        ("没问题", True),
        ("Yes", True),
        ("不是", False),
        ("没有变化", False),
        ("没有", False),
        ("no", False),
    ],
)
def test_yes_no(text: str, value: bool) -> None:
    assert parse_yes_no(text) is value


@pytest.mark.parametrize("text", ["不知道", "是不是", "也许吧 maybe", "", "蓝色"])
def test_yes_no_unclear(text: str) -> None:
    with pytest.raises(AnswerError):
        parse_yes_no(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3500", "3500"),
        ("12,345.6", "12345.6"),
        ("十五", "15"),
        ("一百零五", "105"),
        ("三千五", "3500"),
        ("一万二", "12000"),
        ("两万", "20000"),
        ("一百二十万", "1200000"),
        ("三点五", "3.5"),
        ("1.5万", "15000"),
        ("壹仟贰佰", "1200"),
        ("二零二五", "2025"),
        ("大概八千左右", "8000"),
        ("百分之三十", "30"),
        ("负五", "-5"),
        ("3个人", "3"),
    ],
)
def test_numbers(text: str, value: str) -> None:
    assert parse_number(text) == Decimal(value)


@pytest.mark.parametrize("text", ["三千多", "几千", "abc", "一二三万万", ""])
def test_vague_numbers_are_refused(text: str) -> None:
    with pytest.raises(AnswerError):
        parse_number(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3500", "3500.00"),
        ("¥3,500.00", "3500.00"),
        ("三千五百元", "3500.00"),
        ("两万块", "20000.00"),
        ("1.2万", "12000.00"),
        ("十二块五", "12.50"),
        ("三百元五角六分", "300.56"),
        ("人民币 8000 元整", "8000.00"),
    ],
)
def test_money(text: str, value: str) -> None:
    parsed = parse_money(text)
    assert parsed == Decimal(value)
    assert str(parsed) == value  # to the fen


def test_money_with_more_than_two_decimals_is_refused() -> None:
    with pytest.raises(AnswerError, match="两位小数"):
        parse_money("12.345")


@pytest.mark.parametrize(
    ("text", "preference", "value"),
    [
        ("2025-03-15", DatePreference.NEAREST, date(2025, 3, 15)),
        ("2025/3/5", DatePreference.NEAREST, date(2025, 3, 5)),
        ("二〇二五年三月十五日", DatePreference.NEAREST, date(2025, 3, 15)),
        ("明天", DatePreference.FUTURE, date(2025, 3, 11)),
        ("后天", DatePreference.FUTURE, date(2025, 3, 12)),
        ("3天后", DatePreference.FUTURE, date(2025, 3, 13)),
        ("两周后", DatePreference.FUTURE, date(2025, 3, 24)),
        ("下个月15号", DatePreference.FUTURE, date(2025, 4, 15)),
        ("月底", DatePreference.FUTURE, date(2025, 3, 31)),
        ("下周三", DatePreference.FUTURE, date(2025, 3, 19)),
        ("周五", DatePreference.FUTURE, date(2025, 3, 14)),
        ("5号", DatePreference.FUTURE, date(2025, 4, 5)),
        ("5号", DatePreference.PAST, date(2025, 3, 5)),
        ("1月20日", DatePreference.FUTURE, date(2026, 1, 20)),
        ("1月20日", DatePreference.PAST, date(2025, 1, 20)),
        ("tomorrow", DatePreference.FUTURE, date(2025, 3, 11)),
    ],
)
def test_dates(text: str, preference: DatePreference, value: date) -> None:
    assert parse_date(text, TODAY, preference) == value


@pytest.mark.parametrize("text", ["改天", "2025-02-30", "13月1日", "sometime", "99999999天后"])
def test_bad_dates(text: str) -> None:
    with pytest.raises(AnswerError):
        parse_date(text, TODAY)


def test_choice_by_code_label_synonym_and_containment() -> None:
    assert parse_choice("a", CHOICE) == "a"
    assert parse_choice("乙", CHOICE) == "b"
    assert parse_choice("Beta", CHOICE) == "b"
    assert parse_choice("第二个", CHOICE) == "b"
    assert parse_choice("我选甲吧", CHOICE) == "a"
    with pytest.raises(AnswerError, match="甲、乙"):
        parse_choice("丙", CHOICE)
    with pytest.raises(AnswerError):
        parse_choice("甲乙", CHOICE)  # both


def test_codes_are_normalized() -> None:
    assert normalize_code(" 一二三x ") == "123X"
    assert normalize_code("１２３４") == "1234"


def test_coerce_checks_bounds_and_types() -> None:
    money = Ask("m", T("多少"), AnswerType.MONEY, validation=Validation(min_value=Decimal("0.01")))
    assert coerce_answer(money, "五十", TODAY) == Decimal("50.00")
    assert coerce_answer(money, 7, TODAY) == Decimal("7.00")
    with pytest.raises(AnswerError, match="不能小于"):
        coerce_answer(money, "0", TODAY)
    with pytest.raises(AnswerError, match="类型不符"):
        coerce_answer(money, True, TODAY)
    count = Ask("n", T("几人"), AnswerType.NUMBER, validation=Validation(integer=True))
    with pytest.raises(AnswerError, match="整数"):
        coerce_answer(count, "2.5", TODAY)
    when = Ask("d", T("哪天"), AnswerType.DATE, validation=Validation(min_days=0, max_days=30))
    assert coerce_answer(when, "今天", TODAY) == TODAY
    assert coerce_answer(when, "2025-04-09", TODAY) == date(2025, 4, 9)
    with pytest.raises(AnswerError, match="不能晚于"):
        coerce_answer(when, "2025-04-10", TODAY)
    with pytest.raises(AnswerError, match="不能早于"):
        coerce_answer(when, "昨天", TODAY)
    text = Ask("t", T("说明"), AnswerType.FREE_TEXT, validation=Validation(max_length=3))
    with pytest.raises(AnswerError, match="过长"):
        coerce_answer(text, "太长了吧", TODAY)
    optional = Ask("o", T("备注"), AnswerType.FREE_TEXT, required=False)
    assert coerce_answer(optional, "  ", TODAY) is None
    with pytest.raises(AnswerError, match="必须回答"):
        coerce_answer(text, "", TODAY)


def test_conditions() -> None:
    got = {"n": Decimal(5), "c": "a", "y": True}
    assert condition_holds(Condition("n", Op.GT, Decimal(4)), got, {})
    assert not condition_holds(Condition("n", Op.GT, Decimal(5)), got, {})
    assert condition_holds(Condition("n", Op.LE, var="limit"), got, {"limit": Decimal(5)})
    assert condition_holds(Condition("c", Op.IN, ("a", "b")), got, {})
    assert condition_holds(Condition("c", Op.NOT_IN, ("b",)), got, {})
    assert condition_holds(Condition("y", Op.EQ, True), got, {})
    assert not condition_holds(Condition("y", Op.EQ, "True"), got, {})  # no type juggling
    assert condition_holds(Condition("missing", Op.NOT_ANSWERED), got, {})
    assert not condition_holds(Condition("missing", Op.NE, "a"), got, {})


# --- templates ----------------------------------------------------------------------------------


def test_render_formats_and_masks() -> None:
    values = {
        "amount_due": Decimal("4560.1"),
        "due_date": date(2025, 3, 15),
        "masked_plate": "粤B12345",
    }
    assert render("{amount_due} {due_date} {masked_plate}", values, "zh") == (
        "¥4,560.10 2025年3月15日 粤B***45"
    )
    assert render("{due_date}", values, "en") == "2025-03-15"
    assert render("{amount_due}", values, "zh", reveal_loan_details=False) == "***"
    assert render("{id_last4}", {"id_last4": "123X"}, "zh") == "***"
    assert mask_plate("京A·D1234") == "京A***34"


# --- the runner ---------------------------------------------------------------------------------


def test_run_branch_a_reveals_the_amount_after_identity() -> None:
    state = start(make(), CONTEXT)
    p = prompt(state)
    assert [line.zh for line in p.lines] == ["您好，我是李明", "本次通话将录音"]
    assert p.question is not None and p.answer_type is AnswerType.FREE_TEXT
    state = answer(state, "123x")
    assert state.identity_verified
    state = answer(state, "甲")
    assert state.finished and state.outcome == "completed"
    said = [e.text.zh for e in transcript(state) if e.kind is EntryKind.SAY]
    assert "您应还¥4,560.12" in said
    assert answers(state) == {"id4": "123X", "q": "a"}
    r = result(state)
    assert r.disclosures == ("recording_notice",)
    assert (r.script_id, r.script_version, r.purpose) == ("t", 1, Purpose.ROUTINE)


def test_run_branch_b_goes_to_the_default() -> None:
    state = answer(answer(start(make(), CONTEXT), "123X"), "beta")
    assert state.outcome == "completed"
    assert all(e.step_id != "say_a" for e in transcript(state))


def test_failed_identity_ends_without_details() -> None:
    state = answer(start(make(), CONTEXT), "9999")
    assert state.finished and state.outcome == "identity_failed"
    assert not state.identity_verified
    assert all("4,560" not in e.text.zh for e in transcript(state))


def test_rejected_answer_keeps_the_question_and_counts() -> None:
    state = start(make(), CONTEXT)
    state = answer(state, "12")
    assert state.position == "id4" and state.rejections == 1
    assert state.error is not None and "格式" in state.error.zh
    p = prompt(state)
    assert p.error == state.error and p.question is not None
    state = answer(state, "abcd")
    assert state.rejections == 2
    state = answer(state, "123X")
    assert state.rejections == 0 and state.error is None and state.position == "q"
    rejected = [e for e in transcript(state) if e.kind is EntryKind.REJECTED]
    assert [e.raw for e in rejected] == ["12", "abcd"]
    assert all(e.speaker == "borrower" for e in rejected)


def test_typed_values_drive_the_runner_like_text() -> None:
    state = answer(answer(start(make(), CONTEXT), "123X"), "a")
    assert state.outcome == "completed"


def test_handover_and_interrupt_end_the_run() -> None:
    state = request_handover(start(make(), CONTEXT), T("客户要求转人工"))
    assert state.finished and state.handed_over and state.outcome == "handed_over"
    with pytest.raises(RunFinished):
        answer(state, "123X")
    stopped = interrupt(start(make(), CONTEXT), "hung_up", T("客户挂断"))
    assert stopped.finished and not stopped.handed_over and stopped.outcome == "hung_up"
    with pytest.raises(RunFinished):
        interrupt(stopped, "x", T("x"))


def test_handover_step_in_a_script() -> None:
    steps = base_steps()
    steps[4] = Branch("br", (BranchRule((Condition("q", Op.EQ, "b"),), "human"),), "say_a")
    steps.append(Handover("human", T("转人工"), "asked"))
    state = answer(answer(start(make(steps), CONTEXT), "123X"), "b")
    assert state.handed_over and state.outcome == "handed_over"


def test_start_checks_the_context() -> None:
    with pytest.raises(ContextError, match="amount_due"):
        start(make(), ScriptContext(TODAY, {"agent_name": "李明", "id_last4": "123X"}))
    with pytest.raises(ContextError, match="money"):
        start(make(), replace(CONTEXT, values={**CONTEXT.values, "amount_due": "多"}))


def test_state_round_trips_through_json_at_every_step() -> None:
    script = make()
    state = start(script, CONTEXT)
    for reply in ("12", "123X", "甲"):
        stored = json.loads(json.dumps(state_to_dict(state), ensure_ascii=False))
        restored = state_from_dict(stored, script)
        assert restored == state
        state = answer(restored, reply)
    assert state_from_dict(json.loads(json.dumps(state_to_dict(state))), script) == state


def test_state_for_another_version_is_refused() -> None:
    script = make()
    data = state_to_dict(start(script, CONTEXT))
    with pytest.raises(ValueError, match="another script version"):
        state_from_dict(data, replace(script, version=2))
    with pytest.raises(ValueError, match="invalid run state"):
        state_from_dict({**data, "position": "nowhere"}, script)
    with pytest.raises(ValueError, match="format"):
        state_from_dict({**data, "format": 99}, script)


# --- properties: any text is either understood or rejected with a message ----------------------

TOKENS = [
    *"0123456789.,-%¥元块角分毛万千百十零一二两三四五六七八九点号日月年周下个后天是不没有对 aX",
    "负",
    "百分之",
    "大概",
    "左右",
    "明天",
    "下个月",
]
SPOKEN = st.lists(st.sampled_from(TOKENS), max_size=8).map("".join)


@settings(max_examples=300, deadline=None)
@given(SPOKEN)
def test_property_parsers_never_fail_unexplained(text: str) -> None:
    for parse in (
        parse_yes_no,
        parse_number,
        parse_money,
        lambda t: parse_date(t, TODAY),
        lambda t: parse_choice(t, CHOICE),
    ):
        try:
            parse(text)
        except AnswerError as exc:
            assert exc.message.zh and exc.message.en


@settings(max_examples=100, deadline=None)
@given(st.lists(SPOKEN, max_size=6))
def test_property_runner_takes_any_answers_and_round_trips(texts: list[str]) -> None:
    script = make()
    state = start(script, CONTEXT)
    for text in ["123X", *texts]:
        if state.finished:
            break
        before = state.position
        state = answer(state, text)
        if state.error is not None:
            assert state.position == before and state.rejections >= 1
        assert state_from_dict(json.loads(json.dumps(state_to_dict(state))), script) == state
