"""Tests for Chinese identifier validation (resident ID, USCC, phones, VIN, plates, masking)."""

from __future__ import annotations

import pickle
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from huifang.domain.identifiers import (
    PLATE_PROVINCES,
    PROVINCES,
    RESIDENT_ID_CHECK,
    USCC_ALPHABET,
    USCC_AUTHORITIES,
    InvalidIdentifier,
    Plate,
    ResidentId,
    age_on,
    mask_id_number,
    mask_phone,
    org_code_check_char,
    parse_plate,
    parse_resident_id,
    resident_id_check_digit,
    upgrade_15_digit_id,
    uscc_check_char,
    validate_mobile,
    validate_phone,
    validate_uscc,
    validate_vin,
    vin_check_digit,
)

GB11643_EXAMPLE = "11010519491231002X"  # the standard's own worked example
USCC_EXAMPLE = "91350100M000100Y43"
VIN_EXAMPLE = "1M8GDM9AXKP042788"  # the classic ISO 3779 check-digit example


def _code_of(excinfo: pytest.ExceptionInfo[InvalidIdentifier]) -> str:
    return excinfo.value.code


def make_resident_id(body17: str) -> str:
    """A full resident ID from its first 17 digits, using the module's own check function."""
    return body17 + resident_id_check_digit(body17)


def make_uscc(first16: str) -> str:
    """A full USCC from its first 16 characters: add the org-code check, then the USCC check."""
    first17 = first16 + org_code_check_char(first16[8:16])
    return first17 + uscc_check_char(first17)


def make_vin(vin17: str) -> str:
    """Put the right check digit at position 9 of a 17-character VIN."""
    return vin17[:8] + vin_check_digit(vin17) + vin17[9:]


# ---------------------------------------------------------------------------------------------
# InvalidIdentifier
# ---------------------------------------------------------------------------------------------


def test_invalid_identifier_is_a_value_error_whose_str_is_chinese() -> None:
    exc = InvalidIdentifier("x.y", "中文说明", "English text")
    assert isinstance(exc, ValueError)
    assert str(exc) == "中文说明"
    assert (exc.code, exc.message_zh, exc.message_en) == ("x.y", "中文说明", "English text")


def test_invalid_identifier_survives_pickling() -> None:
    exc = InvalidIdentifier("x.y", "中文说明", "English text")
    back = pickle.loads(pickle.dumps(exc))
    assert (back.code, back.message_zh, back.message_en) == ("x.y", "中文说明", "English text")


def test_error_messages_do_not_repeat_the_identifier() -> None:
    wrong = GB11643_EXAMPLE[:17] + "5"
    with pytest.raises(InvalidIdentifier) as excinfo:
        parse_resident_id(wrong)
    assert wrong not in excinfo.value.message_zh
    assert wrong not in excinfo.value.message_en


# ---------------------------------------------------------------------------------------------
# Resident ID
# ---------------------------------------------------------------------------------------------


def test_gb11643_standard_example_parses() -> None:
    rid = parse_resident_id(GB11643_EXAMPLE)
    assert rid == ResidentId(
        number=GB11643_EXAMPLE,
        province_code="11",
        province_name="北京市",
        area_code="110105",
        birth_date=date(1949, 12, 31),
        gender="F",
    )


@pytest.mark.parametrize(
    "text",
    [
        "11010519491231002x",
        "  11010519491231002X  ",
        "110105 19491231 002X",
        "１１０１０５１９４９１２３１００２Ｘ",
        "１１０１０５１９４９１２３１００２ｘ",
    ],
)
def test_resident_id_is_normalized(text: str) -> None:
    assert parse_resident_id(text).number == GB11643_EXAMPLE


def test_resident_id_gender_from_17th_digit() -> None:
    male = make_resident_id("44030019900101001")
    female = make_resident_id("44030019900101002")
    assert parse_resident_id(male).gender == "M"
    assert parse_resident_id(female).gender == "F"
    assert parse_resident_id(male).province_name == "广东省"


def test_resident_id_repr_masks_the_number() -> None:
    text = repr(parse_resident_id(GB11643_EXAMPLE))
    assert GB11643_EXAMPLE not in text
    assert "110***********002X" in text


