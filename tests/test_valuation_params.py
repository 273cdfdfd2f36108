"""The valuation parameter file: the packaged default loads, and bad files are refused clearly."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from huifang.valuation_params import (
    ValuationParamsError,
    load_valuation_params,
    parse_valuation_params,
)

DEFAULT = Path(__file__).resolve().parents[1] / "src" / "huifang" / "data" / "valuation_v1.json"


def doc() -> Any:
    return json.loads(DEFAULT.read_text(encoding="utf-8"), parse_float=Decimal)


def test_packaged_default_loads_with_decimals() -> None:
    params = load_valuation_params()
    assert params.version == "valuation-v1"
    assert params.curves["ice"]["mpv"].points[3] == (36, Decimal("0.633"))
    assert params.mileage.norm_km_per_year == 15000
    assert params.ltv_bands.alert_from == "high"


def test_file_path_and_invalid_json(tmp_path: Path) -> None:
    good = tmp_path / "v.json"
    good.write_text(DEFAULT.read_text(encoding="utf-8"), encoding="utf-8")
    assert load_valuation_params(good).version == "valuation-v1"
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(ValuationParamsError, match="不是有效的 JSON"):
        load_valuation_params(bad)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("version"), "version"),
        (
            lambda d: d["curves"]["ice"]["mpv"].__setitem__(2, [24, Decimal("0.9")]),
            "curves.ice.mpv",
        ),
        (lambda d: d["fuel_classes"].__setitem__("bev", "ice"), "不得使用燃油车"),
        (lambda d: d["mileage"].__setitem__("speed", 1), "未知参数"),
        (lambda d: d["mileage"].__setitem__("norm_km_per_year", Decimal("1.5")), "必须是整数"),
        (lambda d: d["condition_factors"].__setitem__("shiny", 1), "未知车况"),
        (lambda d: d["condition_factors"].__setitem__("poor", Decimal("0.95")), "逐级不增"),
        (lambda d: d["ltv_bands"].__setitem__("alert_from", "nope"), "预警起始档"),
        (lambda d: d["brand_classes"]["economy"]["brands"].__setitem__("toyota", []), "两个类别"),
        (lambda d: d["segments"]["mpv"]["aliases"].append("紧凑型SUV"), "同时指向"),
        (lambda d: d.pop("condition_factors"), "缺少此项"),
    ],
)
def test_bad_files_are_refused_with_the_place(change: Any, message: str) -> None:
    d = doc()
    change(d)
    with pytest.raises(ValuationParamsError, match=message):
        parse_valuation_params(d)
