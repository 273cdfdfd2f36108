"""The borrower FAQ (常见问题): a curated, versioned knowledge base, its validator, the keyword
matcher and the answer renderer — pure, so the self-service page, the API and the inbound voice
assistant answer the same question the same way.

A knowledge base (`Knowledge`) has an id, a version and entries. Each entry (`Entry`) names a
topic ("when can I repay early"), lists sample questions and keywords in Chinese and English,
and has answers:

* `generic` — said to anyone (before or without identity verification): rules in general
  words, the hotline; it may use only public variables (`FAQ_VARIABLES`, exposure public);
* `personal` — tried in order after identity verification; the first whose variables are
  all known for the loan is given (e.g. the payoff figure when a quote exists, the fee rule
  alone inside the lock-in period); when none fits, the generic answer is given.

Matching (`match`): the question is compared, as normalized text, with every entry's
keywords (a keyword found in the question scores its length — longer, more specific phrases
win) and sample questions (character-bigram overlap). Adapters may add hits found by other
means (the voice assistant adds keywords heard through ASR errors by comparing pinyin,
`huifang.voice.faq`), passed as `extra_hits`. A clear best entry is answered; two entries
close together ask the borrower to choose; nothing close enough offers a human ("don't know
→ offer a human", PIPL art. 24).
"""

from __future__ import annotations

import itertools
import re
import string
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from huifang.domain.scripts import (
    STANDARD_VARIABLES,
    Exposure,
    Language,
    Text,
    Variable,
    VariableKind,
    format_value,
    template_variables,
)

# --------------------------------------------------------------------------------------------
# Variables an answer may use
# --------------------------------------------------------------------------------------------


def _var(name: str, kind: VariableKind, exposure: Exposure, zh: str, en: str) -> Variable:
    return Variable(name, kind, exposure, Text(zh, en))


_LOAN = Exposure.LOAN_DETAIL
_FAQ_ONLY = (
    _var("contract_no", VariableKind.TEXT, _LOAN, "合同编号", "contract number"),
    _var("lock_in_months", VariableKind.INTEGER, _LOAN, "提前还款锁定期 (月)", "lock-in months"),
    _var("prepay_from", VariableKind.DATE, _LOAN, "最早可提前还款日", "earliest prepayment date"),
    _var("fee_rule", VariableKind.TEXT, _LOAN, "提前还款违约金规则", "early-repayment fee rule"),
    _var("penalty_rule", VariableKind.TEXT, _LOAN, "罚息规则", "penalty-interest rule"),
    _var("next_due_date", VariableKind.DATE, _LOAN, "下一期还款日", "next due date"),
    _var("next_due_amount", VariableKind.MONEY, _LOAN, "下一期应还金额", "next amount due"),
    _var("remaining_periods", VariableKind.INTEGER, _LOAN, "剩余期数", "periods left"),
)

FAQ_VARIABLES: Mapping[str, Variable] = MappingProxyType(
    {
        **{n: v for n, v in STANDARD_VARIABLES.items() if v.exposure is not Exposure.SECRET},
        **{v.name: v for v in _FAQ_ONLY},
    }
)
"""The variables an FAQ answer may use: the script catalogue's (secrets excluded) and the
FAQ's own. Public ones (lender, hotline, branch) may appear in generic answers."""


# --------------------------------------------------------------------------------------------
# The knowledge base
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entry:
    """One topic of the FAQ: sample questions, keywords per language and the answers."""

    id: str
    title: Text
    questions_zh: tuple[str, ...]
    questions_en: tuple[str, ...]
    keywords_zh: tuple[str, ...]
    keywords_en: tuple[str, ...]
    generic: Text
    personal: tuple[Text, ...] = ()


@dataclass(frozen=True, slots=True)
class Knowledge:
    """A versioned knowledge base; `fallback` is said when no entry matches (it offers a
    human), `clarify` when two entries are close (``{choices}`` lists their titles)."""

    id: str
    version: int
    title: Text
    entries: tuple[Entry, ...]
    fallback: Text
    clarify: Text

    def entry(self, entry_id: str) -> Entry:
        for e in self.entries:
            if e.id == entry_id:
                return e
        raise KeyError(entry_id)


