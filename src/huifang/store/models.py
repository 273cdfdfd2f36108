"""The loan book as SQLAlchemy 2 models.

Conventions, shared by SQLite and PostgreSQL:
- money is NUMERIC(18, 2) in yuan, read back as `Decimal`; SQLite keeps it as a double, which
  is exact for the amounts we accept (at most 15 significant digits, see money.MAX_AMOUNT);
- rates and shares are fractions (0.049 is 4.9 % a year) in NUMERIC(9, 6);
- enumerations are stored as their canonical English value (`equal-installment`, `bev`) and
  rendered in Chinese by the pages;
- dates are DATE, instants are timezone-aware TIMESTAMP.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

Money = Numeric(18, 2, asdecimal=True)
Rate = Numeric(9, 6, asdecimal=True)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; BIGINT elsewhere leaves room for 20M+ loans
# with many payments each.
Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.current_timestamp()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        server_default=func.current_timestamp(),
        onupdate=func.current_timestamp(),
    )


class Branch(Timestamped, Base):
    """A lender's branch (分支机构): the unit of queues, views and permissions."""

    __tablename__ = "branches"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    province: Mapped[str | None] = mapped_column(String(20))
    city: Mapped[str | None] = mapped_column(String(40))
    timezone: Mapped[str] = mapped_column(String(40), default="Asia/Shanghai")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id"))


class Product(Timestamped, Base):
    """A loan product: repayment method, pricing, prepayment and schedule conventions."""

    __tablename__ = "products"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    repayment_method: Mapped[str] = mapped_column(String(24))
    annual_rate: Mapped[Decimal] = mapped_column(Rate)
    min_term_months: Mapped[int] = mapped_column(Integer)
    max_term_months: Mapped[int] = mapped_column(Integer)
    penalty_rate_multiplier: Mapped[Decimal] = mapped_column(Rate, default=Decimal("1.5"))
    balloon_pct: Mapped[Decimal | None] = mapped_column(Rate)
    lock_in_months: Mapped[int] = mapped_column(Integer, default=0)
    prepayment_fee_basis: Mapped[str | None] = mapped_column(String(24))
    prepayment_fee_tiers: Mapped[str | None] = mapped_column(String(200))
    max_prepayments_per_year: Mapped[int | None] = mapped_column(Integer)
    min_prepayment_amount: Mapped[Decimal | None] = mapped_column(Money)
    max_ltv: Mapped[Decimal | None] = mapped_column(Rate)
    # Schedule conventions (docs/loan-arithmetic.md): product settings, not code.
    rounding: Mapped[str] = mapped_column(String(16), default="half-up")
    interest_rounding: Mapped[str] = mapped_column(String(16), default="per-period")
    broken_period_day_count: Mapped[str] = mapped_column(String(16), default="actual/360")
    holiday_shift: Mapped[bool] = mapped_column(Boolean, default=False)


class Borrower(Timestamped, Base):
    """A borrower: an individual (个人, resident ID) or a business (工商, USCC)."""

    __tablename__ = "borrowers"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))  # individual | business
    name: Mapped[str] = mapped_column(String(100))
    id_type: Mapped[str] = mapped_column(String(12))  # resident-id | uscc
    # Personal data is stored encrypted (security/pii.py): `*_enc` ciphertexts, `*_hash`
    # blind indexes for exact search (migration 0006_pii).
    id_number_enc: Mapped[str] = mapped_column(Text)
    id_number_hash: Mapped[str] = mapped_column(String(64), unique=True)
    birth_date: Mapped[date | None] = mapped_column(Date)
    gender: Mapped[str | None] = mapped_column(String(1))
    mobile_enc: Mapped[str] = mapped_column(Text)
    mobile_hash: Mapped[str] = mapped_column(String(64), index=True)
    address_enc: Mapped[str | None] = mapped_column(Text)
    occupation: Mapped[str | None] = mapped_column(String(60))
    industry: Mapped[str | None] = mapped_column(String(60))
    employer: Mapped[str | None] = mapped_column(String(100))
    monthly_income: Mapped[Decimal | None] = mapped_column(Money)
    self_employed: Mapped[bool] = mapped_column(Boolean, default=False)
    legal_rep_name: Mapped[str | None] = mapped_column(String(60))
    legal_rep_id_number_enc: Mapped[str | None] = mapped_column(Text)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"), index=True)
    timezone: Mapped[str | None] = mapped_column(String(40))

    contacts: Mapped[list[Contact]] = relationship(
        back_populates="borrower", cascade="all, delete-orphan", order_by="Contact.id"
    )
    loans: Mapped[list[Loan]] = relationship(back_populates="borrower")
    branch: Mapped[Branch] = relationship()


class Contact(Base):
    """A way to reach a person about a borrower: self, spouse, emergency contact, employer…"""

    __tablename__ = "contacts"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"), index=True)
    relation: Mapped[str] = mapped_column(String(16))  # self|spouse|emergency|employer|legal-rep
    name: Mapped[str | None] = mapped_column(String(100))
    phone_enc: Mapped[str] = mapped_column(Text)
    phone_hash: Mapped[str] = mapped_column(String(64), index=True)
    note: Mapped[str | None] = mapped_column(String(60))  # e.g. the emergency contact's relation
    borrower: Mapped[Borrower] = relationship(back_populates="contacts")
    __table_args__ = (UniqueConstraint("borrower_id", "relation", name="uq_contacts_relation"),)


