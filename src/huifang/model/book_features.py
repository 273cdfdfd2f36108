"""The behaviour model's feature table, computed from the loan book as of observation dates.

For a loan and an observation date d the features use only what was known by the end of d;
the target looks at the 12 months after it:

    target = 1 when the loan reaches 90+ days past due on some day in (d, d + 12 months].

A loan enters the table at d when it was disbursed and had at least one due date on or
before d, was not closed by d, and was not already 90+ DPD at d (a loan in default is
not scored for default). The target needs d + 12 months to be on or before the book's
as-of date; scoring (`features_as_of` for one date, no target) does not.

Arithmetic comes from the domain: schedules from `huifang.domain.schedule.build_schedule`,
what was paid when from `huifang.domain.posting.position_as_of` (the date each installment
was settled), and days past due from `huifang.domain.delinquency` (the Fineract count:
DPD on day t = t − due date of the oldest installment still unpaid at the end of t).
Positions are folded once per loan as of the book's as-of date: a payment reversed later
counts as never received at every earlier date too, which is what it was.

Follow-up and collateral features (issue 4) come from the follow-up and risk tables and are
as-of safe the same way: an attempt counts from its local date (Asia/Shanghai), a visit from
its completion date, a risk event from `occurred_on` until the day a correction superseded
it (`details.superseded_on`), a valuation from its `as_of` date — nothing dated after the
observation date is read:

* contactability — made attempts (not the compliance guard's refusals) that reached no
  conversation in the 90 days up to t (`failed_attempts_90d`), and days since the last
  right-party contact, an attempt with that outcome or a completed visit
  (`days_since_rpc`; missing when there was none);
* risk events open at t that occurred in the 12 months up to t, counted by group
  (`EVENT_GROUPS`: income or job, vehicle, health, business, repayment, contact);
* the latest valuation's LTV (`ltv_latest`) and its band's rank, 0 = the best band
  (`ltv_band_rank`; missing when the car was never valued).

The worst DPD over a window [a, b] needs no day-by-day walk: an installment due on D and
settled on s is overdue from D + 1 to s − 1, so its worst DPD in the window is that of the
day min(b, s − 1) when that day is in the window; the window's worst is the largest of them.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import select
from sqlalchemy.engine import Engine

from huifang.domain.delinquency import bucket_for, days_past_due_since
from huifang.domain.posting import position_as_of
from huifang.domain.schedule import (
    add_months,
    build_schedule,
    elapsed_months,
)
from huifang.services.loan_views import ledger_events, loan_terms, posting_rules
from huifang.store import followup_models as fm
from huifang.store import models as m
from huifang.store import risk_models as rm

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
CONTACT_WINDOW_DAYS = 90
EVENT_WINDOW_DAYS = 365
# risk-event kinds (finding kinds and the follow-up's own) grouped into one feature each
EVENT_GROUPS: dict[str, tuple[str, ...]] = {
    "events_income_job": ("income-drop", "job-loss"),
    "events_vehicle": ("vehicle-sold", "vehicle-transferred", "vehicle-pledged", "vehicle-damaged"),
    "events_health": ("health-event",),
    "events_business": ("business-trouble", "fund-misuse"),
    "events_repayment": ("repayment-difficulty", "application-disowned"),
    "events_contact": ("lost-contact", "address-changed", "phone-changed"),
}

TARGET_DPD = 90
OUTCOME_MONTHS = 12
CATEGORICAL_FEATURES = (
    "industry",
    "borrower_kind",
    "repayment_method",
    "purpose",
    "vehicle_condition",
    "fuel_type",
)
NUMERIC_FEATURES = (
    "loan_age_months",
    "remaining_months",
    "term_months",
    "annual_rate",
    "down_payment_ratio",
    "balance_to_price",
    "monthly_income",
    "installment_to_income",
    "credit_score",
    "self_employed",
    "dpd_now",
    "max_dpd_6m",
    "max_dpd_12m",
    "worst_bucket_6m",
    "worst_bucket_12m",
    "late_installments_12m",
    "months_since_last_late",
    "pay_to_due_3m",
    "pay_to_due_6m",
    "pay_to_due_12m",
    "prepayments",
    "prepaid_share",
    "failed_attempts_90d",
    "days_since_rpc",
    *EVENT_GROUPS,
    "ltv_latest",
    "ltv_band_rank",
)
FEATURES = NUMERIC_FEATURES + CATEGORICAL_FEATURES
_BUCKET_RANK = {b: i for i, b in enumerate(("M0", "M1", "M2", "M3", "M4", "M5", "M6", "M6+"))}


@dataclass(frozen=True)
class Due:
    """One installment: due date, amount due, principal, scheduled balance, settlement date."""

    due_date: date
    amount: Decimal
    principal: Decimal
    balance: Decimal
    settled_on: date | None


@dataclass(frozen=True)
class LoanHistory:
    """What the feature builder needs of one loan, read from the book once."""

    contract_no: str
    disbursement_date: date
    closed_date: date | None
    principal: Decimal
    term_months: int
    annual_rate: Decimal
    down_payment: Decimal
    vehicle_price: Decimal
    regular_payment: Decimal
    credit_score: int | None
    monthly_income: Decimal | None
    self_employed: bool
    static: dict[str, str | None]
    dues: tuple[Due, ...]
    payments: tuple[tuple[date, Decimal, str], ...]  # (paid on, amount, type), not reversed
    # follow-up and collateral (see the module docstring); each dated, filtered at t
    attempts: tuple[tuple[date, bool, bool], ...] = ()  # (local date, conversation, RPC)
    visits: tuple[date, ...] = ()  # completion dates (local)
    events: tuple[tuple[str, date, date | None], ...] = ()  # (kind, occurred, superseded on)
    valuations: tuple[tuple[date, float | None, int | None], ...] = ()  # (as of, LTV, rank)


def load_histories(
    engine: Engine, as_of: date, contracts: Iterable[str] | None = None
) -> Iterator[LoanHistory]:
    """Every loan of the book (or the given contracts) with its schedule settled as of `as_of`."""
    calendar = None
    loan_q = (
        select(m.Loan, m.Product, m.Borrower, m.Vehicle)
        .join(m.Product, m.Loan.product_id == m.Product.id)
        .join(m.Borrower, m.Loan.borrower_id == m.Borrower.id)
        .join(m.Vehicle, m.Loan.vehicle_id == m.Vehicle.id)
        .where(m.Loan.disbursement_date <= as_of)
        .order_by(m.Loan.id)
    )
    wanted = list(contracts) if contracts is not None else None
    if wanted is not None:
        loan_q = loan_q.where(m.Loan.contract_no.in_(wanted))
    with engine.connect() as conn:
        pay_q = select(
            m.Payment.id,
            m.Payment.loan_id,
            m.Payment.paid_on,
            m.Payment.amount,
            m.Payment.payment_type,
            m.Payment.reverses_id,
        ).where(m.Payment.paid_on <= as_of)
        if wanted is not None:
            pay_q = pay_q.join(m.Loan, m.Loan.id == m.Payment.loan_id).where(
                m.Loan.contract_no.in_(wanted)
            )
        by_loan: dict[int, list[Any]] = defaultdict(list)
        for p in conn.execute(pay_q.order_by(m.Payment.paid_on, m.Payment.id)):
            by_loan[p.loan_id].append(p)
    follow = _followup_rows(engine, as_of, wanted)
    from sqlalchemy.orm import Session

    with Session(engine) as s:
        for loan, product, borrower, vehicle in s.execute(loan_q):
            terms = loan_terms(loan, product)
            if product.holiday_shift:
                if calendar is None:
                    from huifang.calendars import ChineseBusinessCalendar

                    calendar = ChineseBusinessCalendar()
                schedule = build_schedule(terms, calendar)
            else:
                schedule = build_schedule(terms)
            rows = by_loan.get(loan.id, [])
            events = ledger_events(rows)
            position = position_as_of(schedule, events, as_of, posting_rules(product))
            reversed_ids = set(position.reversed_payments)
            payments = tuple(
                (p.paid_on, p.amount, p.payment_type)
                for p in rows
                if p.payment_type != "reversal" and str(p.id) not in reversed_ids
            )
            dues = tuple(
                Due(i.due_date, i.payment, i.principal, i.balance, _settled_on(ip))
                for i, ip in zip(schedule.installments, position.installments, strict=True)
            )
            yield LoanHistory(
                contract_no=loan.contract_no,
                disbursement_date=loan.disbursement_date,
                closed_date=loan.closed_date,
                principal=loan.principal,
                term_months=loan.term_months,
                annual_rate=loan.annual_rate,
                down_payment=loan.down_payment,
                vehicle_price=loan.vehicle_price,
                regular_payment=schedule.installments[0].payment,
                credit_score=loan.credit_score,
                monthly_income=borrower.monthly_income,
                self_employed=bool(borrower.self_employed),
                static={
                    "industry": borrower.industry or borrower.occupation,
                    "borrower_kind": borrower.kind,
                    "repayment_method": loan.repayment_method,
                    "purpose": loan.purpose,
                    "vehicle_condition": vehicle.condition,
                    "fuel_type": vehicle.fuel_type,
                },
                dues=dues,
                payments=payments,
                attempts=tuple(follow.attempts.get(loan.id, ())),
                visits=tuple(follow.visits.get(loan.id, ())),
                events=tuple(follow.events.get(loan.id, ())),
                valuations=tuple(follow.valuations.get(loan.id, ())),
            )


def _settled_on(ip: Any) -> date | None:
    """When the installment was settled; one with nothing to pay (0 % interest-first) never
    falls overdue, so it counts as settled on its due date (the domain marks settlement
    when a payment lands on an installment, and none ever lands on it)."""
    if ip.settled_on is None and ip.principal_due + ip.interest_due == 0:
        return ip.due_date  # type: ignore[no-any-return]
    return ip.settled_on  # type: ignore[no-any-return]


def _local_date(t: datetime) -> date:
    aware = t.replace(tzinfo=UTC) if t.tzinfo is None else t  # SQLite keeps no offset (UTC)
    return aware.astimezone(LOCAL_TZ).date()


def _as_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


@dataclass
class _FollowupRows:
    attempts: dict[int, list[tuple[date, bool, bool]]] = field(default_factory=dict)
    visits: dict[int, list[date]] = field(default_factory=dict)
    events: dict[int, list[tuple[str, date, date | None]]] = field(default_factory=dict)
    valuations: dict[int, list[tuple[date, float | None, int | None]]] = field(default_factory=dict)


def _followup_rows(engine: Engine, as_of: date, wanted: list[str] | None) -> _FollowupRows:
    """Attempts, visits, risk events and valuations of the book's loans, dated by `as_of`."""
    from huifang.valuation_params import load_valuation_params

    ranks = {b.code: i for i, b in enumerate(load_valuation_params().ltv_bands.bands)}
    out = _FollowupRows(defaultdict(list), defaultdict(list), defaultdict(list), defaultdict(list))
    loan_ids = None
    with engine.connect() as conn:
        if wanted is not None:
            loan_ids = list(
                conn.execute(select(m.Loan.id).where(m.Loan.contract_no.in_(wanted))).scalars()
            )
        a = fm.ContactAttempt
        q = select(a.loan_id, a.started_at, a.was_conversation, a.outcome).where(
            a.status == "made",
            a.direction == "outbound",  # the features count our contacts
        )
        if loan_ids is not None:
            q = q.where(a.loan_id.in_(loan_ids))
        for loan_id, started, talked, outcome in conn.execute(q.order_by(a.started_at, a.id)):
            on = _local_date(started)
            if on <= as_of:
                rpc = outcome == "right-party-contact"
                out.attempts[loan_id].append((on, bool(talked), rpc))
        v = fm.Visit
        q = select(v.loan_id, v.completed_at)
        if loan_ids is not None:
            q = q.where(v.loan_id.in_(loan_ids))
        for loan_id, completed in conn.execute(q.order_by(v.completed_at, v.id)):
            on = _local_date(completed)
            if on <= as_of:
                out.visits[loan_id].append(on)
        e = fm.RiskEvent
        q = select(e.loan_id, e.kind, e.occurred_on, e.status, e.details).where(
            e.occurred_on <= as_of
        )
        if loan_ids is not None:
            q = q.where(e.loan_id.in_(loan_ids))
        for loan_id, kind, occurred, status, details in conn.execute(q.order_by(e.id)):
            gone = None
            if status == "superseded":
                # no date recorded: superseded since it occurred (read as never open)
                gone = _as_date((details or {}).get("superseded_on")) or _as_date(occurred)
            out.events[loan_id].append((kind, _as_date(occurred) or as_of, gone))
        c = rm.CollateralValuation
        q = select(c.loan_id, c.as_of, c.ltv, c.ltv_band).where(c.as_of <= as_of)
        if loan_ids is not None:
            q = q.where(c.loan_id.in_(loan_ids))
        for loan_id, on, ratio, band in conn.execute(q.order_by(c.as_of, c.id)):
            out.valuations[loan_id].append(
                (
                    _as_date(on) or as_of,
                    float(ratio) if ratio is not None else None,
                    ranks.get(band) if band is not None else None,
                )
            )
    return out


