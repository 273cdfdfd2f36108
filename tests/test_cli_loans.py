"""`huifang schedule` and `huifang prepay-quote` through the real `huifang` command."""

from __future__ import annotations

import json
from decimal import Decimal

from typer.testing import CliRunner

from huifang.cli import app

runner = CliRunner()

LOAN = ["--principal", "180000", "--rate", "4.5", "--months", "60", "--start", "2023-07-15"]
EI = ["--method", "equal-installment"]


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_schedule_json() -> None:
    code, out = run("schedule", *LOAN, *EI, "--format", "json")
    assert code == 0, out
    doc = json.loads(out)
    rows = doc["installments"]
    assert len(rows) == 60
    assert set(rows[0]) == {"period", "due_date", "payment", "principal", "interest", "balance"}
    assert rows[0]["period"] == 1 and rows[0]["due_date"] == "2023-08-15"
    assert rows[0]["interest"] == "675.00"
    assert all(isinstance(r["payment"], str) and r["payment"].count(".") == 1 for r in rows)
    assert all(len(r["payment"].split(".")[1]) == 2 for r in rows)
    assert rows[-1]["balance"] == "0.00"
    assert doc["total_principal"] == "180000.00"
    total = sum(Decimal(r["interest"]) for r in rows)
    assert f"{total:.2f}" == doc["total_interest"]
    assert doc["terms"]["annual_rate"] == "0.045"


def test_schedule_oracle_and_settings() -> None:
    code, out = run(
        "schedule",
        "--principal",
        "1000000",
        "--rate",
        "4.9",
        "--months",
        "360",
        *EI,
        "--start",
        "2024-01-15",
        "--format",
        "json",
    )
    assert code == 0, out
    doc = json.loads(out)
    assert doc["installments"][0]["payment"] == "5307.27"
    assert doc["installments"][-1]["payment"] == "5305.19"
    assert doc["total_interest"] == "910615.12"
    code, out = run(
        "schedule",
        "--principal",
        "1000000",
        "--rate",
        "4.9",
        "--months",
        "360",
        *EI,
        "--start",
        "2024-01-15",
        "--interest-rounding",
        "cumulative",
        "--format",
        "json",
    )
    assert code == 0, out
    assert json.loads(out)["total_interest"] == "910616.19"


def test_schedule_balloon_and_table() -> None:
    code, out = run(
        "schedule", *LOAN, "--method", "balloon", "--balloon-pct", "30", "--format", "json"
    )
    assert code == 0, out
    rows = json.loads(out)["installments"]
    assert Decimal(rows[-1]["payment"]) > Decimal("54000")
    code, out = run("schedule", *LOAN, *EI, "--format", "table")
    assert code == 0, out
    assert "¥675.00" in out and "¥180,000.00" in out


def test_schedule_rejects_bad_input() -> None:
    code, _ = run("schedule", *LOAN[:-1], "2023-13-01", *EI)
    assert code == 2
    code, _ = run("schedule", *LOAN, "--method", "weekly")
    assert code == 2
    code, _ = run("schedule", *LOAN, *EI, "--balloon-pct", "30")
    assert code == 2


def test_prepay_quote_full_json() -> None:
    code, out = run(
        "prepay-quote", *LOAN, *EI, "--as-of", "2024-07-20", "--full", "--fee-tiers", "12:3,24:2,:1"
    )
    assert code == 0, out
    doc = json.loads(out)
    for field in ("principal", "interest", "penalty", "fee", "total", "interest_saved"):
        assert isinstance(doc[field], str) and len(doc[field].split(".")[1]) == 2
    assert doc["new_schedule"] == []
    assert doc["kind"] == "full"
    total = Decimal(doc["principal"]) + Decimal(doc["interest"]) + Decimal(doc["fee"])
    assert Decimal(doc["total"]) == total
    assert doc["fee"] == f"{Decimal(doc['principal']) * Decimal('0.02'):.2f}"


def test_prepay_quote_partial_json_and_table() -> None:
    code, out = run(
        "prepay-quote",
        *LOAN,
        *EI,
        "--as-of",
        "2024-07-20",
        "--amount",
        "50000",
        "--mode",
        "shorten-term",
        "--format",
        "json",
    )
    assert code == 0, out
    doc = json.loads(out)
    assert doc["mode"] == "shorten-term" and doc["principal"] == "50000.00"
    assert doc["new_schedule"][0]["period"] == 13
    assert doc["new_term_months"] == len(doc["new_schedule"]) == 31
    assert Decimal(doc["interest_saved"]) > 0
    code, out = run(
        "prepay-quote",
        *LOAN,
        *EI,
        "--as-of",
        "2024-07-20",
        "--amount",
        "50000",
        "--format",
        "table",
        "--waive-reason",
        "客户投诉",
        "--fee-tiers",
        ":1",
    )
    assert code == 0, out
    assert "¥50,000.00" in out and "手续费减免" in out


def test_prepay_quote_refused_during_lock_in() -> None:
    code, out = run(
        "prepay-quote", *LOAN, *EI, "--as-of", "2023-08-20", "--full", "--lock-in-months", "6"
    )
    assert code == 1
    doc = json.loads(out)
    assert doc["error"] == "refused" and doc["allowed_from"] == "2024-01-15"


def test_prepay_quote_needs_amount_or_full() -> None:
    code, _ = run("prepay-quote", *LOAN, *EI, "--as-of", "2024-07-20")
    assert code == 2
    code, _ = run("prepay-quote", *LOAN, *EI, "--as-of", "2024-07-20", "--full", "--amount", "1")
    assert code == 2


def test_prepay_quote_with_missed_payments() -> None:
    code, out = run(
        "prepay-quote", *LOAN, *EI, "--as-of", "2024-07-20", "--full", "--paid-periods", "10"
    )
    assert code == 0, out
    doc = json.loads(out)
    assert Decimal(doc["penalty"]) > 0
