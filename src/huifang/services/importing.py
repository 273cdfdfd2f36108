"""Import the loan book from files exported by a core banking system.

One run is one database transaction: every row of every file is validated, valid rows are
written as they stream past, and if any row of any file is bad the whole run is rolled back,
so a run either lands completely or leaves the book exactly as it was. Every bad row is
reported (file, row, column, value, reason) — not only the first.

Re-importing is idempotent: an unchanged loan row or payment is skipped; a changed loan row is
rejected with a clear reason unless the run is told to update (`--update`); a changed payment
is always rejected (booked payments are corrected by reversals, never edited).
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.orm import Session

from huifang.domain import identifiers as ids
from huifang.domain import lending_rules
from huifang.files.layout import BRANCHES, LOANS, PAYMENTS, PRODUCTS, FileLayout
from huifang.files.reader import FileProblem, TableFile, open_table
from huifang.files.values import is_uscc, parse_cell, resident_id_or_none
from huifang.security import pii
from huifang.security.crypto import KeyRing
from huifang.settings import business_today
from huifang.store.db import transaction
from huifang.store.models import (
    Borrower,
    Branch,
    Contact,
    Guarantor,
    ImportRun,
    Loan,
    Payment,
    Product,
    Vehicle,
)

CHUNK = 2000
MAX_RATE = Decimal("0.36")  # above the judicial protection ceiling no auto loan is valid
REPORT_HEADER = ("文件", "行号", "列", "值", "原因")


@dataclass(frozen=True)
class RowError:
    file: str
    row: int
    column: str
    value: str
    reason: str


@dataclass
class ImportReport:
    """What a run did: per-kind counts, every error, and whether it was committed."""

    counts: Counter[str] = field(default_factory=Counter)
    errors: list[RowError] = field(default_factory=list)
    committed: bool = False
    run_id: int | None = None
    error_reports: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class RejectedRun(Exception):
    """Raised inside the transaction to roll a run with bad rows back."""


Progress = Callable[[str, int], None]  # (file name, rows done so far)


@dataclass
class _Row:
    number: int
    text: dict[str, str]
    values: dict[str, Any]


class _Run:
    def __init__(
        self, session: Session, update_existing: bool, report: ImportReport, ring: KeyRing
    ) -> None:
        self.session = session
        self.ring = ring
        self.update_existing = update_existing
        self.report = report
        self.today = business_today()
        self.rejected_contracts: set[str] = set()
        self.run_id: int | None = None
        self.branches: dict[str, int] = {}
        self.products: dict[str, Product] = {}

    # -- errors ---------------------------------------------------------------------------
    def error(self, table: TableFile, row: _Row, column: str, reason: str) -> None:
        col = next((c for c in table.layout.columns if c.name == column), None)
        label = col.zh if col else column
        self.report.errors.append(
            RowError(table.path.name, row.number, label, row.text.get(column, ""), reason)
        )

    # -- parsing ---------------------------------------------------------------------------
    def parse(self, table: TableFile, number: int, text: dict[str, str]) -> _Row | None:
        row = _Row(number, text, {})
        ok = True
        for col in table.layout.columns:
            try:
                row.values[col.name] = parse_cell(col, text.get(col.name, ""))
            except ValueError as err:
                self.error(table, row, col.name, str(err))
                ok = False
        return row if ok else None

    # -- branches and products: small reference tables, row by row ------------------------
    def load_reference(self) -> None:
        self.branches = dict(self.session.execute(select(Branch.code, Branch.id)).all())
        self.products = {p.code: p for p in self.session.scalars(select(Product))}

    def import_branches(self, table: TableFile, rows: Sequence[_Row]) -> None:
        for row in rows:
            v = row.values
            parent_id = None
            if v["parent_code"]:
                parent_id = self.branches.get(v["parent_code"])
                if parent_id is None:
                    self.error(table, row, "parent_code", "上级机构不存在")
                    continue
            fields = {
                "name": v["branch_name"],
                "province": v["province"],
                "city": v["city"],
                "timezone": v["timezone"] or "Asia/Shanghai",
                "parent_id": parent_id,
            }
            if v["timezone"] and not _known_timezone(v["timezone"]):
                self.error(table, row, "timezone", "未知时区 (应为 IANA 名称, 如 Asia/Shanghai)")
                continue
            existing = self.session.scalars(
                select(Branch).where(Branch.code == v["branch_code"])
            ).one_or_none()
            if existing is None:
                branch = Branch(code=v["branch_code"], **fields)
                self.session.add(branch)
                self.session.flush()
                self.branches[branch.code] = branch.id
                self.report.counts["branches.created"] += 1
            elif any(getattr(existing, k) != val for k, val in fields.items()):
                for k, val in fields.items():
                    setattr(existing, k, val)
                self.report.counts["branches.updated"] += 1
            else:
                self.report.counts["branches.unchanged"] += 1

    def import_products(self, table: TableFile, rows: Sequence[_Row]) -> None:
        for row in rows:
            v = row.values
            if v["min_term_months"] < 1 or v["max_term_months"] < v["min_term_months"]:
                self.error(table, row, "max_term_months", "期限范围无效")
                continue
            if v["annual_rate"] > MAX_RATE:
                self.error(table, row, "annual_rate", "年利率超过36%")
                continue
            if v["repayment_method"] == "balloon" and not v["balloon_pct"]:
                self.error(table, row, "balloon_pct", "尾款产品必须填写尾款比例")
                continue
            tiers = v["prepayment_fee_tiers"]
            if tiers:
                try:
                    parse_fee_tiers(tiers)
                except ValueError as err:
                    self.error(table, row, "prepayment_fee_tiers", str(err))
                    continue
            fields = {
                "name": v["product_name"],
                "repayment_method": v["repayment_method"],
                "annual_rate": v["annual_rate"],
                "min_term_months": v["min_term_months"],
                "max_term_months": v["max_term_months"],
                "penalty_rate_multiplier": v["penalty_rate_multiplier"] or Decimal("1.5"),
                "balloon_pct": v["balloon_pct"],
                "lock_in_months": v["lock_in_months"] or 0,
                "prepayment_fee_basis": v["prepayment_fee_basis"],
                "prepayment_fee_tiers": tiers,
                "max_prepayments_per_year": v["max_prepayments_per_year"],
                "min_prepayment_amount": v["min_prepayment_amount"],
                "max_ltv": v["max_ltv_pct"],
            }
            existing = self.products.get(v["product_code"])
            if existing is None:
                product = Product(code=v["product_code"], **fields)
                self.session.add(product)
                self.session.flush()
                self.products[product.code] = product
                self.report.counts["products.created"] += 1
            elif any(_differs(getattr(existing, k), val) for k, val in fields.items()):
                for k, val in fields.items():
                    setattr(existing, k, val)
                self.report.counts["products.updated"] += 1
            else:
                self.report.counts["products.unchanged"] += 1

    # -- loans: the big table, chunk by chunk with bulk statements -------------------------
    def import_loans(self, table: TableFile, rows: Sequence[_Row]) -> None:
        s = self.session
        good: list[_Row] = []
        seen: set[str] = set()
        for row in rows:
            if row.values["contract_no"] in seen:
                self.error(table, row, "contract_no", "合同编号在本次导入中重复")
                continue
            seen.add(row.values["contract_no"])
            if self.check_loan(table, row):
                good.append(row)
            else:
                self.rejected_contracts.add(row.values["contract_no"])
        if not good:
            return
        contracts = [r.values["contract_no"] for r in good]
        existing = {
            r.contract_no: r
            for r in s.execute(
                select(Loan.contract_no, Loan.id, Loan.source_hash, Loan.vehicle_id).where(
                    Loan.contract_no.in_(contracts)
                )
            )
        }
        to_write: list[tuple[_Row, Any]] = []
        for row in good:
            old = existing.get(row.values["contract_no"])
            row.values["source_hash"] = _row_hash(row.text, LOANS)
            if old is None:
                to_write.append((row, None))
            elif old.source_hash == row.values["source_hash"]:
                self.report.counts["loans.unchanged"] += 1
            elif not self.update_existing:
                self.error(
                    table,
                    row,
                    "contract_no",
                    "合同编号已存在且内容不同; 如需更新请使用 --update (contract exists with "
                    "different content; use --update)",
                )
            else:
                to_write.append((row, old))
        if not to_write:
            return
        borrower_ids = self.upsert_borrowers(table, [r for r, _ in to_write])
        vehicle_ids = self.upsert_vehicles(table, to_write)
        writable = [
            (r, old)
            for r, old in to_write
            if r.values["id_number"] in borrower_ids and r.values["vin"] in vehicle_ids
        ]
        new_rows = [r for r, old in writable if old is None]
        if new_rows:
            ids_ = (
                s.execute(
                    insert(Loan).returning(Loan.id, sort_by_parameter_order=True),
                    [self.loan_fields(r, borrower_ids, vehicle_ids) for r in new_rows],
                )
                .scalars()
                .all()
            )
            for r, loan_id in zip(new_rows, ids_, strict=True):
                r.values["loan_id"] = loan_id
            self.report.counts["loans.created"] += len(new_rows)
        changed = [(r, old) for r, old in writable if old is not None]
        if changed:
            s.execute(
                update(Loan),
                [
                    {"id": old.id, **self.loan_fields(r, borrower_ids, vehicle_ids)}
                    for r, old in changed
                ],
            )
            for r, old in changed:
                r.values["loan_id"] = old.id
            s.execute(delete(Guarantor).where(Guarantor.loan_id.in_([o.id for _, o in changed])))
            self.report.counts["loans.updated"] += len(changed)
        guarantors = [self.guarantor_fields(r) for r, _ in writable if r.values["guarantor_name"]]
        if guarantors:
            s.execute(insert(Guarantor), guarantors)
            self.report.counts["guarantors"] += len(guarantors)

    def check_loan(self, table: TableFile, row: _Row) -> bool:
        """Cross-field rules of one loan row; report each broken rule."""
        v = row.values
        before = len(self.report.errors)
        err = lambda col, why: self.error(table, row, col, why)  # noqa: E731
        if v["branch_code"] not in self.branches:
            err("branch_code", "机构代码不存在 (先导入机构文件)")
        product = self.products.get(v["product_code"])
        if product is None:
            err("product_code", "产品代码不存在 (先导入产品文件)")
        method = v["repayment_method"] or (product.repayment_method if product else None)
        v["repayment_method"] = method
        if v["balloon_pct"] is None and product is not None:
            v["balloon_pct"] = product.balloon_pct
        individual = v["borrower_type"] == "individual"
        resident = resident_id_or_none(v["id_number"])
        if individual and resident is None:
            err("id_number", "个人借款人的证件号码应为18位身份证号")
        if not individual and not is_uscc(v["id_number"]):
            err("id_number", "企业借款人的证件号码应为统一社会信用代码")
        if not individual and not v["legal_rep_name"]:
            err("legal_rep_name", "企业借款人必须填写法定代表人")
        if individual and resident is not None:
            age = ids.age_on(resident.birth_date, v["disbursement_date"])
            if age < 18:
                err("id_number", f"放款时借款人未满18岁 ({age}岁)")
        if v["disbursement_date"] > self.today:
            err("disbursement_date", "放款日期晚于今天")
        if v["principal"] <= 0:
            err("principal", "贷款金额必须大于0")
        if v["down_payment"] < 0:
            err("down_payment", "首付金额不能为负")
        if v["vehicle_price"] <= 0:
            err("vehicle_price", "车辆价格必须大于0")
        elif v["principal"] > 0:
            purpose = v["loan_purpose"] or "self-use"
            limit = lending_rules.max_ltv(
                purpose,
                v["vehicle_condition"],
                v["fuel_type"],
                product.max_ltv if product else None,
            )
            if v["principal"] > v["vehicle_price"] * limit:
                ratio = v["principal"] / v["vehicle_price"] * 100
                err("principal", f"贷款价值比 {ratio:.1f}% 超过上限 {limit * 100:.0f}%")
        if v["annual_rate"] > MAX_RATE:
            err("annual_rate", "年利率超过36%")
        term = v["term_months"]
        if term < 1:
            err("term_months", "期限至少1个月")
        elif term > lending_rules.max_term_months(v["vehicle_condition"]):
            limit_term = lending_rules.max_term_months(v["vehicle_condition"])
            err("term_months", f"期限超过上限 {limit_term} 个月 (新车5年, 二手车3年)")
        elif product is not None and not product.min_term_months <= term <= product.max_term_months:
            err(
                "term_months",
                f"期限不在产品范围 {product.min_term_months}-{product.max_term_months} 个月内",
            )
        if method == "balloon" and not (v["balloon_pct"] and 0 < v["balloon_pct"] < 1):
            err("balloon_pct", "尾款贷款的尾款比例应在 0-100% 之间")
        day = v["repayment_day"]
        if day is not None and not 1 <= day <= 31:
            err("repayment_day", "还款日应在 1-31 之间")
        plate = v["plate"]
        if plate and ids.parse_plate(plate).is_nev and not lending_rules.is_nev(v["fuel_type"]):
            err("plate", "新能源号牌 (8位) 与燃料类型不符")
        status = v["status"] or "active"
        v["status"] = status
        if status == "closed" and v["closed_date"] is None:
            err("closed_date", "已结清贷款必须填写结清日期")
        if v["closed_date"] and v["closed_date"] < v["disbursement_date"]:
            err("closed_date", "结清日期早于放款日期")
        if v["model_year"] and not 1990 <= v["model_year"] <= self.today.year + 1:
            err("model_year", "年款不合理")
        if v["mileage_km"] is not None and v["mileage_km"] < 0:
            err("mileage_km", "里程不能为负")
        if v["credit_score"] is not None and not 0 <= v["credit_score"] <= 1000:
            err("credit_score", "评分应在 0-1000 之间")
        return len(self.report.errors) == before

    def upsert_borrowers(self, table: TableFile, rows: list[_Row]) -> dict[str, int]:
        """Insert new borrowers, refresh known ones (the newest row wins); id_number -> id."""
        s = self.session
        latest: dict[str, _Row] = {}
        for row in rows:
            latest[row.values["id_number"]] = row
        # Borrowers are matched by the blind index of the ID number (the number itself is
        # stored only encrypted).
        hashes = {n: pii.search_hash(self.ring, "borrowers", "id_number", n) for n in latest}
        by_hash = {
            b.id_number_hash: b
            for b in s.execute(
                select(Borrower.id_number_hash, Borrower.id, Borrower.name).where(
                    Borrower.id_number_hash.in_(list(hashes.values()))
                )
            )
        }
        found = {n: by_hash[h] for n, h in hashes.items() if h in by_hash}
        result: dict[str, int] = {}
        new, changed = [], []
        for number, row in latest.items():
            old = found.get(number)
            fields = self.borrower_fields(row)
            if old is None:
                new.append((number, fields))
            elif old.name != fields["name"]:
                self.error(
                    table,
                    row,
                    "borrower_name",
                    f"证件号码已登记在借款人「{old.name}」名下, 姓名不一致",
                )
                for r in rows:
                    if r.values["id_number"] == number:
                        self.rejected_contracts.add(r.values["contract_no"])
            else:
                changed.append({"id": old.id, **fields})
                result[number] = old.id
        if new:
            new_ids = (
                s.execute(
                    insert(Borrower).returning(Borrower.id, sort_by_parameter_order=True),
                    [f for _, f in new],
                )
                .scalars()
                .all()
            )
            result.update({number: i for (number, _), i in zip(new, new_ids, strict=True)})
            self.report.counts["borrowers.created"] += len(new)
        if changed:
            s.execute(update(Borrower), changed)
            self.report.counts["borrowers.updated"] += len(changed)
        if result:
            touched = [result[n] for n in latest if n in result]
            s.execute(delete(Contact).where(Contact.borrower_id.in_(touched)))
            contacts = [
                c
                for n, row in latest.items()
                if n in result
                for c in self.contact_fields(result[n], row)
            ]
            if contacts:
                s.execute(insert(Contact), contacts)
        return result

    def upsert_vehicles(self, table: TableFile, rows: list[tuple[_Row, Any]]) -> dict[str, int]:
        """Insert or refresh the vehicles; refuse a VIN already pledged to another loan."""
        s = self.session
        vins = [r.values["vin"] for r, _ in rows]
        found = {
            v.vin: v
            for v in s.execute(select(Vehicle.vin, Vehicle.id).where(Vehicle.vin.in_(vins)))
        }
        pledged: dict[int, str] = {}
        if found:
            pledged = dict(
                s.execute(
                    select(Loan.vehicle_id, Loan.contract_no).where(
                        Loan.vehicle_id.in_([v.id for v in found.values()]),
                        Loan.status == "active",
                    )
                ).all()
            )
        result: dict[str, int] = {}
        new, changed = [], []
        seen: dict[str, int] = {}
        for row, _old in rows:
            vin = row.values["vin"]
            if vin in seen:
                self.error(table, row, "vin", f"车架号与第 {seen[vin]} 行重复")
                continue
            seen[vin] = row.number
            fields = self.vehicle_fields(row)
            known = found.get(vin)
            if known is None:
                new.append((vin, fields))
                continue
            holder = pledged.get(known.id)
            if holder is not None and holder != row.values["contract_no"]:
                self.error(table, row, "vin", f"车架号已抵押于在贷合同 {holder}")
                self.rejected_contracts.add(row.values["contract_no"])
                continue
            changed.append({"id": known.id, **fields})
            result[vin] = known.id
        if new:
            new_ids = (
                s.execute(
                    insert(Vehicle).returning(Vehicle.id, sort_by_parameter_order=True),
                    [f for _, f in new],
                )
                .scalars()
                .all()
            )
            result.update({vin: i for (vin, _), i in zip(new, new_ids, strict=True)})
            self.report.counts["vehicles.created"] += len(new)
        if changed:
            s.execute(update(Vehicle), changed)
        return result

    def borrower_fields(self, row: _Row) -> dict[str, Any]:
        v = row.values
        individual = v["borrower_type"] == "individual"
        person = ids.parse_resident_id(v["id_number"]) if individual else None
        return {
            "kind": v["borrower_type"],
            "name": v["borrower_name"],
            "id_type": "resident-id" if individual else "uscc",
            "birth_date": person.birth_date if person else None,
            "gender": person.gender if person else None,
            "occupation": v["occupation"],
            "industry": v["industry"],
            "employer": v["employer"],
            "monthly_income": v["monthly_income"],
            "self_employed": bool(v["self_employed"]) or not individual,
            "legal_rep_name": v["legal_rep_name"],
            "branch_id": self.branches[v["branch_code"]],
            **pii.seal(
                self.ring,
                "borrowers",
                {
                    "id_number": v["id_number"],
                    "mobile": v["mobile"],
                    "address": v["address"],
                    "legal_rep_id_number": v["legal_rep_id_number"],
                },
            ),
        }

    def contact_fields(self, borrower_id: int, row: _Row) -> list[dict[str, Any]]:
        """The borrower's contacts, phones sealed."""
        return [
            {**c, **pii.seal(self.ring, "contacts", {"phone": c.pop("phone")})}
            for c in self._contacts(borrower_id, row)
        ]

    @staticmethod
    def _contacts(borrower_id: int, row: _Row) -> list[dict[str, Any]]:
        v = row.values
        out = [
            {
                "borrower_id": borrower_id,
                "relation": "self",
                "name": v["borrower_name"],
                "phone": v["mobile"],
                "note": None,
            }
        ]
        if v["spouse_mobile"]:
            out.append(
                {
                    "borrower_id": borrower_id,
                    "relation": "spouse",
                    "name": v["spouse_name"],
                    "phone": v["spouse_mobile"],
                    "note": None,
                }
            )
        if v["emergency_mobile"]:
            out.append(
                {
                    "borrower_id": borrower_id,
                    "relation": "emergency",
                    "name": v["emergency_name"],
                    "phone": v["emergency_mobile"],
                    "note": v["emergency_relation"],
                }
            )
        if v["employer_phone"]:
            out.append(
                {
                    "borrower_id": borrower_id,
                    "relation": "employer",
                    "name": v["employer"],
                    "phone": v["employer_phone"],
                    "note": None,
                }
            )
        return out

    @staticmethod
    def vehicle_fields(row: _Row) -> dict[str, Any]:
        v = row.values
        return {
            "vin": v["vin"],
            "plate": v["plate"],
            "brand": v["brand"],
            "model": v["model"],
            "model_year": v["model_year"],
            "segment": v["vehicle_segment"],
            "condition": v["vehicle_condition"],
            "fuel_type": v["fuel_type"],
            "price": v["vehicle_price"],
            "first_registration_date": v["first_registration_date"],
            "mileage_km": v["mileage_km"],
        }

    def loan_fields(
        self, row: _Row, borrower_ids: dict[str, int], vehicle_ids: dict[str, int]
    ) -> dict[str, Any]:
        v = row.values
        return {
            "contract_no": v["contract_no"],
            "borrower_id": borrower_ids[v["id_number"]],
            "product_id": self.products[v["product_code"]].id,
            "branch_id": self.branches[v["branch_code"]],
            "vehicle_id": vehicle_ids[v["vin"]],
            "principal": v["principal"],
            "annual_rate": v["annual_rate"],
            "term_months": v["term_months"],
            "repayment_method": v["repayment_method"],
            "balloon_pct": v["balloon_pct"] if v["repayment_method"] == "balloon" else None,
            "disbursement_date": v["disbursement_date"],
            "repayment_day": v["repayment_day"] or v["disbursement_date"].day,
            "down_payment": v["down_payment"],
            "vehicle_price": v["vehicle_price"],
            "purpose": v["loan_purpose"] or "self-use",
            "status": v["status"],
            "closed_date": v["closed_date"],
            "credit_score": v["credit_score"],
            "import_run_id": self.run_id,
            "source_hash": v["source_hash"],
        }

    def guarantor_fields(self, row: _Row) -> dict[str, Any]:
        v = row.values
        number = v["guarantor_id_number"]
        business = bool(number) and not number[:17].isdigit()
        return {
            "loan_id": v["loan_id"],
            "kind": "business" if business else "individual",
            "name": v["guarantor_name"],
            "relation": v["guarantor_relation"],
            **pii.seal(
                self.ring, "guarantors", {"id_number": number, "mobile": v["guarantor_mobile"]}
            ),
        }

    # -- payments ---------------------------------------------------------------------------
    def import_payments(self, table: TableFile, rows: Sequence[_Row]) -> None:
        s = self.session
        contracts = {r.values["contract_no"] for r in rows}
        loans = {
            r.contract_no: r
            for r in s.execute(
                select(Loan.contract_no, Loan.id, Loan.disbursement_date).where(
                    Loan.contract_no.in_(contracts)
                )
            )
        }
        refs = [r.values["txn_ref"] for r in rows]
        existing = {
            p.txn_ref: p
            for p in s.execute(
                select(
                    Payment.txn_ref,
                    Payment.loan_id,
                    Payment.paid_on,
                    Payment.amount,
                    Payment.payment_type,
                ).where(Payment.txn_ref.in_(refs))
            )
        }
        plain: list[tuple[_Row, dict[str, Any]]] = []
        reversals: list[tuple[_Row, dict[str, Any]]] = []
        seen: set[str] = set()
        for row in rows:
            v = row.values
            ref = v["txn_ref"]
            if ref in seen:
                self.error(table, row, "txn_ref", "交易流水号在本次导入中重复")
                continue
            seen.add(ref)
            loan = loans.get(v["contract_no"])
            if loan is None:
                why = (
                    "该合同的贷款行有错误, 未导入"
                    if v["contract_no"] in self.rejected_contracts
                    else "合同编号不存在"
                )
                self.error(table, row, "contract_no", why)
                continue
            kind = v["payment_type"] or "repayment"
            fields = {
                "loan_id": loan.id,
                "txn_ref": ref,
                "paid_on": v["paid_on"],
                "amount": v["amount"],
                "payment_type": kind,
                "channel": v["channel"],
                "import_run_id": self.run_id,
            }
            old = existing.get(ref)
            if old is not None:
                same = (old.loan_id, old.paid_on, old.amount, old.payment_type) == (
                    loan.id,
                    v["paid_on"],
                    v["amount"],
                    kind,
                )
                if same:
                    self.report.counts["payments.unchanged"] += 1
                else:
                    self.error(
                        table,
                        row,
                        "txn_ref",
                        "交易流水号已存在且内容不同; 已入账的交易只能冲正, 不能修改",
                    )
                continue
            if v["amount"] <= 0:
                self.error(table, row, "amount", "交易金额必须大于0 (冲正请用交易类型 冲正)")
                continue
            if v["paid_on"] < loan.disbursement_date:
                self.error(table, row, "paid_on", "交易日期早于放款日期")
                continue
            if v["paid_on"] > self.today:
                self.error(table, row, "paid_on", "交易日期晚于今天")
                continue
            if kind == "reversal":
                if not v["reverses_txn_ref"]:
                    self.error(table, row, "reverses_txn_ref", "冲正交易必须填写被冲正流水号")
                    continue
                reversals.append((row, fields))
            else:
                plain.append((row, fields))
        if plain:
            s.execute(insert(Payment), [f for _, f in plain])
            self.report.counts["payments.created"] += len(plain)
        if reversals:
            self.insert_reversals(table, reversals)

    def insert_reversals(
        self, table: TableFile, reversals: list[tuple[_Row, dict[str, Any]]]
    ) -> None:
        s = self.session
        targets = {r.values["reverses_txn_ref"] for r, _ in reversals}
        originals = {
            p.txn_ref: p
            for p in s.execute(
                select(
                    Payment.txn_ref,
                    Payment.id,
                    Payment.loan_id,
                    Payment.amount,
                    Payment.payment_type,
                    Payment.paid_on,
                ).where(Payment.txn_ref.in_(targets))
            )
        }
        already = set(
            s.scalars(
                select(Payment.reverses_id).where(
                    Payment.reverses_id.in_([o.id for o in originals.values()])
                )
            )
        )
        rows = []
        for row, fields in reversals:
            target = row.values["reverses_txn_ref"]
            original = originals.get(target)
            if original is None:
                self.error(table, row, "reverses_txn_ref", "被冲正的交易不存在")
            elif original.loan_id != fields["loan_id"]:
                self.error(table, row, "reverses_txn_ref", "被冲正的交易属于另一合同")
            elif original.payment_type == "reversal":
                self.error(table, row, "reverses_txn_ref", "不能冲正一笔冲正交易")
            elif original.amount != fields["amount"]:
                self.error(table, row, "amount", f"冲正金额应等于原交易金额 {original.amount}")
            elif original.paid_on > fields["paid_on"]:
                self.error(table, row, "paid_on", "冲正日期早于原交易日期")
            elif original.id in already:
                self.error(table, row, "reverses_txn_ref", "该交易已被冲正")
            else:
                already.add(original.id)
                rows.append({**fields, "reverses_id": original.id})
        if rows:
            s.execute(insert(Payment), rows)
            self.report.counts["payments.reversals"] += len(rows)