class ProblemCode(StrEnum):
    DUPLICATE_ID = "duplicate_id"
    BAD_ID = "bad_id"
    BAD_VERSION = "bad_version"
    NO_KEYWORDS = "no_keywords"
    NO_QUESTIONS = "no_questions"
    EMPTY_TEXT = "empty_text"
    BAD_TEMPLATE = "bad_template"
    UNKNOWN_VARIABLE = "unknown_variable"
    PRIVATE_IN_GENERIC = "private_in_generic"
    SAME_KEYWORDS = "same_keywords"


@dataclass(frozen=True, slots=True)
class Problem:
    code: ProblemCode
    entry_id: str | None
    message: Text

    def __str__(self) -> str:
        where = f"[{self.entry_id}] " if self.entry_id else ""
        return f"{where}{self.message.zh} / {self.message.en}"


_ID_RE = re.compile(r"[a-z][a-z0-9_]*")


def _template_problems(
    entry_id: str | None, label: str, text: Text, public_only: bool
) -> list[Problem]:
    out: list[Problem] = []
    for lang, template in (("zh", text.zh), ("en", text.en)):
        where = f"{label}.{lang}"
        if not template.strip():
            out.append(
                Problem(
                    ProblemCode.EMPTY_TEXT,
                    entry_id,
                    Text(f"{where} 为空", f"{where} is empty"),
                )
            )
            continue
        try:
            names = template_variables(template)
        except ValueError as exc:
            out.append(
                Problem(
                    ProblemCode.BAD_TEMPLATE,
                    entry_id,
                    Text(f"{where} 模板错误: {exc}", f"{where}: bad template: {exc}"),
                )
            )
            continue
        for name in names:
            variable = FAQ_VARIABLES.get(name)
            if variable is None and name != "choices":
                out.append(
                    Problem(
                        ProblemCode.UNKNOWN_VARIABLE,
                        entry_id,
                        Text(f"{where} 使用了未知变量 {{{name}}}", f"{where}: unknown {{{name}}}"),
                    )
                )
            elif public_only and variable is not None and variable.exposure is not Exposure.PUBLIC:
                out.append(
                    Problem(
                        ProblemCode.PRIVATE_IN_GENERIC,
                        entry_id,
                        Text(
                            f"{where} 在通用回答中使用了借款信息 {{{name}}} (须核验身份后才能说)",
                            f"{where}: loan detail {{{name}}} in a generic answer "
                            "(only after identity verification)",
                        ),
                    )
                )
    return out


def validate_knowledge(kb: Knowledge) -> list[Problem]:
    """Every problem of a knowledge base ([] when it can be served): ids, version, texts in
    both languages, templates with known variables, no loan detail in a generic answer, and
    no two entries with the same keywords (the matcher could never tell them apart)."""
    problems: list[Problem] = []
    if kb.version < 1:
        problems.append(
            Problem(
                ProblemCode.BAD_VERSION,
                None,
                Text("版本号必须为正整数", "version must be a positive integer"),
            )
        )
    if not _ID_RE.fullmatch(kb.id):
        problems.append(Problem(ProblemCode.BAD_ID, None, Text("知识库编号无效", "bad id")))
    problems += _template_problems(None, "fallback", kb.fallback, True)
    problems += _template_problems(None, "clarify", kb.clarify, True)
    seen: set[str] = set()
    owner: dict[frozenset[str], str] = {}
    for e in kb.entries:
        if not _ID_RE.fullmatch(e.id):
            problems.append(
                Problem(
                    ProblemCode.BAD_ID,
                    e.id,
                    Text("条目编号须为小写字母、数字和下划线", "ids are lower-case snake_case"),
                )
            )
        if e.id in seen:
            problems.append(
                Problem(ProblemCode.DUPLICATE_ID, e.id, Text("条目编号重复", "duplicate entry id"))
            )
        seen.add(e.id)
        if not e.keywords_zh or not e.keywords_en:
            problems.append(
                Problem(
                    ProblemCode.NO_KEYWORDS,
                    e.id,
                    Text("须有中文和英文关键词", "needs Chinese and English keywords"),
                )
            )
        if not e.questions_zh or not e.questions_en:
            problems.append(
                Problem(
                    ProblemCode.NO_QUESTIONS,
                    e.id,
                    Text("须有中文和英文示例问题", "needs Chinese and English sample questions"),
                )
            )
        problems += _template_problems(e.id, "title", e.title, True)
        problems += _template_problems(e.id, "generic", e.generic, True)
        for i, text in enumerate(e.personal):
            problems += _template_problems(e.id, f"personal[{i}]", text, False)
        keys = frozenset(compact(k) for k in (*e.keywords_zh, *e.keywords_en))
        if keys and keys in owner:
            problems.append(
                Problem(
                    ProblemCode.SAME_KEYWORDS,
                    e.id,
                    Text(
                        f"关键词与 {owner[keys]} 完全相同, 无法区分",
                        f"same keywords as {owner[keys]}: the two can never be told apart",
                    ),
                )
            )
        owner.setdefault(keys, e.id)
    return problems


