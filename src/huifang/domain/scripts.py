"""Follow-up scripts (回访话术): the script model, its validator, answer parsing and the runner.

A script is a versioned, standardized conversation: it opens, delivers the recording notice,
checks identity, asks its core questions with typed answers, branches on them and closes.
The same script is driven by a human agent's web form and by the voice agent, one answer at
a time, through the pure functions at the bottom of this module (`start`, `answer`, …): each
returns a new `RunState`, so a run can be stored, replayed and tested without I/O.

Steps (`Step`):

* `Say`        — templated text, Chinese and English (``{borrower_name}``, ``{amount_due}``…).
* `Disclosure` — text that must be delivered, with a code (``recording_notice`` …); a script's
  `required_disclosures` must be delivered before its first question on every path.
* `Ask`        — a question with a typed answer (yes/no, choice, number, money, date, free
  text), required or optional, with validation. Exactly one ask per script is the identity
  check (`IdentityCheck`): when its pass conditions fail the run goes to `on_fail`, from
  which only closing words may follow; loan details may only be spoken after it passes.
* `Branch`     — ordered rules over earlier answers (all conditions of a rule must hold), and
  a default.
* `Handover`   — hand the call to a human agent; the run ends, marked handed over.
* `End`        — closing text and an outcome code.

A step without `next` continues with the step listed after it. `validate_script` rejects every
script the runner could not walk safely (see `ProblemCode`); `start` refuses an invalid script.

Template variables come from a catalogue (`STANDARD_VARIABLES`) that says each variable's kind
(how it is formatted: money as ¥12,345.67, dates as 2025年3月15日 / 2025-03-15, plates masked)
and its exposure: public (may be said before identity is verified), loan detail (only after)
or secret (never said; only compared against an answer, e.g. the last four ID digits).

Answer parsing from text is deliberately plain (exact phrases, simple Chinese numerals and
dates) so that a web form and a test can type answers; the voice agent adds ASR-robust
understanding on top and passes typed values.
"""

from __future__ import annotations

import calendar as _gregorian
import re
import string
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from types import MappingProxyType
from typing import Literal, TypeAlias

from huifang.domain.money import FEN, format_cny

# --------------------------------------------------------------------------------------------
# Bilingual text, purposes, values
# --------------------------------------------------------------------------------------------

Language: TypeAlias = Literal["zh", "en"]


@dataclass(frozen=True, slots=True)
class Text:
    """A text in Simplified Chinese (first, the default of every screen and call) and English."""

    zh: str
    en: str

    def get(self, language: Language) -> str:
        """The text in `language`."""
        return self.zh if language == "zh" else self.en


class Purpose(StrEnum):
    """What a script is for; the follow-up policy picks a script by purpose."""

    FIRST_VISIT = "first_visit"
    ROUTINE = "routine"
    MISSED_PAYMENT = "missed_payment"
    BUSINESS_VISIT = "business_visit"
    PRE_LOAN_VERIFICATION = "pre_loan_verification"
    EARLY_REPAYMENT_CONFIRMATION = "early_repayment_confirmation"


class AnswerType(StrEnum):
    """The type of an answer; it decides how text is parsed and which value is stored."""

    YES_NO = "yes_no"  # bool
    CHOICE = "choice"  # str: the option code
    NUMBER = "number"  # Decimal
    MONEY = "money"  # Decimal, to the fen
    DATE = "date"  # datetime.date
    FREE_TEXT = "free_text"  # str


AnswerValue: TypeAlias = bool | str | Decimal | date | None
"""A typed answer: None means an optional question was skipped."""

ContextValue: TypeAlias = str | int | Decimal | date
"""A value of a template variable supplied by the caller (the loan book, the agent)."""


class VariableKind(StrEnum):
    """How a variable's value is checked and formatted."""

    TEXT = "text"
    MONEY = "money"  # Decimal → ¥12,345.67
    DATE = "date"  # date → 2025年3月15日 / 2025-03-15
    INTEGER = "integer"
    PLATE = "plate"  # a licence plate, always masked when spoken: 粤B12345 → 粤B***45


class Exposure(StrEnum):
    """Who may hear a variable: anyone, only the verified borrower, or nobody."""

    PUBLIC = "public"  # may be said before identity is verified (names of agent, lender …)
    LOAN_DETAIL = "loan_detail"  # only after the identity check has passed
    SECRET = "secret"  # never said; only compared against answers (identity check)


@dataclass(frozen=True, slots=True)
class Variable:
    """A template variable: its name, kind, exposure and a bilingual description."""

    name: str
    kind: VariableKind
    exposure: Exposure
    description: Text


def _var(name: str, kind: VariableKind, exposure: Exposure, zh: str, en: str) -> Variable:
    return Variable(name, kind, exposure, Text(zh, en))


_T, _M, _D, _I, _P = (
    VariableKind.TEXT,
    VariableKind.MONEY,
    VariableKind.DATE,
    VariableKind.INTEGER,
    VariableKind.PLATE,
)
_PUB, _LOAN, _SECRET = Exposure.PUBLIC, Exposure.LOAN_DETAIL, Exposure.SECRET

STANDARD_VARIABLES: Mapping[str, Variable] = MappingProxyType(
    {
        v.name: v
        for v in (
            _var("borrower_name", _T, _PUB, "借款人姓名", "borrower's name"),
            _var("company_name", _T, _PUB, "借款企业名称", "borrowing company's name"),
            _var("agent_name", _T, _PUB, "回访专员姓名", "follow-up agent's name"),
            _var("lender_name", _T, _PUB, "贷款机构名称", "lender's name"),
            _var("branch_name", _T, _PUB, "经办网点", "branch"),
            _var("hotline", _T, _PUB, "客服热线", "customer service hotline"),
            _var("loan_amount", _M, _LOAN, "贷款金额", "loan amount"),
            _var("term_months", _I, _LOAN, "贷款期限 (月)", "term in months"),
            _var("repayment_day", _I, _LOAN, "每月还款日", "repayment day of the month"),
            _var("installment_amount", _M, _LOAN, "每期应还金额", "installment amount"),
            _var("account_tail", _T, _LOAN, "还款账户尾号", "last digits of the repayment account"),
            _var("disbursement_date", _D, _LOAN, "放款日期", "disbursement date"),
            _var("amount_due", _M, _LOAN, "本期应还金额", "amount due"),
            _var("due_date", _D, _LOAN, "应还款日期", "due date"),
            _var("overdue_amount", _M, _LOAN, "逾期金额", "overdue amount"),
            _var("days_past_due", _I, _LOAN, "逾期天数", "days past due"),
            _var("outstanding_principal", _M, _LOAN, "剩余本金", "outstanding principal"),
            _var("masked_plate", _P, _LOAN, "车牌号 (脱敏)", "licence plate (masked)"),
            _var("vehicle_model", _T, _LOAN, "车型", "vehicle model"),
            _var("request_date", _D, _LOAN, "提前还款申请日期", "early-repayment request date"),
            _var("payoff_date", _D, _LOAN, "提前还款日期", "early-repayment date"),
            _var("payoff_amount", _M, _LOAN, "提前还款应还总额", "early-repayment total"),
            _var("prepayment_fee", _M, _LOAN, "提前还款违约金", "early-repayment fee"),
            _var("interest_saved", _M, _LOAN, "节省利息", "interest saved"),
            _var("id_last4", _T, _SECRET, "身份证号码后四位", "last four ID-number characters"),
            _var(
                "declared_monthly_income",
                _M,
                _SECRET,
                "申请时申报的月收入 (只用于比较)",
                "monthly income declared at application (only compared)",
            ),
        )
    }
)
"""The variables a standard script may use. A lender adds its own by passing an extended
catalogue to `validate_script` and `start`."""

LOAN_DETAIL_VARIABLES = frozenset(
    name for name, v in STANDARD_VARIABLES.items() if v.exposure is Exposure.LOAN_DETAIL
)

OUTCOME_HANDED_OVER = "handed_over"
_CODE_RE = re.compile(r"[a-z][a-z0-9_]*")

# --------------------------------------------------------------------------------------------
# The script model
# --------------------------------------------------------------------------------------------


class Op(StrEnum):
    """A comparison in a condition. `answered`/`not_answered` take no value."""

    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    IN = "in"
    NOT_IN = "not_in"
    ANSWERED = "answered"
    NOT_ANSWERED = "not_answered"  # never asked, or skipped


_ORDERING_OPS = frozenset({Op.LT, Op.LE, Op.GT, Op.GE})
_SET_OPS = frozenset({Op.IN, Op.NOT_IN})
_PRESENCE_OPS = frozenset({Op.ANSWERED, Op.NOT_ANSWERED})

ConditionValue: TypeAlias = bool | str | Decimal | date | tuple[bool | str | Decimal | date, ...]


@dataclass(frozen=True, slots=True)
class Condition:
    """A test of one earlier answer: `answer <op> value`, or `answer <op> context[var]`.

    For choice questions the values are option codes; for `in`/`not_in` the value is a tuple.
    Comparing with a context variable (`var`) is how an identity check compares the answer
    with the last ID digits on file without the script ever containing them.
    """

    question: str
    op: Op
    value: ConditionValue | None = None
    var: str | None = None


@dataclass(frozen=True, slots=True)
class Option:
    """One choice of a choice question: a stable code (stored) and labels (shown, spoken)."""

    code: str
    label: Text
    synonyms: tuple[str, ...] = ()  # extra phrases that select it (口语说法)


@dataclass(frozen=True, slots=True)
class Validation:
    """Limits on an answer. Bounds are inclusive; day offsets are relative to `today`.

    `pattern` (a regular expression the whole answer must match) marks a free-text answer as
    a code such as an ID tail: it is normalized (full-width and Chinese digits to ASCII,
    spaces removed, upper case) before matching and stored normalized.
    """

    min_value: Decimal | None = None
    max_value: Decimal | None = None
    integer: bool = False
    min_days: int | None = None
    max_days: int | None = None
    max_length: int | None = None
    pattern: str | None = None


@dataclass(frozen=True, slots=True)
class IdentityCheck:
    """Makes an ask the identity check: it passes when every condition in `passes` holds.

    On failure the run continues at `on_fail`, from which only say/disclosure/branch steps and
    an end or handover may follow (nothing is asked or disclosed to a possible third party).
    """

    passes: tuple[Condition, ...]
    on_fail: str


@dataclass(frozen=True, slots=True)
class Say:
    """Speak or show a templated text."""

    id: str
    text: Text
    next: str | None = None


@dataclass(frozen=True, slots=True)
class Disclosure:
    """A text that must be delivered, with a code the record keeps (e.g. recording_notice)."""

    id: str
    code: str
    text: Text
    next: str | None = None


class Personal(StrEnum):
    """Marks an answer as personal data and says how staff see it after the call.

    The call screen shows the answer while the call runs; every later view (quality review,
    the borrower 360, voice-call transcripts) shows it masked this way.
    """

    SECRET = "secret"  # never shown: an ID tail said to the identity check → ****
    PHONE = "phone"  # 138****1234
    ADDRESS = "address"  # the first few characters, then ******


