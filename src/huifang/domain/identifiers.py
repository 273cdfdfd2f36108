"""Chinese identifiers: resident ID, unified social credit code, phones, VIN, plates.

Loan books arrive as exports from core banking, typed by hand years ago; the identifiers in
them are the keys that tie a borrower to a person, a company, a phone line and a car. This
module checks them before anything is stored, so that a typo is caught at import with a
message a data clerk can act on, not months later when a follow-up call reaches a stranger.

Every validator normalizes what clerks and exports commonly produce (full-width characters,
spaces, lowercase letters, separators) and either returns the canonical form or raises
`InvalidIdentifier` with a stable machine code and a Chinese and an English message. The
messages name the position and the expected value but never repeat the whole identifier, so
they can be logged without leaking personal data.

Check-digit functions are exposed on their own so the demo generator can make valid numbers
with the very code that validates them.

Standards used: GB 11643-1999 (resident ID), GB/T 2260 (administrative divisions),
GB 32100-2015 (unified social credit code), GB 11714-1997 (organization code),
GB 16735-2019 / ISO 3779 (VIN), GA 36-2018 (motor vehicle plates).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Final, Literal

RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
RESIDENT_ID_CHECK = "10X98765432"


def resident_id_check_digit(first17: str) -> str:
    """GB 11643-1999 check character for the first 17 digits of a resident ID.

    ISO 7064 MOD 11-2: weights 2^(17-i) mod 11; the character is one of 0-9 and X.
    """
    total = sum(int(d) * w for d, w in zip(first17, RESIDENT_ID_WEIGHTS, strict=True))
    return RESIDENT_ID_CHECK[total % 11]


USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc_check_char(first17: str) -> str:
    """GB 32100-2015 check character of a unified social credit code (统一社会信用代码)."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def org_code_check_char(first8: str) -> str:
    """GB 11714-1997 check character of the 9-character organization code inside a USCC."""
    total = sum(_org_value(c) * w for c, w in zip(first8, ORG_CODE_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def _org_value(c: str) -> int:
    return int(c) if c.isdigit() else ord(c) - ord("A") + 10


VIN_TRANSLITERATION = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def vin_check_digit(vin: str) -> str:
    """ISO 3779 / GB 16735 check digit (position 9) of a 17-character VIN; position 9 is ignored."""
    total = sum(VIN_TRANSLITERATION[c] * w for c, w in zip(vin, VIN_WEIGHTS, strict=True))
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class InvalidIdentifier(ValueError):
    """An identifier failed validation.

    `code` is stable and machine-readable (e.g. "resident_id.check_digit") so that import
    reports can group and count errors; `message_zh` is what a data clerk reads (and what
    `str(exc)` returns); `message_en` is for logs and non-Chinese operators. Messages never
    contain the full identifier, so they are safe to log.
    """

    code: str
    message_zh: str
    message_en: str

    def __init__(self, code: str, message_zh: str, message_en: str) -> None:
        super().__init__(message_zh)
        self.code = code
        self.message_zh = message_zh
        self.message_en = message_en

    def __str__(self) -> str:
        return self.message_zh

    def __reduce__(self) -> tuple[type[InvalidIdentifier], tuple[str, str, str]]:
        # ValueError pickles as cls(*args); our constructor takes three arguments.
        return (type(self), (self.code, self.message_zh, self.message_en))


# --------------------------------------------------------------------------------------------
# Normalization helpers
# --------------------------------------------------------------------------------------------

_ASCII_DIGITS: Final = frozenset("0123456789")
_ASCII_UPPER: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_WHITESPACE_RE: Final = re.compile(r"\s+")


def _nfkc(text: str) -> str:
    """Fold full-width forms to ASCII (１２３ → 123, ｘ → x, ＋ → +, ideographic space → space)."""
    return unicodedata.normalize("NFKC", text)


def _compact_upper(text: str) -> str:
    """NFKC-fold, drop all whitespace and uppercase: the common form of code-like identifiers."""
    return _WHITESPACE_RE.sub("", _nfkc(text)).upper()


def _is_ascii_digits(text: str) -> bool:
    """True when `text` is non-empty and only ASCII digits (str.isdigit also accepts '٣', '²')."""
    return bool(text) and all(c in _ASCII_DIGITS for c in text)


def _first_bad(text: str, allowed: frozenset[str] | str) -> tuple[int, str] | None:
    """The 1-based position and character of the first character of `text` not in `allowed`."""
    for i, c in enumerate(text, start=1):
        if c not in allowed:
            return i, c
    return None


# --------------------------------------------------------------------------------------------
# Administrative divisions (GB/T 2260)
# --------------------------------------------------------------------------------------------

PROVINCES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "11": "北京市",
        "12": "天津市",
        "13": "河北省",
        "14": "山西省",
        "15": "内蒙古自治区",
        "21": "辽宁省",
        "22": "吉林省",
        "23": "黑龙江省",
        "31": "上海市",
        "32": "江苏省",
        "33": "浙江省",
        "34": "安徽省",
        "35": "福建省",
        "36": "江西省",
        "37": "山东省",
        "41": "河南省",
        "42": "湖北省",
        "43": "湖南省",
        "44": "广东省",
        "45": "广西壮族自治区",
        "46": "海南省",
        "50": "重庆市",
        "51": "四川省",
        "52": "贵州省",
        "53": "云南省",
        "54": "西藏自治区",
        "61": "陕西省",
        "62": "甘肃省",
        "63": "青海省",
        "64": "宁夏回族自治区",
        "65": "新疆维吾尔自治区",
        "71": "台湾省",
        "81": "香港特别行政区",
        "82": "澳门特别行政区",
    }
)
"""Province-level codes of GB/T 2260 (the first two digits of a 6-digit division code)."""

