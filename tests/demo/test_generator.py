"""The demo portfolio: deterministic per seed, valid by the importer's rules, realistic mix."""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal

import pytest

from huifang.demo.generator import ARCHETYPES, generate, loan_terms
from huifang.domain import identifiers as ids
from huifang.domain.schedule import build_schedule
from huifang.files.values import is_uscc, resident_id_or_none

AS_OF = date(2026, 11, 23)


@pytest.fixture(scope="module")
def records():
    return list(generate(1500, 11, AS_OF).records())


def test_same_seed_same_rows() -> None:
    first = list(generate(200, 5, AS_OF).loans())
    again = list(generate(200, 5, AS_OF).loans())
    assert first == again


def test_other_seed_other_rows() -> None:
    a = [row for row, _ in generate(50, 5, AS_OF).loans()]
    b = [row for row, _ in generate(50, 6, AS_OF).loans()]
    assert [r["id_number"] for r in a] != [r["id_number"] for r in b]


def test_slices_equal_the_whole() -> None:
    """Partitions can be generated independently (parallel workers, the nightly bench)."""
    portfolio = generate(300, 9, AS_OF)
    whole = list(portfolio.loans())
    pieces = list(portfolio.loans(0, 120)) + list(portfolio.loans(120, 300))
    assert whole == pieces
    # and a longer portfolio starts with the shorter one
    assert list(generate(400, 9, AS_OF).loans(0, 300)) == whole


def test_identifiers_are_valid_and_unique(records) -> None:
    contracts, vins, ids_seen = set(), set(), set()
    for rec in records:
        row = rec.row
        assert row["contract_no"] not in contracts
        contracts.add(row["contract_no"])
        assert ids.validate_vin(str(row["vin"])) == row["vin"]
        assert row["vin"] not in vins
        vins.add(row["vin"])
        ids.validate_mobile(str(row["mobile"]))
        plate = ids.parse_plate(str(row["plate"])) if row.get("plate") else None
        if plate is not None:
            assert plate.is_nev == (row["fuel_type"] in ("bev", "phev", "erev"))
        number = str(row["id_number"])
        if row["borrower_type"] == "individual":
            assert resident_id_or_none(number) is not None
            birth = ids.parse_resident_id(number).birth_date
            assert ids.age_on(birth, row["disbursement_date"]) >= 18
        else:
            assert is_uscc(number)
            assert row["legal_rep_name"]
        ids_seen.add(number)
    assert len(ids_seen) == len(records)


def test_loan_terms_follow_the_lending_rules(records) -> None:
    for rec in records:
        row = rec.row
        price = row["vehicle_price"]
        down = row["down_payment"]
        ratio = down / price
        assert Decimal("0.2") <= ratio.quantize(Decimal("0.01")) <= Decimal("0.5"), row
        assert 12 <= row["term_months"] <= 60
        if row["vehicle_condition"] == "used":
            assert row["term_months"] <= 36
        assert row["principal"] <= price - down
        assert row["disbursement_date"] <= AS_OF


def test_payments_are_dated_between_disbursement_and_as_of(records) -> None:
    for rec in records:
        for p in rec.payments:
            assert rec.row["disbursement_date"] <= p["paid_on"] <= AS_OF


def test_the_mix_has_every_behaviour_and_borrower_kind(records) -> None:
    archetypes = Counter(rec.archetype for rec in records)
    assert set(archetypes) == set(ARCHETYPES)
    assert archetypes["on-time"] > len(records) * 0.6
    kinds = Counter(rec.row["borrower_type"] for rec in records)
    assert 0.08 < kinds["business"] / len(records) < 0.25
    methods = Counter(rec.row["repayment_method"] for rec in records)
    assert len(methods) == 4
    fuels = Counter(rec.row["fuel_type"] for rec in records)
    assert fuels["bev"] + fuels["phev"] > len(records) * 0.2


def test_negative_size_is_refused() -> None:
    with pytest.raises(ValueError):
        generate(-1, 1, AS_OF)


def test_payers_who_paid_are_current_by_the_posting_rules(records) -> None:
    """Posted by the domain's own rules (penalty first), on-time payers and prepayers owe
    nothing, and a late payer is at most one late spell (≤ 45 days) behind: late payments
    include their penalty interest, so no shortfall lingers after catching up."""
    from huifang.domain.delinquency import days_past_due
    from huifang.domain.posting import Payment, Payoff, position_as_of

    checked = Counter()
    for rec in records:
        if rec.archetype == "defaulter":
            continue
        schedule = build_schedule(loan_terms(rec.row))
        events = [
            (Payoff if p["payment_type"] == "prepayment" else Payment)(
                p["txn_ref"], p["paid_on"], p["amount"]
            )
            for p in rec.payments
        ]
        position = position_as_of(schedule, events, AS_OF)
        dpd = days_past_due(position)
        limit = 45 if rec.archetype == "late" else 0
        assert dpd <= limit, (rec.row["contract_no"], rec.archetype, dpd)
        # what was paid over the penalty stays a little credit, never a prepaid installment
        assert position.credit < schedule.installments[0].payment, rec.row["contract_no"]
        checked[rec.archetype] += 1
    assert checked["late"] > 100