def _unsettled_at(due: Due, t: date) -> bool:
    """Overdue at the end of day t: due before t and not settled by the end of t."""
    return due.due_date < t and (due.settled_on is None or due.settled_on > t)


def dpd_at(h: LoanHistory, t: date) -> int:
    """Days past due at the end of day t."""
    oldest = next((d.due_date for d in h.dues if _unsettled_at(d, t)), None)
    return days_past_due_since(oldest, t)


def max_dpd(h: LoanHistory, start: date, end: date) -> int:
    """The worst DPD on any day of [start, end] (see the module docstring)."""
    worst = 0
    for d in h.dues:
        if d.due_date >= end:
            break
        last_overdue = end if d.settled_on is None else min(end, d.settled_on - timedelta(days=1))
        if last_overdue >= start and last_overdue > d.due_date:
            worst = max(worst, days_past_due_since(d.due_date, last_overdue))
    return worst


def is_closed(h: LoanHistory, t: date) -> bool:
    if h.closed_date is not None and h.closed_date <= t:
        return True
    return all(d.settled_on is not None and d.settled_on <= t for d in h.dues)


def eligible(h: LoanHistory, t: date) -> bool:
    """In the population at t: has a due date by t, not closed, not already 90+ DPD."""
    return (
        bool(h.dues)
        and h.dues[0].due_date <= t
        and not is_closed(h, t)
        and dpd_at(h, t) < TARGET_DPD
    )


