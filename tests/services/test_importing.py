"""`huifang import`: good files land, bad rows are all reported and nothing is written,
re-imports are idempotent, on SQLite and on PostgreSQL."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import Engine, func, select, text

from huifang.domain.identifiers import (
    org_code_check_char,
    resident_id_check_digit,
    uscc_check_char,
    vin_check_digit,
)
from huifang.files.layout import BRANCHES, LOANS, PAYMENTS, PRODUCTS, FileLayout
from huifang.security.pii import current_ring, reveal, search_hash
from huifang.services.importing import import_files
from huifang.services.loan_views import borrower_360, search_loans
from huifang.store.db import transaction
from huifang.store.models import Borrower, Contact, Guarantor, ImportRun, Loan, Payment, Vehicle


def resident_id(body: str) -> str:
    return body + resident_id_check_digit(body)


def vin(body: str) -> str:
    assert len(body) == 17
    return body[:8] + vin_check_digit(body) + body[9:]


def uscc(prefix: str = "91440300", org: str = "MA5F0000") -> str:
    org_code = org + org_code_check_char(org)
    body = prefix + org_code
    return body + uscc_check_char(body)


PERSON = resident_id("44030519850615123")
PERSON2 = resident_id("11010519900101001")
COMPANY = uscc()


def write_csv(path: Path, layout: FileLayout, rows: list[dict[str, str]], lang: str = "zh"):
    headers = [getattr(c, lang) for c in layout.columns]
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        w = csv.writer(fh)
        w.writerow(headers)
        for row in rows:
            w.writerow([row.get(c.name, "") for c in layout.columns])
    return path


def branch_rows() -> list[dict[str, str]]:
    return [
        {"branch_code": "SZ01", "branch_name": "深圳南山支行", "province": "广东", "city": "深圳"},
        {"branch_code": "BJ01", "branch_name": "北京朝阳支行", "province": "北京", "city": "北京"},
    ]


def product_rows() -> list[dict[str, str]]:
    return [
        {
            "product_code": "EI",
            "product_name": "新车等额本息",
            "repayment_method": "等额本息",
            "annual_rate": "4.9",
            "min_term_months": "12",
            "max_term_months": "60",
            "penalty_rate_multiplier": "150",
            "lock_in_months": "6",
            "prepayment_fee_basis": "提前还款本金",
            "prepayment_fee_tiers": "12:3,24:2,36:1",
        },
        {
            "product_code": "IF",
            "product_name": "营运车先息后本",
            "repayment_method": "先息后本",
            "annual_rate": "7.2",
            "min_term_months": "12",
            "max_term_months": "36",
        },
    ]


def loan_row(**over: str) -> dict[str, str]:
    row = {
        "contract_no": "HF-SZ01-0001",
        "branch_code": "SZ01",
        "product_code": "EI",
        "borrower_type": "个人",
        "borrower_name": "张伟",
        "id_number": PERSON,
        "mobile": "138 1234 5678",
        "address": "广东省深圳市南山区科技园",
        "occupation": "工程师",
        "industry": "信息技术",
        "employer": "深圳某科技有限公司",
        "employer_phone": "0755-86001234",
        "monthly_income": "28,000.00",
        "self_employed": "否",
        "spouse_name": "李娜",
        "spouse_mobile": "13912345678",
        "emergency_name": "张强",
        "emergency_relation": "兄弟",
        "emergency_mobile": "13712345678",
        "guarantor_name": "王芳",
        "guarantor_id_number": PERSON2,
        "guarantor_mobile": "13612345678",
        "vin": vin("LGXCE4CB0N0000001"),
        "plate": "粤BD12345",
        "brand": "比亚迪",
        "model": "汉 EV",
        "model_year": "2022",
        "vehicle_segment": "中型轿车",
        "vehicle_condition": "新车",
        "fuel_type": "纯电动",
        "vehicle_price": "259800",
        "loan_purpose": "自用",
        "down_payment": "59800",
        "principal": "200000",
        "annual_rate": "4.9%",
        "term_months": "36",
        "disbursement_date": "2023-07-15",
        "repayment_day": "15",
        "credit_score": "712",
    }
    row.update(over)
    return row


def payment_rows() -> list[dict[str, str]]:
    return [
        {
            "txn_ref": "P0001",
            "contract_no": "HF-SZ01-0001",
            "paid_on": "2023-08-15",
            "amount": "5985.37",
            "payment_type": "还款",
            "channel": "代扣",
        },
        {
            "txn_ref": "P0002",
            "contract_no": "HF-SZ01-0001",
            "paid_on": "2023-09-15",
            "amount": "5985.37",
            "channel": "代扣",
        },
        {
            "txn_ref": "P0003",
            "contract_no": "HF-SZ01-0001",
            "paid_on": "2023-09-16",
            "amount": "5985.37",
            "payment_type": "冲正",
            "reverses_txn_ref": "P0002",
        },
    ]


@pytest.fixture
def good_files(tmp_path: Path) -> list[Path]:
    business = loan_row(
        contract_no="HF-BJ01-0001",
        branch_code="BJ01",
        product_code="IF",
        borrower_type="企业",
        borrower_name="北京顺达物流有限公司",
        id_number=COMPANY,
        legal_rep_name="刘洋",
        legal_rep_id_number=PERSON2,
        self_employed="",
        vin=vin("LSVAU2180N2000002"),
        plate="京A12345",
        brand="大众",
        model="帕萨特",
        fuel_type="汽油",
        vehicle_price="200000",
        down_payment="60000",
        principal="140000",
        loan_purpose="营运",
        annual_rate="7.2",
        guarantor_name="",
        guarantor_id_number="",
        guarantor_mobile="",
        spouse_name="",
        spouse_mobile="",
    )
    return [
        write_csv(tmp_path / "payments.csv", PAYMENTS, payment_rows()),  # order must not matter
        write_csv(tmp_path / "branches.csv", BRANCHES, branch_rows()),
        write_csv(tmp_path / "products.csv", PRODUCTS, product_rows()),
        write_csv(tmp_path / "loans.csv", LOANS, [loan_row(), business]),
    ]


def count(engine: Engine, model: type) -> int:
    with transaction(engine) as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_good_files_land_whole(engine: Engine, good_files: list[Path]) -> None:
    report = import_files(engine, good_files)
    assert report.ok, report.errors
    assert report.committed
    assert report.counts["loans.created"] == 2
    assert report.counts["payments.created"] == 2
    assert report.counts["payments.reversals"] == 1
    with transaction(engine) as s:
        loan = s.scalars(select(Loan).where(Loan.contract_no == "HF-SZ01-0001")).one()
        assert loan.principal == Decimal("200000.00")
        assert loan.annual_rate == Decimal("0.049")
        assert loan.repayment_method == "equal-installment"  # taken from the product
        assert reveal(current_ring(), loan.borrower, "mobile") == "13812345678"
        assert loan.borrower.gender == "M"  # 17th digit odd
        assert {c.relation for c in loan.borrower.contacts} == {
            "self",
            "spouse",
            "emergency",
            "employer",
        }
        assert loan.vehicle.fuel_type == "bev"
        assert [g.name for g in loan.guarantors] == ["王芳"]
        biz = s.scalars(select(Loan).where(Loan.contract_no == "HF-BJ01-0001")).one()
        assert biz.borrower.kind == "business"
        assert biz.borrower.id_type == "uscc"
        assert biz.purpose == "commercial"
        reversal = s.scalars(select(Payment).where(Payment.txn_ref == "P0003")).one()
        assert reversal.reverses_id is not None
        run = s.scalars(select(ImportRun)).one()
        assert run.status == "committed"
        assert len(run.files) == 4


def test_reimport_same_files_changes_nothing(engine: Engine, good_files: list[Path]) -> None:
    assert import_files(engine, good_files).ok
    again = import_files(engine, good_files)
    assert again.ok, again.errors
    assert again.counts["loans.unchanged"] == 2
    assert again.counts["payments.unchanged"] == 3
    assert "loans.created" not in again.counts
    assert count(engine, Loan) == 2
    assert count(engine, Payment) == 3
    assert count(engine, Borrower) == 2
    assert count(engine, Guarantor) == 1


def test_changed_contract_is_rejected_unless_update(
    engine: Engine, good_files: list[Path], tmp_path: Path
) -> None:
    assert import_files(engine, good_files).ok
    changed = write_csv(tmp_path / "loans2.csv", LOANS, [loan_row(mobile="13800000000")])
    report = import_files(engine, [changed])
    assert not report.ok
    assert "--update" in report.errors[0].reason
    assert report.errors[0].row == 2
    updated = import_files(engine, [changed], update_existing=True)
    assert updated.ok, updated.errors
    assert updated.counts["loans.updated"] == 1
    assert count(engine, Loan) == 2
    assert count(engine, Guarantor) == 1  # replaced, not duplicated
    with transaction(engine) as s:
        person_hash = search_hash(current_ring(), "borrowers", "id_number", PERSON)
        b = s.scalars(select(Borrower).where(Borrower.id_number_hash == person_hash)).one()
        assert reveal(current_ring(), b, "mobile") == "13800000000"
        assert (
            s.scalar(select(func.count()).select_from(Contact)) == 4 + 3
        )  # self, spouse, emergency, employer; biz: no spouse


BAD_ROWS = [
    ({"id_number": PERSON[:-1] + ("0" if PERSON[-1] != "0" else "1")}, "证件号码", "校验"),
    ({"mobile": "12812345678"}, "手机号码", ""),
    ({"vin": "LGXCE4CB0N000000I"}, "车架号", ""),
    ({"vin": vin("LGXCE4CB0N0000001")[:8] + "9" + vin("LGXCE4CB0N0000001")[9:]}, "车架号", ""),
    ({"plate": "粤B1234I"}, "车牌号", ""),
    ({"principal": "250000"}, "贷款金额", "贷款价值比"),
    ({"term_months": "72"}, "贷款期限(月)", "上限"),
    ({"disbursement_date": "2023-02-30"}, "放款日期", "日期"),
    ({"branch_code": "XX99"}, "机构代码", "不存在"),
    ({"annual_rate": "abc"}, "年利率(%)", "百分比"),
    ({"monthly_income": "12.345"}, "月收入", "两位小数"),
    ({"borrower_type": "企业"}, "证件号码", "统一社会信用代码"),
    ({"plate": "粤B12345", "fuel_type": "汽油", "plate_nev": ""}, None, None),  # valid control
    ({"fuel_type": "汽油"}, "车牌号", "新能源"),
    ({"contract_no": ""}, "合同编号", "必填"),
    ({"id_number": resident_id("44030520150615123")}, "证件号码", "未满18岁"),
]


@pytest.mark.parametrize(("override", "column", "reason"), BAD_ROWS)
def test_each_kind_of_bad_row_is_reported_and_nothing_written(
    engine: Engine,
    good_files: list[Path],
    tmp_path: Path,
    override: dict[str, str],
    column: str | None,
    reason: str | None,
) -> None:
    override = {k: v for k, v in override.items() if k != "plate_nev"}
    loans = write_csv(tmp_path / "loans.csv", LOANS, [loan_row(**override)])
    report = import_files(engine, [*good_files[1:3], loans, good_files[0]])
    if column is None:
        assert report.ok, report.errors
        return
    assert not report.ok
    assert not report.committed
    assert any(e.column == column and reason in e.reason for e in report.errors), report.errors
    bad = [e for e in report.errors if e.file == "loans.csv"]
    assert all(e.row == 2 for e in bad)
    # all or nothing: the good branch and product files were not written either
    assert count(engine, Loan) == 0
    assert count(engine, Payment) == 0
    assert count(engine, Borrower) == 0
    with transaction(engine) as s:
        assert s.scalars(select(ImportRun.status)).all() == ["rejected"]
    report_file = tmp_path / "loans.csv.errors.csv"
    assert report_file.exists()
    text = report_file.read_text(encoding="utf-8-sig")
    assert "原因" in text and column in text


def test_every_bad_row_is_reported(engine: Engine, good_files: list[Path], tmp_path: Path) -> None:
    rows = [
        loan_row(),
        loan_row(contract_no="HF-2", mobile="123", vin=vin("LGXCE4CB0N0000003")),
        loan_row(contract_no="HF-3", principal="x", vin=vin("LGXCE4CB0N0000004")),
        loan_row(),  # duplicate contract
        loan_row(contract_no="HF-5", vin=vin("LGXCE4CB0N0000001")),  # VIN pledged twice
    ]
    loans = write_csv(tmp_path / "loans.csv", LOANS, rows)
    payments = write_csv(
        tmp_path / "payments.csv",
        PAYMENTS,
        [
            *payment_rows(),
            {"txn_ref": "P9", "contract_no": "HF-2", "paid_on": "2023-08-15", "amount": "10"},
            {"txn_ref": "P10", "contract_no": "NOPE", "paid_on": "2023-08-15", "amount": "10"},
            {
                "txn_ref": "P0001",
                "contract_no": "HF-SZ01-0001",
                "paid_on": "2023-08-15",
                "amount": "1",
            },
        ],
    )
    report = import_files(engine, [*good_files[1:3], loans, payments])
    assert not report.ok
    by_row = {(e.file, e.row) for e in report.errors}
    assert ("loans.csv", 3) in by_row
    assert ("loans.csv", 4) in by_row
    assert ("loans.csv", 5) in by_row
    assert ("loans.csv", 6) in by_row
    assert ("payments.csv", 5) in by_row
    assert ("payments.csv", 6) in by_row
    assert ("payments.csv", 7) in by_row
    reasons = {e.row: e.reason for e in report.errors if e.file == "payments.csv"}
    assert "贷款行有错误" in reasons[5]
    assert reasons[6] == "合同编号不存在"
    assert count(engine, Loan) == 0


def test_bad_reversals_are_refused(engine: Engine, good_files: list[Path], tmp_path: Path) -> None:
    assert import_files(engine, good_files).ok
    payments = write_csv(
        tmp_path / "more.csv",
        PAYMENTS,
        [
            {
                "txn_ref": "R1",
                "contract_no": "HF-SZ01-0001",
                "paid_on": "2023-09-20",
                "amount": "5985.37",
                "payment_type": "冲正",
                "reverses_txn_ref": "P0002",
            },
            {
                "txn_ref": "R2",
                "contract_no": "HF-SZ01-0001",
                "paid_on": "2023-09-20",
                "amount": "1.00",
                "payment_type": "冲正",
                "reverses_txn_ref": "P0001",
            },
            {
                "txn_ref": "R3",
                "contract_no": "HF-SZ01-0001",
                "paid_on": "2023-09-20",
                "amount": "5985.37",
                "payment_type": "冲正",
            },
        ],
    )
    report = import_files(engine, [payments])
    reasons = sorted(e.reason for e in report.errors)
    assert len(reasons) == 3
    assert any("已被冲正" in r for r in reasons)
    assert any("冲正金额" in r for r in reasons)
    assert any("必须填写被冲正流水号" in r for r in reasons)


def test_english_headers_and_xlsx(engine: Engine, tmp_path: Path) -> None:
    write_csv(tmp_path / "branches.csv", BRANCHES, branch_rows(), lang="en")
    write_csv(tmp_path / "products.csv", PRODUCTS, product_rows(), lang="en")
    book = Workbook()
    sheet = book.active
    sheet.append([c.zh for c in LOANS.columns])
    row = loan_row()
    values: list[object] = [row.get(c.name, "") for c in LOANS.columns]
    # Excel hands numbers and dates back typed; the importer must read them as a clerk typed.
    values[[c.name for c in LOANS.columns].index("principal")] = 200000
    values[[c.name for c in LOANS.columns].index("term_months")] = 36.0
    sheet.append(values)
    book.save(tmp_path / "loans.xlsx")
    report = import_files(
        engine, [tmp_path / "branches.csv", tmp_path / "products.csv", tmp_path / "loans.xlsx"]
    )
    assert report.ok, report.errors
    assert count(engine, Vehicle) == 1


def test_unknown_file_and_missing_columns(engine: Engine, tmp_path: Path) -> None:
    odd = tmp_path / "odd.csv"
    odd.write_text("foo,bar\n1,2\n", encoding="utf-8")
    partial = tmp_path / "loans.csv"
    partial.write_text("合同编号,机构代码\nHF1,SZ01\n", encoding="utf-8")
    report = import_files(engine, [odd, partial])
    assert not report.ok
    assert "无法识别文件类型" in report.errors[0].reason
    assert "缺少必填列" in report.errors[1].reason
    assert count(engine, Loan) == 0


def test_gbk_encoded_csv(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "branches.csv"
    path.write_bytes("机构代码,机构名称\nGZ01,广州天河支行\n".encode("gb18030"))
    report = import_files(engine, [path])
    assert report.ok, report.errors
    assert report.counts["branches.created"] == 1


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_utf8_sniff_tolerates_a_character_cut_by_the_sample_end(
    engine: Engine, tmp_path: Path, bom: bytes
) -> None:
    """The encoding sniff reads 64 KiB; a character split there must not look like GB18030."""
    for pad in range(64):  # some padding puts the boundary inside a 3-byte character
        rows = [f"B{n:04d},广州天河第{n}支行\n".encode() for n in range(4000)]
        data = bom + "机构代码,机构名称\n".encode() + f"PAD0,{'x' * (pad + 1)}\n".encode()
        data += b"".join(rows)
        try:
            data[: 1 << 16].decode("utf-8-sig")
        except UnicodeDecodeError:
            break
    else:
        pytest.fail("no padding split a character at 64 KiB")
    path = tmp_path / "branches.csv"
    path.write_bytes(data)
    report = import_files(engine, [path])
    assert report.ok, report.errors[:3]
    assert report.counts["branches.created"] == 4001


def test_all_digit_credit_code_is_a_business_id(engine: Engine, good_files: list[Path]) -> None:
    """An all-digit USCC has a resident ID's shape; the check character decides."""
    digits = next(
        code for n in range(100) if (code := uscc("91440101", f"934567{n:02d}")).isdigit()
    )
    loans = good_files[3]
    text = loans.read_text(encoding="utf-8-sig").replace(COMPANY, digits)
    loans.write_text(text, encoding="utf-8-sig")
    report = import_files(engine, good_files)
    assert report.ok, report.errors
    with transaction(engine) as s:
        biz = s.scalars(select(Loan).where(Loan.contract_no == "HF-BJ01-0001")).one()
        assert reveal(current_ring(), biz.borrower, "id_number") == digits
        assert biz.borrower.id_type == "uscc"