@dataclass(frozen=True, slots=True)
class Ask:
    """A question with a typed answer; the answer is stored under the step id.

    `personal` marks an answer that holds personal data (an ID tail, a new phone or address):
    it is masked everywhere but on the call screen (see `personal_answers`)."""

    id: str
    question: Text
    answer_type: AnswerType
    options: tuple[Option, ...] = ()
    required: bool = True
    validation: Validation = field(default_factory=Validation)
    identity: IdentityCheck | None = None
    next: str | None = None
    personal: Personal | None = None


@dataclass(frozen=True, slots=True)
class BranchRule:
    """Go to `goto` when every condition holds."""

    when: tuple[Condition, ...]
    goto: str


@dataclass(frozen=True, slots=True)
class Branch:
    """Choose the next step from earlier answers: the first rule that holds, else `default`."""

    id: str
    rules: tuple[BranchRule, ...]
    default: str | None


@dataclass(frozen=True, slots=True)
class Handover:
    """Hand the call to a human agent (转人工) and end the scripted run."""

    id: str
    text: Text
    reason: str = "script"
    outcome: str = OUTCOME_HANDED_OVER


@dataclass(frozen=True, slots=True)
class End:
    """Close the call politely with an outcome code (completed, wrong_person …)."""

    id: str
    text: Text
    outcome: str


Step: TypeAlias = Say | Disclosure | Ask | Branch | Handover | End


@dataclass(frozen=True, slots=True)
class Script:
    """A versioned follow-up script. `variables` lists the template variables it uses."""

    id: str
    version: int
    title: Text
    purpose: Purpose
    variables: tuple[str, ...]
    steps: tuple[Step, ...]
    required_disclosures: tuple[str, ...] = ("recording_notice",)

    def step(self, step_id: str) -> Step:
        """The step with this id (KeyError if none)."""
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def asks(self) -> tuple[Ask, ...]:
        """The questions of the script, in listed order."""
        return tuple(s for s in self.steps if isinstance(s, Ask))


def personal_answers(
    script: Script, catalogue: Mapping[str, Variable] = STANDARD_VARIABLES
) -> Mapping[str, Personal]:
    """The script's personal answers by question id, with how each is masked.

    The asks marked `personal`, and — whether marked or not — every answer the identity check
    compares with a secret variable (what the borrower gave as the last ID digits is the
    secret itself, so forgetting the mark on a copied script never shows it)."""
    found: dict[str, Personal] = {}
    for step in script.steps:
        if not isinstance(step, Ask):
            continue
        if step.personal is not None:
            found[step.id] = step.personal
        if step.identity is not None:
            for cond in step.identity.passes:
                variable = catalogue.get(cond.var) if cond.var else None
                if variable is not None and variable.exposure is Exposure.SECRET:
                    found[cond.question] = Personal.SECRET
    return MappingProxyType(found)


def step_texts(step: Step) -> tuple[tuple[str, Text], ...]:
    """Every text of a step with a label for messages: ('text', …), ('option yes', …)."""
    if isinstance(step, Ask):
        return (("question", step.question), *((f"option {o.code}", o.label) for o in step.options))
    if isinstance(step, Branch):
        return ()
    return (("text", step.text),)


def successors(script: Script, index: int) -> tuple[str | None, ...]:
    """Where the step at `index` may go next (None: it falls off the end of the list).

    Terminal steps have none; an identity check lists its pass target first, then `on_fail`.
    """
    step = script.steps[index]
    if isinstance(step, End | Handover):
        return ()
    if isinstance(step, Branch):
        targets = tuple(r.goto for r in step.rules)
        return targets + ((step.default,) if step.default is not None else ())
    following = script.steps[index + 1].id if index + 1 < len(script.steps) else None
    nxt = step.next if step.next is not None else following
    if isinstance(step, Ask) and step.identity is not None:
        return (nxt, step.identity.on_fail)
    return (nxt,)


# --------------------------------------------------------------------------------------------
# Templates and formatting
# --------------------------------------------------------------------------------------------

_FORMATTER = string.Formatter()


def template_variables(template: str) -> tuple[str, ...]:
    """The variable names a template uses, in order. ValueError on a malformed template or on
    a format spec, conversion or attribute access (only plain ``{name}`` is allowed)."""
    names = []
    for _literal, name, spec, conversion in _FORMATTER.parse(template):
        if name is None:
            continue
        if spec or conversion or not name.isidentifier():
            raise ValueError(f"only plain {{name}} placeholders are allowed, got {{{name}}}")
        names.append(name)
    return tuple(names)


def mask_plate(plate: str) -> str:
    """Mask a licence plate for speaking: keep province, office letter and the last two
    characters ('粤B12345' → '粤B***45'); short or odd text is starred except its first char."""
    compact = re.sub(r"[\s·•\-]", "", unicodedata.normalize("NFKC", plate)).upper()
    if len(compact) <= 4:
        return compact[:1] + "*" * max(len(compact) - 1, 0)
    return compact[:2] + "*" * (len(compact) - 4) + compact[-2:]


def format_date(value: date, language: Language) -> str:
    """A date as spoken: 2025年3月15日 in Chinese, ISO 2025-03-15 in English."""
    if language == "zh":
        return f"{value.year}年{value.month}月{value.day}日"
    return value.isoformat()


def format_value(value: object, language: Language, kind: VariableKind | None = None) -> str:
    """Format a value for a template: money as ¥12,345.67, dates per language, bools as
    是/否 (yes/no), plates masked. Without a kind, a Decimal is formatted as money."""
    if kind is VariableKind.PLATE:
        return mask_plate(str(value))
    if isinstance(value, bool):
        return ("是" if value else "否") if language == "zh" else ("yes" if value else "no")
    if isinstance(value, Decimal) and kind in (None, VariableKind.MONEY):
        return format_cny(value)
    if isinstance(value, int) and kind is VariableKind.MONEY:
        return format_cny(Decimal(value))
    if isinstance(value, date):
        return format_date(value, language)
    return str(value)


def render(
    template: str,
    values: Mapping[str, object],
    language: Language,
    catalogue: Mapping[str, Variable] = STANDARD_VARIABLES,
    *,
    reveal_loan_details: bool = True,
) -> str:
    """Fill a template. Loan details are replaced by *** unless `reveal_loan_details`, and a
    secret variable is never rendered (belt and braces: the validator already forbids both
    before identity is verified)."""
    out = []
    for literal, name, _spec, _conversion in _FORMATTER.parse(template):
        out.append(literal)
        if name is None:
            continue
        variable = catalogue.get(name)
        hidden = variable is not None and (
            variable.exposure is Exposure.SECRET
            or (variable.exposure is Exposure.LOAN_DETAIL and not reveal_loan_details)
        )
        if hidden or name not in values:
            out.append("***")
        else:
            out.append(format_value(values[name], language, variable.kind if variable else None))
    return "".join(out)


def render_text(
    text: Text,
    values: Mapping[str, object],
    catalogue: Mapping[str, Variable] = STANDARD_VARIABLES,
    *,
    reveal_loan_details: bool = True,
) -> Text:
    """Fill both languages of a text."""
    return Text(
        render(text.zh, values, "zh", catalogue, reveal_loan_details=reveal_loan_details),
        render(text.en, values, "en", catalogue, reveal_loan_details=reveal_loan_details),
    )


# --------------------------------------------------------------------------------------------
# Answer parsing from text
# --------------------------------------------------------------------------------------------