# --------------------------------------------------------------------------------------------
# Matching
# --------------------------------------------------------------------------------------------

_PUNCT = re.compile(r"[\s,，。.!！?？、;；:：~～…\"'“”‘’()（）\[\]【】<>《》\-]+")


def normalize(text: str) -> str:
    """Comparable text: NFKC (full-width → ASCII), lower case, punctuation as single spaces.
    (Adapters simplify traditional characters before, e.g. `huifang.voice.text`.)"""
    t = unicodedata.normalize("NFKC", text).lower().replace("’", "'")
    t = re.sub(r"(?<=[a-z])'(?=[a-z])", "", t)
    return _PUNCT.sub(" ", t).strip()


def compact(text: str) -> str:
    """`normalize` without spaces next to Chinese characters (for phrase matching)."""
    return re.sub(r"(?<=[^a-z0-9 ]) | (?=[^a-z0-9 ])", "", normalize(text))


def _is_ascii(text: str) -> bool:
    return all(ord(c) < 128 for c in text)


def keyword_found(keyword: str, text: str) -> bool:
    """Whether `keyword` occurs in `text`: Chinese as a substring of the compacted text,
    English as whole words (so 'fee' does not match 'feel', 'pay' does not match 'payoff')."""
    k = compact(keyword)
    if not k:
        return False
    if _is_ascii(k):
        return re.search(rf"(?<![a-z0-9]){re.escape(k)}(?![a-z0-9])", normalize(text)) is not None
    return k in compact(text)


def keyword_weight(keyword: str) -> float:
    """A keyword's score when found: its length in characters for Chinese (两个字 = 2), half
    its letters for English (a word of four letters ≈ two characters), at least 1."""
    k = compact(keyword)
    return max(1.0, len(k) / 2 if _is_ascii(k) else float(len(k)))


def _bigrams(text: str) -> set[str]:
    t = compact(text)
    if _is_ascii(t):
        words = t.split()
        pairs = {f"{a} {b}" for a, b in itertools.pairwise(words)}
        return pairs | {w for w in words if len(w) >= 4}  # "how do i" alone proves nothing
    t = t.replace(" ", "")
    return {t[i : i + 2] for i in range(len(t) - 1)}


def question_similarity(text: str, sample: str) -> float:
    """Dice overlap of character bigrams (Chinese) or word pairs and longer words (English),
    0–1."""
    a, b = _bigrams(text), _bigrams(sample)
    if not a or not b:
        return 0.0
    return 2 * len(a & b) / (len(a) + len(b))


class MatchKind(StrEnum):
    ANSWER = "answer"  # one entry is clearly meant
    CLARIFY = "clarify"  # two or three entries are close: ask which
    UNKNOWN = "unknown"  # nothing close enough: say so and offer a human


@dataclass(frozen=True, slots=True)
class Hit:
    """Evidence that a question is about an entry: a keyword heard (exactly or fuzzily)."""

    entry_id: str
    keyword: str
    weight: float
    fuzzy: bool = False