# Residence permits for Hong Kong, Macao and Taiwan residents (港澳台居民居住证, 2018) carry an
# 18-digit number in the resident-ID format; Taiwan residents' permits start with 83, which is
# not a GB/T 2260 code. They are valid identity documents for a loan, so we accept them.
RESIDENT_ID_PREFIXES: Final[Mapping[str, str]] = MappingProxyType(
    {**PROVINCES, "83": "台湾地区 (居住证)"}
)
"""First two digits accepted in an 18-digit resident ID number, with the region's name."""

# Organizations registered by central authorities carry the national code 100000 in place
# of a registration authority's division code (e.g. central state organs, 111000...).
_USCC_DIVISION_PREFIXES: Final = frozenset({*PROVINCES, "10"})


# --------------------------------------------------------------------------------------------
# Resident identity card number (居民身份证号码, GB 11643-1999)
# --------------------------------------------------------------------------------------------

Gender = Literal["M", "F"]


@dataclass(frozen=True, slots=True, repr=False)
class ResidentId:
    """A validated 18-digit resident ID number and what it encodes.

    `area_code` is the 6-digit GB/T 2260 division where the number was first issued (not
    necessarily where the borrower lives now); `gender` comes from the 17th digit.
    The repr masks the number so that a stray log line does not leak it.
    """

    number: str
    province_code: str
    province_name: str
    area_code: str
    birth_date: date
    gender: Gender

    def __repr__(self) -> str:
        return (
            f"ResidentId(number={mask_id_number(self.number)!r}, "
            f"province_code={self.province_code!r}, gender={self.gender!r})"
        )


def parse_resident_id(text: str, *, as_of: date | None = None) -> ResidentId:
    """Validate an 18-digit resident ID number and decode it.

    Normalizes what exports and clerks produce (surrounding and inner spaces, full-width
    digits, lowercase x) and checks, in order: length, digits, province code, birth date
    (a real date, year ≥ 1900, not after `as_of` when given) and the GB 11643 check digit.
    Legacy 15-digit numbers are refused with a message saying how to convert them; see
    `upgrade_15_digit_id`. Raises `InvalidIdentifier`.
    """
    number = _compact_upper(text)
    if not number:
        raise InvalidIdentifier("resident_id.empty", "身份证号为空", "resident ID number is empty")
    if len(number) == 15 and _is_ascii_digits(number):
        raise InvalidIdentifier(
            "resident_id.legacy_15",
            "这是 15 位旧版身份证号, 请核对证件后录入 18 位号码 "
            "(换算方法: 在第 7 位前插入“19”, 再补第 18 位校验码)",
            "this is a legacy 15-digit ID number; enter the 18-digit number instead "
            "(insert '19' before the 7th digit and append the check digit)",
        )
    if len(number) != 18:
        raise InvalidIdentifier(
            "resident_id.length",
            f"身份证号应为 18 位, 实为 {len(number)} 位",
            f"a resident ID number has 18 characters, got {len(number)}",
        )
    bad = _first_bad(number[:17], _ASCII_DIGITS)
    if bad is not None:
        pos, char = bad
        raise InvalidIdentifier(
            "resident_id.characters",
            f"身份证号第 {pos} 位应为数字, 实为“{char}”",
            f"character {pos} of a resident ID number must be a digit, got {char!r}",
        )
    if number[17] not in RESIDENT_ID_CHECK:
        raise InvalidIdentifier(
            "resident_id.characters",
            f"身份证号第 18 位 (校验码) 应为数字或 X, 实为“{number[17]}”",
            f"character 18 (check digit) must be a digit or X, got {number[17]!r}",
        )
    province_code = number[:2]
    province_name = RESIDENT_ID_PREFIXES.get(province_code)
    if province_name is None:
        raise InvalidIdentifier(
            "resident_id.province",
            f"身份证号前两位“{province_code}”不是有效的省级行政区划代码 (如 11 北京, 44 广东)",
            f"the first two digits {province_code!r} are not a province-level division code",
        )
    birth_date = _birth_date(number[6:14], as_of)
    expected = resident_id_check_digit(number[:17])
    if number[17] != expected:
        raise InvalidIdentifier(
            "resident_id.check_digit",
            f"身份证号校验位错误: 应为 {expected}, 实为 {number[17]}"
            " (号码中有录入错误, 请核对证件)",
            f"wrong check digit: expected {expected}, got {number[17]} "
            "(the number has a typo; check the ID card)",
        )
    gender: Gender = "M" if int(number[16]) % 2 == 1 else "F"
    return ResidentId(
        number=number,
        province_code=province_code,
        province_name=province_name,
        area_code=number[:6],
        birth_date=birth_date,
        gender=gender,
    )