class Vehicle(Timestamped, Base):
    """The financed vehicle, held as collateral (抵押车辆)."""

    __tablename__ = "vehicles"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    vin: Mapped[str] = mapped_column(String(17), unique=True)
    plate: Mapped[str | None] = mapped_column(String(10), index=True)
    brand: Mapped[str] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(60))
    model_year: Mapped[int | None] = mapped_column(Integer)
    segment: Mapped[str | None] = mapped_column(String(30))
    condition: Mapped[str] = mapped_column(String(8))  # new | used
    fuel_type: Mapped[str] = mapped_column(String(8))  # petrol|diesel|hybrid|phev|erev|bev|fcev
    price: Mapped[Decimal] = mapped_column(Money)
    first_registration_date: Mapped[date | None] = mapped_column(Date)
    mileage_km: Mapped[int | None] = mapped_column(Integer)


class Loan(Timestamped, Base):
    """A loan contract. Its economic terms are copied from the product at origination."""

    __tablename__ = "loans"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    contract_no: Mapped[str] = mapped_column(String(40), unique=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"), index=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id"), index=True)
    principal: Mapped[Decimal] = mapped_column(Money)
    annual_rate: Mapped[Decimal] = mapped_column(Rate)
    term_months: Mapped[int] = mapped_column(Integer)
    repayment_method: Mapped[str] = mapped_column(String(24))
    balloon_pct: Mapped[Decimal | None] = mapped_column(Rate)
    disbursement_date: Mapped[date] = mapped_column(Date)
    repayment_day: Mapped[int] = mapped_column(Integer)
    down_payment: Mapped[Decimal] = mapped_column(Money)
    vehicle_price: Mapped[Decimal] = mapped_column(Money)
    purpose: Mapped[str] = mapped_column(String(12), default="self-use")
    status: Mapped[str] = mapped_column(String(12), default="active", index=True)
    closed_date: Mapped[date | None] = mapped_column(Date)
    credit_score: Mapped[int | None] = mapped_column(Integer)
    import_run_id: Mapped[int | None] = mapped_column(ForeignKey("import_runs.id"))
    # sha256 of the normalized import row, so re-importing an unchanged row is a no-op.
    source_hash: Mapped[str | None] = mapped_column(String(64))

    borrower: Mapped[Borrower] = relationship(back_populates="loans")
    product: Mapped[Product] = relationship()
    branch: Mapped[Branch] = relationship()
    vehicle: Mapped[Vehicle] = relationship()
    guarantors: Mapped[list[Guarantor]] = relationship(
        back_populates="loan", cascade="all, delete-orphan", order_by="Guarantor.id"
    )
    payments: Mapped[list[Payment]] = relationship(
        back_populates="loan", order_by="(Payment.paid_on, Payment.id)"
    )


class Guarantor(Base):
    """A guarantor (担保人) of one loan: a person or a company."""

    __tablename__ = "guarantors"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))  # individual | business
    name: Mapped[str] = mapped_column(String(100))
    id_number_enc: Mapped[str | None] = mapped_column(Text)
    mobile_enc: Mapped[str | None] = mapped_column(Text)
    relation: Mapped[str | None] = mapped_column(String(30))
    loan: Mapped[Loan] = relationship(back_populates="guarantors")


class Payment(Base):
    """A money movement on a loan as the core banking system booked it (还款流水).

    Rows are never updated: a wrong payment is undone by a reversal row pointing at it.
    """

    __tablename__ = "payments"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    txn_ref: Mapped[str] = mapped_column(String(64), unique=True)
    paid_on: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    payment_type: Mapped[str] = mapped_column(String(12), default="repayment")
    channel: Mapped[str | None] = mapped_column(String(20))
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    import_run_id: Mapped[int | None] = mapped_column(ForeignKey("import_runs.id"))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.current_timestamp()
    )
    loan: Mapped[Loan] = relationship(back_populates="payments")
    __table_args__ = (Index("ix_payments_loan_paid_on", "loan_id", "paid_on"),)


class ImportRun(Base):
    """One `huifang import` run: what came in, what it changed, and whether it landed."""

    __tablename__ = "import_runs"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    files: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12))  # committed (failed runs leave no row)
    counts: Mapped[dict[str, int]] = mapped_column(JSON)
    actor: Mapped[str | None] = mapped_column(String(60))
    note: Mapped[str | None] = mapped_column(Text)


# Capability modules whose tables share this metadata (imported last: they use `Base`).
from huifang.store import batch_followup_models as batch_followup_models  # noqa: E402
from huifang.store import batch_models as batch_models  # noqa: E402
from huifang.store import batch_risk_models as batch_risk_models  # noqa: E402
from huifang.store import batch_score_models as batch_score_models  # noqa: E402
from huifang.store import followup_models as followup_models  # noqa: E402
from huifang.store import risk_models as risk_models  # noqa: E402
from huifang.store import selfservice_models as selfservice_models  # noqa: E402