def target(h: LoanHistory, t: date) -> int:
    """1 when the loan reaches 90+ DPD on some day of (t, t + 12 months]."""
    end = add_months(t, OUTCOME_MONTHS, t.day)
    return int(max_dpd(h, t + timedelta(days=1), end) >= TARGET_DPD)


def _ratio(num: Decimal | float, den: Decimal | float | None) -> float:
    if den is None or not den:
        return math.nan
    return float(num) / float(den)


def features_as_of(h: LoanHistory, t: date) -> dict[str, Any]:
    """The feature values of a loan at the end of day t."""
    m6, m12, m3 = (add_months(t, -k, t.day) for k in (6, 12, 3))
    due_by_t = [d for d in h.dues if d.due_date <= t]
    late = [d for d in due_by_t if d.settled_on is None or d.settled_on > d.due_date]
    late = [d for d in late if d.due_date < t]
    last_late = max((d.due_date for d in late), default=None)

    def paid_to_due(since: date) -> float:
        due = sum((d.amount for d in due_by_t if d.due_date > since), Decimal(0))
        paid = sum((a for (on, a, _k) in h.payments if since < on <= t), Decimal(0))
        return _ratio(paid, due)

    unsettled_principal = sum(
        (d.principal for d in due_by_t if d.settled_on is None or d.settled_on > t), Decimal(0)
    )
    scheduled_balance = due_by_t[-1].balance if due_by_t else h.principal
    prepaid = [a for (on, a, k) in h.payments if k == "prepayment" and on <= t]
    worst6 = max_dpd(h, m6, t)
    worst12 = max_dpd(h, m12, t)
    return {
        "loan_age_months": elapsed_months(h.disbursement_date, t),
        "remaining_months": h.term_months - len(due_by_t),
        "term_months": h.term_months,
        "annual_rate": float(h.annual_rate),
        "down_payment_ratio": _ratio(h.down_payment, h.vehicle_price),
        "balance_to_price": _ratio(scheduled_balance + unsettled_principal, h.vehicle_price),
        "monthly_income": float(h.monthly_income) if h.monthly_income is not None else math.nan,
        "installment_to_income": _ratio(h.regular_payment, h.monthly_income),
        "credit_score": float(h.credit_score) if h.credit_score is not None else math.nan,
        "self_employed": int(h.self_employed),
        "dpd_now": dpd_at(h, t),
        "max_dpd_6m": worst6,
        "max_dpd_12m": worst12,
        "worst_bucket_6m": _BUCKET_RANK[bucket_for(worst6).value],
        "worst_bucket_12m": _BUCKET_RANK[bucket_for(worst12).value],
        "late_installments_12m": sum(1 for d in late if d.due_date > m12),
        "months_since_last_late": (
            elapsed_months(last_late, t) if last_late is not None else math.nan
        ),
        "pay_to_due_3m": paid_to_due(m3),
        "pay_to_due_6m": paid_to_due(m6),
        "pay_to_due_12m": paid_to_due(m12),
        "prepayments": len(prepaid),
        "prepaid_share": _ratio(sum(prepaid, Decimal(0)), h.principal),
        **followup_features(h, t),
        **h.static,
    }