def _birth_date(yyyymmdd: str, as_of: date | None) -> date:
    """Decode and check the birth date digits (positions 7–14) of a resident ID."""
    try:
        born = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:]))
    except ValueError:
        raise InvalidIdentifier(
            "resident_id.birth_date",
            f"身份证号中的出生日期 {yyyymmdd} 不是有效日期 (第 7–14 位应为 年年年年月月日日)",
            f"the birth date {yyyymmdd} (characters 7-14) is not a calendar date",
        ) from None
    if born.year < 1900:
        raise InvalidIdentifier(
            "resident_id.birth_too_early",
            f"身份证号中的出生年份 {born.year} 早于 1900 年, 号码有误",
            f"the birth year {born.year} is before 1900",
        )
    if as_of is not None and born > as_of:
        raise InvalidIdentifier(
            "resident_id.birth_in_future",
            f"身份证号中的出生日期 {born.isoformat()} 晚于 {as_of.isoformat()}, 号码有误",
            f"the birth date {born.isoformat()} is after {as_of.isoformat()}",
        )
    return born


def upgrade_15_digit_id(text: str) -> str:
    """Convert a legacy 15-digit resident ID to the 18-digit form (GB 11643-1999).

    The 15-digit numbers (issued until 1999) wrote the birth year with two digits and had no
    check digit: insert "19" before the year and append the check digit. The result is
    validated like any 18-digit number. Raises `InvalidIdentifier`.
    """
    number = _compact_upper(text)
    if len(number) != 15 or not _is_ascii_digits(number):
        raise InvalidIdentifier(
            "resident_id.legacy_format",
            f"旧版身份证号应为 15 位数字, 实为 {len(number)} 位",
            f"a legacy resident ID number has 15 digits, got {len(number)} characters",
        )
    body = number[:6] + "19" + number[6:]
    return parse_resident_id(body + resident_id_check_digit(body)).number


def age_on(birth_date: date, on: date) -> int:
    """Age in completed years on the date `on` (the borrower's age at a contact or maturity).

    A person born on 29 February becomes a year older on 1 March in common years. Raises
    ValueError when `on` is before the birth date.
    """
    if on < birth_date:
        raise ValueError(f"日期 {on.isoformat()} 早于出生日期 {birth_date.isoformat()}")
    before_birthday = (on.month, on.day) < (birth_date.month, birth_date.day)
    return on.year - birth_date.year - (1 if before_birthday else 0)


# --------------------------------------------------------------------------------------------
# Unified social credit code (统一社会信用代码, GB 32100-2015)
# --------------------------------------------------------------------------------------------

# Registration authority (登记管理部门, 1st character) → (name, {organization type (机构类别,
# 2nd character) → name}). Table A.1 of GB 32100-2015 as extended by the national USCC data
# centre's published "登记管理部门代码和机构类别代码" list.
USCC_AUTHORITIES: Final[Mapping[str, tuple[str, Mapping[str, str]]]] = MappingProxyType(
    {
        "1": (
            "机构编制",
            {"1": "机关", "2": "事业单位", "3": "中央编办直接管理的群众团体", "9": "其他"},
        ),
        "2": ("外交", {"1": "外国常驻新闻机构", "9": "其他"}),
        "3": (
            "司法行政",
            {
                "1": "律师执业机构",
                "2": "公证处",
                "3": "基层法律服务所",
                "4": "司法鉴定机构",
                "5": "仲裁委员会",
                "9": "其他",
            },
        ),
        "4": ("文化", {"1": "外国在华文化中心", "9": "其他"}),
        "5": ("民政", {"1": "社会团体", "2": "民办非企业单位", "3": "基金会", "9": "其他"}),
        "6": (
            "旅游",
            {
                "1": "外国旅游部门常驻代表机构",
                "2": "港澳台地区旅游部门常驻内地代表机构",
                "9": "其他",
            },
        ),
        "7": ("宗教", {"1": "宗教活动场所", "2": "宗教院校", "9": "其他"}),
        "8": ("工会", {"1": "基层工会", "9": "其他"}),
        "9": ("工商 (市场监管)", {"1": "企业", "2": "个体工商户", "3": "农民专业合作社"}),
        "A": ("中央军委改革和编制办公室", {"1": "军队事业单位", "9": "其他"}),
        "N": (
            "农业",
            {
                "1": "组级集体经济组织",
                "2": "村级集体经济组织",
                "3": "乡镇级集体经济组织",
                "9": "其他",
            },
        ),
        "Y": ("其他", {"1": "其他"}),
    }
)

