"""The documented column layout of import files exported by a core banking system.

Four kinds of file, told apart by their headers: branches (机构), products (产品),
loans (贷款, one row per loan carrying borrower, contacts, guarantor and vehicle) and
payments (还款流水). Each column has a canonical English name, a Chinese header and an
English header; either header is accepted on import, Chinese is written on export.
docs/import-format.md is generated from this table's content and must agree with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(str, Enum):
    """What a value in a column is, which decides how it is parsed and checked."""

    TEXT = "text"
    CODE = "code"  # identifier-like text, stripped, upper-cased
    AMOUNT = "amount"  # CNY, at most two decimals
    PERCENT = "percent"  # '4.5' or '4.5%' meaning 4.5 % a year
    INTEGER = "integer"
    DATE = "date"  # YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD
    BOOL = "bool"  # 是/否, Y/N, 1/0, true/false
    CHOICE = "choice"
    RESIDENT_OR_USCC = "id-number"
    RESIDENT_ID = "resident-id"
    MOBILE = "mobile"
    PHONE = "phone"  # mobile or landline
    VIN = "vin"
    PLATE = "plate"


@dataclass(frozen=True)
class Column:
    name: str
    zh: str
    en: str
    kind: Kind
    required: bool = False
    choices: tuple[tuple[str, tuple[str, ...]], ...] = ()  # canonical value -> accepted spellings
    note: str = ""


def _choice(*pairs: tuple[str, tuple[str, ...]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple(pairs)


REPAYMENT_METHODS = _choice(
    ("equal-installment", ("等额本息", "equal installment", "annuity")),
    ("equal-principal", ("等额本金", "equal principal")),
    ("interest-first", ("先息后本", "interest first", "interest only")),
    ("balloon", ("尾款", "弹性尾款", "balloon")),
)
BORROWER_TYPES = _choice(
    ("individual", ("个人", "自然人", "individual", "person")),
    ("business", ("企业", "工商", "对公", "business", "company")),
)
VEHICLE_CONDITIONS = _choice(("new", ("新车", "new")), ("used", ("二手车", "used")))
FUEL_TYPES = _choice(
    ("petrol", ("汽油", "petrol", "gasoline")),
    ("diesel", ("柴油", "diesel")),
    ("hybrid", ("油电混合", "混动", "hybrid", "hev")),
    ("phev", ("插电混动", "插电式混合动力", "phev")),
    ("erev", ("增程式", "增程", "erev")),
    ("bev", ("纯电动", "纯电", "bev", "ev")),
    ("fcev", ("燃料电池", "氢燃料", "fcev")),
)
LOAN_PURPOSES = _choice(
    ("self-use", ("自用", "self use", "self-use", "private")),
    ("commercial", ("营运", "商用", "commercial")),
)
LOAN_STATUSES = _choice(
    ("active", ("正常", "在贷", "active", "open")),
    ("closed", ("结清", "已结清", "closed", "settled")),
    ("written-off", ("核销", "已核销", "written off", "written-off")),
)
PAYMENT_TYPES = _choice(
    ("repayment", ("还款", "正常还款", "repayment")),
    ("prepayment", ("提前还款", "prepayment")),
    ("reversal", ("冲正", "reversal")),
)
PREPAYMENT_FEE_BASES = _choice(
    ("prepaid-principal", ("提前还款本金", "prepaid principal")),
    ("loan-amount", ("贷款金额", "loan amount")),
    ("remaining-principal", ("剩余本金", "remaining principal")),
)
GENDERS = _choice(("M", ("男", "M", "male")), ("F", ("女", "F", "female")))

C = Column
K = Kind

BRANCH_COLUMNS: tuple[Column, ...] = (
    C("branch_code", "机构代码", "branch_code", K.CODE, True),
    C("branch_name", "机构名称", "branch_name", K.TEXT, True),
    C("province", "省份", "province", K.TEXT),
    C("city", "城市", "city", K.TEXT),
    C("timezone", "时区", "timezone", K.TEXT, note="IANA 时区, 默认 Asia/Shanghai"),
    C("parent_code", "上级机构代码", "parent_code", K.CODE),
)

PRODUCT_COLUMNS: tuple[Column, ...] = (
    C("product_code", "产品代码", "product_code", K.CODE, True),
    C("product_name", "产品名称", "product_name", K.TEXT, True),
    C("repayment_method", "还款方式", "repayment_method", K.CHOICE, True, REPAYMENT_METHODS),
    C("annual_rate", "年利率(%)", "annual_rate_pct", K.PERCENT, True),
    C("min_term_months", "最短期限(月)", "min_term_months", K.INTEGER, True),
    C("max_term_months", "最长期限(月)", "max_term_months", K.INTEGER, True),
    C(
        "penalty_rate_multiplier",
        "罚息倍数",
        "penalty_rate_multiplier",
        K.PERCENT,
        note="罚息利率 = 合同利率 × 倍数, 默认 1.5; 以百分比填写时 150 表示 1.5 倍",
    ),
    C("balloon_pct", "尾款比例(%)", "balloon_pct", K.PERCENT),
    C("lock_in_months", "提前还款锁定期(月)", "lock_in_months", K.INTEGER),
    C(
        "prepayment_fee_basis",
        "提前还款费基数",
        "prepayment_fee_basis",
        K.CHOICE,
        choices=PREPAYMENT_FEE_BASES,
    ),
    C(
        "prepayment_fee_tiers",
        "提前还款费率阶梯",
        "prepayment_fee_tiers",
        K.TEXT,
        note="'12:3,24:2,36:1' 表示放款后12个月内3%, 24个月内2%, 36个月内1%, 之后免费",
    ),
    C("max_prepayments_per_year", "每年提前还款次数上限", "max_prepayments_per_year", K.INTEGER),
    C("min_prepayment_amount", "提前还款最低金额", "min_prepayment_amount", K.AMOUNT),
    C("max_ltv_pct", "最高贷款价值比(%)", "max_ltv_pct", K.PERCENT),
)

LOAN_COLUMNS: tuple[Column, ...] = (
    C("contract_no", "合同编号", "contract_no", K.CODE, True),
    C("branch_code", "机构代码", "branch_code", K.CODE, True),
    C("product_code", "产品代码", "product_code", K.CODE, True),
    C("borrower_type", "借款人类型", "borrower_type", K.CHOICE, True, BORROWER_TYPES),
    C("borrower_name", "借款人名称", "borrower_name", K.TEXT, True),
    C(
        "id_number",
        "证件号码",
        "id_number",
        K.RESIDENT_OR_USCC,
        True,
        note="个人为18位身份证号, 企业为统一社会信用代码",
    ),
    C("mobile", "手机号码", "mobile", K.MOBILE, True),
    C("address", "联系地址", "address", K.TEXT),
    C("occupation", "职业", "occupation", K.TEXT),
    C("industry", "行业", "industry", K.TEXT),
    C("employer", "工作单位", "employer", K.TEXT),
    C("employer_phone", "单位电话", "employer_phone", K.PHONE),
    C("monthly_income", "月收入", "monthly_income", K.AMOUNT),
    C("self_employed", "是否个体经营", "self_employed", K.BOOL),
    C("legal_rep_name", "法定代表人", "legal_rep_name", K.TEXT, note="企业借款人必填"),
    C("legal_rep_id_number", "法定代表人身份证号", "legal_rep_id_number", K.RESIDENT_ID),
    C("spouse_name", "配偶姓名", "spouse_name", K.TEXT),
    C("spouse_mobile", "配偶手机", "spouse_mobile", K.MOBILE),
    C("emergency_name", "紧急联系人", "emergency_name", K.TEXT),
    C("emergency_relation", "紧急联系人关系", "emergency_relation", K.TEXT),
    C("emergency_mobile", "紧急联系人手机", "emergency_mobile", K.MOBILE),
    C("guarantor_name", "担保人姓名", "guarantor_name", K.TEXT),
    C("guarantor_id_number", "担保人证件号码", "guarantor_id_number", K.RESIDENT_OR_USCC),
    C("guarantor_mobile", "担保人手机", "guarantor_mobile", K.MOBILE),
    C("guarantor_relation", "担保人关系", "guarantor_relation", K.TEXT),
    C("vin", "车架号", "vin", K.VIN, True),
    C("plate", "车牌号", "plate", K.PLATE, note="未上牌可空"),
    C("brand", "品牌", "brand", K.TEXT, True),
    C("model", "车型", "model", K.TEXT, True),
    C("model_year", "年款", "model_year", K.INTEGER),
    C(
        "vehicle_segment",
        "车辆级别",
        "vehicle_segment",
        K.TEXT,
        note="如 A级轿车/紧凑型SUV/MPV/皮卡",
    ),
    C("vehicle_condition", "新车/二手车", "vehicle_condition", K.CHOICE, True, VEHICLE_CONDITIONS),
    C("fuel_type", "燃料类型", "fuel_type", K.CHOICE, True, FUEL_TYPES),
    C("vehicle_price", "车辆价格", "vehicle_price", K.AMOUNT, True),
    C("first_registration_date", "初次登记日期", "first_registration_date", K.DATE),
    C("mileage_km", "行驶里程(公里)", "mileage_km", K.INTEGER),
    C("loan_purpose", "车辆用途", "loan_purpose", K.CHOICE, choices=LOAN_PURPOSES),
    C("down_payment", "首付金额", "down_payment", K.AMOUNT, True),
    C("principal", "贷款金额", "principal", K.AMOUNT, True),
    C("annual_rate", "年利率(%)", "annual_rate_pct", K.PERCENT, True),
    C("term_months", "贷款期限(月)", "term_months", K.INTEGER, True),
    C(
        "repayment_method",
        "还款方式",
        "repayment_method",
        K.CHOICE,
        choices=REPAYMENT_METHODS,
        note="空则取产品的还款方式",
    ),
    C("balloon_pct", "尾款比例(%)", "balloon_pct", K.PERCENT),
    C("disbursement_date", "放款日期", "disbursement_date", K.DATE, True),
    C("repayment_day", "每月还款日", "repayment_day", K.INTEGER, note="1-31, 空则取放款日"),
    C("credit_score", "申请评分", "credit_score", K.INTEGER),
    C("status", "贷款状态", "status", K.CHOICE, choices=LOAN_STATUSES, note="空则为正常"),
    C("closed_date", "结清日期", "closed_date", K.DATE),
)

PAYMENT_COLUMNS: tuple[Column, ...] = (
    C("txn_ref", "交易流水号", "txn_ref", K.CODE, True),
    C("contract_no", "合同编号", "contract_no", K.CODE, True),
    C("paid_on", "交易日期", "paid_on", K.DATE, True),
    C("amount", "交易金额", "amount", K.AMOUNT, True),
    C(
        "payment_type",
        "交易类型",
        "payment_type",
        K.CHOICE,
        choices=PAYMENT_TYPES,
        note="空则为还款",
    ),
    C("channel", "渠道", "channel", K.TEXT, note="如 代扣/对公转账/柜面"),
    C("reverses_txn_ref", "被冲正流水号", "reverses_txn_ref", K.CODE, note="冲正时必填"),
)


@dataclass(frozen=True)
class FileLayout:
    name: str
    zh: str
    columns: tuple[Column, ...]
    key: str  # the column that identifies a record across imports

    def header_map(self) -> dict[str, Column]:
        """Accepted header text (normalized) -> column."""
        out: dict[str, Column] = {}
        for col in self.columns:
            for header in (col.zh, col.en, col.name):
                out[normalize_header(header)] = col
        return out


BRANCHES = FileLayout("branches", "机构", BRANCH_COLUMNS, "branch_code")
PRODUCTS = FileLayout("products", "产品", PRODUCT_COLUMNS, "product_code")
LOANS = FileLayout("loans", "贷款", LOAN_COLUMNS, "contract_no")
PAYMENTS = FileLayout("payments", "还款流水", PAYMENT_COLUMNS, "txn_ref")
LAYOUTS: tuple[FileLayout, ...] = (BRANCHES, PRODUCTS, LOANS, PAYMENTS)  # import order


def normalize_header(text: str) -> str:
    return (
        text.strip()
        .lstrip("\ufeff")
        .lower()
        .replace("（", "(")
        .replace("）", ")")
        .replace(" ", "")
        .replace("_", "")
    )


def layout_markdown() -> str:
    """The column tables of docs/import-format.md, generated so the doc cannot drift."""
    lines: list[str] = []
    for layout in LAYOUTS:
        lines += [
            f"### {layout.zh} / {layout.name}",
            "",
            f"Key: `{layout.key}`.",
            "",
            "| 中文表头 | English header | 必填 required | 类型 kind | 说明 / accepted values |",
            "|---|---|---|---|---|",
        ]
        for col in layout.columns:
            accepted = "; ".join(
                f"`{canonical}`: {' / '.join(spellings)}" for canonical, spellings in col.choices
            )
            note = " ".join(part for part in (col.note, accepted) if part)
            lines.append(
                f"| {col.zh} | {col.en} | {'是 yes' if col.required else ''} | {col.kind.value} "
                f"| {note} |"
            )
        lines.append("")
    return "\n".join(lines)