def import_files(
    engine: Engine,
    paths: Iterable[Path],
    *,
    update_existing: bool = False,
    actor: str | None = None,
    progress: Progress | None = None,
    write_reports: bool = True,
    ring: KeyRing | None = None,
) -> ImportReport:
    """Import `paths` in one transaction; nothing is written unless every row is valid.

    Personal data is written encrypted under `ring` (default: the process's key ring)."""
    report = ImportReport()
    tables: list[TableFile] = []
    for path in paths:
        try:
            tables.append(open_table(Path(path)))
        except FileProblem as err:
            report.errors.append(RowError(Path(path).name, 1, "", "", str(err)))
    order = {BRANCHES.name: 0, PRODUCTS.name: 1, LOANS.name: 2, PAYMENTS.name: 3}
    tables.sort(key=lambda t: order[t.layout.name])
    started = datetime.now(UTC)
    if not report.errors:
        try:
            with transaction(engine) as session:
                run = _Run(session, update_existing, report, ring or pii.current_ring())
                record = ImportRun(
                    started_at=started,
                    files=_describe(tables),
                    status="committed",
                    counts={},
                    actor=actor,
                )
                session.add(record)
                session.flush()
                run.run_id = record.id
                run.load_reference()
                for table in tables:
                    _import_table(run, table, progress)
                if report.errors:
                    raise RejectedRun
                record.counts = dict(report.counts)
                record.finished_at = datetime.now(UTC)
                report.run_id = record.id
            report.committed = True
        except RejectedRun:
            report.committed = False
    if report.errors:
        report.run_id = None
        with transaction(engine) as session:
            session.add(
                ImportRun(
                    started_at=started,
                    finished_at=datetime.now(UTC),
                    files=_describe(tables),
                    status="rejected",
                    counts={"errors": len(report.errors)},
                    actor=actor,
                )
            )
        if write_reports:
            report.error_reports = write_error_reports(report.errors, [Path(p) for p in paths])
    return report