_USCC_CHARS: Final = frozenset(USCC_ALPHABET)
_USCC_LOOKALIKES: Final[Mapping[str, str]] = MappingProxyType(
    {"I": "1", "O": "0", "Z": "2", "S": "5"}
)


def validate_uscc(text: str) -> str:
    """Validate a unified social credit code (统一社会信用代码) and return it normalized.

    Normalizes spaces, full-width characters and case, then checks: 18 characters from the
    GB 32100 alphabet (no I, O, Z, S, V), the registration authority (1st) and the
    organization type valid for it (2nd), the registering division (3rd–8th, a province code
    or the national 10), the GB 32100 check character (18th) and the GB 11714 check of the
    embedded organization code (17th). Raises `InvalidIdentifier`.
    """
    code = _compact_upper(text)
    if not code:
        raise InvalidIdentifier("uscc.empty", "统一社会信用代码为空", "the credit code is empty")
    if len(code) != 18:
        hint_zh, hint_en = "", ""
        if len(code) == 15:
            hint_zh, hint_en = (
                " (15 位是旧工商注册号)",
                " (15 characters is an old registration number)",
            )
        elif len(code) in (9, 10):
            hint_zh, hint_en = " (9 位是组织机构代码)", " (9 characters is an organization code)"
        raise InvalidIdentifier(
            "uscc.length",
            f"统一社会信用代码应为 18 位, 实为 {len(code)} 位{hint_zh}",
            f"a unified social credit code has 18 characters, got {len(code)}{hint_en}",
        )
    bad = _first_bad(code, _USCC_CHARS)
    if bad is not None:
        pos, char = bad
        if char in "IOZSV":
            lookalike = _USCC_LOOKALIKES.get(char)
            hint = f", 是否应为数字 {lookalike}?" if lookalike else ""
            raise InvalidIdentifier(
                "uscc.characters",
                f"统一社会信用代码不使用字母 I、O、Z、S、V: 第 {pos} 位为“{char}”{hint}",
                "the credit code never uses the letters I, O, Z, S, V: "
                f"character {pos} is {char!r}",
            )
        raise InvalidIdentifier(
            "uscc.characters",
            f"统一社会信用代码第 {pos} 位“{char}”不是有效字符 (只能是数字和大写字母)",
            f"character {pos} {char!r} is not a digit or an allowed capital letter",
        )
    authority = USCC_AUTHORITIES.get(code[0])
    if authority is None:
        raise InvalidIdentifier(
            "uscc.authority",
            f"统一社会信用代码第 1 位 (登记管理部门代码)“{code[0]}”无效, 应为 1–9、A、N、Y 之一"
            " (企业通常为 9)",
            f"character 1 (registration authority) {code[0]!r} is not one of 1-9, A, N, Y",
        )
    authority_name, org_types = authority
    if code[1] not in org_types:
        allowed = "、".join(org_types)
        raise InvalidIdentifier(
            "uscc.org_type",
            f"统一社会信用代码第 2 位 (机构类别代码)“{code[1]}”与登记管理部门"
            f"“{code[0]} {authority_name}”不符, 应为 {allowed} 之一",
            f"character 2 (organization type) {code[1]!r} is not valid for registration "
            f"authority {code[0]!r}; expected one of {', '.join(org_types)}",
        )
    division = code[2:8]
    if not _is_ascii_digits(division) or division[:2] not in _USCC_DIVISION_PREFIXES:
        raise InvalidIdentifier(
            "uscc.admin_division",
            f"统一社会信用代码第 3–8 位 (登记管理机关行政区划码)“{division}”无效,"
            " 应为 6 位数字且前两位为省级代码",
            f"characters 3-8 {division!r} are not an administrative division code",
        )
    expected = uscc_check_char(code[:17])
    if code[17] != expected:
        raise InvalidIdentifier(
            "uscc.check_char",
            f"统一社会信用代码校验位错误: 第 18 位应为 {expected}, 实为 {code[17]}"
            " (代码中有录入错误, 请核对营业执照)",
            f"wrong check character: expected {expected}, got {code[17]} "
            "(the code has a typo; check the business licence)",
        )
    org_expected = org_code_check_char(code[8:16])
    if code[16] != org_expected:
        raise InvalidIdentifier(
            "uscc.org_code_check",
            f"统一社会信用代码第 9–17 位 (组织机构代码) 校验位错误: 第 17 位应为 {org_expected},"
            f" 实为 {code[16]}",
            f"the embedded organization code (characters 9-17) has a wrong check character: "
            f"expected {org_expected}, got {code[16]}",
        )
    return code


