"""The FAQ knowledge base's validator, keyword matcher and answer renderer (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from huifang.domain import faq
from huifang.domain.scripts import Text
from huifang.faq_files import load_knowledge

KB = load_knowledge()
PUBLIC = {"lender_name": "汇方汽车金融", "hotline": "400-000-0000"}
LOAN = {
    "contract_no": "HF001",
    "branch_name": "深圳分公司",
    "lock_in_months": 6,
    "fee_rule": "违约金按剩余本金收取：放款后第36个月内5%，之后不收取",
    "penalty_rule": "逾期本金按合同利率的1.5倍按日计收罚息",
    "payoff_date": date(2026, 11, 1),
    "payoff_amount": Decimal("12345.67"),
    "prepayment_fee": Decimal("500.00"),
    "interest_saved": Decimal("321.00"),
    "next_due_date": date(2026, 11, 7),
    "next_due_amount": Decimal("404.17"),
    "remaining_periods": 11,
}


def test_shipped_knowledge_is_valid_and_covers_the_brief() -> None:
    assert faq.validate_knowledge(KB) == []
    assert KB.version >= 1
    ids = {e.id for e in KB.entries}
    assert {
        "prepay_when",
        "prepay_cost",
        "change_contact",
        "how_to_pay",
        "late_payment",
        "settlement_certificate",
        "contact_us",
        "next_payment",
    } <= ids


def test_validator_finds_loan_details_in_generic_answers_and_unknown_variables() -> None:
    entry = KB.entry("prepay_cost")
    leaky = replace(entry, generic=Text("结清金额{payoff_amount}", "payoff {payoff_amount}"))
    typo = replace(KB.entry("how_to_pay"), personal=(Text("{no_such}", "x"),))
    twin = replace(KB.entry("contact_us"), id="contact_us_again")
    bad = replace(KB, version=0, entries=(leaky, typo, KB.entry("contact_us"), twin))
    codes = {(p.code, p.entry_id) for p in faq.validate_knowledge(bad)}
    assert (faq.ProblemCode.PRIVATE_IN_GENERIC, "prepay_cost") in codes
    assert (faq.ProblemCode.UNKNOWN_VARIABLE, "how_to_pay") in codes
    assert (faq.ProblemCode.SAME_KEYWORDS, "contact_us_again") in codes
    assert (faq.ProblemCode.BAD_VERSION, None) in codes


def test_keywords_match_whole_english_words_and_chinese_substrings() -> None:
    assert faq.keyword_found("fee", "is there a fee?")
    assert not faq.keyword_found("fee", "I feel fine")
    assert faq.keyword_found("提前还款", "我想提前还款，可以吗")
    assert faq.keyword_found("提前还款", "我想提前 还款")  # spaces between characters
    assert faq.keyword_weight("违约金") == 3.0


def test_questions_match_their_entries() -> None:
    cases = {
        "什么时候可以提前还款？": "prepay_when",
        "提前还款要收多少违约金": "prepay_cost",
        "我换手机号了怎么改": "change_contact",
        "逾期了会上征信吗": "late_payment",
        "结清证明去哪里开": "settlement_certificate",
        "在哪里还款": "how_to_pay",
        "下一期什么时候还": "next_payment",
        "When can I repay early?": "prepay_when",
        "Is there a fee for paying off early?": "prepay_cost",
        "What happens if I pay late?": "late_payment",
        "how do I change my phone number": "change_contact",
    }
    for question, entry in cases.items():
        m = faq.match(KB, question)
        assert (m.kind, m.entry_id) == (faq.MatchKind.ANSWER, entry), (question, m.scores)


def test_ambiguous_questions_ask_and_unknown_ones_offer_a_human() -> None:
    both = faq.match(KB, "提前还款")
    assert both.kind is faq.MatchKind.CLARIFY
    assert set(both.candidates) == {"prepay_when", "prepay_cost"}
    said = faq.answer(KB, both, "zh", PUBLIC, None)
    assert "什么时候可以提前还款" in said.text and "提前还款的费用" in said.text
    for nonsense in ("今天天气怎么样", "how do I get to the airport", "", "   "):
        m = faq.match(KB, nonsense)
        assert m.kind is faq.MatchKind.UNKNOWN, (nonsense, m.scores)
    unknown = faq.answer(KB, faq.match(KB, "今天天气怎么样"), "zh", PUBLIC, LOAN)
    assert "转人工" in unknown.text and "400-000-0000" in unknown.text
    assert not unknown.personal


def test_figures_only_after_verification() -> None:
    m = faq.match(KB, "提前还款要多少钱")
    generic = faq.answer(KB, m, "zh", PUBLIC, None)
    assert not generic.personal and "¥" not in generic.text
    personal = faq.answer(KB, m, "zh", PUBLIC, LOAN)
    assert personal.personal and "¥12,345.67" in personal.text and "¥500.00" in personal.text
    assert personal.knowledge_version == KB.version
    # a loan figure passed as "public" is ignored by the generic answer
    sneaky = faq.answer(KB, m, "zh", {**PUBLIC, **LOAN}, None)
    assert "¥" not in sneaky.text
    en = faq.answer(KB, m, "en", PUBLIC, LOAN)
    assert "¥12,345.67" in en.text and "2026-11-01" in en.text


def test_personal_variant_falls_back_when_a_figure_does_not_apply() -> None:
    m = faq.match(KB, "提前还款要多少钱")
    locked = {k: v for k, v in LOAN.items() if not k.startswith(("payoff", "prepayment"))}
    locked["prepay_from"] = date(2027, 3, 7)
    said = faq.answer(KB, m, "zh", PUBLIC, locked)
    assert said.personal and "2027年3月7日" in said.text and "¥12,345.67" not in said.text
    late = faq.answer(KB, faq.match(KB, "逾期会怎样"), "zh", PUBLIC, LOAN)
    assert late.personal and "逾期" in late.text and "¥404.17" in late.text  # not overdue
    overdue = {**LOAN, "days_past_due": 12, "overdue_amount": Decimal("404.17")}
    late = faq.answer(KB, faq.match(KB, "逾期会怎样"), "zh", PUBLIC, overdue)
    assert "逾期12天" in late.text


def test_fee_rule_in_words() -> None:
    tiers = [(12, Decimal("0.03")), (24, Decimal("0.02")), (None, Decimal("0.01"))]
    zh = faq.fee_rule_text(tiers, "prepaid-principal", 0, "zh")
    assert zh == "违约金按提前还款本金收取：放款后第12个月内3%、放款后第24个月内2%、此后1%"
    en = faq.fee_rule_text([(36, Decimal("0.05"))], "remaining-principal", 6, "en")
    assert en.startswith("no early repayment in the first 6 months")
    assert "5% within 36 months" in en and "nothing after that" in en
    assert faq.fee_rule_text([], "prepaid-principal", 0, "zh") == "不收取提前还款违约金"