class AnswerError(ValueError):
    """An answer that cannot be understood or is out of bounds, with a bilingual message."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.message = Text(zh, en)


_PUNCTUATION_RE = re.compile(r"[\s,，。!！?？;；:：、~～…\"'“”‘’()（）\[\]【】]+")


def _normalize(text: str) -> str:
    """NFKC, lower case, spaces and punctuation removed (a full stop only at either end, so
    that 12.5 and 2025.3.15 survive): the form in which phrases are matched."""
    folded = _PUNCTUATION_RE.sub("", unicodedata.normalize("NFKC", text)).casefold()
    return folded.strip(".")


_YES_EXACT = frozenset(
    {
        "是", "是的", "是啊", "是呀", "对", "对的", "对啊", "对呀", "有", "有的", "嗯", "嗯嗯",
        "好", "好的", "可以", "没错", "没问题", "正确", "确认", "本人", "我是", "我就是",
        "是我", "同意", "行", "清楚", "清楚了", "明白", "明白了", "知道了", "了解", "了解了",
        "懂了", "能", "能的", "可以的", "会", "会的", "y", "yes", "yeah", "yep", "correct",
        "right", "sure", "ok", "okay", "true", "affirmative",
    }
)  # fmt: skip
_NO_EXACT = frozenset(
    {
        "否", "不", "不是", "不对", "没有", "没", "无", "不用", "不需要", "不同意", "不行",
        "不可以", "错", "错了", "不正确", "不是我", "不明白", "不了解", "不懂", "不能", "不会",
        "还不了", "n", "no", "nope", "not", "false",
        "negative", "incorrect", "wrong",
    }
)  # fmt: skip
_UNSURE = (
    "不知道", "不清楚", "不确定", "说不准", "不好说", "不记得", "忘了", "是不是", "有没有",
    "对不对", "不太清楚", "不太确定", "不太记得", "不大清楚", "dontknow", "notsure", "maybe",
    "unsure",
)  # fmt: skip
_YES_PREFIXES = (
    "没错", "没问题", "是", "对", "有", "嗯", "好", "可以", "确认", "正确", "我是", "我就是",
    "yes",
)  # fmt: skip
_NO_PREFIXES = ("不", "没", "无", "否", "错", "我不是", "我没有", "no", "not")


def parse_yes_no(text: str) -> bool:
    """是/对/有/嗯/yes … → True; 不是/没有/不/no … → False. AnswerError when unclear.

    Exact phrases first; then the longest known opening word decides ('没问题' is yes,
    '没有变化' is no); 'don't know' phrases (不知道, 不清楚, 是不是) are never a yes or no.
    """
    t = _normalize(text)
    if t in _YES_EXACT:
        return True
    if t in _NO_EXACT:
        return False
    if t and not any(u in t for u in _UNSURE):
        best: tuple[int, bool] | None = None
        for prefixes, verdict in ((_YES_PREFIXES, True), (_NO_PREFIXES, False)):
            for p in prefixes:
                if t.startswith(p) and (best is None or len(p) > best[0]):
                    best = (len(p), verdict)
        if best is not None:
            return best[1]
    raise AnswerError("请回答“是”或“不是”", "please answer yes or no")


_CN_DIGITS: Mapping[str, int] = MappingProxyType(
    {
        "零": 0, "〇": 0, "○": 0, "洞": 0, "一": 1, "壹": 1, "幺": 1, "二": 2, "贰": 2,
        "两": 2, "俩": 2, "三": 3, "叁": 3, "四": 4, "肆": 4, "五": 5, "伍": 5, "六": 6,
        "陆": 6, "七": 7, "柒": 7, "八": 8, "捌": 8, "九": 9, "玖": 9,
    }
)  # fmt: skip
_CN_UNITS: Mapping[str, int] = MappingProxyType(
    {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000,
     "万": 10**4, "萬": 10**4, "亿": 10**8, "億": 10**8}
)  # fmt: skip
_SMALL_UNITS = (1000, 100, 10)
_BIG_UNITS = (10**8, 10**4)
_ARABIC_RE = re.compile(r"\d+(?:\.\d+)?")
_APPROXIMATELY = ("大概", "大约", "差不多", "约", "左右", "上下", "吧")
_NUMBER_SUFFIXES = (
    "个月", "个人", "个", "人", "名", "位", "次", "辆", "台", "天", "年", "岁", "家", "户",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Tok:
    """A token of a numeral: a number (Arabic run or one Chinese digit), a unit, 零 or 点."""

    kind: Literal["num", "unit", "zero", "point"]
    value: Decimal = Decimal(0)
    single: bool = False  # a single digit 0–9, as in the colloquial 三千五

    @property
    def is_digit(self) -> bool:
        return self.kind == "zero" or (self.kind == "num" and self.single)

    def is_unit(self, unit: int) -> bool:
        return self.kind == "unit" and self.value == unit


def _number_error(text: str) -> AnswerError:
    return AnswerError(
        f"无法识别数字“{text}”，请说一个确切的数，如 3500 或 三千五",
        f"cannot read {text!r} as a number; say an exact number such as 3500",
    )


def _tokens(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    i = 0
    while i < len(text):
        ch = text[i]
        m = _ARABIC_RE.match(text, i)
        if m:
            tokens.append(_Tok("num", Decimal(m.group()), len(m.group()) == 1))
            i = m.end()
            continue
        if ch in "零〇○洞":
            tokens.append(_Tok("zero"))
        elif ch in _CN_DIGITS:
            tokens.append(_Tok("num", Decimal(_CN_DIGITS[ch]), True))
        elif ch in _CN_UNITS:
            tokens.append(_Tok("unit", Decimal(_CN_UNITS[ch])))
        elif ch == "点":
            tokens.append(_Tok("point"))
        else:
            raise ValueError(ch)
        i += 1
    return tokens


def _digits_value(tokens: Sequence[_Tok]) -> Decimal:
    """Digits read one by one (二零二五 → 2025) or a single number."""
    if not tokens:
        raise ValueError("empty")
    if len(tokens) == 1 and tokens[0].kind == "num":
        return tokens[0].value
    digits = []
    for t in tokens:
        if t.kind == "zero":
            digits.append("0")
        elif t.kind == "num" and t.value == t.value.to_integral_value():
            digits.append(str(int(t.value)))
        else:
            raise ValueError("not digits")
    return Decimal("".join(digits))


def _unit_value(tokens: Sequence[_Tok]) -> Decimal:
    """The value of a Chinese numeral with units, by splitting at the largest unit."""
    for unit in _BIG_UNITS:
        positions = [i for i, t in enumerate(tokens) if t.is_unit(unit)]
        if positions:
            at = positions[-1]
            left, right = tokens[:at], tokens[at + 1 :]
            if not left:
                raise ValueError("unit without a number")
            high = _unit_value(left)
            if unit == 10**4 and high >= 10**4:
                raise ValueError("万 after 万")
            return high * unit + _rest_value(right, unit)
    for unit in _SMALL_UNITS:
        positions = [i for i, t in enumerate(tokens) if t.is_unit(unit)]
        if len(positions) > 1:
            raise ValueError("unit repeated")
        if positions:
            at = positions[0]
            left, right = tokens[:at], tokens[at + 1 :]
            if not left and unit == 10:
                high = Decimal(1)  # 十五 = 15
            elif len(left) == 1 and left[0].kind == "num" and 0 < left[0].value < 10:
                high = left[0].value
            else:
                raise ValueError("bad multiplier")
            return high * unit + _rest_value(right, unit)
    return _digits_value(tokens)


def _rest_value(tokens: Sequence[_Tok], unit: int) -> Decimal:
    """What follows a unit: nothing, 零 + a smaller number, a lone digit (三千五 = 3500: the
    digit counts in the next lower unit), or a number smaller than the unit."""
    if not tokens:
        return Decimal(0)
    if tokens[0].kind == "zero":
        rest = list(tokens)
        while rest and rest[0].kind == "zero":
            rest.pop(0)
        value = _unit_value(rest) if rest else Decimal(0)
        if value >= unit // 10 and unit > 10:
            raise ValueError("zero before a too large number")
        return value
    if len(tokens) == 1 and tokens[0].kind == "num" and tokens[0].single:
        digit = tokens[0].value
        return digit if unit == 10 else digit * (unit // 10)
    value = _unit_value(tokens)
    if value >= unit:
        raise ValueError("lower part too large")
    return value


def _strip_words(text: str, words: Iterable[str]) -> str:
    """Remove known filler words at either end, repeatedly."""
    words = tuple(words)
    changed = True
    while changed:
        changed = False
        for w in words:
            if text.startswith(w) and len(text) > len(w):
                text, changed = text[len(w) :], True
            if text.endswith(w) and len(text) > len(w):
                text, changed = text[: -len(w)], True
    return text


def parse_number(text: str) -> Decimal:
    """A number from Arabic digits or Chinese numerals, exactly, as a Decimal.

    Handles 12,345.6, 十五 = 15, 一百零五 = 105, 三千五 = 3500, 一万二 = 12000, 两万 = 20000,
    一百二十万, 三点五 = 3.5, 1.5万 = 15000, 3千5 = 3500, financial capitals (壹仟贰佰),
    digits read one by one (二零二五 = 2025), 百分之三十 / 30% = 30, 负 / - for negatives,
    and ignores approximating words (大概, 左右) and measure words (个, 人, 次 …).
    Raises AnswerError for anything else, including vague amounts (三千多, 几千).
    """
    t = _normalize(text).replace("，", "").replace(",", "")
    t = _strip_words(t, _APPROXIMATELY)
    t = _strip_words(t, _NUMBER_SUFFIXES)
    negative = False
    if t.startswith(("负", "-")):
        negative, t = True, t[1:]
    if t.startswith("百分之"):
        t = t[3:]
    elif t.endswith("%"):
        t = t[:-1]
    if not t:
        raise _number_error(text)
    try:
        tokens = _tokens(t)
        points = [i for i, tok in enumerate(tokens) if tok.kind == "point"]
        if len(points) > 1:
            raise ValueError("two points")
        if points:
            value = _decimal_value(tokens, points[0])
        elif any(tok.kind == "unit" for tok in tokens):
            value = _unit_value(tokens)
        else:
            value = _digits_value(tokens)
    except (ValueError, InvalidOperation):
        raise _number_error(text) from None
    if value == value.to_integral_value():
        value = value.to_integral_value()
    return -value if negative else value


def _decimal_value(tokens: Sequence[_Tok], point: int) -> Decimal:
    """三点五 = 3.5, 一百二十点五 = 120.5, 三点五万 = 35000: integer part, digits, a unit."""
    left, right = tokens[:point], list(tokens[point + 1 :])
    whole = Decimal(0)
    if left:
        has_unit = any(t.kind == "unit" for t in left)
        whole = _unit_value(left) if has_unit else _digits_value(left)
    digits = ""
    while right and right[0].is_digit:
        head = right.pop(0)
        digits += "0" if head.kind == "zero" else str(int(head.value))
    if not digits:
        raise ValueError("no digits after the point")
    multiplier = Decimal(1)
    if right:
        if len(right) != 1 or right[0].kind != "unit":
            raise ValueError("trailing text")
        multiplier = right[0].value
    return (whole + Decimal("0." + digits)) * multiplier


_MONEY_PREFIXES = ("人民币", "rmb", "¥", "￥")


def parse_money(text: str) -> Decimal:
    """An amount of CNY to the fen: 3500, ¥3,500.00, 三千五百元, 两万块, 1.2万, 十二块五 (12.50),
    三百元五角六分 (300.56). AnswerError on anything else or on more than two decimals."""
    t = _normalize(text).replace(",", "")
    t = _strip_words(t, _APPROXIMATELY)
    for p in _MONEY_PREFIXES:
        if t.startswith(p):
            t = t[len(p) :]
    t = _strip_words(t, ("整", "钱"))
    try:
        m = re.fullmatch(r"(?P<yuan>.+?)(?:元|块)(?P<rest>.*)", t)
        if m:
            value = parse_number(m.group("yuan")) + _jiao_fen(m.group("rest"))
        elif t.endswith(("角", "毛", "分")):
            value = _jiao_fen(t)
        else:
            value = parse_number(t)
    except (AnswerError, ValueError, InvalidOperation):
        raise AnswerError(
            f"无法识别金额“{text}”，请说一个确切的金额，如 3500 元",
            f"cannot read {text!r} as an amount; say an exact amount such as 3500",
        ) from None
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2 and value != value.quantize(FEN):
        raise AnswerError(
            f"金额最多两位小数: “{text}”", f"an amount has at most two decimals: {text!r}"
        )
    return value.quantize(FEN)


def _jiao_fen(rest: str) -> Decimal:
    """The part after 元/块: '', 五 (= 5 角), 五角六分, 五毛, 零六分."""
    if rest in ("", "整"):
        return Decimal(0)
    m = re.fullmatch(r"(?:零)?(?:(?P<jiao>.)(?:角|毛)?)?(?:(?P<fen>.)分)?", rest)
    if not m or not (m.group("jiao") or m.group("fen")):
        raise ValueError(rest)
    jiao = parse_number(m.group("jiao")) if m.group("jiao") else Decimal(0)
    fen_ = parse_number(m.group("fen")) if m.group("fen") else Decimal(0)
    if not (0 <= jiao <= 9 and 0 <= fen_ <= 9):
        raise ValueError(rest)
    return jiao / 10 + fen_ / 100


class DatePreference(StrEnum):
    """Which date an incomplete date (3月5日, 15号, 周五) means."""

    FUTURE = "future"  # the first such date on or after today (a promise to pay)
    PAST = "past"  # the last such date on or before today (when did you last pay)
    NEAREST = "nearest"  # the closest to today; a tie goes to the future


_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "末": 5}
_EN_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_RELATIVE_DAYS = {
    "今天": 0, "今日": 0, "明天": 1, "明日": 1, "后天": 2, "大后天": 3, "昨天": -1,
    "前天": -2, "today": 0, "tomorrow": 1, "yesterday": -1, "dayaftertomorrow": 2,
}  # fmt: skip
_MONTH_OFFSETS = {
    "下下个": 2,
    "下个": 1,
    "下": 1,
    "这个": 0,
    "本": 0,
    "当": 0,
    "上个": -1,
    "上": -1,
}
_WEEK_OFFSETS = {"下下": 2, "下个": 1, "下": 1, "这": 0, "本": 0, "这个": 0, "上": -1, "上个": -1}


def _date_error(text: str) -> AnswerError:
    return AnswerError(
        f"无法识别日期“{text}”，请说如 2025-03-15、3月15日、下个月15号",
        f"cannot read {text!r} as a date; use e.g. 2025-03-15 or 'tomorrow'",
    )


def _int(text: str) -> int:
    value = parse_number(text)
    if value != value.to_integral_value():
        raise ValueError(text)
    return int(value)


def _month_shift(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + month - 1 + months
    return index // 12, index % 12 + 1


def _day_in(year: int, month: int, day: int | Literal["last"]) -> date:
    last = _gregorian.monthrange(year, month)[1]
    return date(year, month, last if day == "last" else day)


def _prefer(candidates: Iterable[date], today: date, preference: DatePreference) -> date:
    options = sorted(set(candidates))
    if not options:
        raise ValueError("no such date")
    if preference is DatePreference.FUTURE:
        later = [d for d in options if d >= today]
        return later[0] if later else options[-1]
    if preference is DatePreference.PAST:
        earlier = [d for d in options if d <= today]
        return earlier[-1] if earlier else options[0]
    return min(options, key=lambda d: (abs((d - today).days), d < today))


def parse_date(text: str, today: date, preference: DatePreference = DatePreference.NEAREST) -> date:
    """A date from what a borrower types or says, relative to `today` where needed.

    Absolute: 2025-03-15, 2025/3/15, 2025年3月15日, 二〇二五年三月十五号. Without a year
    (3月15日) or a month (15号) and for a bare weekday (周五), `preference` picks the year,
    month or week. Relative: 今天/明天/后天/大后天/昨天/前天, 3天后, 两周后, 下个月15号,
    本月20号, 月底, 下个月底, 下周三, 这周五, today/tomorrow/yesterday, in 3 days.
    """
    t = _normalize(text)
    try:
        value = _parse_date(t, today, preference)
    except (ValueError, OverflowError, AnswerError):  # 99999天后 is beyond the calendar
        raise _date_error(text) from None
    if value is None:
        raise _date_error(text)
    return value


def _parse_date(t: str, today: date, preference: DatePreference) -> date | None:
    if t in _RELATIVE_DAYS:
        return today + timedelta(days=_RELATIVE_DAYS[t])
    if t in ("月底", "月末", "这个月底", "本月底", "本月末"):
        return _day_in(today.year, today.month, "last")
    m = re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", t)
    if m:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    m = re.fullmatch(
        r"(?:in)?(.+?)(天|日|周|个星期|星期|个礼拜|礼拜|个月|days?|weeks?)(?:以后|之后|后|later)?",
        t,
    )
    if m and (t.endswith(("后", "later")) or t.startswith("in")):
        n = _int(m.group(1))
        unit = m.group(2)
        if unit in ("个月",):
            y, mo = _month_shift(today.year, today.month, n)
            return _day_in(y, mo, min(today.day, _gregorian.monthrange(y, mo)[1]))
        days = n * 7 if unit in ("周", "个星期", "星期", "个礼拜", "礼拜", "week", "weeks") else n
        return today + timedelta(days=days)
    m = re.fullmatch(r"(下下个|下个|下|这个|本|当|上个|上)月(底|末|初|.+?[日号]?)", t)
    if m:
        y, mo = _month_shift(today.year, today.month, _MONTH_OFFSETS[m.group(1)])
        return _day_in(y, mo, _day_part(m.group(2)))
    m = re.fullmatch(r"(?:(.+?)年)?(.+?)月(.+?)[日号]?", t)
    if m:
        month = _int(m.group(2))
        day = _day_part(m.group(3))
        if m.group(1):
            return _day_in(_int(m.group(1)), month, day)
        years = (today.year - 1, today.year, today.year + 1)
        return _prefer((_day_in(y, month, day) for y in years), today, preference)
    m = re.fullmatch(r"(.+?)[日号]", t)
    if m:
        day = _day_part(m.group(1) + "日")
        candidates = []
        for shift in (-1, 0, 1):
            y, mo = _month_shift(today.year, today.month, shift)
            if day == "last" or day <= _gregorian.monthrange(y, mo)[1]:
                candidates.append(_day_in(y, mo, day))
        return _prefer(candidates, today, preference)
    m = re.fullmatch(
        r"(下下|下个|下|这个|这|本|上个|上)?(?:周|星期|礼拜)([一二三四五六日天末1-7])", t
    )
    if m:
        wd = _WEEKDAYS.get(m.group(2))
        weekday = wd if wd is not None else int(m.group(2)) - 1
        if m.group(1) is None:
            ahead = (weekday - today.weekday()) % 7
            return today + timedelta(days=ahead)
        monday = today - timedelta(days=today.weekday())
        return monday + timedelta(weeks=_WEEK_OFFSETS[m.group(1)], days=weekday)
    m = re.fullmatch(r"(next|this)?(" + "|".join(_EN_WEEKDAYS) + ")", t)
    if m:
        ahead = (_EN_WEEKDAYS.index(m.group(2)) - today.weekday()) % 7
        return today + timedelta(days=ahead or (7 if m.group(1) == "next" else 0))
    return None


def _day_part(text: str) -> int | Literal["last"]:
    if text in ("底", "末", "底日", "末日"):
        return "last"
    if text == "初":
        return 1
    stripped = text[:-1] if text.endswith(("日", "号")) else text
    day = _int(stripped)
    if not 1 <= day <= 31:
        raise ValueError(text)
    return day


def parse_choice(text: str, options: Sequence[Option]) -> str:
    """The code of the option meant by `text`: its code, its Chinese or English label, a
    synonym, or else the one option whose label or synonym the text contains (or that
    contains the text). AnswerError when none or several match."""
    t = _normalize(text)
    if not t:
        raise _choice_error(text, options)
    for exact in (
        lambda o: [o.code.casefold()],
        lambda o: [_normalize(o.label.zh), _normalize(o.label.en)],
        lambda o: [_normalize(s) for s in o.synonyms],
    ):
        found = [o.code for o in options if t in exact(o)]
        if len(found) == 1:
            return found[0]
    contained = []
    for o in options:
        phrases = [_normalize(o.label.zh), _normalize(o.label.en)] + [
            _normalize(s) for s in o.synonyms
        ]
        if any(p and (p in t or (len(t) >= 2 and t in p)) for p in phrases):
            contained.append(o.code)
    if len(contained) == 1:
        return contained[0]
    raise _choice_error(text, options)


def _choice_error(text: str, options: Sequence[Option]) -> AnswerError:
    zh = "、".join(o.label.zh for o in options)
    en = ", ".join(o.label.en for o in options)
    return AnswerError(
        f"无法确定您的选择“{text}”，请从以下选项中选择: {zh}", f"please choose one of: {en}"
    )


_CODE_DIGITS = str.maketrans({k: str(v) for k, v in _CN_DIGITS.items()})


def normalize_code(text: str) -> str:
    """A code as typed or said (ID tail, account tail): NFKC, no spaces, upper case, Chinese
    digits as ASCII digits ('一二三x' → '123X')."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).translate(_CODE_DIGITS).upper()