def test_personal_data_is_stored_encrypted_and_found_by_its_hash(
    engine: Engine, good_files: list[Path]
) -> None:
    """The raw rows (plain SQL, both backends) hold no ID number, phone or address; exact
    search by mobile or ID number still finds the loan through the blind index."""
    assert import_files(engine, good_files).ok
    secrets_ = [PERSON, PERSON2, COMPANY, "0755-86001234", "科技园"]
    secrets_ += ["13812345678", "13912345678", "13712345678", "13612345678"]
    with engine.connect() as conn:
        dump = "\n".join(
            str(value)
            for tablename in ("borrowers", "contacts", "guarantors")
            for row in conn.execute(text(f"SELECT * FROM {tablename}"))
            for value in row
        )
        tokens = conn.execute(text("SELECT mobile_enc, id_number_enc FROM borrowers")).all()
    assert dump
    for secret in secrets_:
        assert secret not in dump, secret
    assert all(t.startswith("hf1:ktest0001:") for row in tokens for t in row)
    rows, total = search_loans(engine, None, q="13812345678")  # both borrowers give it
    assert total == 2 and {r.contract_no for r in rows} == {"HF-SZ01-0001", "HF-BJ01-0001"}
    rows, total = search_loans(engine, None, q=PERSON)
    assert total == 1 and rows[0].contract_no == "HF-SZ01-0001"
    assert (rows[0].mobile, rows[0].id_number) == ("13812345678", PERSON)
    assert search_loans(engine, None, q=f" {PERSON.lower()} ")[1] == 1  # normalized
    rows, total = search_loans(engine, None, q=COMPANY)
    assert total == 1 and rows[0].contract_no == "HF-BJ01-0001"
    assert search_loans(engine, None, q="1381234567")[1] == 0  # exact match only
    view = borrower_360(engine, rows[0].borrower_id, date(2024, 1, 1))
    assert view.id_number == COMPANY and view.address == "广东省深圳市南山区科技园"
    person = borrower_360(
        engine, search_loans(engine, None, q=PERSON)[0][0].borrower_id, date(2024, 1, 1)
    )
    assert {c["relation"]: c["phone"] for c in person.contacts}["spouse"] == "13912345678"
    assert person.loans[0].guarantors[0]["mobile"] == "13612345678"