def test_wrong_check_digit_message_names_expected_and_actual() -> None:
    with pytest.raises(InvalidIdentifier) as excinfo:
        parse_resident_id("110105194912310025")
    assert _code_of(excinfo) == "resident_id.check_digit"
    assert "身份证号校验位错误: 应为 X, 实为 5" in str(excinfo.value)
    assert "expected X, got 5" in excinfo.value.message_en


@pytest.mark.parametrize("yyyymmdd", ["19990230", "19990229", "19991301", "19990001", "19990100"])
def test_impossible_birth_date_is_rejected(yyyymmdd: str) -> None:
    with pytest.raises(InvalidIdentifier) as excinfo:
        parse_resident_id(make_resident_id(f"110105{yyyymmdd}001"))
    assert _code_of(excinfo) == "resident_id.birth_date"
    assert yyyymmdd in str(excinfo.value)


def test_leap_day_birth_date_is_accepted() -> None:
    assert parse_resident_id(make_resident_id("11010520000229001")).birth_date == date(2000, 2, 29)


def test_birth_year_before_1900_is_rejected() -> None:
    with pytest.raises(InvalidIdentifier) as excinfo:
        parse_resident_id(make_resident_id("11010518991231001"))
    assert _code_of(excinfo) == "resident_id.birth_too_early"


def test_future_birth_date_is_rejected_only_with_as_of() -> None:
    number = make_resident_id("11010520300101001")
    assert parse_resident_id(number).birth_date == date(2030, 1, 1)
    with pytest.raises(InvalidIdentifier) as excinfo:
        parse_resident_id(number, as_of=date(2025, 6, 30))
    assert _code_of(excinfo) == "resident_id.birth_in_future"
    assert parse_resident_id(number, as_of=date(2030, 1, 1)).birth_date == date(2030, 1, 1)


@pytest.mark.parametrize(
    "prefix", ["00", "10", "16", "20", "24", "30", "38", "47", "55", "66", "99"]
)
def test_unknown_province_code_is_rejected(prefix: str) -> None:
    with pytest.raises(InvalidIdentifier) as excinfo:
        parse_resident_id(make_resident_id(f"{prefix}010519491231002"))
    assert _code_of(excinfo) == "resident_id.province"
    assert prefix in str(excinfo.value)


def test_province_table_covers_gb2260_province_level_codes() -> None:
    expected = {
        *map(str, range(11, 16)),
        *map(str, range(21, 24)),
        *map(str, range(31, 38)),
        *map(str, range(41, 47)),
        *map(str, range(50, 55)),
        *map(str, range(61, 66)),
        "71",
        "81",
        "82",
    }
    assert set(PROVINCES) == expected
    assert all(PROVINCES.values())


@pytest.mark.parametrize("prefix", ["71", "81", "82", "83"])
def test_taiwan_hong_kong_macao_prefixes_are_accepted(prefix: str) -> None:
    assert parse_resident_id(make_resident_id(f"{prefix}000019900101001")).province_code == prefix


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "resident_id.empty"),
        ("   ", "resident_id.empty"),
        ("1101051949123100", "resident_id.length"),
        ("11010519491231002X1", "resident_id.length"),
        ("11010519491231A02X", "resident_id.characters"),
        ("1101051949123100X2", "resident_id.characters"),
        ("11010519491231002Y", "resident_id.characters"),
        ("11010519491231002-", "resident_id.characters"),
    ],
)
def test_malformed_resident_id_is_rejected(text: str, code: str) -> None:
    with pytest.raises(InvalidIdentifier) as excinfo:
        parse_resident_id(text)
    assert _code_of(excinfo) == code


def test_non_ascii_digits_are_not_taken_for_digits() -> None:
    # Arabic-Indic digit three: str.isdigit() says True, but it is not a resident ID digit.
    with pytest.raises(InvalidIdentifier) as excinfo:
        parse_resident_id("1101051949123100\u0663X")
    assert _code_of(excinfo) == "resident_id.characters"


def test_legacy_15_digit_id_is_refused_with_conversion_advice() -> None:
    with pytest.raises(InvalidIdentifier) as excinfo:
        parse_resident_id("110105491231002")
    assert _code_of(excinfo) == "resident_id.legacy_15"
    assert "18 位" in str(excinfo.value)
    assert "19" in str(excinfo.value)


