"""The dialogue manager over the script runner, with scripted typed replies."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from huifang.domain import scripts as sc
from huifang.voice.console import ScriptedChannel
from huifang.voice.dialogue import Dialogue

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


def call(*replies: str, language: sc.Language = "zh") -> tuple[Dialogue, ScriptedChannel]:
    channel = ScriptedChannel(replies)
    dialogue = Dialogue(sc.start(SCRIPT, CONTEXT), channel, language)
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
    assert any(s.startswith("您是说“¥3,000.00”") for s in ch.spoken)


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