def _import_table(run: _Run, table: TableFile, progress: Progress | None) -> None:
    handlers = {
        BRANCHES.name: run.import_branches,
        PRODUCTS.name: run.import_products,
        LOANS.name: run.import_loans,
        PAYMENTS.name: run.import_payments,
    }
    handler = handlers[table.layout.name]
    chunk: list[_Row] = []
    done = 0
    for number, text in table.rows():
        row = run.parse(table, number, text)
        done += 1
        if row is not None:
            chunk.append(row)
        elif table.layout is LOANS:
            run.rejected_contracts.add(text.get("contract_no", "").upper())
        if len(chunk) >= CHUNK:
            handler(table, chunk)
            chunk = []
            if progress:
                progress(table.path.name, done)
    if chunk:
        handler(table, chunk)
    if progress:
        progress(table.path.name, done)
    run.report.counts[f"{table.layout.name}.rows"] += done


def _describe(tables: list[TableFile]) -> list[dict[str, str]]:
    return [
        {"file": str(t.path), "kind": t.layout.name, "sha256": _file_sha256(t.path)} for t in tables
    ]


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _row_hash(text: dict[str, str], layout: FileLayout) -> str:
    joined = "\x1f".join(text.get(c.name, "").strip() for c in layout.columns)
    return hashlib.sha256(joined.encode()).hexdigest()