# --------------------------------------------------------------------------------------------
# Typing and validating one answer
# --------------------------------------------------------------------------------------------


def _date_preference(v: Validation) -> DatePreference:
    if v.min_days is not None and v.min_days >= 0:
        return DatePreference.FUTURE
    if v.max_days is not None and v.max_days <= 0:
        return DatePreference.PAST
    return DatePreference.NEAREST


def coerce_answer(ask: Ask, value: object, today: date) -> AnswerValue:
    """Turn raw text or a typed value into the typed answer of `ask`, validated.

    Text is parsed for the answer type; typed values (bool, Decimal/int, date, option code)
    are checked. None or blank text skips an optional question. Raises AnswerError with a
    bilingual message; the runner turns it into a rejected answer that does not advance.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        if ask.required:
            raise AnswerError("此问题必须回答", "this question needs an answer")
        return None
    kind = ask.answer_type
    v = ask.validation
    if kind is AnswerType.YES_NO:
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            return parse_yes_no(value)
    elif kind is AnswerType.CHOICE:
        if isinstance(value, str):
            return parse_choice(value, ask.options)
    elif kind in (AnswerType.NUMBER, AnswerType.MONEY):
        number: Decimal | None = None
        if isinstance(value, Decimal) and value.is_finite():
            number = value
        elif isinstance(value, int) and not isinstance(value, bool):
            number = Decimal(value)
        elif isinstance(value, str):
            number = parse_money(value) if kind is AnswerType.MONEY else parse_number(value)
        if number is not None:
            return _check_number(number, kind, v)
    elif kind is AnswerType.DATE:
        when: date | None = None
        if isinstance(value, date):
            when = date(value.year, value.month, value.day)
        elif isinstance(value, str):
            when = parse_date(value, today, _date_preference(v))
        if when is not None:
            return _check_date(when, today, v)
    elif isinstance(value, str):
        return _check_text(value, v)
    raise AnswerError(
        f"答案类型不符: 需要{_TYPE_NAMES[kind].zh}",
        f"wrong kind of answer: expected {_TYPE_NAMES[kind].en}",
    )


_TYPE_NAMES = {
    AnswerType.YES_NO: Text("“是”或“否”", "yes or no"),
    AnswerType.CHOICE: Text("一个选项", "one of the options"),
    AnswerType.NUMBER: Text("数字", "a number"),
    AnswerType.MONEY: Text("金额", "an amount"),
    AnswerType.DATE: Text("日期", "a date"),
    AnswerType.FREE_TEXT: Text("文字", "text"),
}


def _check_number(number: Decimal, kind: AnswerType, v: Validation) -> Decimal:
    if kind is AnswerType.MONEY:
        if number != number.quantize(FEN):
            raise AnswerError("金额最多两位小数", "an amount has at most two decimals")
        number = number.quantize(FEN)
    if v.integer and number != number.to_integral_value():
        raise AnswerError("请回答一个整数", "please answer a whole number")
    show = format_cny if kind is AnswerType.MONEY else str
    if v.min_value is not None and number < v.min_value:
        raise AnswerError(f"不能小于 {show(v.min_value)}", f"must be at least {show(v.min_value)}")
    if v.max_value is not None and number > v.max_value:
        raise AnswerError(f"不能大于 {show(v.max_value)}", f"must be at most {show(v.max_value)}")
    return number


def _check_date(when: date, today: date, v: Validation) -> date:
    if v.min_days is not None and when < today + timedelta(days=v.min_days):
        earliest = today + timedelta(days=v.min_days)
        raise AnswerError(
            f"日期不能早于 {format_date(earliest, 'zh')}", f"the date cannot be before {earliest}"
        )
    if v.max_days is not None and when > today + timedelta(days=v.max_days):
        latest = today + timedelta(days=v.max_days)
        raise AnswerError(
            f"日期不能晚于 {format_date(latest, 'zh')}", f"the date cannot be after {latest}"
        )
    return when


def _check_text(text: str, v: Validation) -> str:
    cleaned = text.strip()
    if v.pattern is not None:
        cleaned = normalize_code(cleaned)
        if not re.fullmatch(v.pattern, cleaned):
            raise AnswerError(f"格式不正确: “{text}”", f"not in the expected format: {text!r}")
    if v.max_length is not None and len(cleaned) > v.max_length:
        raise AnswerError(
            f"内容过长 (最多 {v.max_length} 字)", f"too long (at most {v.max_length} characters)"
        )
    return cleaned


# --------------------------------------------------------------------------------------------
# Conditions
# --------------------------------------------------------------------------------------------


def _equal(a: object, b: object) -> bool:
    """Equality across the answer types: bools only with bools, numbers as Decimals, text as
    normalized codes (so an ID tail typed as '123x' equals '123X' on file)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, Decimal | int) and isinstance(b, Decimal | int):
        return Decimal(a) == Decimal(b)
    if isinstance(a, str) and isinstance(b, str):
        return normalize_code(a) == normalize_code(b)
    if isinstance(a, date) and isinstance(b, date):
        return a == b
    return False