# --------------------------------------------------------------------------------------------
# Phone numbers
# --------------------------------------------------------------------------------------------

_MOBILE_RE: Final = re.compile(r"1[3-9][0-9]{9}")
_PHONE_SEPARATORS_RE: Final = re.compile(r"[\s\-.()]")
_COUNTRY_PREFIX_RE: Final = re.compile(r"^\(?(?:\+|00)?86\)?[\s\-]*")
_EXTENSION_SPLIT_RE: Final = re.compile(r"转|分机|EXT\.?|X|#|,|;")


def _strip_country(compact: str) -> tuple[str, bool]:
    """Remove a +86 / 0086 country prefix from a separator-free number; say if one was there."""
    if compact.startswith("+86"):
        return compact[3:], True
    if compact.startswith("0086"):
        return compact[4:], True
    return compact, False


def validate_mobile(text: str) -> str:
    """Validate a mainland China mobile number and return its 11 digits.

    Accepts the forms seen in exports and forms: '13812345678', '138 1234 5678',
    '138-1234-5678', '+86 138 1234 5678', '0086…', '86-138…'. The number must then be
    1[3-9] followed by nine digits. Raises `InvalidIdentifier`.
    """
    folded = _nfkc(text).strip()
    if not folded:
        raise InvalidIdentifier("mobile.empty", "手机号为空", "the mobile number is empty")
    compact = _PHONE_SEPARATORS_RE.sub("", folded)
    compact, had_country = _strip_country(compact)
    if not had_country:
        if compact.startswith("+") or compact.startswith("00"):
            raise InvalidIdentifier(
                "mobile.country",
                "只支持中国大陆手机号 (国家代码 +86)",
                "only mainland China mobile numbers (country code +86) are accepted",
            )
        if compact.startswith("86") and len(compact) == 13:
            compact = compact[2:]
    bad = _first_bad(compact, _ASCII_DIGITS)
    if bad is not None:
        raise InvalidIdentifier(
            "mobile.characters",
            f"手机号含有非数字字符“{bad[1]}”",
            f"the mobile number contains a non-digit character {bad[1]!r}",
        )
    if len(compact) != 11:
        raise InvalidIdentifier(
            "mobile.length",
            f"手机号应为 11 位数字, 实为 {len(compact)} 位",
            f"a mobile number has 11 digits, got {len(compact)}",
        )
    if not _MOBILE_RE.fullmatch(compact):
        raise InvalidIdentifier(
            "mobile.prefix",
            f"手机号号段无效: 应以 13–19 开头, 实为 {compact[:2]}",
            f"not a mobile number: it must start with 13-19, starts with {compact[:2]}",
        )
    return compact


def validate_phone(text: str) -> str:
    """Validate a mobile or landline number; return 11 digits or 'AREA-NUMBER[-EXT]'.

    A landline needs its area code, because calling hours are checked in the borrower's
    local time and the area code is how we know it. Accepted landline forms include
    '010-12345678', '0755-1234567-123', '(021)12345678', '01012345678',
    '0755 1234 5678 转 123' and '+86 10 1234 5678'. Area codes follow the national plan:
    010 and 020–029 have three digits, every other code is 0 plus three digits; the local
    number has 7 or 8 digits and an extension 1 to 6. Raises `InvalidIdentifier`.
    """
    folded = _nfkc(text).strip()
    if not folded:
        raise InvalidIdentifier("phone.empty", "电话号码为空", "the phone number is empty")
    compact, had_country = _strip_country(_PHONE_SEPARATORS_RE.sub("", folded))
    if not had_country and compact.startswith("86") and len(compact) == 13:
        compact, had_country = compact[2:], True  # '86 138…' or '86 755 …' without + or 00
    if had_country:
        is_mobile = compact.startswith(("13", "14", "15", "16", "17", "18", "19"))
    else:
        # A 7- or 8-digit number starting with 1 is a landline whose area code was left off.
        is_mobile = compact.startswith("1") and len(compact) not in (7, 8)
    if is_mobile:
        return validate_mobile(folded)
    return _parse_landline(folded.upper(), international=had_country)


