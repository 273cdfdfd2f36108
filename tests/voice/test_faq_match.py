"""FAQ questions understood through ASR and typing errors (pinyin and spelling similarity),
traditional characters, and requests for a human."""

from __future__ import annotations

import pytest

from huifang.domain import faq
from huifang.faq_files import load_knowledge
from huifang.voice.faq import understand_question

KB = load_knowledge()

# (what the recognizer wrote, the entry the borrower asked about)
ASR_ZH = [
    ("提前还宽收多少手续费", "prepay_cost"),  # 款 → 宽
    ("什么时侯可以提钱还款", "prepay_when"),  # 候 → 侯, 前 → 钱
    ("结青证明怎么开", "settlement_certificate"),  # 清 → 青
    ("逾其会上征信吗", "late_payment"),  # 期 → 其
    ("在那里还宽", "how_to_pay"),
    ("提前還款要多少錢", "prepay_cost"),  # traditional characters (Whisper)
    ("我搬加了住址怎么改", "change_contact"),
    ("罚习怎么算", "late_payment"),  # 息 → 习
]
ASR_EN = [
    ("pre payment fee how much", "prepay_cost"),
    ("wen can i repay early", "prepay_when"),
    ("what happens if i pay lait", "late_payment"),
    ("how do i chance my phone number", "change_contact"),
    ("settlement certificat", "settlement_certificate"),
    ("when is my next instalment", "next_payment"),
]


@pytest.mark.parametrize(("heard", "entry"), ASR_ZH + ASR_EN)
def test_misheard_questions_find_their_entry(heard: str, entry: str) -> None:
    u = understand_question(KB, heard)
    assert not u.human
    assert (u.match.kind, u.match.entry_id) == (faq.MatchKind.ANSWER, entry), u.match.scores


def test_fuzzy_hits_are_marked_and_weaker() -> None:
    exact = understand_question(KB, "结清证明怎么开").match
    fuzzy = understand_question(KB, "结青证明怎么开").match
    assert any(h.fuzzy and h.keyword == "结清证明" for h in fuzzy.hits)
    assert not any(h.keyword == "结清证明" and h.fuzzy for h in exact.hits)
    assert fuzzy.scores["settlement_certificate"] < exact.scores["settlement_certificate"]


@pytest.mark.parametrize(
    "heard", ["今天吃什么", "我想买车", "车子被偷了怎么办", "what is the weather", "hello"]
)
def test_unrelated_speech_matches_nothing(heard: str) -> None:
    assert understand_question(KB, heard).match.kind is faq.MatchKind.UNKNOWN


@pytest.mark.parametrize("heard", ["转人工", "我要人工服务", "I want to talk to a real person"])
def test_requests_for_a_human_are_recognized(heard: str) -> None:
    assert understand_question(KB, heard).human


def test_distress_is_handed_over() -> None:
    u = understand_question(KB, "我住院了还不上")
    assert u.human and u.distress