def _order(a: object, b: object) -> int | None:
    """-1, 0 or 1 comparing two numbers or two dates; None when they cannot be ordered."""
    if isinstance(a, bool) or isinstance(b, bool):
        return None
    if isinstance(a, Decimal | int) and isinstance(b, Decimal | int):
        x, y = Decimal(a), Decimal(b)
        return (x > y) - (x < y)
    if isinstance(a, date) and isinstance(b, date):
        return (a > b) - (a < b)
    return None


def condition_holds(
    condition: Condition, answers: Mapping[str, AnswerValue], context: Mapping[str, object]
) -> bool:
    """Whether a condition holds for the answers so far; an unanswered question (never asked
    or skipped) satisfies only `not_answered`. Values that cannot be compared do not hold."""
    answer = answers.get(condition.question)
    if condition.op is Op.ANSWERED:
        return answer is not None
    if condition.op is Op.NOT_ANSWERED:
        return answer is None
    if answer is None:
        return False
    target = context.get(condition.var) if condition.var is not None else condition.value
    if target is None:
        return False
    if condition.op in _SET_OPS:
        members = target if isinstance(target, tuple) else (target,)
        inside = any(_equal(answer, m) for m in members)
        return inside if condition.op is Op.IN else not inside
    if condition.op in (Op.EQ, Op.NE):
        same = _equal(answer, target)
        return same if condition.op is Op.EQ else not same
    order = _order(answer, target)
    if order is None:
        return False
    return {Op.LT: order < 0, Op.LE: order <= 0, Op.GT: order > 0, Op.GE: order >= 0}[condition.op]


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


class ProblemCode(StrEnum):
    """Why a script is rejected. Each has a test with a minimal bad script."""

    DUPLICATE_ID = "duplicate_id"
    UNKNOWN_TARGET = "unknown_target"  # next/goto/default/on_fail names no step
    UNREACHABLE_STEP = "unreachable_step"
    MISSING_DEFAULT = "missing_default"  # a branch without a default
    FALLS_OFF_END = "falls_off_end"  # a path that runs past the last step without an end
    NO_EXIT = "no_exit"  # a step (in a cycle) from which no end can be reached
    LOOP_WITHOUT_QUESTION = "loop_without_question"  # a cycle the runner would spin in
    UNKNOWN_ANSWER = "unknown_answer"  # a condition on a question that does not exist
    LATER_ANSWER = "later_answer"  # a condition on a question not always asked before
    UNKNOWN_OPTION = "unknown_option"  # a condition on a choice code the question lacks
    BAD_CONDITION = "bad_condition"  # wrong value type, operator or missing value
    UNKNOWN_VARIABLE = "unknown_variable"  # not declared by the script or not in the catalogue
    BAD_TEMPLATE = "bad_template"
    SECRET_SPOKEN = "secret_spoken"  # a secret variable in a template
    LOAN_DETAIL_BEFORE_IDENTITY = "loan_detail_before_identity"
    NO_IDENTITY_CHECK = "no_identity_check"
    DUPLICATE_IDENTITY_CHECK = "duplicate_identity_check"
    IDENTITY_FAILURE_CONTINUES = "identity_failure_continues"  # asks after a failed check
    MISSING_DISCLOSURE = "missing_disclosure"  # a required disclosure is not in the script
    DISCLOSURE_TOO_LATE = "disclosure_too_late"  # not delivered before every question
    MISSING_ENGLISH = "missing_english"
    MISSING_CHINESE = "missing_chinese"
    BAD_OPTIONS = "bad_options"  # a choice without options, duplicate codes, options elsewhere
    BAD_VALIDATION = "bad_validation"  # min > max, a pattern that does not compile …
    BAD_CODE = "bad_code"  # an outcome, disclosure or option code that is not snake_case
    FORBIDDEN_WORDING = "forbidden_wording"  # threatening or non-compliant wording
    BAD_PERSONAL = "bad_personal"  # a phone or address mask on an answer that is not text
    EMPTY_SCRIPT = "empty_script"


@dataclass(frozen=True, slots=True)
class ScriptProblem:
    """One reason a script is rejected, located at a step when it belongs to one."""

    code: ProblemCode
    step_id: str | None
    message: Text


FORBIDDEN_PHRASES: tuple[str, ...] = (
    "坐牢", "拘留", "抓你", "抓人", "公安", "报警", "派出所", "黑社会", "后果自负", "走着瞧",
    "通知你的家人", "告诉你家人", "联系你单位", "找你单位", "曝光", "通讯录", "上门讨债",
    "老赖", "骗子", "不还钱就", "让你好看",
)  # fmt: skip
"""Threats and shaming that compliant collection wording never uses (NIFA/CBA guidelines)."""


def validate_script(
    script: Script,
    catalogue: Mapping[str, Variable] = STANDARD_VARIABLES,
    forbidden: Sequence[str] = FORBIDDEN_PHRASES,
) -> list[ScriptProblem]:
    """Every problem that makes `script` unsafe to run, in a stable order; [] when valid.

    Checked: duplicate ids; targets that name no step; unreachable steps; branches without a
    default; paths that run off the end; steps from which no end is reachable; cycles with no
    question in them; conditions on unknown questions, on questions not asked on every path
    before the branch, on unknown option codes or with ill-typed values; unknown, undeclared
    or secret template variables and malformed templates; loan details (LOAN_DETAIL variables)
    in any step that can be reached without passing the identity check; exactly one identity
    check, after whose failure nothing is asked; required disclosures present and delivered
    before every question; Chinese and English for every text; options and validation that
    make sense; phone and address masks only on free-text answers; snake_case codes; and
    forbidden (threatening) wording.
    """
    problems: list[ScriptProblem] = []

    def add(code: ProblemCode, step_id: str | None, zh: str, en: str) -> None:
        problems.append(ScriptProblem(code, step_id, Text(zh, en)))

    if not script.steps:
        add(ProblemCode.EMPTY_SCRIPT, None, "话术没有任何步骤", "the script has no steps")
        return problems

    _check_texts(script, catalogue, forbidden, add)
    ids: dict[str, int] = {}
    for i, step in enumerate(script.steps):
        if step.id in ids:
            add(
                ProblemCode.DUPLICATE_ID,
                step.id,
                f"步骤编号重复: {step.id}",
                f"duplicate step id {step.id!r}",
            )
        else:
            ids[step.id] = i
        _check_step_shape(step, add)

    edges = _edges(script, ids, add)
    reachable = _reach(0, edges)
    for i, step in enumerate(script.steps):
        if i not in reachable:
            add(
                ProblemCode.UNREACHABLE_STEP,
                step.id,
                f"步骤不可达: {step.id}",
                f"step {step.id!r} cannot be reached",
            )
    _check_exits(script, edges, reachable, add)
    dominators = _dominators(edges, reachable)
    asks = {s.id: s for s in script.steps if isinstance(s, Ask)}
    ask_index = {s.id: ids[s.id] for s in asks.values() if s.id in ids}
    _check_conditions(script, ids, asks, ask_index, dominators, catalogue, add)
    _check_identity(script, ids, edges, reachable, catalogue, add)
    _check_disclosures(script, ids, asks, ask_index, dominators, add)
    return problems


_Add: TypeAlias = Callable[[ProblemCode, str | None, str, str], None]


def _all_texts(script: Script) -> Iterable[tuple[str | None, str, Text]]:
    yield None, "title", script.title
    for step in script.steps:
        for label, text in step_texts(step):
            yield step.id, label, text


def _check_texts(
    script: Script, catalogue: Mapping[str, Variable], forbidden: Sequence[str], add: _Add
) -> None:
    declared = set(script.variables)
    for name in script.variables:
        if name not in catalogue:
            add(
                ProblemCode.UNKNOWN_VARIABLE,
                None,
                f"未知变量: {name}",
                f"unknown variable {name!r}",
            )
    for step_id, label, text in _all_texts(script):
        where = f"{step_id or script.id} {label}"
        if not text.zh.strip():
            add(
                ProblemCode.MISSING_CHINESE,
                step_id,
                f"缺少中文: {where}",
                f"Chinese text missing: {where}",
            )
        if not text.en.strip():
            add(
                ProblemCode.MISSING_ENGLISH,
                step_id,
                f"缺少英文: {where}",
                f"English text missing: {where}",
            )
        for phrase in forbidden:
            if phrase in text.zh or phrase.casefold() in text.en.casefold():
                add(
                    ProblemCode.FORBIDDEN_WORDING,
                    step_id,
                    f"禁用措辞“{phrase}”: {where}",
                    f"forbidden wording {phrase!r}: {where}",
                )
        used: dict[str, None] = {}  # both languages' variables, each reported once
        for template in (text.zh, text.en):
            try:
                used.update(dict.fromkeys(template_variables(template)))
            except ValueError as exc:
                add(
                    ProblemCode.BAD_TEMPLATE,
                    step_id,
                    f"模板格式错误 ({where}): {exc}",
                    f"malformed template ({where}): {exc}",
                )
        if used:
            for name in used:
                if name not in catalogue or name not in declared:
                    add(
                        ProblemCode.UNKNOWN_VARIABLE,
                        step_id,
                        f"模板使用未声明或未知的变量 {{{name}}}: {where}",
                        f"template uses an undeclared or unknown variable {{{name}}}: {where}",
                    )
                elif catalogue[name].exposure is Exposure.SECRET:
                    add(
                        ProblemCode.SECRET_SPOKEN,
                        step_id,
                        f"保密变量 {{{name}}} 不得出现在话术中: {where}",
                        f"secret variable {{{name}}} may never be spoken: {where}",
                    )