def followup_features(h: LoanHistory, t: date) -> dict[str, float]:
    """Contactability, open risk events by group and the latest LTV at the end of day t."""
    since = t - timedelta(days=CONTACT_WINDOW_DAYS)
    failed = sum(1 for on, talked, _rpc in h.attempts if since < on <= t and not talked)
    contacts = [on for on, _talked, rpc in h.attempts if rpc and on <= t]
    contacts += [on for on in h.visits if on <= t]
    last = max(contacts, default=None)
    events_since = t - timedelta(days=EVENT_WINDOW_DAYS)
    open_kinds = [
        kind
        for kind, occurred, gone in h.events
        if events_since < occurred <= t and (gone is None or gone > t)
    ]
    out: dict[str, float] = {
        "failed_attempts_90d": failed,
        "days_since_rpc": (t - last).days if last is not None else math.nan,
    }
    for name, kinds in EVENT_GROUPS.items():
        out[name] = sum(1 for k in open_kinds if k in kinds)
    valued = [v for v in h.valuations if v[0] <= t]
    latest = valued[-1] if valued else None
    ratio = latest[1] if latest is not None else None
    rank = latest[2] if latest is not None else None
    out["ltv_latest"] = ratio if ratio is not None else math.nan
    out["ltv_band_rank"] = rank if rank is not None else math.nan
    return out