def test_upgrade_15_digit_id() -> None:
    assert upgrade_15_digit_id("110105491231002") == GB11643_EXAMPLE
    assert upgrade_15_digit_id(" 440300900101001 ") == make_resident_id("44030019900101001")


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("11010549123100", "resident_id.legacy_format"),
        ("11010549123100A", "resident_id.legacy_format"),
        (GB11643_EXAMPLE, "resident_id.legacy_format"),
        ("990105491231002", "resident_id.province"),
        ("110105490230002", "resident_id.birth_date"),
    ],
)
def test_upgrade_15_digit_id_rejects_bad_input(text: str, code: str) -> None:
    with pytest.raises(InvalidIdentifier) as excinfo:
        upgrade_15_digit_id(text)
    assert _code_of(excinfo) == code


@pytest.mark.parametrize(
    ("born", "on", "age"),
    [
        (date(1990, 6, 15), date(2025, 6, 14), 34),
        (date(1990, 6, 15), date(2025, 6, 15), 35),
        (date(1990, 6, 15), date(1990, 6, 15), 0),
        (date(2000, 2, 29), date(2023, 2, 28), 22),
        (date(2000, 2, 29), date(2023, 3, 1), 23),
        (date(2000, 2, 29), date(2024, 2, 29), 24),
        (date(1949, 12, 31), date(2025, 1, 1), 75),
    ],
)
def test_age_on(born: date, on: date, age: int) -> None:
    assert age_on(born, on) == age


def test_age_on_before_birth_is_an_error() -> None:
    with pytest.raises(ValueError):
        age_on(date(2000, 1, 2), date(2000, 1, 1))


@st.composite
def resident_id_bodies(draw: st.DrawFn) -> str:
    """First 17 digits of a resident ID with a real province and birth date."""
    province = draw(st.sampled_from(sorted(PROVINCES)))
    area = draw(st.from_regex(r"[0-9]{4}", fullmatch=True))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2024, 12, 31)))
    sequence = draw(st.from_regex(r"[0-9]{3}", fullmatch=True))
    return f"{province}{area}{born:%Y%m%d}{sequence}"


@given(resident_id_bodies())
def test_property_body_plus_check_digit_parses(body: str) -> None:
    rid = parse_resident_id(make_resident_id(body), as_of=date(2025, 1, 1))
    assert rid.number[:17] == body
    assert rid.area_code == body[:6]
    assert f"{rid.birth_date:%Y%m%d}" == body[6:14]
    assert rid.gender == ("M" if int(body[16]) % 2 else "F")


@given(resident_id_bodies(), st.data())
def test_property_any_single_character_change_is_detected(body: str, data: st.DataObject) -> None:
    number = make_resident_id(body)
    position = data.draw(st.integers(min_value=0, max_value=17), label="position")
    choices = "0123456789" if position < 17 else RESIDENT_ID_CHECK
    replacement = data.draw(
        st.sampled_from([c for c in choices if c != number[position]]), label="replacement"
    )
    changed = number[:position] + replacement + number[position + 1 :]
    with pytest.raises(InvalidIdentifier):
        parse_resident_id(changed)


# ---------------------------------------------------------------------------------------------
# Unified social credit code
# ---------------------------------------------------------------------------------------------


def test_published_uscc_example_is_valid() -> None:
    assert validate_uscc(USCC_EXAMPLE) == USCC_EXAMPLE


@pytest.mark.parametrize(
    "text",
    ["91350100m000100y43", " 9135 0100 M000 100Y 43 ", "９１３５０１００Ｍ０００１００Ｙ４３"],
)
def test_uscc_is_normalized(text: str) -> None:
    assert validate_uscc(text) == USCC_EXAMPLE


@pytest.mark.parametrize(
    ("authority", "org_type"),
    [(a, t) for a, (_, types) in USCC_AUTHORITIES.items() for t in types],
)
def test_every_authority_and_org_type_in_the_table_is_accepted(
    authority: str, org_type: str
) -> None:
    code = make_uscc(f"{authority}{org_type}440300MA5F0001")
    assert validate_uscc(code) == code


