"""The dialogue manager over the script runner, with scripted typed replies."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from huifang.domain import scripts as sc
from huifang.voice.console import ScriptedChannel
from huifang.voice.dialogue import Dialogue, Heard, confirm_policy, spoken_money, spoken_value
from huifang.voice.nlu import Expectation, Policy

T = sc.Text
SCRIPT = sc.Script(
    id="voice_test",
    version=1,
    title=T("测试", "test"),
    purpose=sc.Purpose.ROUTINE,
    variables=("borrower_name", "id_last4", "amount_due"),
    steps=(
        sc.Say("hello", T("您好，这里是回访中心。", "Hello, follow-up centre.")),
        sc.Disclosure("rec", "recording_notice", T("本次通话将录音。", "This call is recorded.")),
        sc.Ask(
            "who",
            T("请问您是{borrower_name}本人吗？", "Are you {borrower_name}?"),
            sc.AnswerType.YES_NO,
        ),
        sc.Branch("b", (sc.BranchRule((sc.Condition("who", sc.Op.EQ, False),), "wrong"),), "id4"),
        sc.Ask(
            "id4",
            T("请说身份证后四位。", "Last four ID digits?"),
            sc.AnswerType.FREE_TEXT,
            validation=sc.Validation(pattern="[0-9]{3}[0-9X]"),
            identity=sc.IdentityCheck((sc.Condition("id4", sc.Op.EQ, var="id_last4"),), "failed"),
        ),
        sc.Ask(
            "pay",
            T("本期应还{amount_due}，您打算还多少？", "You owe {amount_due}; how much?"),
            sc.AnswerType.MONEY,
        ),
        sc.Ask("when", T("哪天还？", "When?"), sc.AnswerType.DATE),
        sc.Ask(
            "income",
            T("收入来源？", "Income source?"),
            sc.AnswerType.CHOICE,
            options=(
                sc.Option("salary", T("工资", "salary")),
                sc.Option("business", T("经营", "business")),
            ),
        ),
        sc.End("done", T("感谢您的配合，再见。", "Thank you, goodbye."), "completed"),
        sc.End("wrong", T("打扰了，再见。", "Sorry to bother you."), "wrong_person"),
        sc.End("failed", T("无法核实身份，再见。", "Cannot verify, goodbye."), "identity_failed"),
    ),
)
CONTEXT = sc.ScriptContext(
    date(2026, 11, 23),
    {"borrower_name": "张伟", "id_last4": "1234", "amount_due": Decimal("3500")},
)


def call(
    *replies: str | Heard, language: sc.Language = "zh", policy: Policy | None = None
) -> tuple[Dialogue, ScriptedChannel]:
    channel = ScriptedChannel(replies)
    dialogue = Dialogue(sc.start(SCRIPT, CONTEXT), channel, language, policy)
    dialogue.run()
    return dialogue, channel


def test_a_whole_call_records_typed_answers() -> None:
    d, ch = call("是的", "一二三四", "三千五", "下个月15号", "工资")
    assert d.record.outcome == "completed"
    assert d.record.answers == {
        "who": True,
        "id4": "1234",
        "pay": Decimal("3500.00"),
        "when": date(2026, 12, 15),
        "income": "salary",
    }
    assert ch.spoken[-1] == "感谢您的配合，再见。"
    speakers = [t.speaker for t in d.record.turns]
    assert speakers.count("borrower") == 5


def test_no_loan_detail_before_identity() -> None:
    d, ch = call("是的", "九九九九")
    assert d.record.outcome == "identity_failed"
    assert not any("3,500" in s for s in ch.spoken)


def test_low_confidence_is_confirmed() -> None:
    d, ch = call("嗯", "对", "1234", "大概三千吧", "不对", "三千五", "月底", "#2")
    assert d.record.outcome == "completed"
    assert d.record.answers["pay"] == Decimal("3500.00")
    assert d.record.answers["income"] == "business"
    assert "您说的是三千元，对吗？请说对或不对，或按1确认、按2重说。" in ch.spoken
    assert "好的，请您再说一遍。本期应还¥3,500.00，您打算还多少？" in ch.spoken


# What the recognizer heard, with its confidence: the policy reads the product of the
# recognizer's and the understanding's confidence ("三千五" is understood at 0.95).
OPENING = ("是的", "1234")


def asr(text: str, confidence: float) -> Heard:
    return Heard(text=text, confidence=confidence)


def pay_turns(d: Dialogue) -> list[tuple[str, str]]:
    return [(t.speaker, t.text) for t in d.record.turns if t.step_id == "pay"]


def test_a_sure_answer_is_taken_without_a_read_back() -> None:
    d, ch = call(*OPENING, asr("三千五", 0.9), "月底", "#1")
    assert d.record.answers["pay"] == Decimal("3500.00")
    assert not any("对吗" in s for s in ch.spoken)


def test_a_doubtful_answer_is_read_back_and_confirmed_by_voice_or_key_1() -> None:
    for yes in ("对", "#1", "是的，没错"):
        d, ch = call(*OPENING, asr("三千五", 0.6), yes, "月底", "#1")
        assert d.record.answers["pay"] == Decimal("3500.00"), yes
        readbacks = [s for s in ch.spoken if "对吗" in s]
        assert readbacks == ["您说的是三千五百元，对吗？请说对或不对，或按1确认、按2重说。"]
        # the read-back and the reply are turns of the question's step, with the confidence
        turns = [t for t in d.record.turns if t.step_id == "pay" and t.speaker == "borrower"]
        assert [t.confidence for t in turns] == [0.6, 1.0]


def test_no_or_key_2_asks_again_and_the_new_answer_is_taken() -> None:
    for no in ("不对", "#2"):
        d, ch = call(*OPENING, asr("三千", 0.6), no, asr("三千五", 0.9), "月底", "#1")
        assert d.record.answers["pay"] == Decimal("3500.00"), no
        assert ch.spoken.count("好的，请您再说一遍。本期应还¥3,500.00，您打算还多少？") == 1


def test_a_correction_in_reply_to_the_read_back_is_the_new_answer() -> None:
    d, ch = call(*OPENING, asr("三千", 0.6), "不对，是三千五", "月底", "#1")
    assert d.record.answers["pay"] == Decimal("3500.00")
    assert sum("对吗" in s for s in ch.spoken) == 1  # the correction was heard at 0.95
    # repeating the same amount confirms it
    d, _ = call(*OPENING, asr("三千", 0.6), "三千", "月底", "#1")
    assert d.record.answers["pay"] == Decimal("3000.00")


def test_a_doubtful_correction_is_read_back_too() -> None:
    d, ch = call(*OPENING, asr("三千", 0.6), asr("不对，是三千五", 0.6), "对", "月底", "#1")
    assert d.record.answers["pay"] == Decimal("3500.00")
    assert [s for s in ch.spoken if "对吗" in s] == [
        "您说的是三千元，对吗？请说对或不对，或按1确认、按2重说。",
        "您说的是三千五百元，对吗？请说对或不对，或按1确认、按2重说。",
    ]


def test_an_unclear_reply_to_the_read_back_is_asked_once_more_then_counts_as_no() -> None:
    d, ch = call(*OPENING, asr("三千", 0.6), "", "对", "月底", "#1")
    assert d.record.answers["pay"] == Decimal("3000.00")
    assert "请说对或不对，或按1确认、按2重说。" in ch.spoken
    d, ch = call(*OPENING, asr("三千", 0.6), "", "这个嘛", asr("三千五", 0.9), "月底", "#1")
    assert d.record.answers["pay"] == Decimal("3500.00")
    assert ch.spoken.count("好的，请您再说一遍。本期应还¥3,500.00，您打算还多少？") == 1


def test_below_the_low_threshold_the_question_is_asked_again_without_a_read_back() -> None:
    d, ch = call(*OPENING, asr("三千五", 0.35), asr("三千五", 0.9), "月底", "#1")
    assert d.record.answers["pay"] == Decimal("3500.00")
    assert not any("对吗" in s for s in ch.spoken)
    assert "抱歉，我没有听清楚。本期应还¥3,500.00，您打算还多少？" in ch.spoken


def test_read_backs_and_declines_count_towards_the_reprompt_limit() -> None:
    d, _ = call(*OPENING, *[asr("三千", 0.6), "#2"] * 3)
    assert d.record.state.handed_over and d.record.handover_reason == "not_understood"


def test_a_request_for_a_human_at_the_read_back_hands_over() -> None:
    d, ch = call(*OPENING, asr("三千", 0.6), "转人工")
    assert d.record.handover_reason == "borrower_request"
    assert ch.spoken[-1].startswith("好的，正在为您转接人工服务")


def test_thresholds_are_configurable() -> None:
    # everything below 0.99 is read back (but the ID tail: asked again, then keyed in);
    # nothing at all is read back with both at 0
    strict = Policy(accept_at=0.99)
    keyed = Heard(keys="1234#")
    d, ch = call("是的", "#1", "1234", keyed, "三千五", "#1", "月底", "#1", "#1", policy=strict)
    assert d.record.outcome == "completed"
    assert "您说的是三千五百元，对吗？请说对或不对，或按1确认、按2重说。" in ch.spoken
    assert not any("1234" in s for s in ch.spoken)
    d, ch = call(*OPENING, asr("三千", 0.1), "月底", "#1", policy=confirm_policy(0.0, 0.0))
    assert d.record.answers["pay"] == Decimal("3000.00")
    policy = confirm_policy(
        env={"HUIFANG_VOICE_ACCEPT_AT": "0.9", "HUIFANG_VOICE_CONFIRM_AT": "0.5"}
    )
    assert (policy.accept_at, policy.confirm_at) == (0.9, 0.5)
    assert confirm_policy(0.7, env={"HUIFANG_VOICE_ACCEPT_AT": "0.9"}).accept_at == 0.7
    assert (confirm_policy(env={}).accept_at, confirm_policy(env={}).confirm_at) == (0.8, 0.4)
    with pytest.raises(ValueError, match="confirm_at"):
        confirm_policy(0.4, 0.6, env={})
    with pytest.raises(ValueError, match="HUIFANG_VOICE_CONFIRM_AT"):
        confirm_policy(env={"HUIFANG_VOICE_CONFIRM_AT": "high"})


def test_english_read_back() -> None:
    d, ch = call(
        "yes", "1234", asr("three thousand", 0.6), "yes", "next Friday", "#2", language="en"
    )
    assert d.record.answers["pay"] == Decimal("3000.00")
    assert (
        "You said 3,000 yuan, is that right? Say yes or no, or press 1 to confirm, 2 to say it "
        "again." in ch.spoken
    )


def test_values_are_read_back_as_said() -> None:
    assert spoken_money(Decimal("3500"), "zh") == "三千五百元"
    assert spoken_money(Decimal("20000"), "zh") == "两万元"
    assert spoken_money(Decimal("3500.50"), "zh") == "三千五百元五角"
    assert spoken_money(Decimal("1200.05"), "zh") == "一千二百元零五分"
    assert spoken_money(Decimal("0.36"), "zh") == "零元三角六分"
    assert spoken_money(Decimal("3500.5"), "en") == "3,500.50 yuan"
    today = date(2026, 11, 23)
    money, day = Expectation("money", today), Expectation("date", today)
    assert spoken_value(date(2026, 12, 15), "zh", day) == "12月15日"
    assert spoken_value(date(2027, 1, 5), "zh", day) == "2027年1月5日"
    assert spoken_value(date(2026, 12, 15), "en", day) == "December 15"
    assert spoken_value(date(2027, 1, 5), "en", day) == "January 5, 2027"
    assert spoken_value(Decimal("2000"), "zh", money) == "两千元"
    assert spoken_value(Decimal("12"), "zh", Expectation("number", today)) == "十二"
    assert spoken_value(True, "zh", Expectation("yes_no", today)) == "“是的”"
    assert spoken_value(False, "en", Expectation("yes_no", today)) == "“no”"


def test_silence_reprompts_then_hands_over() -> None:
    d, ch = call("", "呃", "")
    assert d.record.state.handed_over and d.record.handover_reason == "not_understood"
    assert sum(s.startswith("抱歉，我没有听清楚") for s in ch.spoken) == 2


def test_a_value_the_runner_keeps_refusing_is_handed_over_not_asked_forever() -> None:
    d, _ = call("是的", *["十二"] * 20)  # never four ID digits: the pattern refuses each
    assert d.record.state.handed_over and d.record.handover_reason == "not_understood"
    heard = [t.text for t in d.record.turns if t.speaker == "borrower"]
    assert heard == ["是的", "十二", "十二", "十二"]  # the first answer and two re-asks


def test_request_for_a_human_hands_over_with_transcript() -> None:
    d, ch = call("是的", "我要转人工")
    assert d.record.outcome == sc.OUTCOME_HANDED_OVER
    assert d.record.handover_reason == "borrower_request"
    assert ch.spoken[-1].startswith("好的，正在为您转接人工服务")
    assert [t.text for t in d.record.turns if t.speaker == "borrower"] == ["是的", "我要转人工"]


def test_distress_hands_over() -> None:
    d, _ = call("是的", "1234", "我爸住院了，我真的活不下去了")
    assert d.record.handover_reason == "distress"


def test_keypad_zero_asks_for_a_human_and_english_works() -> None:
    d, ch = call("yes", "1234", "three thousand five hundred", "next Friday", "#0", language="en")
    assert d.record.answers["when"] == date(2026, 12, 4)
    assert d.record.handover_reason == "borrower_request"
    assert ch.spoken[0] == "Hello, follow-up centre."


def test_repeat_request_repeats_the_question() -> None:
    _, ch = call("你说什么？", "不是")
    assert ch.spoken.count("请问您是张伟本人吗？") == 1  # repeated without the keypad hint
    assert ch.spoken[-1] == "打扰了，再见。"


def test_readings_of_the_n_best_that_disagree_get_the_answer_read_back() -> None:
    # A recognizer sure of its best reading, but its n best split between amounts.
    split = Heard("三千五", 0.9, None, ("三千八", "八千"), (0.6, 0.25, 0.15))
    agreed = Heard("三千五", 0.9, None, ("三千五百", "三千五块"), (0.5, 0.3, 0.2))
    d, ch = call(*OPENING, split, "对", "月底", "#1")
    assert d.record.answers["pay"] == Decimal("3500.00")
    assert any("对吗" in s for s in ch.spoken)
    d, ch = call(*OPENING, agreed, "月底", "#1")
    assert d.record.answers["pay"] == Decimal("3500.00")
    assert not any("对吗" in s for s in ch.spoken)


# Personal answers (the ID tail, a new phone or address) are never read back whole: the read-back
# is said on the call and kept as an agent turn, which staff later read.
CONTACT_SCRIPT = replace(
    SCRIPT,
    id="voice_contact_test",
    steps=(
        *SCRIPT.steps[:5],  # the opening and the identity check
        sc.Ask(
            "new_phone",
            T("请说您的新手机号。", "Your new phone number?"),
            sc.AnswerType.FREE_TEXT,
            personal=sc.Personal.PHONE,
        ),
        sc.Ask(
            "new_address",
            T("请说您的新地址。", "Your new address?"),
            sc.AnswerType.FREE_TEXT,
            personal=sc.Personal.ADDRESS,
        ),
        *SCRIPT.steps[-3:],  # the ends
    ),
)
ADDRESS = "广东省深圳市南山区科技园一号"


def contact_call(
    *replies: str | Heard, language: sc.Language = "zh"
) -> tuple[Dialogue, ScriptedChannel]:
    channel = ScriptedChannel((*OPENING, *replies))
    dialogue = Dialogue(sc.start(CONTACT_SCRIPT, CONTEXT), channel, language)
    dialogue.run()
    return dialogue, channel


def test_a_doubtful_id_tail_is_asked_again_never_read_back() -> None:
    d, ch = call("是的", asr("1234", 0.6), asr("1234", 0.9), "三千五", "月底", "#1")
    assert d.record.outcome == "completed" and d.record.answers["id4"] == "1234"
    agent = [t.text for t in d.record.turns if t.speaker == "agent"]
    assert not any("1234" in line or "一二三四" in line for line in agent)
    assert not any("对吗" in line for line in agent)
    assert "抱歉，我没有听清楚。请说身份证后四位。" in ch.spoken
    # keyed in after the re-ask, it is taken at once; still doubtful, it ends not understood
    d, _ = call("是的", asr("1234", 0.6), Heard(keys="1234#"), "三千五", "月底", "#1")
    assert d.record.answers["id4"] == "1234"
    d, ch = call("是的", *[asr("1234", 0.6)] * 3)
    assert d.record.handover_reason == "not_understood"
    assert not any("1234" in s for s in ch.spoken)


def test_a_doubtful_new_phone_is_read_back_by_its_last_four_digits() -> None:
    d, ch = contact_call(asr("13812345678", 0.6), "对", asr(ADDRESS, 0.95))
    assert d.record.answers["new_phone"] == "13812345678"
    assert "尾号5678的号码，对吗？请说对或不对，或按1确认、按2重说。" in ch.spoken
    assert not any("1381234" in s for s in ch.spoken)
    d, ch = contact_call(
        asr("幺三八一二三四五六七八", 0.6), "#1", asr(ADDRESS, 0.95), language="en"
    )
    assert (
        "The number ending 5678, is that right? Say yes or no, or press 1 to confirm, "
        "2 to say it again." in ch.spoken
    )
    # fewer than four digits heard: nothing to read back, asked again
    d, ch = contact_call(asr("不知道", 0.6), asr("13812345678", 0.95), asr(ADDRESS, 0.95))
    assert d.record.answers["new_phone"] == "13812345678"
    assert "抱歉，我没有听清楚。请说您的新手机号。" in ch.spoken


def test_a_doubtful_address_is_asked_again_not_read_back() -> None:
    d, ch = contact_call(asr("13812345678", 0.95), asr(ADDRESS, 0.6), asr(ADDRESS, 0.95))
    assert d.record.answers["new_address"] == ADDRESS
    assert not any("科技园" in s or "对吗" in s for s in ch.spoken)
    assert "抱歉，我没有听清楚。请说您的新地址。" in ch.spoken
