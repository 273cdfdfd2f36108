"""Regulatory limits on auto loans at origination (《汽车贷款管理办法》, 2017).

Maximum loan-to-value: self-use 80 % (NEV 85 %), commercial 70 % (NEV 75 %), used cars 70 %;
maximum term: new cars 5 years, used cars 3 years. A 2024 notice lets lenders set their own
self-use ratios, so a product's `max_ltv`, when given, replaces the self-use default.
"""

from __future__ import annotations

from decimal import Decimal

NEV_FUEL_TYPES = frozenset({"bev", "phev", "erev", "fcev"})

MAX_LTV = {
    ("self-use", False): Decimal("0.80"),
    ("self-use", True): Decimal("0.85"),
    ("commercial", False): Decimal("0.70"),
    ("commercial", True): Decimal("0.75"),
}
MAX_LTV_USED = Decimal("0.70")
MAX_TERM_MONTHS = {"new": 60, "used": 36}


def is_nev(fuel_type: str) -> bool:
    """New-energy vehicle (新能源汽车): battery, plug-in, range-extended or fuel-cell."""
    return fuel_type in NEV_FUEL_TYPES


def max_ltv(
    purpose: str, condition: str, fuel_type: str, product_max: Decimal | None = None
) -> Decimal:
    """The highest principal / vehicle price allowed for this vehicle and use."""
    if condition == "used":
        return min(MAX_LTV_USED, product_max) if product_max is not None else MAX_LTV_USED
    statutory = MAX_LTV[(purpose, is_nev(fuel_type))]
    if product_max is None:
        return statutory
    # Lenders may set self-use ratios themselves (2024); commercial limits still bind.
    return product_max if purpose == "self-use" else min(statutory, product_max)


def max_term_months(condition: str) -> int:
    return MAX_TERM_MONTHS[condition]