def _parse_landline(folded: str, *, international: bool) -> str:
    """Parse a landline number (NFKC-folded, uppercased); see `validate_phone`.

    `international` says the number starts with the country code 86, after which the
    area code is written without its leading 0 ('+86 10 …' is 010).
    """
    main = folded
    if international:
        main = _COUNTRY_PREFIX_RE.sub("", main, count=1)
    extension: str | None = None
    parts = _EXTENSION_SPLIT_RE.split(main, maxsplit=1)
    if len(parts) == 2:
        main, extension = parts[0], re.sub(r"[\s\-]", "", parts[1])
        if not (_is_ascii_digits(extension) and 1 <= len(extension) <= 6):
            raise InvalidIdentifier(
                "phone.extension",
                "分机号应为 1–6 位数字",
                "an extension has 1 to 6 digits",
            )
    main = main.replace("(", "-").replace(")", "-")
    bad = _first_bad(main, _ASCII_DIGITS | {"-", " ", "\t", "."})
    if bad is not None:
        raise InvalidIdentifier(
            "phone.characters",
            f"电话号码含有无效字符“{bad[1]}”",
            f"the phone number contains an invalid character {bad[1]!r}",
        )
    groups = re.findall(r"[0-9]+", main)
    if not groups:
        raise InvalidIdentifier("phone.empty", "电话号码为空", "the phone number is empty")
    if international and not groups[0].startswith("0"):
        groups[0] = "0" + groups[0]
    if not groups[0].startswith("0"):
        raise InvalidIdentifier(
            "phone.area_code",
            "固定电话缺少区号, 请按“区号-号码”录入 (如 010-12345678, 0755-1234567)",
            "a landline needs its area code, e.g. 010-12345678 or 0755-1234567",
        )
    if len(groups) == 1:
        digits = groups[0]
        area_len = 3 if digits.startswith(("010", "02")) else 4
        area, rest = digits[:area_len], [digits[area_len:]]
    else:
        area, rest = groups[0], groups[1:]
    number = ""
    while rest and len(number) < 7:
        number += rest.pop(0)
    if rest:
        if extension is not None or len(rest) > 1:
            raise InvalidIdentifier(
                "phone.format",
                "电话号码分段过多, 请按“区号-号码-分机”录入",
                "too many groups of digits; write AREA-NUMBER-EXTENSION",
            )
        extension = rest[0]
        if len(extension) > 6:
            raise InvalidIdentifier(
                "phone.extension", "分机号应为 1–6 位数字", "an extension has 1 to 6 digits"
            )
    if not re.fullmatch(r"010|02[0-9]|0[3-9][0-9]{2}", area):
        raise InvalidIdentifier(
            "phone.area_code",
            f"区号“{area}”无效: 北京为 010, 020–029 为三位区号, 其余为 0 加三位数字 (如 0755)",
            f"area code {area!r} is not valid: 010 and 020-029 have three digits, "
            "all others are 0 plus three digits",
        )
    if not 7 <= len(number) <= 8:
        raise InvalidIdentifier(
            "phone.number_length",
            f"固定电话号码 (不含区号) 应为 7–8 位, 实为 {len(number)} 位",
            f"a landline number without area code has 7 or 8 digits, got {len(number)}",
        )
    return f"{area}-{number}" + (f"-{extension}" if extension else "")


# --------------------------------------------------------------------------------------------
# Vehicle identification number (车辆识别代号 / 车架号, GB 16735-2019, ISO 3779)
# --------------------------------------------------------------------------------------------

_VIN_CHARS: Final = frozenset(VIN_TRANSLITERATION)
_VIN_LOOKALIKES: Final[Mapping[str, str]] = MappingProxyType({"I": "1", "O": "0", "Q": "0"})
# ISO 3779 model-year codes cycle through 1-9 and the letters except I, O, Q, U, Z and 0.
_VIN_BAD_MODEL_YEAR: Final = frozenset("UZ0")