@dataclass(frozen=True, slots=True)
class Match:
    """The matcher's verdict: the entry (ANSWER), the candidates (CLARIFY) or none, with the
    scores behind it so a log can say why."""

    kind: MatchKind
    entry_id: str | None
    candidates: tuple[str, ...] = ()
    confidence: float = 0.0
    scores: Mapping[str, float] = field(default_factory=dict)
    hits: tuple[Hit, ...] = ()


MIN_SCORE = 2.0  # a two-character keyword, or a strong sample-question overlap
CLARIFY_RATIO = 0.8  # a runner-up within 80 % of the best makes the question ambiguous
_SIMILARITY_WEIGHT = 6.0  # an identical sample question is worth a six-character keyword


def exact_hits(kb: Knowledge, text: str) -> list[Hit]:
    """The keywords of every entry found in the text (either language)."""
    out = []
    for e in kb.entries:
        for kw in (*e.keywords_zh, *e.keywords_en):
            if keyword_found(kw, text):
                out.append(Hit(e.id, kw, keyword_weight(kw)))
    return out


def _drop_contained(hits: Sequence[Hit]) -> list[Hit]:
    """Keep a keyword only when no longer found keyword contains it (提前还款 inside
    提前还款手续费 scores once, for the longer phrase), and each keyword once per entry."""
    keys = {(h.entry_id, compact(h.keyword)): h for h in hits}
    return [
        h
        for (_entry, k), h in keys.items()
        if not any(k != other and k in other for (_, other) in keys)
    ]


def match(kb: Knowledge, text: str, extra_hits: Iterable[Hit] = ()) -> Match:
    """Which entry a question asks about (see the module docstring)."""
    if not normalize(text):
        return Match(MatchKind.UNKNOWN, None)
    hits = _drop_contained([*exact_hits(kb, text), *extra_hits])
    scores: dict[str, float] = {e.id: 0.0 for e in kb.entries}
    for h in hits:
        scores[h.entry_id] = scores.get(h.entry_id, 0.0) + h.weight
    for e in kb.entries:
        best = max(
            (question_similarity(text, q) for q in (*e.questions_zh, *e.questions_en)),
            default=0.0,
        )
        if best >= 0.5:
            scores[e.id] += best * _SIMILARITY_WEIGHT
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    rounded = MappingProxyType({k: round(v, 2) for k, v in ranked if v > 0})
    top_id, top = ranked[0] if ranked else ("", 0.0)
    if top < MIN_SCORE:
        return Match(MatchKind.UNKNOWN, None, (), 0.0, rounded, tuple(hits))
    close = tuple(k for k, v in ranked if v >= top * CLARIFY_RATIO and v >= MIN_SCORE)
    fuzzy_only = all(h.fuzzy for h in hits if h.entry_id == top_id)
    confidence = min(0.95, 0.5 + top / 20) * (0.8 if fuzzy_only else 1.0)
    if len(close) > 1:
        return Match(MatchKind.CLARIFY, None, close[:3], round(confidence, 2), rounded, tuple(hits))
    return Match(MatchKind.ANSWER, top_id, (top_id,), round(confidence, 2), rounded, tuple(hits))


# --------------------------------------------------------------------------------------------
# Answers
# --------------------------------------------------------------------------------------------


_FORMATTER = string.Formatter()


def _fill(template: str, values: Mapping[str, object], language: Language) -> str | None:
    """The template filled, or None when a variable has no value."""
    out = []
    for literal, name, _spec, _conv in _FORMATTER.parse(template):
        out.append(literal)
        if name is None:
            continue
        if name not in values or values[name] is None:
            return None
        variable = FAQ_VARIABLES.get(name)
        out.append(format_value(values[name], language, variable.kind if variable else None))
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer to give: its text, which entry and variant produced it, and whether it
    quotes the borrower's own figures (only ever after identity verification)."""

    kind: MatchKind
    entry_id: str | None
    text: str
    personal: bool
    knowledge_id: str
    knowledge_version: int
    confidence: float = 0.0
    candidates: tuple[str, ...] = ()