def observation_dates(as_of: date, snapshots: int, step_months: int = 3) -> list[date]:
    """Observation dates, oldest first: the last one 12 months before `as_of` (so its
    outcome is known), then every `step_months` back."""
    last = add_months(as_of, -OUTCOME_MONTHS, as_of.day)
    return [add_months(last, -step_months * k, last.day) for k in reversed(range(snapshots))]


def training_table(histories: Iterable[LoanHistory], dates: list[date]) -> pd.DataFrame:
    """One row per (loan, observation date) in the population: ids, target, features."""
    rows: list[dict[str, Any]] = []
    for h in histories:
        for t in dates:
            if eligible(h, t):
                rows.append(
                    {
                        "contract_no": h.contract_no,
                        "observation_date": t,
                        "target": target(h, t),
                        **features_as_of(h, t),
                    }
                )
    columns = ["contract_no", "observation_date", "target", *FEATURES]
    return pd.DataFrame(rows, columns=columns)


def book_as_of(engine: Engine) -> date | None:
    """The book's data date: the latest payment date (None for an empty book)."""
    from sqlalchemy import func

    with engine.connect() as conn:
        latest = conn.execute(select(func.max(m.Payment.paid_on))).scalar()
        if latest is None:
            latest = conn.execute(select(func.max(m.Loan.disbursement_date))).scalar()
    if isinstance(latest, str):  # SQLite returns the aggregate as text
        latest = date.fromisoformat(latest)
    return latest