def test_national_division_code_is_accepted() -> None:
    code = make_uscc("11100000MB000001")
    assert validate_uscc(code) == code


def test_wrong_uscc_check_char() -> None:
    with pytest.raises(InvalidIdentifier) as excinfo:
        validate_uscc(USCC_EXAMPLE[:17] + "4")
    assert _code_of(excinfo) == "uscc.check_char"
    assert "应为 3, 实为 4" in str(excinfo.value)


def test_wrong_embedded_org_code_check_char() -> None:
    first16 = "91350100M000100Y"
    wrong_org_check = "5" if org_code_check_char(first16[8:]) != "5" else "6"
    first17 = first16 + wrong_org_check
    code = first17 + uscc_check_char(first17)
    with pytest.raises(InvalidIdentifier) as excinfo:
        validate_uscc(code)
    assert _code_of(excinfo) == "uscc.org_code_check"
    assert "第 17 位应为 4" in str(excinfo.value)


@pytest.mark.parametrize("letter", ["I", "O", "Z", "S", "V"])
def test_uscc_forbidden_letters(letter: str) -> None:
    with pytest.raises(InvalidIdentifier) as excinfo:
        validate_uscc(USCC_EXAMPLE[:9] + letter + USCC_EXAMPLE[10:])
    assert _code_of(excinfo) == "uscc.characters"
    assert "第 10 位" in str(excinfo.value)
    assert letter in str(excinfo.value)


@pytest.mark.parametrize(
    ("first16", "code"),
    [
        ("01350100M000100Y", "uscc.authority"),
        ("B1350100M000100Y", "uscc.authority"),
        ("94350100M000100Y", "uscc.org_type"),
        ("90350100M000100Y", "uscc.org_type"),
        ("1A350100M000100Y", "uscc.org_type"),
        ("Y2350100M000100Y", "uscc.org_type"),
        ("91990100M000100Y", "uscc.admin_division"),
        ("91000000M000100Y", "uscc.admin_division"),
        ("9135A100M000100Y", "uscc.admin_division"),
    ],
)
def test_uscc_structure_rules(first16: str, code: str) -> None:
    with pytest.raises(InvalidIdentifier) as excinfo:
        validate_uscc(make_uscc(first16))
    assert _code_of(excinfo) == code


@pytest.mark.parametrize(
    ("text", "hint"),
    [("", None), ("440301123456789", "注册号"), ("M000100Y4", "组织机构代码"), ("9135", None)],
)
def test_uscc_length(text: str, hint: str | None) -> None:
    with pytest.raises(InvalidIdentifier) as excinfo:
        validate_uscc(text)
    assert _code_of(excinfo) == ("uscc.empty" if not text else "uscc.length")
    if hint:
        assert hint in str(excinfo.value)


@st.composite
def uscc_first16(draw: st.DrawFn) -> str:
    """The first 16 characters of a structurally valid USCC."""
    authority = draw(st.sampled_from(sorted(USCC_AUTHORITIES)))
    org_type = draw(st.sampled_from(sorted(USCC_AUTHORITIES[authority][1])))
    province = draw(st.sampled_from(sorted(PROVINCES)))
    area = draw(st.from_regex(r"[0-9]{4}", fullmatch=True))
    org_body = draw(st.text(alphabet=USCC_ALPHABET, min_size=8, max_size=8))
    return f"{authority}{org_type}{province}{area}{org_body}"


@given(uscc_first16())
def test_property_constructed_uscc_is_valid(first16: str) -> None:
    code = make_uscc(first16)
    assert validate_uscc(code) == code
    assert validate_uscc(code.lower()) == code


@given(uscc_first16(), st.data())
def test_property_any_single_uscc_character_change_is_detected(
    first16: str, data: st.DataObject
) -> None:
    code = make_uscc(first16)
    position = data.draw(st.integers(min_value=0, max_value=17), label="position")
    replacement = data.draw(
        st.sampled_from([c for c in USCC_ALPHABET if c != code[position]]), label="replacement"
    )
    changed = code[:position] + replacement + code[position + 1 :]
    with pytest.raises(InvalidIdentifier):
        validate_uscc(changed)


