"""Read-side use cases over the loan book: what is in it, in numbers."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Engine, case, func, select

from huifang.store.db import transaction
from huifang.store.models import Borrower, Branch, Guarantor, Loan, Payment, Product, Vehicle

# A reversal undoes the payment it points at, so it counts negative.
_signed_amount = case((Payment.payment_type == "reversal", -Payment.amount), else_=Payment.amount)


@dataclass(frozen=True)
class BookSummary:
    branches: int
    products: int
    borrowers_by_kind: dict[str, int]
    loans_by_status: dict[str, int]
    principal_by_method: dict[str, Decimal]
    vehicles_by_fuel: dict[str, int]
    guarantors: int
    payments: int
    payments_total: Decimal

    @property
    def loans(self) -> int:
        return sum(self.loans_by_status.values())


def book_summary(engine: Engine) -> BookSummary:
    with transaction(engine) as s:

        def grouped(column, value=None):  # type: ignore[no-untyped-def]
            value = func.count() if value is None else value
            return {k: v for k, v in s.execute(select(column, value).group_by(column)).all()}

        return BookSummary(
            branches=s.scalar(select(func.count()).select_from(Branch)) or 0,
            products=s.scalar(select(func.count()).select_from(Product)) or 0,
            borrowers_by_kind=grouped(Borrower.kind),
            loans_by_status=grouped(Loan.status),
            principal_by_method={
                k: Decimal(v).quantize(Decimal("0.01"))
                for k, v in grouped(Loan.repayment_method, func.sum(Loan.principal)).items()
            },
            vehicles_by_fuel=grouped(Vehicle.fuel_type),
            guarantors=s.scalar(select(func.count()).select_from(Guarantor)) or 0,
            payments=s.scalar(select(func.count()).select_from(Payment)) or 0,
            payments_total=Decimal(
                s.scalar(select(func.coalesce(func.sum(_signed_amount), 0))) or 0
            ).quantize(Decimal("0.01")),
        )
