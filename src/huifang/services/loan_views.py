"""Read-side use cases behind the web pages and the JSON API: loan search, the borrower 360°
view (loans, schedules, positions, payments, vehicle and LTV) and a loan's payoff quote.

Scope is passed in as the branch codes the caller may see (`None` = every branch), so the
same functions serve the web app, the API and the CLI, and permission checks stay in the
entry points. Loan arithmetic is the domain's: the schedule is rebuilt from the stored terms
and the product's conventions, and the booked payments are folded into a position
(`posting.position_as_of`), exactly as `huifang schedule` / `huifang prepay-quote` do.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import Engine, func, or_, select
from sqlalchemy.orm import Session, selectinload

from huifang.domain.delinquency import Bucket, LoanClass, bucket_for, days_past_due
from huifang.domain.posting import (
    LedgerEvent,
    LoanPosition,
    PostingRules,
    Reversal,
    position_as_of,
)
from huifang.domain.posting import (
    Payment as PaymentEvent,
)
from huifang.domain.prepayment import (
    FeeBase,
    FeeRule,
    FeeTier,
    FeeWaiver,
    PayoffQuote,
    PrepaymentPolicy,
    payoff_quote,
)
from huifang.domain.schedule import (
    DayCount,
    InterestRounding,
    LoanTerms,
    RepaymentMethod,
    Schedule,
    ScheduleConventions,
    build_schedule,
)
from huifang.domain.tiering import RiskTier
from huifang.security import pii
from huifang.security.crypto import KeyRing
from huifang.store.batch_models import BatchLoanState, BatchRun
from huifang.store.batch_risk_models import BatchLoanCollateral, BatchLoanTier
from huifang.store.db import transaction
from huifang.store.models import Borrower, Branch, Loan, Payment, Product, Vehicle
from huifang.valuation_params import load_valuation_params

Scope = Collection[str] | None  # branch codes the caller may see; None = all


class NotFound(LookupError):
    """No such object (or not in the caller's scope — callers check scope first)."""


@dataclass(frozen=True)
class LoanRow:
    loan_id: int
    contract_no: str
    borrower_id: int
    borrower_name: str
    branch_code: str
    branch_name: str
    product_name: str
    principal: Decimal
    status: str
    disbursement_date: date
    mobile: str
    id_number: str
    # the latest committed nightly run's view of the loan (None: no run, or not in it)
    dpd: int | None = None
    bucket: str | None = None
    loan_class: str | None = None
    risk_tier: str | None = None
    ltv_band: str | None = None


LOAN_STATUSES = ("active", "closed", "written-off")


class LoanFilterError(ValueError):
    """A loan filter that cannot be applied (422), in Chinese and English."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.zh = zh
        self.en = en


@dataclass(frozen=True)
class LoanFilter:
    """The loan search's filters, one object for the page, its API twin and the Excel export.

    `q`, `branch`, `status`, `product` (product code) and the disbursement dates read the loan
    book. The portfolio filters — DPD bucket (M0…M6+), five-category class (正常…损失), risk
    tier and LTV band — read the latest committed nightly run (`batch_loan_states`,
    `batch_loan_tiers`, `batch_loan_collateral`, joined by their primary key), so a search
    never folds payments row by row; with no committed run they are refused."""

    q: str | None = None
    branch: str | None = None
    status: str | None = None
    product: str | None = None
    disbursed_from: date | None = None
    disbursed_to: date | None = None
    bucket: str | None = None
    loan_class: str | None = None
    risk_tier: str | None = None
    ltv_band: str | None = None

    def __post_init__(self) -> None:
        if self.status and self.status not in LOAN_STATUSES:
            raise LoanFilterError(f"贷款状态无效: {self.status}", f"unknown status: {self.status}")
        if self.bucket and self.bucket not in {b.value for b in Bucket}:
            raise LoanFilterError(
                f"逾期档位无效: {self.bucket}", f"unknown DPD bucket: {self.bucket}"
            )
        if self.loan_class and self.loan_class not in {c.value for c in LoanClass}:
            raise LoanFilterError(
                f"五级分类无效: {self.loan_class}", f"unknown loan class: {self.loan_class}"
            )
        if self.risk_tier and self.risk_tier not in {t.value for t in RiskTier}:
            raise LoanFilterError(
                f"风险等级无效: {self.risk_tier}", f"unknown risk tier: {self.risk_tier}"
            )
        if self.disbursed_from and self.disbursed_to and self.disbursed_from > self.disbursed_to:
            raise LoanFilterError("放款日期起始晚于结束", "disbursement range starts after it ends")

    @property
    def portfolio(self) -> bool:
        """Whether a filter needs the nightly run's figures."""
        return bool(self.bucket or self.loan_class or self.risk_tier or self.ltv_band)


def _scoped(q, scope: Scope):  # type: ignore[no-untyped-def]
    if scope is None:
        return q
    return q.where(Branch.code.in_(sorted(scope)))


MAX_ROWS = 10_000  # a page asks for 25, the API for at most 200, an Excel export for all


def latest_run(s: Session) -> tuple[int, date] | None:
    """The latest committed nightly run (id, business date), if any."""
    row = s.execute(
        select(BatchRun.id, BatchRun.as_of)
        .where(BatchRun.status == "committed")
        .order_by(BatchRun.as_of.desc(), BatchRun.id.desc())
        .limit(1)
    ).first()
    return (int(row[0]), row[1]) if row is not None else None


def portfolio_as_of(engine: Engine) -> date | None:
    """The business date the portfolio filters read (the latest committed run's)."""
    with transaction(engine) as s:
        run = latest_run(s)
    return run[1] if run is not None else None


def search_loans(
    engine: Engine,
    scope: Scope,
    filters: LoanFilter | None = None,
    *,
    q: str | None = None,
    branch: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
    ring: KeyRing | None = None,
) -> tuple[list[LoanRow], int]:
    """Loans matching the filters in the caller's scope; returns one page and the total count.
    (`q`/`branch`/`status` as keywords are the text search's short form.)

    `q` is a contract number prefix, a borrower name, or an exact ID number, mobile, plate or
    VIN. ID numbers and mobiles are stored encrypted: they are found through their blind index
    (exact match only) and decrypted for the page's rows (`security/pii.py`)."""
    f = filters or LoanFilter(q=q, branch=branch, status=status)
    ring = ring or pii.current_ring()
    with transaction(engine) as s:
        run = latest_run(s)
        if f.portfolio and run is None:
            raise LoanFilterError(
                "尚无夜间批处理结果, 无法按逾期档位、五级分类、风险等级或抵押率筛选",
                "no committed nightly run yet: bucket, class, tier and LTV filters need one",
            )
        run_id = run[0] if run is not None else -1
        stmt = (
            select(
                Loan,
                Borrower,
                Branch,
                Product,
                BatchLoanState.dpd,
                BatchLoanState.bucket,
                BatchLoanState.loan_class,
                BatchLoanTier.risk_tier,
                BatchLoanCollateral.ltv_band,
            )
            .join(Borrower, Borrower.id == Loan.borrower_id)
            .join(Branch, Branch.id == Loan.branch_id)
            .join(Product, Product.id == Loan.product_id)
            .join(Vehicle, Vehicle.id == Loan.vehicle_id)
            .outerjoin(
                BatchLoanState,
                (BatchLoanState.run_id == run_id) & (BatchLoanState.loan_id == Loan.id),
            )
            .outerjoin(
                BatchLoanTier,
                (BatchLoanTier.run_id == run_id) & (BatchLoanTier.loan_id == Loan.id),
            )
            .outerjoin(
                BatchLoanCollateral,
                (BatchLoanCollateral.run_id == run_id) & (BatchLoanCollateral.loan_id == Loan.id),
            )
        )
        stmt = _scoped(stmt, scope)
        if f.branch:
            stmt = stmt.where(Branch.code == f.branch)
        if f.status:
            stmt = stmt.where(Loan.status == f.status)
        if f.product:
            stmt = stmt.where(Product.code == f.product)
        if f.disbursed_from:
            stmt = stmt.where(Loan.disbursement_date >= f.disbursed_from)
        if f.disbursed_to:
            stmt = stmt.where(Loan.disbursement_date <= f.disbursed_to)
        if f.bucket:
            stmt = stmt.where(BatchLoanState.bucket == f.bucket)
        if f.loan_class:
            stmt = stmt.where(BatchLoanState.loan_class == f.loan_class)
        if f.risk_tier:
            stmt = stmt.where(BatchLoanTier.risk_tier == f.risk_tier)
        if f.ltv_band:
            stmt = stmt.where(BatchLoanCollateral.ltv_band == f.ltv_band)
        text = (f.q or "").strip()
        if text:
            exact = text.upper()
            stmt = stmt.where(
                or_(
                    Loan.contract_no.startswith(text, autoescape=True),
                    Borrower.name.contains(text, autoescape=True),
                    Borrower.id_number_hash
                    == pii.search_hash(ring, "borrowers", "id_number", exact),
                    Borrower.mobile_hash == pii.search_hash(ring, "borrowers", "mobile", text),
                    Vehicle.plate == exact,
                    Vehicle.vin == exact,
                )
            )
        limit = max(1, min(limit, MAX_ROWS))
        total = s.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        rows = s.execute(
            stmt.order_by(Loan.disbursement_date.desc(), Loan.id.desc())
            .limit(limit)
            .offset(max(0, offset))
        ).all()
        return [
            LoanRow(
                loan.id,
                loan.contract_no,
                b.id,
                b.name,
                br.code,
                br.name,
                p.name,
                loan.principal,
                loan.status,
                loan.disbursement_date,
                pii.reveal(ring, b, "mobile") or "",
                pii.reveal(ring, b, "id_number") or "",
                dpd,
                bucket,
                loan_class,
                tier,
                band,
            )
            for loan, b, br, p, dpd, bucket, loan_class, tier, band in rows
        ], total


def loan_branch(engine: Engine, loan_id: int) -> str | None:
    """The branch code of a loan (None when there is no such loan)."""
    with transaction(engine) as s:
        return s.scalar(
            select(Branch.code).join(Loan, Loan.branch_id == Branch.id).where(Loan.id == loan_id)
        )


def borrower_branch(engine: Engine, borrower_id: int) -> str | None:
    with transaction(engine) as s:
        return s.scalar(
            select(Branch.code)
            .join(Borrower, Borrower.branch_id == Branch.id)
            .where(Borrower.id == borrower_id)
        )


# -- the loan's arithmetic -----------------------------------------------------------------
def loan_terms(loan: Loan, product: Product) -> LoanTerms:
    """The stored contract as the domain's `LoanTerms`, with the product's conventions."""
    method = RepaymentMethod(loan.repayment_method)
    return LoanTerms(
        principal=loan.principal,
        annual_rate=loan.annual_rate,
        term_months=loan.term_months,
        method=method,
        disbursement_date=loan.disbursement_date,
        repayment_day=loan.repayment_day,
        balloon_pct=(loan.balloon_pct or Decimal(0))
        if method is RepaymentMethod.BALLOON
        else Decimal(0),
        conventions=ScheduleConventions(
            interest_rounding=InterestRounding(product.interest_rounding or "per-period"),
            day_count=DayCount(product.broken_period_day_count or "actual/360"),
        ),
    )


def prepayment_policy(product: Product) -> PrepaymentPolicy:
    """The product's early-repayment rules: lock-in, yearly cap, minimum, tiered fee.

    The import format's tiers "12:3,24:2,36:1" read "up to month 12: 3 %", the same as
    `huifang prepay-quote --fee-tiers`."""
    tiers: tuple[FeeTier, ...] = ()
    if product.prepayment_fee_tiers:
        parts = []
        for part in product.prepayment_fee_tiers.replace("，", ",").split(","):
            months, _, pct = part.strip().partition(":")
            parts.append(FeeTier(int(months), Decimal(pct) / 100))
        tiers = tuple(parts)
    base = FeeBase(product.prepayment_fee_basis or FeeBase.PREPAID_PRINCIPAL.value)
    return PrepaymentPolicy(
        lock_in_months=product.lock_in_months or 0,
        max_per_year=product.max_prepayments_per_year,
        fee=FeeRule(base=base, tiers=tiers),
    )


def posting_rules(product: Product) -> PostingRules:
    return PostingRules(penalty_multiplier=product.penalty_rate_multiplier or Decimal("1.5"))


def ledger_events(payments: Sequence[Payment]) -> list[LedgerEvent]:
    """Booked payments as domain events; a reversal row undoes the payment it points at."""
    events: list[LedgerEvent] = []
    for p in sorted(payments, key=lambda p: (p.paid_on, p.id)):
        if p.payment_type == "reversal":
            if p.reverses_id is not None:
                events.append(Reversal(str(p.reverses_id), p.paid_on, "冲正 reversal"))
        else:
            events.append(PaymentEvent(str(p.id), p.paid_on, p.amount))
    return events


@dataclass(frozen=True)
class PaymentRow:
    txn_ref: str
    paid_on: date
    amount: Decimal
    payment_type: str
    channel: str | None


@dataclass(frozen=True)
class LoanView:
    loan_id: int
    contract_no: str
    branch_code: str
    branch_name: str
    product_code: str
    product_name: str
    status: str
    principal: Decimal
    annual_rate: Decimal
    term_months: int
    method: str
    disbursement_date: date
    down_payment: Decimal
    vehicle_price: Decimal
    vehicle: dict[str, object]
    schedule: Schedule
    position: LoanPosition | None
    dpd: int
    bucket: Bucket
    ltv_at_origination: Decimal
    payments: tuple[PaymentRow, ...]
    guarantors: tuple[dict[str, object], ...]


@dataclass(frozen=True)
class BorrowerView:
    borrower_id: int
    kind: str
    name: str
    id_type: str
    id_number: str
    mobile: str
    address: str | None
    birth_date: date | None
    gender: str | None
    occupation: str | None
    employer: str | None
    monthly_income: Decimal | None
    branch_code: str
    contacts: tuple[dict[str, object], ...]
    loans: tuple[LoanView, ...]
    # a business borrower is spoken for by its legal representative (法定代表人)
    legal_rep_name: str | None = None
    legal_rep_id_number: str | None = None


def _loan_view(loan: Loan, as_of: date, ring: KeyRing) -> LoanView:
    product = loan.product
    schedule = build_schedule(loan_terms(loan, product))
    position: LoanPosition | None = None
    dpd = 0
    if loan.status == "active":
        position = position_as_of(
            schedule, ledger_events(loan.payments), as_of, posting_rules(product)
        )
        dpd = days_past_due(position)
    v = loan.vehicle
    return LoanView(
        loan_id=loan.id,
        contract_no=loan.contract_no,
        branch_code=loan.branch.code,
        branch_name=loan.branch.name,
        product_code=product.code,
        product_name=product.name,
        status=loan.status,
        principal=loan.principal,
        annual_rate=loan.annual_rate,
        term_months=loan.term_months,
        method=loan.repayment_method,
        disbursement_date=loan.disbursement_date,
        down_payment=loan.down_payment,
        vehicle_price=loan.vehicle_price,
        vehicle={
            "vin": v.vin,
            "plate": v.plate,
            "brand": v.brand,
            "model": v.model,
            "model_year": v.model_year,
            "condition": v.condition,
            "fuel_type": v.fuel_type,
            "price": v.price,
            "mileage_km": v.mileage_km,
        },
        schedule=schedule,
        position=position,
        dpd=dpd,
        bucket=bucket_for(dpd),
        ltv_at_origination=(loan.principal / loan.vehicle_price).quantize(Decimal("0.0001")),
        payments=tuple(
            PaymentRow(p.txn_ref, p.paid_on, p.amount, p.payment_type, p.channel)
            for p in loan.payments
        ),
        guarantors=tuple(
            {
                "name": g.name,
                "kind": g.kind,
                "relation": g.relation,
                "mobile": pii.reveal(ring, g, "mobile"),
            }
            for g in loan.guarantors
        ),
    )


def _load_loans(s: Session, where) -> list[Loan]:  # type: ignore[no-untyped-def]
    return list(
        s.scalars(
            select(Loan)
            .where(where)
            .options(
                selectinload(Loan.product),
                selectinload(Loan.branch),
                selectinload(Loan.vehicle),
                selectinload(Loan.payments),
                selectinload(Loan.guarantors),
            )
            .order_by(Loan.disbursement_date, Loan.id)
        )
    )


def borrower_360(
    engine: Engine, borrower_id: int, as_of: date, *, ring: KeyRing | None = None
) -> BorrowerView:
    """Everything about one borrower in one place (统一客户信息), personal data decrypted
    (the pages and the API mask it by role)."""
    ring = ring or pii.current_ring()
    with transaction(engine) as s:
        b = s.get(Borrower, borrower_id, options=[selectinload(Borrower.contacts)])
        if b is None:
            raise NotFound(f"借款人不存在 / no borrower {borrower_id}")
        loans = _load_loans(s, Loan.borrower_id == borrower_id)
        branch = s.get(Branch, b.branch_id)
        plain = pii.borrower_pii(ring, b)
        return BorrowerView(
            borrower_id=b.id,
            kind=b.kind,
            name=b.name,
            id_type=b.id_type,
            id_number=plain.id_number,
            mobile=plain.mobile,
            address=plain.address,
            birth_date=b.birth_date,
            gender=b.gender,
            occupation=b.occupation,
            employer=b.employer,
            monthly_income=b.monthly_income,
            branch_code=branch.code if branch else "",
            contacts=tuple(
                {
                    "relation": c.relation,
                    "name": c.name,
                    "phone": pii.reveal(ring, c, "phone"),
                    "note": c.note,
                }
                for c in b.contacts
            ),
            loans=tuple(_loan_view(loan, as_of, ring) for loan in loans),
            legal_rep_name=b.legal_rep_name,
            legal_rep_id_number=plain.legal_rep_id_number,
        )


def loan_view(
    engine: Engine, loan_id: int, as_of: date, *, ring: KeyRing | None = None
) -> LoanView:
    ring = ring or pii.current_ring()
    with transaction(engine) as s:
        loans = _load_loans(s, Loan.id == loan_id)
        if not loans:
            raise NotFound(f"贷款不存在 / no loan {loan_id}")
        return _loan_view(loans[0], as_of, ring)


@dataclass(frozen=True)
class LoanQuote:
    loan_id: int
    contract_no: str
    borrower_id: int
    terms: LoanTerms
    quote: PayoffQuote


def loan_payoff_quote(
    engine: Engine, loan_id: int, as_of: date, *, waiver_reason: str | None = None
) -> LoanQuote:
    """Full payoff of a stored loan on `as_of` under its product's policy; raises
    `PrepaymentRefused` (inside the lock-in, closed loan) or `NotFound`."""
    with transaction(engine) as s:
        loans = _load_loans(s, Loan.id == loan_id)
        if not loans:
            raise NotFound(f"贷款不存在 / no loan {loan_id}")
        loan = loans[0]
        if loan.status != "active":
            raise ValueError("贷款已结清或核销, 无需提前还款 / the loan is not active")
        if as_of < loan.disbursement_date:
            raise ValueError("报价日早于放款日 / as-of date before disbursement")
        terms = loan_terms(loan, loan.product)
        schedule = build_schedule(terms)
        previous = [p.paid_on for p in loan.payments if p.payment_type == "prepayment"]
        quote = payoff_quote(
            schedule,
            ledger_events(loan.payments),
            as_of,
            prepayment_policy(loan.product),
            posting_rules(loan.product),
            previous_prepayments=previous,
            waiver=FeeWaiver(waiver_reason) if waiver_reason else None,
        )
        return LoanQuote(loan.id, loan.contract_no, loan.borrower_id, terms, quote)


@dataclass(frozen=True)
class ScopeSummary:
    loans_by_status: dict[str, int]
    principal_active: Decimal
    branches: list[tuple[str, str, int]]


def scope_summary(engine: Engine, scope: Scope) -> ScopeSummary:
    """Loan counts by status and by branch within the caller's scope (the home pages)."""
    with transaction(engine) as s:
        base = select(Loan.status, func.count(), func.coalesce(func.sum(Loan.principal), 0)).join(
            Branch, Branch.id == Loan.branch_id
        )
        by_status = {
            st: (n, Decimal(str(total)))
            for st, n, total in s.execute(_scoped(base, scope).group_by(Loan.status)).all()
        }
        per_branch = s.execute(
            _scoped(
                select(Branch.code, Branch.name, func.count(Loan.id))
                .outerjoin(Loan, Loan.branch_id == Branch.id)
                .group_by(Branch.code, Branch.name)
                .order_by(Branch.code),
                scope,
            )
        ).all()
        return ScopeSummary(
            loans_by_status={k: v[0] for k, v in by_status.items()},
            principal_active=by_status.get("active", (0, Decimal(0)))[1].quantize(Decimal("0.01")),
            branches=[(c, n, int(k)) for c, n, k in per_branch],
        )


def product_codes(engine: Engine) -> list[tuple[str, str]]:
    """(code, name) of every product, for the loan search's product filter."""
    with transaction(engine) as s:
        return [
            (c, n) for c, n in s.execute(select(Product.code, Product.name).order_by(Product.code))
        ]


def ltv_band_codes() -> list[tuple[str, str, str]]:
    """(code, 中文, English) of the LTV bands in force (the valuation parameters' file)."""
    return [(b.code, b.zh, b.en) for b in load_valuation_params().ltv_bands.bands]


def branch_codes(engine: Engine) -> list[str]:
    with transaction(engine) as s:
        return list(s.scalars(select(Branch.code).order_by(Branch.code)))