# ---------------------------------------------------------------------------------------------
# Mobile and landline numbers
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "13812345678",
        " 13812345678 ",
        "138 1234 5678",
        "138-1234-5678",
        "+86 138 1234 5678",
        "+8613812345678",
        "+86-138-1234-5678",
        "(+86) 138 1234 5678",
        "008613812345678",
        "0086 138 1234 5678",
        "86-13812345678",
        "8613812345678",
        "１３８１２３４５６７８",
    ],
)
def test_mobile_forms_are_accepted(text: str) -> None:
    assert validate_mobile(text) == "13812345678"


@pytest.mark.parametrize("prefix", ["13", "14", "15", "16", "17", "18", "19"])
def test_all_mobile_prefixes(prefix: str) -> None:
    assert validate_mobile(prefix + "912345678") == prefix + "912345678"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "mobile.empty"),
        ("12812345678", "mobile.prefix"),
        ("10012345678", "mobile.prefix"),
        ("23812345678", "mobile.prefix"),
        ("1381234567", "mobile.length"),
        ("138123456789", "mobile.length"),
        ("138l2345678", "mobile.characters"),
        ("+852 6123 4567", "mobile.country"),
        ("001 212 555 0100", "mobile.country"),
        ("010-12345678", "mobile.prefix"),
    ],
)
def test_invalid_mobiles(text: str, code: str) -> None:
    with pytest.raises(InvalidIdentifier) as excinfo:
        validate_mobile(text)
    assert _code_of(excinfo) == code


def test_mobile_starting_12_has_a_helpful_message() -> None:
    with pytest.raises(InvalidIdentifier) as excinfo:
        validate_mobile("12812345678")
    assert "13–19" in str(excinfo.value)
    assert "12" in str(excinfo.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("13812345678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("010-12345678", "010-12345678"),
        ("0755-1234567-123", "0755-1234567-123"),
        ("(021)12345678", "021-12345678"),
        ("（021）12345678", "021-12345678"),
        ("(0755) 8888 6666", "0755-88886666"),
        ("01012345678", "010-12345678"),
        ("02112345678", "021-12345678"),
        ("075512345678", "0755-12345678"),
        ("07551234567", "0755-1234567"),
        ("010 1234 5678", "010-12345678"),
        ("0755-12345678转123", "0755-12345678-123"),
        ("0755-12345678 ext. 8", "0755-12345678-8"),
        ("0755-12345678#8001", "0755-12345678-8001"),
        ("+86 10 1234 5678", "010-12345678"),
        ("+86-755-88886666", "0755-88886666"),
        ("0086 21 12345678", "021-12345678"),
        ("86 755 12345678", "0755-12345678"),
    ],
)
def test_phone_forms(text: str, expected: str) -> None:
    assert validate_phone(text) == expected


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "phone.empty"),
        ("12345678", "phone.area_code"),
        ("82345678", "phone.area_code"),
        ("8234-5678", "phone.area_code"),
        ("0123-1234567", "phone.area_code"),
        ("011-12345678", "phone.area_code"),
        ("0755-123456", "phone.number_length"),
        ("010-123456789", "phone.number_length"),
        ("0755-12345678转1234567", "phone.extension"),
        ("0755-12345678转abc", "phone.extension"),
        ("0755-1234567-123-45", "phone.format"),
        ("0755-ABCDEFG", "phone.characters"),
        ("12812345678", "mobile.prefix"),
        ("1381234567", "mobile.length"),
    ],
)
def test_invalid_phones(text: str, code: str) -> None:
    with pytest.raises(InvalidIdentifier) as excinfo:
        validate_phone(text)
    assert _code_of(excinfo) == code


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), st.sampled_from(["", "+86 ", "0086"]))
def test_property_mobile_round_trips(mobile: str, prefix: str) -> None:
    spaced = f"{prefix}{mobile[:3]} {mobile[3:7]} {mobile[7:]}"
    assert validate_mobile(spaced) == mobile
    assert validate_phone(spaced) == mobile
    assert validate_phone(validate_phone(spaced)) == mobile