def answer(
    kb: Knowledge,
    found: Match,
    language: Language,
    public_values: Mapping[str, object],
    loan_values: Mapping[str, object] | None,
) -> Answer:
    """The answer for a match. `loan_values` are the borrower's figures; pass them only after
    identity verification (None before): they are used for the entry's personal answers and
    never in a generic one."""
    public = {k: v for k, v in public_values.items() if _public(k)}
    if found.kind is MatchKind.UNKNOWN or (found.kind is MatchKind.ANSWER and not found.entry_id):
        text = _fill(kb.fallback.get(language), public, language) or kb.fallback.get(language)
        return Answer(MatchKind.UNKNOWN, None, text, False, kb.id, kb.version, found.confidence)
    if found.kind is MatchKind.CLARIFY:
        sep = "、" if language == "zh" else "; "
        titles = sep.join(kb.entry(c).title.get(language) for c in found.candidates)
        text = _fill(kb.clarify.get(language), {**public, "choices": titles}, language) or titles
        return Answer(
            MatchKind.CLARIFY,
            None,
            text,
            False,
            kb.id,
            kb.version,
            found.confidence,
            found.candidates,
        )
    assert found.entry_id is not None
    entry = kb.entry(found.entry_id)
    if loan_values is not None:
        values = {**public, **loan_values}
        for variant in entry.personal:
            filled = _fill(variant.get(language), values, language)
            if filled is not None:
                return Answer(
                    MatchKind.ANSWER,
                    entry.id,
                    filled,
                    True,
                    kb.id,
                    kb.version,
                    found.confidence,
                    (entry.id,),
                )
    text = _fill(entry.generic.get(language), public, language) or entry.generic.get(language)
    return Answer(
        MatchKind.ANSWER, entry.id, text, False, kb.id, kb.version, found.confidence, (entry.id,)
    )


def _public(name: str) -> bool:
    variable = FAQ_VARIABLES.get(name)
    return variable is not None and variable.exposure is Exposure.PUBLIC


def fee_rule_text(
    tiers: Sequence[tuple[int | None, Decimal]],
    base: str,
    lock_in_months: int,
    language: Language,
    months_of_interest: int = 0,
) -> str:
    """A product's early-repayment fee rule in words, e.g. 放款后第12个月内按提前还款本金的3%、
    第24个月内2%、此后1%收取违约金 — from the same tiers `domain.prepayment.FeeRule` applies.

    `tiers` are (before_month or None for the open last tier, rate as a fraction)."""
    base_zh = {
        "prepaid-principal": "提前还款本金",
        "loan-amount": "贷款金额",
        "remaining-principal": "剩余本金",
        "months-of-interest": "提前还款本金",
    }.get(base, "提前还款本金")
    base_en = {
        "prepaid-principal": "the principal repaid early",
        "loan-amount": "the loan amount",
        "remaining-principal": "the remaining principal",
        "months-of-interest": "the principal repaid early",
    }.get(base, "the principal repaid early")
    lock_zh = f"放款后{lock_in_months}个月内不能提前还款；" if lock_in_months else ""
    lock_en = f"no early repayment in the first {lock_in_months} months; " if lock_in_months else ""
    if base == "months-of-interest" and months_of_interest:
        if language == "zh":
            return f"{lock_zh}违约金为提前还款本金{months_of_interest}个月的利息"
        return f"{lock_en}the fee is {months_of_interest} months of interest on {base_en}"
    charged = [(b, r) for b, r in tiers if r > 0]
    if not charged:
        return f"{lock_zh}不收取提前还款违约金" if language == "zh" else f"{lock_en}no fee"
    parts_zh, parts_en = [], []
    for before, rate in charged:
        pct = f"{(rate * 100).normalize():f}%"
        if before is None:
            parts_zh.append(f"此后{pct}")
            parts_en.append(f"{pct} after that")
        else:
            parts_zh.append(f"放款后第{before}个月内{pct}")
            parts_en.append(f"{pct} within {before} months of disbursement")
    open_ended = charged[-1][0] is None
    tail_zh = "" if open_ended else "，之后不收取"
    tail_en = "" if open_ended else ", nothing after that"
    if language == "zh":
        return f"{lock_zh}违约金按{base_zh}收取：{'、'.join(parts_zh)}{tail_zh}"
    return f"{lock_en}the fee is charged on {base_en}: {', '.join(parts_en)}{tail_en}"