def _check_step_shape(step: Step, add: _Add) -> None:
    sid = step.id
    if isinstance(step, End | Handover) and not _CODE_RE.fullmatch(step.outcome):
        add(
            ProblemCode.BAD_CODE,
            sid,
            f"结果代码应为小写下划线格式: {step.outcome!r}",
            f"outcome code must be snake_case: {step.outcome!r}",
        )
    if isinstance(step, Disclosure) and not _CODE_RE.fullmatch(step.code):
        add(
            ProblemCode.BAD_CODE,
            sid,
            f"告知代码应为小写下划线格式: {step.code!r}",
            f"disclosure code must be snake_case: {step.code!r}",
        )
    if not isinstance(step, Ask):
        return
    if step.answer_type is AnswerType.CHOICE:
        codes = [o.code for o in step.options]
        if len(codes) < 2:
            add(
                ProblemCode.BAD_OPTIONS,
                sid,
                "选择题至少需要两个选项",
                "a choice question needs at least two options",
            )
        if len(set(codes)) != len(codes):
            add(ProblemCode.BAD_OPTIONS, sid, "选项代码重复", "duplicate option codes")
        for code in codes:
            if not _CODE_RE.fullmatch(code):
                add(
                    ProblemCode.BAD_CODE,
                    sid,
                    f"选项代码应为小写下划线格式: {code!r}",
                    f"option code must be snake_case: {code!r}",
                )
    elif step.options:
        add(
            ProblemCode.BAD_OPTIONS,
            sid,
            "只有选择题可以有选项",
            "only choice questions have options",
        )
    if step.personal in (Personal.PHONE, Personal.ADDRESS) and (
        step.answer_type is not AnswerType.FREE_TEXT
    ):
        add(
            ProblemCode.BAD_PERSONAL,
            sid,
            f"personal: {step.personal.value} 只适用于文字回答 (free_text)",
            f"personal: {step.personal.value} applies to free-text answers only",
        )
    v = step.validation
    numeric = step.answer_type in (AnswerType.NUMBER, AnswerType.MONEY)
    if (v.min_value is not None or v.max_value is not None or v.integer) and not numeric:
        add(
            ProblemCode.BAD_VALIDATION,
            sid,
            "数值范围只适用于数字或金额",
            "min/max/integer apply only to numbers and money",
        )
    if v.min_value is not None and v.max_value is not None and v.min_value > v.max_value:
        add(ProblemCode.BAD_VALIDATION, sid, "最小值大于最大值", "min is greater than max")
    if (
        v.min_days is not None or v.max_days is not None
    ) and step.answer_type is not AnswerType.DATE:
        add(
            ProblemCode.BAD_VALIDATION,
            sid,
            "日期范围只适用于日期",
            "day limits apply only to dates",
        )
    if v.min_days is not None and v.max_days is not None and v.min_days > v.max_days:
        add(ProblemCode.BAD_VALIDATION, sid, "最早日期晚于最晚日期", "min_days is after max_days")
    if (
        v.pattern is not None or v.max_length is not None
    ) and step.answer_type is not AnswerType.FREE_TEXT:
        add(
            ProblemCode.BAD_VALIDATION,
            sid,
            "格式和长度限制只适用于文字",
            "pattern and max_length apply only to free text",
        )
    if v.pattern is not None:
        try:
            re.compile(v.pattern)
        except re.error as exc:
            add(ProblemCode.BAD_VALIDATION, sid, f"正则表达式错误: {exc}", f"bad pattern: {exc}")


def _edges(script: Script, ids: Mapping[str, int], add: _Add) -> list[list[int]]:
    """Successor indexes of each step; -1 stands for running off the end of the list."""
    edges: list[list[int]] = []
    for i, step in enumerate(script.steps):
        out: list[int] = []
        if isinstance(step, Branch) and step.default is None:
            add(
                ProblemCode.MISSING_DEFAULT,
                step.id,
                f"分支缺少默认去向: {step.id}",
                f"branch {step.id!r} has no default",
            )
        for target in successors(script, i):
            if target is None:
                out.append(-1)
            elif target in ids:
                out.append(ids[target])
            else:
                add(
                    ProblemCode.UNKNOWN_TARGET,
                    step.id,
                    f"跳转到不存在的步骤: {target}",
                    f"goes to an unknown step {target!r}",
                )
        edges.append(out)
    return edges


def _reach(
    start: int, edges: Sequence[Sequence[int]], skip: frozenset[tuple[int, int]] = frozenset()
) -> set[int]:
    seen, stack = {start}, [start]
    while stack:
        n = stack.pop()
        for m in edges[n]:
            if m >= 0 and m not in seen and (n, m) not in skip:
                seen.add(m)
                stack.append(m)
    return seen


def _check_exits(
    script: Script, edges: Sequence[Sequence[int]], reachable: set[int], add: _Add
) -> None:
    n = len(script.steps)
    # Steps that can reach a terminal step or the end of the list (reported separately).
    reverse: list[list[int]] = [[] for _ in range(n)]
    exits: list[int] = []
    for i in range(n):
        if isinstance(script.steps[i], End | Handover) or -1 in edges[i]:
            exits.append(i)
        for m in edges[i]:
            if m >= 0:
                reverse[m].append(i)
    can_exit = set(exits)
    stack = list(exits)
    while stack:
        m = stack.pop()
        for p in reverse[m]:
            if p not in can_exit:
                can_exit.add(p)
                stack.append(p)
    for i in sorted(reachable):
        step = script.steps[i]
        if -1 in edges[i]:
            add(
                ProblemCode.FALLS_OFF_END,
                step.id,
                f"步骤 {step.id} 之后没有结束步骤",
                f"the path runs past step {step.id!r} without an end",
            )
        if i not in can_exit:
            add(
                ProblemCode.NO_EXIT,
                step.id,
                f"从步骤 {step.id} 无法到达结束 (循环无出口)",
                f"no end can be reached from step {step.id!r} (a cycle without exit)",
            )
    for component in _cycles(edges):
        if not any(isinstance(script.steps[i], Ask) for i in component):
            first = script.steps[min(component)].id
            add(
                ProblemCode.LOOP_WITHOUT_QUESTION,
                first,
                f"循环中没有任何提问, 将无限循环: {first}",
                f"a cycle through {first!r} asks nothing and would never stop",
            )


def _cycles(edges: Sequence[Sequence[int]]) -> list[list[int]]:
    """Strongly connected components that contain a cycle (Tarjan, iterative)."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    result: list[list[int]] = []
    counter = 0
    for root in range(len(edges)):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, pos = work.pop()
            if pos == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            targets = [m for m in edges[node] if m >= 0]
            if pos < len(targets):
                work.append((node, pos + 1))
                m = targets[pos]
                if m not in index:
                    work.append((m, 0))
                elif m in on_stack:
                    low[node] = min(low[node], index[m])
                continue
            for m in targets:
                if m in on_stack:
                    low[node] = min(low[node], low[m])
            if low[node] == index[node]:
                component = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    component.append(m)
                    if m == node:
                        break
                if len(component) > 1 or node in edges[node]:
                    result.append(sorted(component))
    return result


def _dominators(edges: Sequence[Sequence[int]], reachable: set[int]) -> dict[int, set[int]]:
    """For each reachable step, the steps on every path from the first step to it."""
    preds: dict[int, list[int]] = {n: [] for n in reachable}
    for n in reachable:
        for m in edges[n]:
            if m in reachable:
                preds[m].append(n)
    dom = {n: set(reachable) for n in reachable}
    dom[0] = {0}
    changed = True
    while changed:
        changed = False
        for n in sorted(reachable):
            if n == 0:
                continue
            incoming = [dom[p] for p in preds[n]]
            new = set.intersection(*incoming) | {n} if incoming else {n}
            if new != dom[n]:
                dom[n], changed = new, True
    return dom


def _check_conditions(
    script: Script,
    ids: Mapping[str, int],
    asks: Mapping[str, Ask],
    ask_index: Mapping[str, int],
    dominators: Mapping[int, set[int]],
    catalogue: Mapping[str, Variable],
    add: _Add,
) -> None:
    for step in script.steps:
        conditions: list[Condition] = []
        if isinstance(step, Branch):
            conditions = [c for rule in step.rules for c in rule.when]
            if any(not rule.when for rule in step.rules):
                add(
                    ProblemCode.BAD_CONDITION,
                    step.id,
                    "分支规则没有条件",
                    "a branch rule has no condition",
                )
        elif isinstance(step, Ask) and step.identity is not None:
            conditions = list(step.identity.passes)
            if not conditions:
                add(
                    ProblemCode.BAD_CONDITION,
                    step.id,
                    "身份核实没有通过条件",
                    "the identity check has no pass condition",
                )
        here = ids.get(step.id)
        for c in conditions:
            ask = asks.get(c.question)
            if ask is None:
                add(
                    ProblemCode.UNKNOWN_ANSWER,
                    step.id,
                    f"条件引用了不存在的问题: {c.question}",
                    f"condition on an unknown question {c.question!r}",
                )
                continue
            own = isinstance(step, Ask) and c.question == step.id
            if here is not None and here in dominators and not own:
                before = ask_index.get(c.question)
                if before is None or before not in dominators[here] or before == here:
                    add(
                        ProblemCode.LATER_ANSWER,
                        step.id,
                        f"条件引用的问题 {c.question} 并非在每条路径上都先于此步骤提问",
                        f"condition on {c.question!r}, not asked before this step on every path",
                    )
            _check_condition_value(step.id, c, ask, script, catalogue, add)


def _check_condition_value(
    step_id: str,
    c: Condition,
    ask: Ask,
    script: Script,
    catalogue: Mapping[str, Variable],
    add: _Add,
) -> None:
    def bad(zh: str, en: str) -> None:
        add(
            ProblemCode.BAD_CONDITION,
            step_id,
            f"条件 {c.question} {c.op}: {zh}",
            f"condition {c.question} {c.op}: {en}",
        )

    if c.op in _PRESENCE_OPS:
        if c.value is not None or c.var is not None:
            bad("不应有比较值", "takes no value")
        return
    if (c.value is None) == (c.var is None):
        bad("需要且只能有一个比较值 (value 或 var)", "needs exactly one of value or var")
        return
    kind = ask.answer_type
    if c.op in _ORDERING_OPS and kind not in (AnswerType.NUMBER, AnswerType.MONEY, AnswerType.DATE):
        bad("大小比较只适用于数字、金额和日期", "ordering applies only to numbers, money and dates")
        return
    if c.var is not None:
        if c.var not in catalogue or c.var not in script.variables:
            add(
                ProblemCode.UNKNOWN_VARIABLE,
                step_id,
                f"条件使用未声明或未知的变量: {c.var}",
                f"condition uses an undeclared or unknown variable {c.var!r}",
            )
        if c.op in _SET_OPS:
            bad("集合比较不能使用变量", "in/not_in cannot compare with a variable")
        return
    values = c.value if isinstance(c.value, tuple) else (c.value,)
    if (c.op in _SET_OPS) != isinstance(c.value, tuple):
        bad(
            "in/not_in 需要列表, 其他比较需要单个值",
            "in/not_in take a list, other operators one value",
        )
    expected: tuple[type, ...] = {
        AnswerType.YES_NO: (bool,),
        AnswerType.CHOICE: (str,),
        AnswerType.NUMBER: (Decimal,),
        AnswerType.MONEY: (Decimal,),
        AnswerType.DATE: (date,),
        AnswerType.FREE_TEXT: (str,),
    }[kind]
    for value in values:
        if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
            bad(
                f"比较值 {value!r} 与答案类型 {kind} 不符",
                f"value {value!r} does not fit answer type {kind}",
            )
        elif kind is AnswerType.CHOICE and value not in {o.code for o in ask.options}:
            add(
                ProblemCode.UNKNOWN_OPTION,
                step_id,
                f"条件引用了问题 {c.question} 中不存在的选项: {value}",
                f"condition on an option {value!r} that question {c.question!r} does not have",
            )


def _loan_detail_names(step: Step, catalogue: Mapping[str, Variable]) -> set[str]:
    names: set[str] = set()
    for _label, text in step_texts(step):
        for template in (text.zh, text.en):
            try:
                names.update(
                    n
                    for n in template_variables(template)
                    if n in catalogue and catalogue[n].exposure is Exposure.LOAN_DETAIL
                )
            except ValueError:
                continue
    return names


def _check_identity(
    script: Script,
    ids: Mapping[str, int],
    edges: Sequence[Sequence[int]],
    reachable: set[int],
    catalogue: Mapping[str, Variable],
    add: _Add,
) -> None:
    checks = [
        i for i, s in enumerate(script.steps) if isinstance(s, Ask) and s.identity is not None
    ]
    if not checks:
        add(
            ProblemCode.NO_IDENTITY_CHECK,
            None,
            "话术没有身份核实步骤",
            "the script has no identity check",
        )
    if len(checks) > 1:
        for i in checks[1:]:
            add(
                ProblemCode.DUPLICATE_IDENTITY_CHECK,
                script.steps[i].id,
                "只能有一个身份核实步骤",
                "a script has exactly one identity check",
            )
    # Steps reachable without taking the identity check's pass edge must not reveal anything.
    skip: frozenset[tuple[int, int]] = frozenset()
    if checks:
        i = checks[0]
        ask = script.steps[i]
        assert isinstance(ask, Ask) and ask.identity is not None
        pass_target = edges[i][0] if edges[i] else -1
        if pass_target >= 0:
            skip = frozenset({(i, pass_target)})
        # After a failed check only words may follow: nothing is asked of a possible stranger.
        fail = ids.get(ask.identity.on_fail)
        if fail is not None:
            for j in sorted(_reach(fail, edges, frozenset({(i, m) for m in edges[i]}))):
                step = script.steps[j]
                if isinstance(step, Ask) and j != i:
                    add(
                        ProblemCode.IDENTITY_FAILURE_CONTINUES,
                        step.id,
                        f"身份核实失败后不得继续提问: {step.id}",
                        f"step {step.id!r} asks a question after a failed identity check",
                    )
    before = _reach(0, edges, skip) & reachable
    for j in sorted(before):
        step = script.steps[j]
        names = _loan_detail_names(step, catalogue)
        if names:
            shown = ", ".join(sorted(names))
            add(
                ProblemCode.LOAN_DETAIL_BEFORE_IDENTITY,
                step.id,
                f"身份核实通过前不得透露贷款信息 ({shown}): {step.id}",
                f"step {step.id!r} reveals loan details ({shown}) before identity is verified",
            )


def _check_disclosures(
    script: Script,
    ids: Mapping[str, int],
    asks: Mapping[str, Ask],
    ask_index: Mapping[str, int],
    dominators: Mapping[int, set[int]],
    add: _Add,
) -> None:
    for code in script.required_disclosures:
        at = [
            ids[s.id]
            for s in script.steps
            if isinstance(s, Disclosure) and s.code == code and s.id in ids
        ]
        if not at:
            add(
                ProblemCode.MISSING_DISCLOSURE,
                None,
                f"缺少必需的告知: {code}",
                f"required disclosure {code!r} is missing",
            )
            continue
        for qid, q in ask_index.items():
            if q in dominators and not any(d in dominators[q] for d in at):
                add(
                    ProblemCode.DISCLOSURE_TOO_LATE,
                    qid,
                    f"提问 {qid} 之前并非每条路径都已告知 {code}",
                    f"{code!r} is not delivered before question {qid!r} on every path",
                )
                break


# --------------------------------------------------------------------------------------------
# The runner
# --------------------------------------------------------------------------------------------


class ScriptInvalid(ValueError):
    """Raised by `start` for a script that `validate_script` rejects."""

    def __init__(self, script: Script, problems: Sequence[ScriptProblem]) -> None:
        lines = "; ".join(p.message.zh for p in problems[:5])
        super().__init__(f"话术 {script.id} v{script.version} 无效 / invalid script: {lines}")
        self.problems = tuple(problems)


class ContextError(ValueError):
    """Raised by `start` when a declared variable is missing or has the wrong type."""


class RunFinished(RuntimeError):
    """Raised when a finished run is asked to take another answer."""


@dataclass(frozen=True, slots=True)
class ScriptContext:
    """What a run needs from outside: today's date (for relative dates and date limits) and
    the values of the script's variables (from the loan book and the agent)."""

    today: date
    values: Mapping[str, ContextValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))


