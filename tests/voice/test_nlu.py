"""Understanding typed replies: yes/no, amounts, dates, choices, human requests, policy."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from huifang.voice.nlu import (
    Action,
    Expectation,
    Intent,
    Policy,
    choices_from,
    decide,
    understand,
    understand_transcript,
)
from huifang.voice.numbers import numeral_homophones, read_money

TODAY = date(2026, 11, 23)  # a Monday
YES_NO = Expectation("yes_no", TODAY, question="请问您上个月按时还款了吗？")


@pytest.mark.parametrize(
    ("reply", "value"),
    [
        ("是的", True),
        ("对的", True),
        ("对，是我本人", True),
        ("没错", True),
        ("没问题", True),
        ("嗯", True),
        ("yes", True),
        ("Yeah, that's right", True),
        ("Yes, I did.", True),
        ("還了", True),  # traditional characters from ASR; echo of the question's verb
        ("不是", False),
        ("不是我", False),
        ("没有", False),
        ("没还", False),
        ("not really", False),
        ("No, I have not.", False),
        ("nope", False),
    ],
)
def test_yes_no(reply: str, value: bool) -> None:
    u = understand(reply, YES_NO)
    assert u.intent is Intent.ANSWER
    assert u.value is value


def test_a_bare_hum_is_confirmed_and_a_clear_yes_accepted() -> None:
    assert decide(understand("嗯", YES_NO)) is Action.CONFIRM
    assert decide(understand("是的", YES_NO)) is Action.ACCEPT


def test_mixed_signals_are_confirmed() -> None:
    u = understand("不是，是的", YES_NO)
    assert u.value is False and decide(u) is Action.CONFIRM


def test_unsure_is_unclear() -> None:
    assert understand("我不知道", YES_NO).intent is Intent.UNCLEAR
    assert understand("not sure", YES_NO).intent is Intent.UNCLEAR


def test_asr_confidence_scales_the_answer() -> None:
    assert understand("是的", YES_NO, asr_confidence=0.5).confidence == pytest.approx(0.485)
    assert decide(understand("是的", YES_NO, asr_confidence=0.3)) is Action.REPROMPT


@pytest.mark.parametrize(
    ("reply", "amount"),
    [
        ("三千五", "3500.00"),
        ("两万", "20000.00"),
        ("一万二", "12000.00"),
        ("5千块", "5000.00"),
        ("3,500元", "3500.00"),
        ("1.2万", "12000.00"),
        ("两千五百块五毛", "2500.50"),
        ("一千二百三十四块五毛六分", "1234.56"),
        ("three thousand five hundred yuan", "3500.00"),
        ("2k", "2000.00"),
        ("一五零零", "1500.00"),
        ("不是三千，是三千五", "3500.00"),
    ],
)
def test_money(reply: str, amount: str) -> None:
    u = understand(reply, Expectation("money", TODAY))
    assert u.intent is Intent.ANSWER
    assert u.value == Decimal(amount)


def test_hedged_and_corrected_amounts_are_confirmed() -> None:
    money = Expectation("money", TODAY)
    assert decide(understand("大概三千吧", money)) is Action.CONFIRM
    assert decide(understand("不是三千，是三千五", money)) is Action.CONFIRM
    assert understand("我还不了", money).intent is Intent.UNCLEAR


@pytest.mark.parametrize(
    ("reply", "when"),
    [
        ("下个月15号", date(2026, 12, 15)),
        ("下个月十五号吧", date(2026, 12, 15)),
        ("15号", date(2026, 12, 15)),  # the 15th has passed this month
        ("30号", date(2026, 11, 30)),
        ("月底", date(2026, 11, 30)),
        ("下个月底", date(2026, 12, 31)),
        ("明天", date(2026, 11, 24)),
        ("后天", date(2026, 11, 25)),
        ("下周五", date(2026, 12, 4)),
        ("周五", date(2026, 11, 27)),
        ("三天后", date(2026, 11, 26)),
        ("12月15日", date(2026, 12, 15)),
        ("1月5号", date(2027, 1, 5)),
        ("2026年12月20日", date(2026, 12, 20)),
        ("next Friday", date(2026, 12, 4)),
        ("tomorrow", date(2026, 11, 24)),
        ("on the 15th", date(2026, 12, 15)),
        ("end of the month", date(2026, 11, 30)),
        ("in 3 days", date(2026, 11, 26)),
        ("December 15", date(2026, 12, 15)),
    ],
)
def test_dates(reply: str, when: date) -> None:
    u = understand(reply, Expectation("date", TODAY))
    assert (u.intent, u.value) == (Intent.ANSWER, when)


def test_february_end_and_day_31_clamp() -> None:
    feb = Expectation("date", date(2027, 2, 10))
    assert understand("月底", feb).value == date(2027, 2, 28)
    assert understand("31号", feb).value == date(2027, 2, 28)


INCOME = Expectation(
    "choice",
    TODAY,
    choices_from(
        [
            ("salary", ["工资收入", "工资", "salary"]),
            ("business", ["经营收入", "生意", "business"]),
            ("other", ["其他", "other"]),
        ]
    ),
)


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        ("工资", "salary"),
        ("我是做生意的", "business"),
        ("第二个", "business"),
        ("其他的", "other"),
        ("business income", "business"),
        ("the first one", "salary"),
        ("公滋收入", "salary"),  # ASR error, same sound: matched by pinyin
        ("经迎收入", "business"),
    ],
)
def test_choices(reply: str, code: str) -> None:
    u = understand(reply, INCOME)
    assert (u.intent, u.value) == (Intent.ANSWER, code)


def test_nothing_close_is_unclear() -> None:
    assert understand("今天天气不错", INCOME).intent is Intent.UNCLEAR


def test_free_text_is_verbatim() -> None:
    u = understand("车子借给我弟弟开了", Expectation("free_text", TODAY))
    assert u.value == "车子借给我弟弟开了" and decide(u) is Action.ACCEPT


@pytest.mark.parametrize(
    "reply", ["转人工", "我要人工服务", "找真人", "I want to talk to a real person"]
)
def test_human_requests_hand_over(reply: str) -> None:
    u = understand(reply, YES_NO)
    assert u.intent is Intent.HUMAN and decide(u) is Action.HANDOVER


@pytest.mark.parametrize("reply", ["我真的活不下去了", "我爸住院了", "my husband passed away"])
def test_distress_hands_over(reply: str) -> None:
    u = understand(reply, Expectation("money", TODAY))
    assert u.intent is Intent.DISTRESS and decide(u) is Action.HANDOVER


@pytest.mark.parametrize(
    ("reply", "intent"),
    [
        ("", Intent.SILENCE),
        ("呃", Intent.SILENCE),
        ("谢谢观看", Intent.NOISE),
        ("♪ ♪", Intent.NOISE),
    ],
)
def test_silence_and_noise_reprompt(reply: str, intent: Intent) -> None:
    u = understand(reply, YES_NO)
    assert u.intent is intent and decide(u) is Action.REPROMPT


def test_repeat_request() -> None:
    assert decide(understand("你说什么？没听清", YES_NO)) is Action.REPEAT


def test_policy_thresholds() -> None:
    strict = Policy(accept_at=0.99)
    assert decide(understand("是的", YES_NO), strict) is Action.CONFIRM


def test_the_first_understood_reading_of_the_n_best_wins() -> None:
    expect = Expectation("money", date(2026, 11, 23))
    u = understand_transcript(["天物", "三千五"], expect, 0.9)
    assert (u.intent, u.value, u.heard) == (Intent.ANSWER, Decimal("3500.00"), "三千五")
    assert u.confidence < 0.9 * 0.95  # a lower reading costs confidence
    assert understand_transcript(["转人工"], expect).intent is Intent.HUMAN
    assert understand_transcript([], expect).intent is Intent.SILENCE
    assert understand_transcript(["天物"], expect).intent is Intent.UNCLEAR


def test_an_absurdly_long_numeral_is_not_an_amount() -> None:
    assert read_money("1000000000050000000000000000") is None


def test_an_empty_best_reading_among_others_is_not_silence() -> None:
    u = understand_transcript(["", "对", "吗"], YES_NO, 0.5)
    assert (u.intent, u.value) == (Intent.ANSWER, True)
    assert understand_transcript([""], YES_NO).intent is Intent.SILENCE


def test_the_n_best_weights_give_the_confidence() -> None:
    expect = Expectation("money", TODAY)
    agreed = understand_transcript(["三千五", "三千五百", "三千五块"], expect, 0.9, [0.5, 0.3, 0.2])
    split = understand_transcript(["三千五", "三千八", "八千"], expect, 0.9, [0.4, 0.35, 0.25])
    assert agreed.value == split.value == Decimal("3500.00")
    assert decide(agreed) is Action.ACCEPT
    assert decide(split) is Action.REPROMPT
    assert split.confidence < 0.4 < agreed.confidence
    # The first reading the question can use is taken even when others outweigh it.
    lower = understand_transcript(["天物", "一万八", "一万"], expect, 0.9, [0.5, 0.2, 0.3])
    assert lower.value == Decimal("18000.00") and lower.confidence < 0.2
    # Readings nobody can use still count in the total.
    assert understand_transcript(["转人工", "天物"], expect, 1.0, [0.6, 0.4]).intent is Intent.HUMAN


@pytest.mark.parametrize(
    ("heard", "amount"),
    [
        ("以万八", "18000"),  # 以 for 一
        ("一万务", "15000"),  # 务 for 五
        ("五迁块", "5000"),  # 迁 for 千
        ("一万以上", "10000"),  # 以上: "or more", not a digit
        ("三千吧", "3000"),  # a particle, not 八
        ("以前还了三千", "3000"),  # 以前: "before", not 一千
        ("twenty five hundred", "2500"),
        ("25 100", "2500"),  # how the recognizer writes "twenty five hundred"
        ("15 hundred.", "1500"),
        ("3 thousand 5 hundred", "3500"),
        ("10.000 yuan", "10000"),  # a thousands separator, not three decimal places
    ],
)
def test_amounts_misheard_by_their_sound(heard: str, amount: str) -> None:
    reading = read_money(heard)
    assert reading is not None and reading.value == Decimal(amount)


def test_a_numeral_read_from_its_sound_is_confirmed() -> None:
    assert numeral_homophones("以万八") == ("一万八", 1)
    assert numeral_homophones("可以") == ("可以", 0)
    reading = read_money("以万八")
    assert reading is not None and reading.confidence < Policy().accept_at


@pytest.mark.parametrize(("reply", "value"), [("错了", False), ("错的", False), ("没错", True)])
def test_wrong_is_no(reply: str, value: bool) -> None:
    assert understand(reply, YES_NO).value is value
