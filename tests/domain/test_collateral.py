"""Vehicle valuation (retention curves, mileage, condition, used cars), LTV, bands and alerts."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from huifang.domain.collateral import (
    DEFAULT_LTV_BANDS,
    FUEL_TYPES,
    Inspection,
    LtvBand,
    LtvBands,
    RetentionCurve,
    VehicleCondition,
    VehicleFacts,
    latest_inspection,
    ltv,
    ltv_alert,
    ltv_band,
    months_between,
    value_vehicle,
)
from huifang.domain.lending_rules import is_nev
from huifang.valuation_params import load_valuation_params

D = Decimal
P = load_valuation_params()
BOUGHT = date(2021, 6, 15)
THREE_YEARS = date(2024, 6, 15)
ROOT = Path(__file__).resolve().parents[2]


def car(**changes: object) -> VehicleFacts:
    """A new mainstream petrol compact SUV bought for ¥150,000 on 2021-06-15."""
    base = VehicleFacts(D(150000), BOUGHT, "petrol", "大众", segment="紧凑型SUV")
    return replace(base, **changes)  # type: ignore[arg-type]


def seen(
    on: date, km: int | None, condition: VehicleCondition = VehicleCondition.GOOD
) -> Inspection:
    return Inspection(on, "张检", condition, km, photos=("2023/06/front.jpg",))


# --- published anchors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("segment", "retention"),
    [
        ("紧凑型SUV", "0.5170"),  # CADA Sep 2024: compact SUV 51.7 %
        ("MPV", "0.6330"),  # MPV 63.3 %
        ("小型车", "0.5510"),
        ("紧凑型车", "0.4710"),
        ("中型车", "0.5060"),
        ("中大型车", "0.5600"),
        ("小型SUV", "0.4970"),
        ("中型SUV", "0.5210"),
        ("中大型SUV", "0.5570"),
    ],
)
def test_cada_three_year_retention_is_reproduced(segment: str, retention: str) -> None:
    valuation = value_vehicle(car(segment=segment), THREE_YEARS, P)
    assert valuation.age_months == D(36)
    assert valuation.base_retention == D(retention)
    assert valuation.mileage_factor == 1 and valuation.condition_factor == 1
    assert valuation.value == (D(150000) * D(retention)).quantize(D("0.01"))


def test_compact_suv_worked_example() -> None:
    valuation = value_vehicle(car(), THREE_YEARS, P)
    assert valuation.value == D("77550.00")
    assert valuation.curve == "ice/compact-suv"
    assert valuation.mileage_km == 45000 and valuation.mileage_source == "estimated"
    assert valuation.params_version == P.version and valuation.as_of == THREE_YEARS
    assert "77,550.00" in valuation.explain("zh") and "51.70%" in valuation.explain("zh")
    assert "base retention 51.70%" in valuation.explain("en")


def test_interpolates_linearly_between_anchors() -> None:
    # 18 months: halfway between 0.783 (12) and 0.638 (24).
    valuation = value_vehicle(car(), date(2022, 12, 15), P)
    assert valuation.base_retention == D("0.7105")


def test_on_the_purchase_day_a_new_car_is_worth_its_price() -> None:
    assert value_vehicle(car(), BOUGHT, P).value == D("150000.00")


def test_beyond_the_last_anchor_the_last_value_holds() -> None:
    old = car(used=True, first_registration=date(2000, 1, 1), purchased_on=date(2020, 1, 1))
    assert value_vehicle(old, date(2024, 1, 1), P).base_retention == 1


# --- NEVs --------------------------------------------------------------------------------


@pytest.mark.parametrize("segment", sorted(P.segments))
@pytest.mark.parametrize("nev", sorted(f for f in FUEL_TYPES if is_nev(f)))
@pytest.mark.parametrize("brand", ["丰田", "宝马", "大众", "五菱", "蔚来"])
def test_nev_keeps_less_than_a_comparable_combustion_car_at_36_months(
    segment: str, nev: str, brand: str
) -> None:
    ice = value_vehicle(car(segment=segment, brand=brand), THREE_YEARS, P)
    electric = value_vehicle(car(segment=segment, brand=brand, fuel_type=nev), THREE_YEARS, P)
    assert electric.value < ice.value


def test_bev_is_steeper_than_plug_in_and_range_extender() -> None:
    for months in range(1, 200, 3):
        on = BOUGHT + timedelta(days=months * 30)
        bev = value_vehicle(car(fuel_type="bev"), on, P).base_retention
        for fuel in ("phev", "erev"):
            assert bev <= value_vehicle(car(fuel_type=fuel), on, P).base_retention
    at_36 = {f: value_vehicle(car(fuel_type=f), THREE_YEARS, P).base_retention for f in FUEL_TYPES}
    assert at_36["bev"] < at_36["phev"] == at_36["erev"] < at_36["petrol"]
    assert D("0.40") <= at_36["bev"] <= D("0.45")  # recent CADA summaries: BEV 3-year 40–45 %


@settings(max_examples=60)
@given(
    days=st.integers(0, 6000),
    segment=st.sampled_from(sorted(P.segments)),
    nev=st.sampled_from(sorted(f for f in FUEL_TYPES if is_nev(f))),
)
def test_nev_never_above_combustion_at_any_age(days: int, segment: str, nev: str) -> None:
    on = BOUGHT + timedelta(days=days)
    ice = value_vehicle(car(segment=segment), on, P)
    assert value_vehicle(car(segment=segment, fuel_type=nev), on, P).value <= ice.value


# --- brand and segment --------------------------------------------------------------------


def test_brand_class_multiplies_the_curve_after_month_zero() -> None:
    toyota = value_vehicle(car(brand="广汽丰田"), THREE_YEARS, P)
    wuling = value_vehicle(car(brand="上汽通用五菱"), THREE_YEARS, P)
    assert (toyota.brand_class, toyota.brand_multiplier) == ("retention-leader", D("1.08"))
    assert toyota.base_retention == D("0.5584")  # 0.517 × 1.08
    assert wuling.brand_class == "economy" and wuling.base_retention == D("0.4756")
    assert value_vehicle(car(brand="丰田"), BOUGHT, P).value == D("150000.00")


def test_unknown_brand_is_mainstream_with_a_note() -> None:
    valuation = value_vehicle(car(brand="某某汽车"), THREE_YEARS, P)
    assert valuation.brand_class == "mainstream"
    assert [n.code for n in valuation.notes] == ["brand-unknown"]


@pytest.mark.parametrize(
    ("written", "brand"),
    [
        ("BYD", "byd"),
        ("比亚迪", "byd"),
        ("Tesla", "tesla"),
        ("特斯拉", "tesla"),
        ("一汽丰田", "toyota"),
        ("东风本田", "honda"),
        ("上汽大众", "volkswagen"),
        ("一汽-大众奥迪", "audi"),
        ("Geely", "geely"),
        ("长安汽车", "changan"),
        ("长安福特", "ford"),
        ("理想汽车", "li-auto"),
        ("Li Auto", "li-auto"),
        ("蔚来", "nio"),
        ("XPeng", "xpeng"),
        ("华晨宝马", "bmw"),
        ("Mercedes-Benz", "mercedes-benz"),
        ("北京奔驰", "mercedes-benz"),
        ("Audi", "audi"),
        ("五菱", "wuling"),
        ("哈弗", "great-wall"),
        ("Great Wall", "great-wall"),
        ("奇瑞", "chery"),
        ("东风日产", "nissan"),
        ("别克", "buick"),
        ("小米汽车", "xiaomi"),
        ("问界", "aito"),
        ("赛力斯", "aito"),
        ("ＢＹＤ", "byd"),
        ("Mercedes-AMG", "mercedes-benz"),
    ],
)
def test_brands_of_the_chinese_market_resolve(written: str, brand: str) -> None:
    assert P.resolve_brand(written) == brand


def test_latin_aliases_match_only_whole() -> None:
    assert P.resolve_brand("AMG-X") is None  # 'mg' must not match inside another word


@pytest.mark.parametrize(
    ("written", "segment"),
    [
        ("紧凑型 SUV", "compact-suv"),
        ("compact-suv", "compact-suv"),
        ("A级轿车", "compact-car"),
        ("ａ级轿车", "compact-car"),
        ("B级车", "midsize-car"),
        ("商务车", "mpv"),
        ("皮卡", "pickup"),
        ("不知道", None),
        ("", None),
    ],
)
def test_segments_as_written_in_bank_exports(written: str, segment: str | None) -> None:
    assert P.resolve_segment(written) == segment


def test_segment_without_curve_uses_the_class_default() -> None:
    assert value_vehicle(car(segment="皮卡"), THREE_YEARS, P).curve == "ice/default"


def test_missing_segment_of_a_new_car_comes_from_its_price_band() -> None:
    cheap = value_vehicle(car(segment=None, price=D(80000)), THREE_YEARS, P)
    dear = value_vehicle(car(segment="??", price=D(450000)), THREE_YEARS, P)
    assert (cheap.segment, cheap.curve) == ("small-car", "ice/small-car")
    assert dear.curve == "ice/large-car"
    assert [n.code for n in dear.notes] == ["segment-unknown", "segment-from-price"]
    used = car(segment=None, used=True, first_registration=date(2019, 6, 15))
    assert value_vehicle(used, THREE_YEARS, P).curve == "ice/default"


# --- used cars ----------------------------------------------------------------------------


def test_used_car_age_counts_from_first_registration() -> None:
    used = car(used=True, first_registration=date(2018, 6, 15), price=D(60000))
    at_purchase = value_vehicle(used, BOUGHT, P)
    assert at_purchase.age_at_purchase_months == D(36) and at_purchase.value == D("60000.00")
    later = value_vehicle(used, date(2022, 6, 15), P)  # 48 months old, one year with us
    assert later.age_months == D(48)
    assert later.base_retention == D("0.8704")  # 0.450 / 0.517, not 0.450
    assert later.value == D("52224.00")


def test_used_car_age_from_model_year_when_registration_is_missing() -> None:
    used = car(used=True, model_year=2018, price=D(60000))
    valuation = value_vehicle(used, BOUGHT, P)
    assert used.age_origin == date(2018, 7, 1)
    assert valuation.age_at_purchase_months == D("35.47")  # 35 months + 14/30 of June 2021
    assert [n.code for n in valuation.notes] == ["age-from-model-year"]


def test_used_car_without_registration_or_model_year_is_refused() -> None:
    with pytest.raises(ValueError, match="初次登记"):
        car(used=True)


def test_used_car_bought_with_high_mileage_is_not_charged_twice() -> None:
    # 36 months, 90,000 km at purchase (45,000 over the norm, already in the price).
    used = car(used=True, first_registration=date(2018, 6, 15), mileage_km=90000)
    a_year_on = value_vehicle(used, date(2022, 6, 15), P)
    assert a_year_on.mileage_km == 120000  # the observed 30,000 km a year goes on
    # factor now 1 − 0.025 × 6 = 0.85, at purchase 1 − 0.025 × 4.5 = 0.8875
    assert a_year_on.mileage_factor == (D("0.85") / D("0.8875")).quantize(D("0.0001"))
    assert a_year_on.mileage_source == "purchase"


def test_condition_is_relative_to_the_pre_loan_appraisal() -> None:
    fair = VehicleCondition.FAIR
    used = car(used=True, first_registration=date(2018, 6, 15), condition_at_purchase=fair)
    assert value_vehicle(used, BOUGHT, P).condition_factor == 1
    still_fair = value_vehicle(used, THREE_YEARS, P, seen(date(2024, 1, 1), None, fair))
    assert still_fair.condition_factor == 1
    worse = value_vehicle(used, THREE_YEARS, P, seen(date(2024, 1, 1), None, VehicleCondition.POOR))
    assert worse.condition_factor == (D("0.80") / D("0.92")).quantize(D("0.0001"))


# --- mileage and inspections --------------------------------------------------------------


def test_inspection_updates_mileage_and_condition() -> None:
    inspection = seen(date(2023, 6, 15), 60000, VehicleCondition.FAIR)  # 24 months, 30,000/yr
    valuation = value_vehicle(car(), THREE_YEARS, P, inspection)
    assert valuation.mileage_km == 90000 and valuation.mileage_source == "inspection"
    assert valuation.mileage_factor == D("0.8875")  # 45,000 km over the norm × 2.5 %
    assert valuation.condition == VehicleCondition.FAIR and valuation.condition_factor == D("0.92")
    assert valuation.inspection_date == date(2023, 6, 15)
    assert valuation.value == D("63319.58")  # 150,000 × 0.5170 × 0.8875 × 0.92 = 63,319.575


def test_reading_on_the_inspection_day_is_used_as_is() -> None:
    inspection = seen(THREE_YEARS, 52000)
    assert value_vehicle(car(), THREE_YEARS, P, inspection).mileage_km == 52000


def test_young_reading_extrapolates_at_the_norm() -> None:
    inspection = seen(date(2021, 8, 15), 5000)  # 2 months old: too young for a rate
    valuation = value_vehicle(car(), THREE_YEARS, P, inspection)
    assert valuation.mileage_km == 5000 + 34 * 1250


def test_low_mileage_bonus_is_proportional_and_capped() -> None:
    two_years = date(2023, 6, 15)
    half = value_vehicle(car(), two_years, P, seen(two_years, 15000))
    none = value_vehicle(car(), two_years, P, seen(two_years, 1000))
    assert half.mileage_factor == D("1.025")  # half the norm not driven × 5 %
    assert none.mileage_factor == D("1.03")  # capped


@pytest.mark.parametrize("days", [1, 2, 17, 30, 31, 45, 400, 1095])
def test_a_car_driven_at_the_norm_has_no_mileage_bonus(days: int) -> None:
    # Regression: rounding the estimated km down used to earn a bonus of a few hundredths of
    # a percent on some days (1.0004 one day after purchase), so the value rose with age.
    valuation = value_vehicle(car(), BOUGHT + timedelta(days=days), P)
    assert valuation.mileage_factor == 1 and valuation.mileage_source == "estimated"


def test_mileage_factor_has_a_floor() -> None:
    valuation = value_vehicle(car(), THREE_YEARS, P, seen(THREE_YEARS, 900000))
    assert valuation.mileage_factor == D("0.60")


def test_odometer_lower_than_at_purchase_is_flagged() -> None:
    used = car(used=True, first_registration=date(2018, 6, 15), mileage_km=90000)
    valuation = value_vehicle(used, THREE_YEARS, P, seen(date(2024, 1, 1), 40000))
    assert "odometer-decreased" in [n.code for n in valuation.notes]


def test_latest_inspection_on_or_before_the_date() -> None:
    early, mid, late = (seen(date(2023, m, 1), 1000 * m) for m in (1, 6, 11))
    same_day = seen(date(2023, 6, 1), 7777)
    records = [late, mid, early, same_day]
    assert latest_inspection(records, date(2023, 7, 1)) == same_day
    assert latest_inspection(records, date(2023, 5, 31)) == early
    assert latest_inspection(records, date(2022, 1, 1)) is None
    assert latest_inspection(records, date(2024, 1, 1)) == late


def test_inspection_after_the_valuation_date_is_refused() -> None:
    with pytest.raises(ValueError, match="晚于估值日"):
        value_vehicle(car(), date(2023, 1, 1), P, seen(date(2023, 1, 2), 100))


def test_valuation_before_purchase_is_refused() -> None:
    with pytest.raises(ValueError, match="早于购车日"):
        value_vehicle(car(), date(2021, 6, 14), P)


def test_inspection_record_is_validated() -> None:
    with pytest.raises(ValueError):
        Inspection(date(2023, 1, 1), " ", VehicleCondition.GOOD)
    with pytest.raises(ValueError):
        Inspection(date(2023, 1, 1), "张检", VehicleCondition.GOOD, -1)
    with pytest.raises(ValueError):
        Inspection(date(2023, 1, 1), "张检", VehicleCondition.GOOD, photos=("",))


def test_total_loss_keeps_only_salvage() -> None:
    wreck = seen(date(2022, 6, 15), None, VehicleCondition.TOTAL_LOSS)
    valuation = value_vehicle(car(), date(2022, 6, 15), P, wreck)
    assert valuation.condition_factor == D("0.10")
    assert valuation.value == (D(150000) * D("0.7830") * D("0.10")).quantize(D("0.01"))


# --- monotonicity (Hypothesis) ----------------------------------------------------------


@st.composite
def vehicles(draw: st.DrawFn) -> VehicleFacts:
    bought = draw(st.dates(date(2015, 1, 1), date(2025, 12, 31)))
    used = draw(st.booleans())
    registration = None
    model_year = None
    if used:
        if draw(st.booleans()):
            registration = bought - timedelta(days=draw(st.integers(0, 4000)))
        else:
            model_year = bought.year - draw(st.integers(0, 10))
    elif draw(st.booleans()):
        registration = bought + timedelta(days=draw(st.integers(-30, 30)))
    return VehicleFacts(
        price=D(draw(st.integers(20000, 2000000))),
        purchased_on=bought,
        fuel_type=draw(st.sampled_from(sorted(FUEL_TYPES))),
        brand=draw(st.sampled_from(["丰田", "宝马", "大众", "五菱", "蔚来", "比亚迪", "无名"])),
        segment=draw(st.sampled_from([None, "?", *sorted(P.segments)])),
        used=used,
        first_registration=registration,
        model_year=model_year,
        mileage_km=draw(st.none() | st.integers(0, 300000)),
        condition_at_purchase=draw(st.none() | st.sampled_from(list(VehicleCondition))),
    )


@settings(max_examples=300)
@given(
    vehicle=vehicles(),
    inspected_after=st.none() | st.integers(-400, 3000),
    km=st.none() | st.integers(0, 400000),
    condition=st.sampled_from(list(VehicleCondition)),
    first=st.integers(0, 4000),
    later=st.integers(0, 4000),
)
def test_older_is_never_worth_more(
    vehicle: VehicleFacts,
    inspected_after: int | None,
    km: int | None,
    condition: VehicleCondition,
    first: int,
    later: int,
) -> None:
    inspection = None
    start = vehicle.purchased_on
    if inspected_after is not None:
        inspection = seen(vehicle.purchased_on + timedelta(days=inspected_after), km, condition)
        start = max(start, inspection.inspected_on)
    earlier_day = start + timedelta(days=first)
    later_day = earlier_day + timedelta(days=later)
    then = value_vehicle(vehicle, earlier_day, P, inspection)
    now = value_vehicle(vehicle, later_day, P, inspection)
    assert now.value <= then.value
    assert now.base_retention <= then.base_retention
    assert now.mileage_factor <= then.mileage_factor


@settings(max_examples=300)
@given(
    vehicle=vehicles(),
    inspected_after=st.integers(-400, 3000),
    km=st.integers(0, 400000),
    more=st.integers(0, 200000),
    after=st.integers(0, 3000),
)
def test_more_mileage_is_never_worth_more(
    vehicle: VehicleFacts, inspected_after: int, km: int, more: int, after: int
) -> None:
    on = vehicle.purchased_on + timedelta(days=inspected_after)
    as_of = max(on, vehicle.purchased_on) + timedelta(days=after)
    low = value_vehicle(vehicle, as_of, P, seen(on, km))
    high = value_vehicle(vehicle, as_of, P, seen(on, km + more))
    assert high.value <= low.value and high.mileage_km >= low.mileage_km


@settings(max_examples=200)
@given(
    vehicle=vehicles(),
    better=st.sampled_from(list(VehicleCondition)),
    worse=st.sampled_from(list(VehicleCondition)),
    after=st.integers(0, 3000),
)
def test_worse_condition_is_never_worth_more(
    vehicle: VehicleFacts, better: VehicleCondition, worse: VehicleCondition, after: int
) -> None:
    if better.rank > worse.rank:
        better, worse = worse, better
    as_of = vehicle.purchased_on + timedelta(days=after)
    good = value_vehicle(vehicle, as_of, P, seen(as_of, None, better))
    bad = value_vehicle(vehicle, as_of, P, seen(as_of, None, worse))
    assert bad.value <= good.value


# --- curves and ages ----------------------------------------------------------------------


def test_curve_rules() -> None:
    with pytest.raises(ValueError, match="不得上升"):
        RetentionCurve(((0, D(1)), (12, D("0.7")), (24, D("0.8"))))
    with pytest.raises(ValueError, match="第 0 个月"):
        RetentionCurve(((6, D(1)), (12, D("0.7"))))
    with pytest.raises(ValueError, match="递增"):
        RetentionCurve(((0, D(1)), (12, D("0.7")), (12, D("0.6"))))
    with pytest.raises(ValueError, match=re.escape("(0, 1.2]")):
        RetentionCurve(((0, D(1)), (12, D(0))))
    capped = RetentionCurve(((0, D(1)), (12, D("0.95")))).scaled(D("1.2"))
    assert capped.points == ((0, D(1)), (12, D(1)))


@pytest.mark.parametrize(
    ("start", "end", "months"),
    [
        (date(2021, 6, 15), date(2024, 6, 15), D(36)),
        (date(2021, 6, 15), date(2021, 7, 1), D(16) / D(30)),
        (date(2024, 1, 31), date(2024, 2, 29), D(1)),  # clamped to the month end
        (date(2024, 1, 31), date(2024, 3, 1), D(1) + D(1) / D(31)),
        (date(2024, 1, 31), date(2024, 1, 1), D(0)),
    ],
)
def test_months_between(start: date, end: date, months: Decimal) -> None:
    assert months_between(start, end) == months


# --- LTV ----------------------------------------------------------------------------------


def test_ltv_is_principal_over_value_to_four_decimals_half_up() -> None:
    valuation = replace(value_vehicle(car(), BOUGHT, P), value=D("20000.00"))
    assert ltv(D("12345.00"), valuation) == D("0.6173")  # 0.61725: half-up, not half-even
    assert ltv(D(0), valuation) == 0
    assert ltv(D("24000.00"), valuation) == D("1.2")
    with pytest.raises(ValueError):
        ltv(D(-1), valuation)
    with pytest.raises(ValueError, match="估值为零"):
        ltv(D(1), replace(valuation, value=D("0.00")))


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("0", "low"),
        ("0.6000", "low"),
        ("0.6001", "normal"),
        ("0.8000", "normal"),
        ("0.8001", "watch"),
        ("1.0000", "watch"),
        ("1.0001", "high"),
        ("1.2000", "high"),
        ("1.2001", "critical"),
        ("9.9999", "critical"),
    ],
)
def test_ltv_band_boundaries(value: str, code: str) -> None:
    assert ltv_band(D(value)).code == code


B = {b.code: b for b in DEFAULT_LTV_BANDS.bands}


@pytest.mark.parametrize(
    ("previous", "current", "alerts"),
    [
        (None, "normal", False),
        (None, "watch", False),
        (None, "high", True),  # first valuation already past the alert band
        ("low", "normal", False),
        ("normal", "watch", False),  # worse, but below the alert band
        ("watch", "high", True),
        ("normal", "critical", True),
        ("high", "critical", True),
        ("high", "high", False),  # unchanged: no repeat
        ("critical", "critical", False),
        ("critical", "high", False),  # better
        ("high", "watch", False),
    ],
)
def test_ltv_alert_only_when_worsening_past_the_alert_band(
    previous: str | None, current: str, alerts: bool
) -> None:
    alert = ltv_alert(B[previous] if previous else None, B[current])
    assert (alert is not None) == alerts
    if alert is not None:
        assert alert.current == B[current] and alert.code == "ltv-band-worsened"
        assert B[current].zh in alert.zh and B[current].en in alert.en


def test_alert_band_is_a_setting() -> None:
    strict = replace(DEFAULT_LTV_BANDS, alert_from="watch")
    assert ltv_alert(B["normal"], B["watch"], strict) is not None
    assert ltv_alert(B["watch"], B["watch"], strict) is None


def test_ltv_bands_are_validated() -> None:
    with pytest.raises(ValueError, match="最后一档"):
        LtvBands((LtvBand("a", D("0.5"), "甲", "a"),), "a")
    with pytest.raises(ValueError, match="递增"):
        LtvBands((LtvBand("a", D("0.5"), "甲", "a"), LtvBand("b", D("0.4"), "乙", "b"),
                  LtvBand("c", None, "丙", "c")), "a")  # fmt: skip
    with pytest.raises(ValueError, match="预警起始档"):
        replace(DEFAULT_LTV_BANDS, alert_from="nope")


def test_nev_loan_at_the_statutory_85_percent_goes_under_water_within_a_year() -> None:
    """Why the alert band matters: a BEV financed at 85 % is soon worth less than its loan."""
    bev = car(fuel_type="bev")
    a_year_on = value_vehicle(bev, date(2022, 6, 15), P)
    outstanding = D("105000.00")  # ~82 % of 127,500 left after 12 of 60 instalments
    assert ltv_band(ltv(outstanding, a_year_on)).code == "high"


# --- docs ---------------------------------------------------------------------------------


def test_docs_worked_example_agrees_with_the_code() -> None:
    doc = (ROOT / "docs" / "collateral.md").read_text(encoding="utf-8")
    inspection = seen(date(2023, 6, 15), 60000, VehicleCondition.FAIR)
    valuation = value_vehicle(car(), THREE_YEARS, P, inspection)
    outstanding = D("40000.00")
    ratio = ltv(outstanding, valuation)
    for figure in (f"{valuation.value:,}", f"{ratio}", "0.8875", "0.5170", "90,000"):
        assert figure in doc, figure
    assert ltv_band(ratio).code == "normal"