class EntryKind(StrEnum):
    """What a transcript line records."""

    SAY = "say"
    DISCLOSURE = "disclosure"
    ASK = "ask"
    ANSWER = "answer"
    REJECTED = "rejected"  # an answer that was not accepted; the question stays open
    HANDOVER = "handover"
    END = "end"
    INTERRUPTED = "interrupted"  # the call stopped outside the script (hang-up, refusal)


_BORROWER_ENTRIES = frozenset({EntryKind.ANSWER, EntryKind.REJECTED})


@dataclass(frozen=True, slots=True)
class TranscriptEntry:
    """One line of a run's transcript, rendered in both languages.

    For answers `raw` is what was typed or said (None for typed values) and `value` the
    typed answer; for rejected answers `text` is the error message that was given.
    """

    kind: EntryKind
    step_id: str | None
    text: Text
    value: AnswerValue = None
    raw: str | None = None

    @property
    def speaker(self) -> Literal["agent", "borrower"]:
        """Who spoke the line: the agent (human or voice) or the borrower."""
        return "borrower" if self.kind in _BORROWER_ENTRIES else "agent"


@dataclass(frozen=True, slots=True)
class RunState:
    """Where a run stands; every runner function returns a new one.

    `position` is the id of the question awaiting an answer, or of the end/handover step the
    run finished at (None when it was interrupted). `error` is the message for the last
    rejected answer (None after an accepted one); `rejections` counts consecutive rejected
    answers to the current question, so a voice agent can decide to hand over.
    """

    script: Script
    context: ScriptContext
    position: str | None
    answers: tuple[tuple[str, AnswerValue], ...] = ()
    entries: tuple[TranscriptEntry, ...] = ()
    identity_verified: bool = False
    handed_over: bool = False
    finished: bool = False
    outcome: str | None = None
    disclosures: tuple[str, ...] = ()
    error: Text | None = None
    rejections: int = 0


@dataclass(frozen=True, slots=True)
class ScriptResult:
    """The outcome of a run, the same whether an agent's form or the voice agent drove it."""

    script_id: str
    script_version: int
    purpose: Purpose
    answers: Mapping[str, AnswerValue]
    outcome: str | None
    identity_verified: bool
    handed_over: bool
    finished: bool
    disclosures: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Prompt:
    """What to deliver now: the lines since the last answer, then the question (if any).

    A web form shows it; a voice agent speaks `lines`, then `question` and listens. When
    the last answer was rejected, `error` says why and the question is asked again.
    """

    lines: tuple[Text, ...]
    question: Text | None
    answer_type: AnswerType | None
    options: tuple[Option, ...]
    required: bool
    error: Text | None
    finished: bool


def check_context(
    script: Script,
    context: ScriptContext,
    catalogue: Mapping[str, Variable] = STANDARD_VARIABLES,
) -> list[str]:
    """Problems with the context values for `script` (missing or wrongly typed); [] if fine."""
    problems = []
    for name in script.variables:
        variable = catalogue.get(name)
        if variable is None:
            continue
        if name not in context.values:
            problems.append(f"缺少变量 {name} / missing variable {name}")
            continue
        value = context.values[name]
        kind = variable.kind
        ok = {
            VariableKind.TEXT: isinstance(value, str),
            VariableKind.PLATE: isinstance(value, str),
            VariableKind.MONEY: isinstance(value, Decimal | int) and not isinstance(value, bool),
            VariableKind.INTEGER: isinstance(value, int) and not isinstance(value, bool),
            VariableKind.DATE: isinstance(value, date),
        }[kind]
        if not ok:
            problems.append(
                f"变量 {name} 应为 {kind} 类型 / variable {name} must be {kind}, got {value!r}"
            )
    return problems


_MAX_SILENT_STEPS = 10_000


def start(
    script: Script,
    context: ScriptContext,
    catalogue: Mapping[str, Variable] = STANDARD_VARIABLES,
) -> RunState:
    """Begin a run: validate script and context, then deliver the opening up to the first
    question. Raises ScriptInvalid or ContextError (programming or configuration errors)."""
    problems = validate_script(script, catalogue)
    if problems:
        raise ScriptInvalid(script, problems)
    context_problems = check_context(script, context, catalogue)
    if context_problems:
        raise ContextError("; ".join(context_problems))
    state = RunState(script=script, context=context, position=None)
    return _advance(state, script.steps[0].id, catalogue)


def current_step(state: RunState) -> Step | None:
    """The question awaiting an answer, or the end/handover step a finished run stopped at;
    None after an interruption."""
    return state.script.step(state.position) if state.position is not None else None


def is_finished(state: RunState) -> bool:
    """Whether the run has ended (end step, handover or interruption)."""
    return state.finished


def transcript(state: RunState) -> tuple[TranscriptEntry, ...]:
    """Everything said, asked and answered so far, in order (rejected answers included)."""
    return state.entries


def answers(state: RunState) -> dict[str, AnswerValue]:
    """The accepted answers by question id (the latest one for a question asked twice)."""
    return dict(state.answers)


def result(state: RunState) -> ScriptResult:
    """The run's result: answers, outcome and the identity and handover flags."""
    return ScriptResult(
        script_id=state.script.id,
        script_version=state.script.version,
        purpose=state.script.purpose,
        answers=MappingProxyType(answers(state)),
        outcome=state.outcome,
        identity_verified=state.identity_verified,
        handed_over=state.handed_over,
        finished=state.finished,
        disclosures=state.disclosures,
    )


def prompt(state: RunState) -> Prompt:
    """What to show or say now (see `Prompt`)."""
    lines: list[Text] = []
    question: Text | None = None
    for entry in reversed(state.entries):
        if entry.kind in _BORROWER_ENTRIES:
            break
        if entry.kind is EntryKind.ASK:
            question = entry.text
        else:
            lines.append(entry.text)
    lines.reverse()
    step = current_step(state)
    if isinstance(step, Ask) and not state.finished:
        if question is None:  # after a rejected answer: the question is asked again
            question = _render(state, step.question)
        return Prompt(
            lines=tuple(lines),
            question=question,
            answer_type=step.answer_type,
            options=tuple(
                Option(o.code, _render(state, o.label), o.synonyms) for o in step.options
            ),
            required=step.required,
            error=state.error,
            finished=False,
        )
    return Prompt(tuple(lines), None, None, (), False, state.error, state.finished)