@given(st.from_regex(r"(010|02[0-9]|0[3-9][0-9]{2})-[0-9]{7,8}(-[0-9]{1,6})?", fullmatch=True))
def test_property_normalized_landline_is_a_fixed_point(landline: str) -> None:
    assert validate_phone(landline) == landline


# ---------------------------------------------------------------------------------------------
# VIN
# ---------------------------------------------------------------------------------------------


def test_iso_vin_example_is_valid() -> None:
    assert vin_check_digit(VIN_EXAMPLE) == "X"
    assert validate_vin(VIN_EXAMPLE) == VIN_EXAMPLE
    assert validate_vin(" 1m8gdm9axkp042788 ") == VIN_EXAMPLE
    assert validate_vin("１Ｍ８ＧＤＭ９ＡＸＫＰ０４２７８８") == VIN_EXAMPLE


def test_constructed_chinese_vin_is_valid() -> None:
    vin = make_vin("LSVAU2180N2000001")
    assert validate_vin(vin) == vin


def test_wrong_vin_check_digit() -> None:
    with pytest.raises(InvalidIdentifier) as excinfo:
        validate_vin("1M8GDM9A5KP042788")
    assert _code_of(excinfo) == "vin.check_digit"
    assert "应为 X, 实为 5" in str(excinfo.value)


@pytest.mark.parametrize(("letter", "digit"), [("I", "1"), ("O", "0"), ("Q", "0")])
def test_vin_forbidden_letters(letter: str, digit: str) -> None:
    with pytest.raises(InvalidIdentifier) as excinfo:
        validate_vin(VIN_EXAMPLE[:11] + letter + VIN_EXAMPLE[12:])
    assert _code_of(excinfo) == "vin.forbidden_letter"
    assert "第 12 位" in str(excinfo.value)
    assert digit in str(excinfo.value)


@pytest.mark.parametrize("year_code", ["U", "Z", "0"])
def test_vin_model_year_code(year_code: str) -> None:
    vin = make_vin(VIN_EXAMPLE[:9] + year_code + VIN_EXAMPLE[10:])
    with pytest.raises(InvalidIdentifier) as excinfo:
        validate_vin(vin)
    assert _code_of(excinfo) == "vin.model_year"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "vin.empty"),
        ("1M8GDM9AXKP04278", "vin.length"),
        ("1M8GDM9AXKP0427888", "vin.length"),
        ("1M8GDM9AXKP04278*", "vin.characters"),
    ],
)
def test_malformed_vin(text: str, code: str) -> None:
    with pytest.raises(InvalidIdentifier) as excinfo:
        validate_vin(text)
    assert _code_of(excinfo) == code


VIN_CHARS = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"


@st.composite
def vins(draw: st.DrawFn) -> str:
    """A valid VIN built with the module's own check function."""
    chars = draw(st.text(alphabet=VIN_CHARS, min_size=17, max_size=17))
    year = draw(st.sampled_from([c for c in VIN_CHARS if c not in "UZ0"]))
    return make_vin(chars[:9] + year + chars[10:])


@given(vins(), st.data())
def test_property_vin_check_digit(vin: str, data: st.DataObject) -> None:
    assert validate_vin(vin.lower()) == vin
    wrong = data.draw(st.sampled_from([c for c in "0123456789X" if c != vin[8]]))
    with pytest.raises(InvalidIdentifier):
        validate_vin(vin[:8] + wrong + vin[9:])


# ---------------------------------------------------------------------------------------------
# Plates
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("京A12345", Plate("京A12345", "京", "A", False, False, None, "ordinary")),
        ("京A·12345", Plate("京A12345", "京", "A", False, False, None, "ordinary")),
        (" 沪 b-3c45d ", Plate("沪B3C45D", "沪", "B", False, False, None, "ordinary")),
        ("粤BD12345", Plate("粤BD12345", "粤", "B", True, False, True, "nev_small")),
        ("粤B·DA2345", Plate("粤BDA2345", "粤", "B", True, False, True, "nev_small")),
        ("沪AF12345", Plate("沪AF12345", "沪", "A", True, False, False, "nev_small")),
        ("浙AK12345", Plate("浙AK12345", "浙", "A", True, False, False, "nev_small")),
        ("京A12345D", Plate("京A12345D", "京", "A", True, True, True, "nev_large")),
        ("京A12345F", Plate("京A12345F", "京", "A", True, True, False, "nev_large")),
        ("鲁A1234挂", Plate("鲁A1234挂", "鲁", "A", False, True, None, "trailer")),
        ("粤B123A学", Plate("粤B123A学", "粤", "B", False, False, None, "coach")),
    ],
)
def test_plate_forms(text: str, expected: Plate) -> None:
    assert parse_plate(text) == expected


