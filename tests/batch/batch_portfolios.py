"""Random loan books for the batch tests: every edge case the domain tests cover, seeded."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import pyarrow as pa

from huifang.batch.inputs import LOAN_SCHEMA, PAYMENT_SCHEMA, BookInputs
from huifang.domain.schedule import add_months

METHODS = ("equal-installment", "equal-principal", "interest-first", "balloon")


def random_book(n_loans: int, seed: int, as_of: date) -> BookInputs:
    """A book of `n_loans` loans with varied terms and messy payment histories."""
    rng = random.Random(seed)
    loans: list[dict[str, object]] = []
    payments: list[dict[str, object]] = []
    next_payment = 1
    for loan_id in range(1, n_loans + 1):
        method = rng.choice(METHODS)
        term = rng.choice((1, 2, 3, 6, 12, 24, 36, 60))
        principal = Decimal(
            rng.choice((130, 999, 36000, 120000, rng.randint(100, 500000_00) / 100))
        )
        principal = principal.quantize(Decimal("0.01"))
        rate = Decimal(rng.choice(("0", "0.04", "0.049", "0.06", "0.0999", "0.2", "0.123457")))
        rate = rate if rng.random() > 0.3 else Decimal(rng.randint(1, 240000)) / 1000000
        d0 = as_of - timedelta(days=rng.randint(-20, 5 * 365))
        if rng.random() < 0.2:  # month ends: 31st, 30th, 29 Feb
            d0 = rng.choice(
                (
                    date(2024, 1, 31),
                    date(2023, 1, 31),
                    date(2024, 2, 29),
                    date(2023, 8, 30),
                    date(2022, 12, 31),
                )
            )
        rday: int | None = None
        if rng.random() < 0.3:  # a fixed repayment day: broken first periods, month ends
            rday = rng.choice((1, 5, 15, 20, 28, 29, 30, 31))
        loans.append(
            {
                "loan_id": loan_id,
                "contract_no": f"C{loan_id:06d}",
                "branch_id": rng.randint(1, 3),
                "product_id": rng.randint(1, 4),
                "principal": principal,
                "annual_rate": rate,
                "term_months": term,
                "repayment_method": method,
                "balloon_pct": Decimal(rng.choice(("0.2", "0.3", "0.5")))
                if method == "balloon"
                else None,
                "disbursement_date": d0,
                "repayment_day": rday,
                "status": "active" if rng.random() < 0.95 else "closed",
                "penalty_multiplier": Decimal(rng.choice(("1.5", "1.5", "1.3", "0"))),
                "rounding": "half-up" if rng.random() < 0.9 else "half-even",
                "interest_rounding": "per-period" if rng.random() < 0.85 else "cumulative",
                "day_count": rng.choice(("actual/360", "actual/360", "actual/365", "30/360")),
                "holiday_shift": False,
            }
        )
        # payment history: a rough schedule amount, paid in many ways
        day = rday or d0.day
        level = max(Decimal("0.01"), (principal / term * (1 + rate)).quantize(Decimal("0.01")))
        behaviour = rng.random()
        own: list[dict[str, object]] = []
        for k in range(1, term + 2):
            due = add_months(d0, k, day)
            if due > as_of + timedelta(days=40):
                break
            if behaviour < 0.15 and k > term // 2:
                break  # stops paying
            r = rng.random()
            if r < 0.5:
                paid, amount = due - timedelta(days=rng.randint(0, 3)), level
            elif r < 0.7:
                paid, amount = due + timedelta(days=rng.randint(1, 60)), level
            elif r < 0.8:
                paid = due + timedelta(days=rng.randint(-5, 20))
                amount = (level * Decimal(rng.uniform(0.05, 0.9))).quantize(Decimal("0.01"))
            elif r < 0.88:
                paid, amount = due, level * rng.randint(2, 4)  # overpayment: credit
            elif r < 0.93:
                continue  # missed
            else:
                paid, amount = due, principal * Decimal("1.2")  # far too much
            paid = max(paid, d0)
            amount = Decimal(amount).quantize(Decimal("0.01"))
            if amount > 0:
                own.append({"paid_on": paid, "amount": amount, "payment_type": "repayment"})
        if rng.random() < 0.12:  # payoff, sufficient or not
            paid = d0 + timedelta(days=rng.randint(1, max(1, (as_of - d0).days + 30)))
            amount = (principal * Decimal(rng.choice(("1.3", "1.05", "0.5")))).quantize(
                Decimal("0.01")
            )
            own.append({"paid_on": paid, "amount": amount, "payment_type": "prepayment"})
        if rng.random() < 0.05 and own:  # two payoffs
            own.append(
                {
                    "paid_on": own[-1]["paid_on"],
                    "amount": (principal * 2).quantize(Decimal("0.01")),
                    "payment_type": "prepayment",
                }
            )
        for p in own:
            p.update(payment_id=next_payment, loan_id=loan_id, reverses_id=None)
            next_payment += 1
            payments.append(p)
        for p in list(own):
            if rng.random() < 0.08:  # reversals, some after as_of
                payments.append(
                    {
                        "payment_id": next_payment,
                        "loan_id": loan_id,
                        "paid_on": p["paid_on"] + timedelta(days=rng.randint(0, 40)),
                        "amount": p["amount"],
                        "payment_type": "reversal",
                        "reverses_id": p["payment_id"],
                    }
                )
                next_payment += 1
    return BookInputs(
        pa.Table.from_pylist(loans, schema=LOAN_SCHEMA),
        pa.Table.from_pylist(payments, schema=PAYMENT_SCHEMA),
    )