def _known_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _differs(old: object, new: object) -> bool:
    if isinstance(old, Decimal) and isinstance(new, Decimal):
        return old.compare(new) != 0
    return old != new


def parse_fee_tiers(text: str) -> list[tuple[int, Decimal]]:
    """'12:3,24:2,36:1' -> [(12, 0.03), (24, 0.02), (36, 0.01)]: up to month N, P percent."""
    tiers: list[tuple[int, Decimal]] = []
    for part in text.replace("，", ",").split(","):
        months_text, _, pct_text = part.strip().partition(":")
        try:
            months, pct = int(months_text), Decimal(pct_text) / 100
        except Exception:
            raise ValueError("费率阶梯格式应为 '12:3,24:2,36:1'") from None
        if tiers and months <= tiers[-1][0]:
            raise ValueError("费率阶梯的月数必须递增")
        if not 0 <= pct <= Decimal("0.1"):
            raise ValueError("提前还款费率应在 0-10% 之间")
        tiers.append((months, pct))
    return tiers


def write_error_reports(errors: list[RowError], paths: list[Path]) -> list[Path]:
    """Write each input's errors next to it as NAME.errors.csv (UTF-8 with BOM, for Excel)."""
    by_file: dict[str, list[RowError]] = {}
    for e in errors:
        by_file.setdefault(e.file, []).append(e)
    written = []
    for path in paths:
        rows = by_file.get(path.name)
        if not rows:
            continue
        target = path.with_name(path.name + ".errors.csv")
        with target.open("w", newline="", encoding="utf-8-sig") as fh:
            writer = csv.writer(fh)
            writer.writerow(REPORT_HEADER)
            for e in rows:
                writer.writerow((e.file, e.row, e.column, e.value, e.reason))
        written.append(target)
    return written