def validate_vin(text: str) -> str:
    """Validate a 17-character VIN (车架号) and return it uppercased.

    Checks the length, the alphabet (digits and capitals except I, O, Q), the model-year
    character at position 10 (never U, Z or 0) and the check digit at position 9, which
    GB 16735 makes mandatory for every vehicle sold in China. Raises `InvalidIdentifier`.
    """
    vin = _compact_upper(text)
    if not vin:
        raise InvalidIdentifier("vin.empty", "车架号 (VIN) 为空", "the VIN is empty")
    if len(vin) != 17:
        raise InvalidIdentifier(
            "vin.length",
            f"车架号 (VIN) 应为 17 位, 实为 {len(vin)} 位",
            f"a VIN has 17 characters, got {len(vin)}",
        )
    for pos, char in enumerate(vin, start=1):
        if char in _VIN_LOOKALIKES:
            raise InvalidIdentifier(
                "vin.forbidden_letter",
                f"车架号不使用字母 I、O、Q: 第 {pos} 位为“{char}”,"
                f" 是否应为数字 {_VIN_LOOKALIKES[char]}?",
                f"a VIN never uses the letters I, O, Q: character {pos} is {char!r} "
                f"(should it be {_VIN_LOOKALIKES[char]}?)",
            )
        if char not in _VIN_CHARS:
            raise InvalidIdentifier(
                "vin.characters",
                f"车架号第 {pos} 位“{char}”不是有效字符 (只能是数字和大写字母)",
                f"character {pos} {char!r} of the VIN is not a digit or capital letter",
            )
    if vin[9] in _VIN_BAD_MODEL_YEAR:
        raise InvalidIdentifier(
            "vin.model_year",
            f"车架号第 10 位 (车型年份代码) 不能为“{vin[9]}” (年份代码不使用 U、Z、0)",
            f"character 10 (model year) cannot be {vin[9]!r} (ISO 3779 never uses U, Z, 0)",
        )
    expected = vin_check_digit(vin)
    if vin[8] != expected:
        raise InvalidIdentifier(
            "vin.check_digit",
            f"车架号校验位 (第 9 位) 错误: 应为 {expected}, 实为 {vin[8]} (请核对行驶证或车辆铭牌)",
            f"wrong VIN check digit (character 9): expected {expected}, got {vin[8]} "
            "(check the registration certificate or the vehicle plate)",
        )
    return vin


# --------------------------------------------------------------------------------------------
# Licence plates (机动车号牌, GA 36-2018)
# --------------------------------------------------------------------------------------------

# The 31 mainland abbreviations in GB/T 2260 code order: 京 = 11, 津 = 12, …, 新 = 65.
PLATE_PROVINCES: Final[Mapping[str, str]] = MappingProxyType(
    dict(
        zip(
            "京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川贵云藏陕甘青宁新",
            list(PROVINCES)[:31],
            strict=True,
        )
    )
)
"""The 31 mainland province abbreviations on plates → GB/T 2260 province code."""

PlateKind = Literal["ordinary", "nev_small", "nev_large", "trailer", "coach"]

_PLATE_LETTERS: Final = frozenset(_ASCII_UPPER - {"I", "O"})
_PLATE_ALNUM: Final = _PLATE_LETTERS | _ASCII_DIGITS
_PLATE_SEPARATORS_RE: Final = re.compile(r"[\s·•・‧∙.\-]")
_PLATE_SPECIAL: Final = frozenset("使领警港澳军")
# Small NEV plates: 3rd character D, A, B, C, E = pure electric; F, G, H, J, K = other NEV.
_NEV_SMALL_ELECTRIC: Final = frozenset("DABCE")
_NEV_SMALL_OTHER: Final = frozenset("FGHJK")


@dataclass(frozen=True, slots=True)
class Plate:
    """A validated mainland licence plate number.

    `is_large` is True only when the text itself shows a large-vehicle plate (a large NEV
    plate or a trailer plate); an ordinary 7-character plate may be blue (small) or yellow
    (large) and the text alone cannot tell, so it reads False. `nev_pure_electric` is None
    for non-NEV plates.
    """

    number: str
    province: str
    city_letter: str
    is_nev: bool
    is_large: bool
    nev_pure_electric: bool | None = None
    kind: PlateKind = "ordinary"