def test_plate_provinces_are_the_31_mainland_ones() -> None:
    assert set(PLATE_PROVINCES) == set(
        "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
    )
    assert PLATE_PROVINCES["粤"] == "44"
    assert PLATE_PROVINCES["新"] == "65"
    assert set(PLATE_PROVINCES.values()) <= set(PROVINCES)


@pytest.mark.parametrize("province", sorted(PLATE_PROVINCES))
def test_every_province_abbreviation(province: str) -> None:
    assert parse_plate(f"{province}A12345").province == province


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "plate.empty"),
        ("A12345", "plate.special"),
        ("WJ12345", "plate.special"),
        ("粤B1234警", "plate.special"),
        ("粤Z1234港", "plate.special"),
        ("使123456", "plate.special"),
        ("台A12345", "plate.province"),
        ("1A12345", "plate.province"),
        ("京", "plate.city_letter"),
        ("京I12345", "plate.city_letter"),
        ("京O12345", "plate.city_letter"),
        ("京112345", "plate.city_letter"),
        ("京AI2345", "plate.characters"),
        ("京A1234O", "plate.characters"),
        ("京A12_45", "plate.characters"),
        ("京A1234", "plate.length"),
        ("京A123456D", "plate.length"),
        ("鲁A12345挂", "plate.length"),
        ("粤BZ12345", "plate.nev_format"),
        ("粤BD1A345", "plate.nev_format"),
        ("京A1234DD", "plate.nev_format"),
        ("京A12345E", "plate.nev_format"),
    ],
)
def test_invalid_plates(text: str, code: str) -> None:
    with pytest.raises(InvalidIdentifier) as excinfo:
        parse_plate(text)
    assert _code_of(excinfo) == code


def test_plate_letter_o_message_suggests_zero() -> None:
    with pytest.raises(InvalidIdentifier) as excinfo:
        parse_plate("京A1234O")
    assert "第 7 位" in str(excinfo.value)
    assert "0" in str(excinfo.value)


PLATE_ALNUM = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"


@given(
    st.sampled_from(sorted(PLATE_PROVINCES)),
    st.sampled_from([c for c in PLATE_ALNUM if c.isalpha()]),
    st.text(alphabet=PLATE_ALNUM, min_size=5, max_size=5),
)
def test_property_ordinary_plates_round_trip(province: str, city: str, tail: str) -> None:
    plate = parse_plate(f"{province}{city}·{tail.lower()}")
    assert plate.number == f"{province}{city}{tail}"
    assert not plate.is_nev
    assert parse_plate(plate.number) == plate


# ---------------------------------------------------------------------------------------------
# Masking
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("110105194912311234", "110***********1234"),
        (GB11643_EXAMPLE, "110***********002X"),
        (" 11010519491231002X ", "110***********002X"),
        ("1234567", "*******"),
        ("", ""),
    ],
)
def test_mask_id_number(text: str, expected: str) -> None:
    assert mask_id_number(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("13812341234", "138****1234"),
        ("+86 138 1234 5678", "138****5678"),
        ("010-12345678", "010-****5678"),
        ("0755-1234567-123", "0755-***4567-123"),
        ("(021)12345678", "021-****5678"),
        ("1381234567", "138***4567"),
        ("", ""),
    ],
)
def test_mask_phone(text: str, expected: str) -> None:
    assert mask_phone(text) == expected


@given(st.text())
def test_property_masking_never_raises(text: str) -> None:
    assert isinstance(mask_phone(text), str)
    assert isinstance(mask_id_number(text), str)


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_property_masked_mobile_hides_the_middle(mobile: str) -> None:
    masked = mask_phone(mobile)
    assert masked == mobile[:3] + "****" + mobile[7:]