def answer(
    state: RunState,
    value: object,
    catalogue: Mapping[str, Variable] = STANDARD_VARIABLES,
) -> RunState:
    """Give the answer to the current question: raw text (parsed for the answer type) or a
    typed value. A bad answer returns a state with `error` set and the same position; a good
    one records it and moves on to the next question or the end. Raises RunFinished."""
    if state.finished or state.position is None:
        raise RunFinished("通话已结束 / the run has finished")
    step = state.script.step(state.position)
    assert isinstance(step, Ask)
    raw = value if isinstance(value, str) else None
    try:
        typed = coerce_answer(step, value, state.context.today)
    except AnswerError as exc:
        entry = TranscriptEntry(EntryKind.REJECTED, step.id, exc.message, None, raw)
        return replace(
            state,
            entries=(*state.entries, entry),
            error=exc.message,
            rejections=state.rejections + 1,
        )
    shown = _answer_text(step, typed)
    entry = TranscriptEntry(EntryKind.ANSWER, step.id, shown, typed, raw)
    recorded = (*((k, v) for k, v in state.answers if k != step.id), (step.id, typed))
    state = replace(
        state, answers=recorded, entries=(*state.entries, entry), error=None, rejections=0
    )
    index = state.script.steps.index(step)
    following = successors(state.script, index)
    if step.identity is not None:
        context = dict(state.context.values)
        passed = all(condition_holds(c, dict(recorded), context) for c in step.identity.passes)
        if not passed:
            return _advance(state, step.identity.on_fail, catalogue)
        state = replace(state, identity_verified=True)
    target = following[0]
    assert target is not None  # guaranteed by validate_script (no falling off the end)
    return _advance(state, target, catalogue)


def request_handover(state: RunState, reason: Text, outcome: str = OUTCOME_HANDED_OVER) -> RunState:
    """Hand the call to a human now, outside the script: the borrower asked for one (转人工,
    PIPL art. 24) or the voice agent could not understand. Ends the run, handed over."""
    if state.finished:
        raise RunFinished("通话已结束 / the run has finished")
    entry = TranscriptEntry(EntryKind.HANDOVER, state.position, reason)
    return replace(
        state,
        entries=(*state.entries, entry),
        handed_over=True,
        finished=True,
        outcome=outcome,
        position=None,
        error=None,
    )


def interrupt(state: RunState, outcome: str, reason: Text) -> RunState:
    """Stop the run outside the script (the borrower hung up or refused to go on)."""
    if state.finished:
        raise RunFinished("通话已结束 / the run has finished")
    entry = TranscriptEntry(EntryKind.INTERRUPTED, state.position, reason)
    return replace(
        state,
        entries=(*state.entries, entry),
        finished=True,
        outcome=outcome,
        position=None,
        error=None,
    )


def _render(
    state: RunState, text: Text, catalogue: Mapping[str, Variable] = STANDARD_VARIABLES
) -> Text:
    return render_text(
        text, state.context.values, catalogue, reveal_loan_details=state.identity_verified
    )


def _answer_text(step: Ask, value: AnswerValue) -> Text:
    if value is None:
        return Text("(跳过)", "(skipped)")
    if step.answer_type is AnswerType.CHOICE:
        for o in step.options:
            if o.code == value:
                return o.label
    if step.answer_type is AnswerType.NUMBER:
        return Text(str(value), str(value))
    return Text(format_value(value, "zh"), format_value(value, "en"))


def _advance(state: RunState, step_id: str, catalogue: Mapping[str, Variable]) -> RunState:
    """Walk from `step_id` through say, disclosure and branch steps to the next question or
    to the end, recording what is delivered."""
    script = state.script
    ids = {s.id: i for i, s in enumerate(script.steps)}
    entries = list(state.entries)
    disclosures = list(state.disclosures)
    recorded = dict(state.answers)
    for _ in range(_MAX_SILENT_STEPS):
        index = ids[step_id]
        step = script.steps[index]
        if isinstance(step, Branch):
            step_id = next(
                (
                    rule.goto
                    for rule in step.rules
                    if all(condition_holds(c, recorded, state.context.values) for c in rule.when)
                ),
                step.default or "",
            )
            continue
        text = _render(state, step.question if isinstance(step, Ask) else step.text, catalogue)
        if isinstance(step, Say | Disclosure):
            kind = EntryKind.SAY if isinstance(step, Say) else EntryKind.DISCLOSURE
            entries.append(TranscriptEntry(kind, step.id, text))
            if isinstance(step, Disclosure) and step.code not in disclosures:
                disclosures.append(step.code)
            target = successors(script, index)[0]
            assert target is not None
            step_id = target
            continue
        if isinstance(step, Ask):
            entries.append(TranscriptEntry(EntryKind.ASK, step.id, text))
            return replace(
                state, entries=tuple(entries), disclosures=tuple(disclosures), position=step.id
            )
        kind = EntryKind.END if isinstance(step, End) else EntryKind.HANDOVER
        entries.append(TranscriptEntry(kind, step.id, text))
        return replace(
            state,
            entries=tuple(entries),
            disclosures=tuple(disclosures),
            position=step.id,
            finished=True,
            outcome=step.outcome,
            handed_over=isinstance(step, Handover),
        )
    raise RuntimeError(f"script {script.id} loops without asking anything")  # pragma: no cover


# --------------------------------------------------------------------------------------------
# Serializing a run (a web form between requests, a voice call between turns)
# --------------------------------------------------------------------------------------------

STATE_FORMAT = 1
"""The version of `state_to_dict`'s layout; `state_from_dict` refuses any other."""


def _encode(value: object) -> dict[str, object]:
    """A typed value as JSON: the type is kept, so Decimal stays exact and dates stay dates."""
    if value is None:
        return {"t": "none"}
    if isinstance(value, bool):
        return {"t": "bool", "v": value}
    if isinstance(value, Decimal):
        return {"t": "decimal", "v": str(value)}
    if isinstance(value, int):
        return {"t": "int", "v": value}
    if isinstance(value, date):
        return {"t": "date", "v": value.isoformat()}
    if isinstance(value, str):
        return {"t": "str", "v": value}
    raise TypeError(f"cannot serialize {value!r}")


def _decode(data: object) -> AnswerValue | int:
    if not isinstance(data, Mapping) or "t" not in data:
        raise ValueError(f"bad value {data!r}")
    kind, raw = data["t"], data.get("v")
    if kind == "none":
        return None
    if kind == "bool" and isinstance(raw, bool):
        return raw
    if kind == "decimal" and isinstance(raw, str):
        return Decimal(raw)
    if kind == "int" and isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if kind == "date" and isinstance(raw, str):
        return date.fromisoformat(raw)
    if kind == "str" and isinstance(raw, str):
        return raw
    raise ValueError(f"bad value {data!r}")


def _answer_value(data: object) -> AnswerValue:
    value = _decode(data)
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(f"an answer is never a bare int: {data!r}")
    return value


def _text_dict(text: Text | None) -> dict[str, str] | None:
    return None if text is None else {"zh": text.zh, "en": text.en}


def _text_of(data: object) -> Text:
    if not isinstance(data, Mapping) or not isinstance(data.get("zh"), str):
        raise ValueError(f"bad text {data!r}")
    return Text(str(data["zh"]), str(data.get("en", "")))


def state_to_dict(state: RunState) -> dict[str, object]:
    """A run as JSON-safe data, to store between a web form's requests or a call's turns.

    The script itself is not copied, only its id and version: the caller keeps scripts
    versioned and immutable and passes the same one to `state_from_dict`.
    """
    return {
        "format": STATE_FORMAT,
        "script_id": state.script.id,
        "script_version": state.script.version,
        "today": state.context.today.isoformat(),
        "values": {k: _encode(v) for k, v in state.context.values.items()},
        "position": state.position,
        "answers": [[k, _encode(v)] for k, v in state.answers],
        "entries": [
            {
                "kind": e.kind.value,
                "step": e.step_id,
                "text": _text_dict(e.text),
                "value": _encode(e.value),
                "raw": e.raw,
            }
            for e in state.entries
        ],
        "identity_verified": state.identity_verified,
        "handed_over": state.handed_over,
        "finished": state.finished,
        "outcome": state.outcome,
        "disclosures": list(state.disclosures),
        "error": _text_dict(state.error),
        "rejections": state.rejections,
    }


def state_from_dict(data: Mapping[str, object], script: Script) -> RunState:
    """The run `state_to_dict` stored, resumed on `script` (which must be the same id and
    version). ValueError on anything that does not fit, so a tampered or stale state is
    refused rather than continued on the wrong script."""
    if data.get("format") != STATE_FORMAT:
        raise ValueError(f"不支持的状态格式 / unsupported state format {data.get('format')!r}")
    if data.get("script_id") != script.id or data.get("script_version") != script.version:
        raise ValueError(
            f"状态属于话术 {data.get('script_id')} v{data.get('script_version')}，"
            f"不是 {script.id} v{script.version} / the state belongs to another script version"
        )
    try:
        values_raw = data["values"]
        answers_raw = data["answers"]
        entries_raw = data["entries"]
        if not isinstance(values_raw, Mapping):
            raise ValueError("values")
        if not isinstance(answers_raw, list) or not isinstance(entries_raw, list):
            raise ValueError("answers/entries")
        values: dict[str, ContextValue] = {}
        for k, v in values_raw.items():
            decoded = _decode(v)
            if decoded is None or isinstance(decoded, bool):
                raise ValueError(f"context value {k}")
            values[str(k)] = decoded
        ids = {s.id for s in script.steps}
        position = data["position"]
        if position is not None and position not in ids:
            raise ValueError(f"position {position!r}")
        entries = []
        for e in entries_raw:
            if not isinstance(e, Mapping):
                raise ValueError("entry")
            step = e.get("step")
            raw = e.get("raw")
            entries.append(
                TranscriptEntry(
                    EntryKind(str(e["kind"])),
                    step if isinstance(step, str) else None,
                    _text_of(e["text"]),
                    _answer_value(e["value"]),
                    raw if isinstance(raw, str) else None,
                )
            )
        answers_list = []
        for pair in answers_raw:
            if not isinstance(pair, list) or len(pair) != 2 or pair[0] not in ids:
                raise ValueError(f"answer {pair!r}")
            answers_list.append((str(pair[0]), _answer_value(pair[1])))
        disclosures = data["disclosures"]
        if not isinstance(disclosures, list):
            raise ValueError("disclosures")
        error = data.get("error")
        rejections = data["rejections"]
        if not isinstance(rejections, int):
            raise ValueError("rejections")
        outcome = data.get("outcome")
        return RunState(
            script=script,
            context=ScriptContext(date.fromisoformat(str(data["today"])), values),
            position=position if isinstance(position, str) else None,
            answers=tuple(answers_list),
            entries=tuple(entries),
            identity_verified=data["identity_verified"] is True,
            handed_over=data["handed_over"] is True,
            finished=data["finished"] is True,
            outcome=outcome if isinstance(outcome, str) else None,
            disclosures=tuple(str(d) for d in disclosures),
            error=None if error is None else _text_of(error),
            rejections=rejections,
        )
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        raise ValueError(f"无效的运行状态 / invalid run state: {exc}") from None