def parse_plate(text: str) -> Plate:
    """Validate a mainland licence plate and decode its kind.

    Normalizes spaces, the middle dot '·' and hyphens, and uppercases. Accepts ordinary
    plates (province + city letter + 5 characters), trailer (挂) and coach (学) plates
    (province + city letter + 4 characters + suffix), small NEV plates (province + city
    letter + D/A/B/C/E or F/G/H/J/K + a letter or digit + 4 digits) and large NEV plates
    (province + city letter + 5 digits + D or F). Letters I and O are never used.
    Raises `InvalidIdentifier`.
    """
    number = _PLATE_SEPARATORS_RE.sub("", _nfkc(text)).upper()
    if not number:
        raise InvalidIdentifier("plate.empty", "车牌号为空", "the plate number is empty")
    if number[0] in _PLATE_SPECIAL or number[-1] in _PLATE_SPECIAL or number[0] in _ASCII_UPPER:
        raise InvalidIdentifier(
            "plate.special",
            "暂不支持使馆、领馆、警用、军用、港澳入出境等特种号牌",
            "embassy, consulate, police, military and cross-border plates are not supported",
        )
    if number[0] not in PLATE_PROVINCES:
        raise InvalidIdentifier(
            "plate.province",
            f"车牌第 1 位应为省份简称 (如 京、沪、粤), 实为“{number[0]}”",
            f"character 1 must be a province abbreviation such as 京, 沪, 粤; got {number[0]!r}",
        )
    if len(number) < 2 or number[1] not in _PLATE_LETTERS:
        got = number[1] if len(number) > 1 else ""
        raise InvalidIdentifier(
            "plate.city_letter",
            f"车牌第 2 位应为发牌机关代号字母 (A–Z, 不含 I、O), 实为“{got}”",
            f"character 2 must be the issuing office letter (A-Z except I, O), got {got!r}",
        )
    suffix = number[-1]
    body = number[2:-1] if suffix in "挂学" else number[2:]
    for pos, char in enumerate(body, start=3):
        if char in "IO":
            raise InvalidIdentifier(
                "plate.characters",
                f"车牌号不使用字母 I、O: 第 {pos} 位为“{char}”,"
                f" 是否应为数字 {'1' if char == 'I' else '0'}?",
                f"plates never use the letters I and O: character {pos} is {char!r}",
            )
        if char not in _PLATE_ALNUM:
            raise InvalidIdentifier(
                "plate.characters",
                f"车牌第 {pos} 位“{char}”不是有效字符 (应为数字或字母)",
                f"character {pos} {char!r} of the plate is not a digit or letter",
            )
    province, city = number[0], number[1]
    if suffix in "挂学":
        if len(number) != 7:
            raise InvalidIdentifier(
                "plate.length",
                f"挂车/教练车号牌应为 7 位 (含“{suffix}”字), 实为 {len(number)} 位",
                f"a trailer or coach plate has 7 characters including {suffix!r}, "
                f"got {len(number)}",
            )
        trailer = suffix == "挂"
        return Plate(
            number, province, city, False, trailer, None, "trailer" if trailer else "coach"
        )
    if len(number) == 7:
        return Plate(number, province, city, False, False, None, "ordinary")
    if len(number) == 8:
        third = number[2]
        if third in _NEV_SMALL_ELECTRIC | _NEV_SMALL_OTHER and _is_ascii_digits(number[4:]):
            return Plate(
                number, province, city, True, False, third in _NEV_SMALL_ELECTRIC, "nev_small"
            )
        if _is_ascii_digits(number[2:7]) and number[7] in "DF":
            return Plate(number, province, city, True, True, number[7] == "D", "nev_large")
        raise InvalidIdentifier(
            "plate.nev_format",
            "新能源车牌 (8 位) 格式不符: 小型车为 省份+字母+D/A/B/C/E/F/G/H/J/K"
            "+1 位字母或数字+4 位数字 (如 粤BD12345),"
            " 大型车为 省份+字母+5 位数字+D/F (如 京A12345D)",
            "an 8-character NEV plate is province + letter + one of DABCEFGHJK + a letter or "
            "digit + 4 digits (small), or province + letter + 5 digits + D or F (large)",
        )
    raise InvalidIdentifier(
        "plate.length",
        f"车牌号应为 7 位 (新能源车 8 位), 实为 {len(number)} 位",
        f"a plate has 7 characters (8 for NEV), got {len(number)}",
    )


# --------------------------------------------------------------------------------------------
# Masking for pages and logs
# --------------------------------------------------------------------------------------------


def _mask_middle(text: str, head: int = 3, tail: int = 4) -> str:
    """Keep `head` leading and `tail` trailing characters, star the rest; star all if short."""
    if len(text) <= head + tail:
        return "*" * len(text)
    return text[:head] + "*" * (len(text) - head - tail) + text[-tail:]


def mask_id_number(text: str) -> str:
    """Mask an ID number for display: '11010519491231002X' → '110***********002X'.

    Keeps the first 3 and last 4 characters (enough to tell two borrowers apart on a page,
    not enough to reconstruct the number); never raises, so it is safe on dirty data.
    """
    return _mask_middle(_WHITESPACE_RE.sub("", _nfkc(text)))


def mask_phone(text: str) -> str:
    """Mask a phone number for display: '13812341234' → '138****1234'.

    Mobiles keep the first 3 and last 4 digits; landlines keep the area code, the last 4
    digits of the number and the extension ('010-****5678'). Text that is not a valid
    number is masked generically. Never raises, so it is safe on dirty data and in logs.
    """
    try:
        phone = validate_phone(text)
    except InvalidIdentifier:
        return _mask_middle(_WHITESPACE_RE.sub("", _nfkc(text)))
    if "-" not in phone:
        return _mask_middle(phone)
    area, number, *extension = phone.split("-")
    masked = area + "-" + "*" * (len(number) - 4) + number[-4:]
    return "-".join([masked, *extension])
