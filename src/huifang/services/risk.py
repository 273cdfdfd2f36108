"""Risk use cases: revalue collateral, record inspections, run the early-warning rules, work
alerts through their lifecycle, and record tier changes.

Each public function is one unit of work (one transaction; the whole-book runs commit per
chunk of loans, and are idempotent, so a run that stops half-way is simply run again). The
arithmetic is the domain's: `huifang.domain.collateral` values the car, `posting` folds the
payments into the loan's position, `early_warning` evaluates the rules, `tiering` sets tiers.
This module only loads rows, builds the domain inputs and stores the results.

Inputs from elsewhere in the book:

* outstanding principal for LTV: the position's outstanding principal less held credit
  (溢缴款), e.g. a prepayment posted as a payment and not yet applied (docs/collateral.md);
* findings: rows of `risk_events` (written by follow-up visits) whose `kind` is one of the
  early-warning `EventKind` values (income-drop, job-loss, vehicle-sold,
  vehicle-transferred, vehicle-damaged, health-event); other kinds are not rule inputs,
  and events marked ``superseded`` (a correction took their basis away) are ignored;
* contact attempts: `followup_attempts` that were made (not refused by the compliance
  guard); one that reached a conversation counts as a success, any other as a failure.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, selectinload

from huifang.domain.collateral import (
    Inspection,
    LtvBand,
    Valuation,
    ValuationParameters,
    VehicleCondition,
    VehicleFacts,
    latest_inspection,
    ltv,
    ltv_alert,
    ltv_band,
    months_between,
    value_vehicle,
)
from huifang.domain.delinquency import days_past_due
from huifang.domain.early_warning import (
    FINDING_KINDS,
    AlertHit,
    AlertState,
    AlertStatus,
    EvaluationContext,
    EventKind,
    IndustryWatchlist,
    InstallmentRecord,
    LoanSnapshot,
    RiskEvent,
    RuleSet,
    StoredAlert,
    acknowledge,
    evaluate,
    plan_alerts,
    resolve,
)
from huifang.domain.money import ZERO
from huifang.domain.posting import LoanPosition, position_as_of
from huifang.domain.schedule import build_schedule
from huifang.domain.tiering import (
    BehaviourScore,
    RiskInputs,
    RiskTier,
    TierReason,
    down_payment_ratio,
    origination_tier,
    risk_tier,
)
from huifang.risk_rules import TierSettings, load_rule_set, load_tier_settings, load_watchlist
from huifang.security import audit
from huifang.services.followup import local_date
from huifang.services.loan_views import ledger_events, loan_terms, posting_rules
from huifang.store.db import transaction
from huifang.store.followup_models import ContactAttempt
from huifang.store.followup_models import RiskEvent as RiskEventRow
from huifang.store.models import Loan
from huifang.store.risk_models import (
    CollateralValuation,
    RiskAlert,
    RiskTierChange,
    VehicleInspection,
)
from huifang.valuation_params import load_valuation_params

TZ = ZoneInfo("Asia/Shanghai")
CHUNK = 200
Progress = Callable[[int, int], None]


class RiskError(ValueError):
    """A request the risk services cannot carry out (bad input, missing record)."""


class NotFound(RiskError, LookupError):
    """No such loan or alert."""


@dataclass(frozen=True)
class RiskConfig:
    """Every parameter the risk services use, each from its versioned file."""

    valuation: ValuationParameters
    rules: RuleSet
    watchlist: IndustryWatchlist
    tiers: TierSettings

    @property
    def context(self) -> EvaluationContext:
        return EvaluationContext(self.valuation.ltv_bands, self.watchlist)


def load_risk_config(
    valuation: Path | None = None,
    rules: Path | None = None,
    watchlist: Path | None = None,
    tiers: Path | None = None,
) -> RiskConfig:
    """The packaged parameter files, or the given ones; all validated on load."""
    params = load_valuation_params(valuation)
    return RiskConfig(
        valuation=params,
        rules=load_rule_set(rules, bands=params.ltv_bands),
        watchlist=load_watchlist(watchlist),
        tiers=load_tier_settings(tiers),
    )


def _now() -> datetime:
    return datetime.now(TZ)


# --- the loan's state from its rows ----------------------------------------------------------


@dataclass(frozen=True)
class LoanState:
    """A loan's position on a date, as the risk rules need it."""

    position: LoanPosition
    dpd: int
    exposure: Decimal  # outstanding principal less held credit, never below zero
    installments: tuple[InstallmentRecord, ...]


def loan_state(loan: Loan, as_of: date) -> LoanState:
    """Fold the loan's schedule and payments as of `as_of` (see `huifang.domain.posting`)."""
    schedule = build_schedule(loan_terms(loan, loan.product))
    position = position_as_of(
        schedule, ledger_events(loan.payments), as_of, posting_rules(loan.product)
    )
    due_dates = [i.due_date for i in position.installments]
    received: dict[int, Decimal] = defaultdict(Decimal)
    for allocation in position.allocations:
        if allocation.amount <= 0:
            continue  # held credit applied later is not new cash
        # the installment whose period (previous due date, due date] holds the payment
        index = bisect_left(due_dates, allocation.posted_on)
        if index < len(due_dates):
            received[position.installments[index].period] += allocation.amount
    records = tuple(
        InstallmentRecord(
            period=i.period,
            due_date=i.due_date,
            amount_due=i.principal_due + i.interest_due,
            received=received[i.period],
            settled_on=i.settled_on,
        )
        for i in position.installments
        if i.due_date <= as_of
    )
    exposure = max(ZERO, position.outstanding_principal - position.credit)
    return LoanState(position, days_past_due(position), exposure, records)


def vehicle_facts(loan: Loan) -> VehicleFacts:
    """The financed car as the valuation sees it; the price is what this loan financed."""
    v = loan.vehicle
    return VehicleFacts(
        price=loan.vehicle_price,
        purchased_on=loan.disbursement_date,
        fuel_type=v.fuel_type,
        brand=v.brand,
        segment=v.segment,
        used=v.condition == "used",
        first_registration=v.first_registration_date,
        model_year=v.model_year,
        mileage_km=v.mileage_km,
    )


def _inspection(row: VehicleInspection) -> Inspection:
    return Inspection(
        inspected_on=row.inspected_on,
        inspector=row.inspector,
        condition=VehicleCondition(row.condition),
        mileage_km=row.mileage_km,
        photos=tuple(row.photos or ()),
        notes=row.notes or "",
    )


def _load_loans(s: Session, where: Iterable[object]) -> list[Loan]:
    q = (
        select(Loan)
        .where(*where)
        .options(
            selectinload(Loan.vehicle),
            selectinload(Loan.product),
            selectinload(Loan.payments),
            selectinload(Loan.borrower),
        )
        .order_by(Loan.id)
    )
    return list(s.scalars(q))


def _loan(s: Session, contract_no: str) -> Loan:
    found = _load_loans(s, [Loan.contract_no == contract_no])
    if not found:
        raise NotFound(f"没有合同 {contract_no} / no loan {contract_no}")
    return found[0]


def _book_ids(s: Session, as_of: date, contract_nos: Sequence[str] | None) -> list[int]:
    q = select(Loan.id).where(Loan.status == "active", Loan.disbursement_date <= as_of)
    if contract_nos is not None:
        q = q.where(Loan.contract_no.in_(list(contract_nos)))
    return list(s.scalars(q.order_by(Loan.id)))


# --- valuation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValuationResult:
    """A stored valuation with its LTV, band and any LTV alert it raised."""

    contract_no: str
    valuation: Valuation
    outstanding_principal: Decimal
    ltv: Decimal | None
    band: LtvBand | None
    ltv_alert: str | None = None


def _previous_band(s: Session, loan_id: int, as_of: date) -> str | None:
    return s.scalar(
        select(CollateralValuation.ltv_band)
        .where(
            CollateralValuation.loan_id == loan_id,
            CollateralValuation.as_of < as_of,
        )
        .order_by(CollateralValuation.as_of.desc(), CollateralValuation.id.desc())
        .limit(1)
    )


def _revalue(s: Session, loan: Loan, as_of: date, config: RiskConfig) -> ValuationResult:
    params = config.valuation
    rows = list(
        s.scalars(
            select(VehicleInspection).where(
                VehicleInspection.vehicle_id == loan.vehicle_id,
                VehicleInspection.inspected_on <= as_of,
            )
        )
    )
    pairs = [(_inspection(r), r) for r in rows]
    chosen = latest_inspection([i for i, _ in pairs], as_of)
    chosen_row = next((r for i, r in reversed(pairs) if i is chosen), None)
    valuation = value_vehicle(vehicle_facts(loan), as_of, params, chosen)
    exposure = loan_state(loan, as_of).exposure if loan.status == "active" else ZERO
    ratio = ltv(exposure, valuation) if valuation.value > 0 else None
    bands = params.ltv_bands
    band = ltv_band(ratio, bands) if ratio is not None else None
    alert_text = None
    if band is not None:
        previous = _previous_band(s, loan.id, as_of)
        alert = ltv_alert(bands.by_code(previous) if previous else None, band, bands)
        alert_text = alert.zh if alert is not None else None
    row = s.scalar(
        select(CollateralValuation).where(
            CollateralValuation.loan_id == loan.id,
            CollateralValuation.as_of == as_of,
            CollateralValuation.params_version == params.version,
        )
    )
    if row is None:
        row = CollateralValuation(loan_id=loan.id, as_of=as_of, params_version=params.version)
        s.add(row)
    row.vehicle_id = loan.vehicle_id
    row.value = valuation.value
    row.outstanding_principal = exposure
    row.ltv = ratio
    row.ltv_band = band.code if band is not None else None
    row.curve = valuation.curve
    row.age_months = valuation.age_months
    row.mileage_km = valuation.mileage_km
    row.mileage_source = valuation.mileage_source
    row.base_retention = valuation.base_retention
    row.mileage_factor = valuation.mileage_factor
    row.condition = valuation.condition.value
    row.condition_factor = valuation.condition_factor
    row.inspection_id = chosen_row.id if chosen_row is not None else None
    row.notes = [{"code": n.code, "zh": n.zh, "en": n.en} for n in valuation.notes]
    s.flush()
    return ValuationResult(loan.contract_no, valuation, exposure, ratio, band, alert_text)


def _valuation_detail(result: ValuationResult) -> dict[str, object]:
    return {
        "as_of": result.valuation.as_of.isoformat(),
        "value": str(result.valuation.value),
        "ltv": None if result.ltv is None else str(result.ltv),
        "band": result.band.code if result.band is not None else None,
    }


def revalue_loan(
    engine: Engine,
    contract_no: str,
    as_of: date,
    config: RiskConfig | None = None,
    *,
    actor: audit.Actor | None = None,
    branch_code: str | None = None,
) -> ValuationResult:
    """Value one loan's car as of `as_of` and store it (again, if already valued that day).

    With an `actor` (the web's risk officer) the revaluation and its audit entry
    `collateral.revalue` are one transaction."""
    config = config or load_risk_config()
    with transaction(engine) as s:
        loan = _loan(s, contract_no)
        if as_of < loan.disbursement_date:
            raise RiskError(
                f"估值日 {as_of} 早于放款日 {loan.disbursement_date}"
                f" / valuation date before disbursement ({loan.disbursement_date})"
            )
        if as_of > _now().date():
            raise RiskError(f"估值日 {as_of} 在未来 / valuation date in the future")
        try:
            result = _revalue(s, loan, as_of, config)
        except ValueError as exc:
            raise RiskError(f"{contract_no}: {exc}") from None
        if actor is not None:
            audit.record(
                s,
                actor,
                "collateral.revalue",
                target_type="loan",
                target_id=loan.id,
                branch_code=branch_code,
                detail=_valuation_detail(result),
            )
        return result


@dataclass
class RevalueReport:
    """What a whole-book revaluation did."""

    as_of: date
    valued: int = 0
    by_band: dict[str, int] = field(default_factory=dict)
    ltv_alerts: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def revalue_book(
    engine: Engine,
    as_of: date,
    config: RiskConfig | None = None,
    progress: Progress | None = None,
    contract_nos: Sequence[str] | None = None,
) -> RevalueReport:
    """Revalue every active loan disbursed on or before `as_of` (or the given contracts).

    Commits per chunk of loans; a loan whose car cannot be valued (e.g. a used car with no
    registration date or model year) is reported in `failed` and the run goes on.
    """
    config = config or load_risk_config()
    report = RevalueReport(as_of)
    with transaction(engine) as s:
        ids = _book_ids(s, as_of, contract_nos)
    total = len(ids)
    for start in range(0, total, CHUNK):
        with transaction(engine) as s:
            for loan in _load_loans(s, [Loan.id.in_(ids[start : start + CHUNK])]):
                try:
                    with s.begin_nested():
                        result = _revalue(s, loan, as_of, config)
                except ValueError as exc:
                    report.failed.append((loan.contract_no, str(exc)))
                    continue
                report.valued += 1
                if result.band is not None:
                    code = result.band.code
                    report.by_band[code] = report.by_band.get(code, 0) + 1
                if result.ltv_alert:
                    report.ltv_alerts.append((loan.contract_no, result.ltv_alert))
        if progress is not None:
            progress(min(start + CHUNK, total), total)
    return report


def record_inspection(
    engine: Engine,
    contract_no: str,
    inspection: Inspection,
    config: RiskConfig | None = None,
    *,
    actor: audit.Actor | None = None,
    branch_code: str | None = None,
) -> tuple[int, ValuationResult]:
    """Store an inspection of the loan's car and revalue the car as of the inspection date.

    Idempotent: the same inspection (vehicle, date, inspector) recorded again with the same
    content is a no-op; with different content it is refused — an inspection record is
    evidence and is corrected by a new record, not overwritten.
    """
    config = config or load_risk_config()
    with transaction(engine) as s:
        loan = _loan(s, contract_no)
        if inspection.inspected_on < loan.disbursement_date:
            raise RiskError(f"检查日 {inspection.inspected_on} 早于放款日 {loan.disbursement_date}")
        if inspection.inspected_on > _now().date():
            raise RiskError(f"检查日 {inspection.inspected_on} 在未来 / in the future")
        row = s.scalar(
            select(VehicleInspection).where(
                VehicleInspection.vehicle_id == loan.vehicle_id,
                VehicleInspection.inspected_on == inspection.inspected_on,
                VehicleInspection.inspector == inspection.inspector,
            )
        )
        if row is not None:
            if _inspection(row) != inspection:
                raise RiskError(
                    f"{inspection.inspected_on} {inspection.inspector} 的检查记录已存在且内容不同"
                    " / a different inspection by this inspector on this day is already recorded"
                )
        else:
            row = VehicleInspection(
                vehicle_id=loan.vehicle_id,
                loan_id=loan.id,
                inspected_on=inspection.inspected_on,
                inspector=inspection.inspector,
                mileage_km=inspection.mileage_km,
                condition=inspection.condition.value,
                photos=list(inspection.photos),
                notes=inspection.notes or None,
            )
            s.add(row)
            s.flush()
            if actor is not None:  # a new record (the same one again is a no-op)
                audit.record(
                    s,
                    actor,
                    "collateral.inspection",
                    target_type="loan",
                    target_id=loan.id,
                    branch_code=branch_code,
                    detail={
                        "inspection_id": row.id,
                        "inspected_on": inspection.inspected_on.isoformat(),
                        "inspector": inspection.inspector,
                        "condition": inspection.condition.value,
                        "mileage_km": inspection.mileage_km,
                        "photos": len(inspection.photos),
                    },
                )
        try:
            result = _revalue(s, loan, inspection.inspected_on, config)
        except ValueError as exc:
            raise RiskError(f"{contract_no}: {exc}") from None
        return row.id, result


@dataclass(frozen=True)
class ValuationRow:
    """One stored valuation of a loan's car (a row of `collateral_valuations`)."""

    id: int
    as_of: date
    params_version: str
    value: Decimal
    outstanding_principal: Decimal
    ltv: Decimal | None
    ltv_band: str | None
    band_zh: str | None
    band_en: str | None
    curve: str
    age_months: Decimal
    mileage_km: int
    mileage_source: str
    condition: str
    inspection_id: int | None
    notes: tuple[dict[str, str], ...]


@dataclass(frozen=True)
class InspectionRow:
    """One recorded inspection of the car."""

    id: int
    inspected_on: date
    inspector: str
    condition: str
    condition_zh: str
    mileage_km: int | None
    photos: tuple[str, ...]
    notes: str


@dataclass(frozen=True)
class CollateralRecord:
    """A loan's car with its valuations (newest first) and inspections (newest first)."""

    loan_id: int
    contract_no: str
    disbursement_date: date
    vehicle: str
    vin: str
    plate: str | None
    price: Decimal
    valuations: tuple[ValuationRow, ...]
    inspections: tuple[InspectionRow, ...]

    @property
    def current(self) -> ValuationRow | None:
        return self.valuations[0] if self.valuations else None


def collateral_record(
    engine: Engine, loan_id: int, config: RiskConfig | None = None
) -> CollateralRecord:
    """The loan's car, its valuation history and inspections (indexed reads of one loan)."""
    bands = (config or load_risk_config()).valuation.ltv_bands
    with transaction(engine) as s:
        loan = s.scalar(select(Loan).where(Loan.id == loan_id).options(selectinload(Loan.vehicle)))
        if loan is None:
            raise NotFound(f"没有贷款 {loan_id} / no loan {loan_id}")
        vehicle = loan.vehicle
        valuations = s.scalars(
            select(CollateralValuation)
            .where(CollateralValuation.loan_id == loan.id)
            .order_by(CollateralValuation.as_of.desc(), CollateralValuation.id.desc())
        )
        inspections = s.scalars(
            select(VehicleInspection)
            .where(VehicleInspection.vehicle_id == loan.vehicle_id)
            .order_by(VehicleInspection.inspected_on.desc(), VehicleInspection.id.desc())
        )
        rows = []
        for v in valuations:
            band = next((b for b in bands.bands if b.code == v.ltv_band), None)
            rows.append(
                ValuationRow(
                    id=v.id,
                    as_of=v.as_of,
                    params_version=v.params_version,
                    value=v.value,
                    outstanding_principal=v.outstanding_principal,
                    ltv=v.ltv,
                    ltv_band=v.ltv_band,
                    band_zh=band.zh if band else None,
                    band_en=band.en if band else None,
                    curve=v.curve,
                    age_months=v.age_months,
                    mileage_km=v.mileage_km,
                    mileage_source=v.mileage_source,
                    condition=v.condition,
                    inspection_id=v.inspection_id,
                    notes=tuple(v.notes or ()),
                )
            )
        return CollateralRecord(
            loan_id=loan.id,
            contract_no=loan.contract_no,
            disbursement_date=loan.disbursement_date,
            vehicle=" ".join(
                str(x) for x in (vehicle.brand, vehicle.model, vehicle.model_year) if x
            ),
            vin=vehicle.vin,
            plate=vehicle.plate,
            price=loan.vehicle_price,
            valuations=tuple(rows),
            inspections=tuple(
                InspectionRow(
                    id=i.id,
                    inspected_on=i.inspected_on,
                    inspector=i.inspector,
                    condition=i.condition,
                    condition_zh=VehicleCondition(i.condition).zh,
                    mileage_km=i.mileage_km,
                    photos=tuple(i.photos or ()),
                    notes=i.notes or "",
                )
                for i in inspections
            ),
        )


# --- early-warning alerts --------------------------------------------------------------------


def _risk_events(s: Session, loan_ids: Sequence[int], as_of: date) -> dict[int, list[RiskEvent]]:
    out: dict[int, list[RiskEvent]] = defaultdict(list)
    kinds = [k.value for k in FINDING_KINDS]
    for row in s.scalars(
        select(RiskEventRow).where(
            RiskEventRow.loan_id.in_(loan_ids),
            RiskEventRow.kind.in_(kinds),
            RiskEventRow.occurred_on <= as_of,
            RiskEventRow.status != "superseded",  # its basis was corrected away
        )
    ):
        detail = str((row.details or {}).get("detail") or (row.details or {}).get("reason") or "")
        out[row.loan_id].append(
            RiskEvent(EventKind(row.kind), row.occurred_on, f"risk-event:{row.id}", detail)
        )
    for attempt in s.scalars(
        select(ContactAttempt).where(
            ContactAttempt.loan_id.in_(loan_ids), ContactAttempt.status == "made"
        )
    ):
        on = local_date(attempt.started_at, TZ)  # SQLite hands the instant back naive, in UTC
        if on > as_of:
            continue
        kind = EventKind.CONTACT_SUCCEEDED if attempt.was_conversation else EventKind.CONTACT_FAILED
        out[attempt.loan_id].append(RiskEvent(kind, on, f"attempt:{attempt.id}"))
    return out


def _ltv_history(
    s: Session, loan_ids: Sequence[int], as_of: date
) -> dict[int, list[tuple[date, Decimal]]]:
    out: dict[int, list[tuple[date, Decimal]]] = defaultdict(list)
    rows = s.execute(
        select(CollateralValuation.loan_id, CollateralValuation.as_of, CollateralValuation.ltv)
        .where(
            CollateralValuation.loan_id.in_(loan_ids),
            CollateralValuation.as_of <= as_of,
            CollateralValuation.ltv.is_not(None),
        )
        .order_by(CollateralValuation.as_of, CollateralValuation.id)
    )
    for loan_id, on, value in rows:
        history = out[loan_id]
        if history and history[-1][0] == on:
            history[-1] = (on, value)  # two parameter versions on one day: the later row
        else:
            history.append((on, value))
    return out


def snapshot(
    loan: Loan,
    as_of: date,
    events: Sequence[RiskEvent] = (),
    ltv_history: Sequence[tuple[date, Decimal]] = (),
) -> LoanSnapshot:
    """The early-warning rules' view of a loan (`huifang.domain.early_warning.LoanSnapshot`)."""
    state = loan_state(loan, as_of)
    return LoanSnapshot(
        contract_no=loan.contract_no,
        as_of=as_of,
        dpd=state.dpd,
        oldest_overdue_due_date=state.position.oldest_overdue_due_date if state.dpd else None,
        installments=state.installments,
        ltv_history=tuple(ltv_history),
        industry=loan.borrower.industry,
        events=tuple(events),
    )


@dataclass
class AlertRunReport:
    """What an evaluation run did."""

    as_of: date
    rules_version: str
    loans: int = 0
    new: int = 0
    refreshed: int = 0
    already_resolved: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)
    failed: list[tuple[str, str]] = field(default_factory=list)
    new_ids: list[int] = field(default_factory=list)  # the alerts this run opened


def _store_hits(
    s: Session,
    loans: Mapping[str, int],
    hits: Sequence[AlertHit],
    as_of: date,
    report: AlertRunReport,
) -> None:
    if not hits:
        return
    stored = list(
        s.scalars(select(RiskAlert).where(RiskAlert.loan_id.in_(list(set(loans.values())))))
    )
    plan = plan_alerts(
        hits,
        [StoredAlert(a.key, a.contract_no, a.rule_id, AlertStatus(a.status)) for a in stored],
    )
    by_key = {a.key: a for a in stored}
    now = _now()
    for key, hit in plan.refresh:
        row = by_key[key]
        row.last_seen_on = max(row.last_seen_on, as_of)
        row.facts = dict(hit.facts)
        row.title_zh, row.title_en = hit.zh, hit.en
        row.rule_version = hit.rule_version
    opened: list[RiskAlert] = []
    for hit in plan.new:
        opened.append(
            RiskAlert(
                key=hit.key,
                loan_id=loans[hit.contract_no],
                contract_no=hit.contract_no,
                rule_id=hit.rule_id,
                rule_version=hit.rule_version,
                episode=hit.episode,
                severity=hit.severity.value,
                actions=[a.value for a in hit.actions],
                title_zh=hit.zh,
                title_en=hit.en,
                facts=dict(hit.facts),
                status=AlertStatus.OPEN.value,
                first_seen_on=as_of,
                last_seen_on=as_of,
                opened_at=now,
            )
        )
        report.by_rule[hit.rule_id] = report.by_rule.get(hit.rule_id, 0) + 1
    s.add_all(opened)
    report.new += len(plan.new)
    report.refreshed += len(plan.refresh)
    report.already_resolved += len(plan.already_resolved)
    s.flush()
    report.new_ids.extend(row.id for row in opened)


def evaluate_alerts(
    engine: Engine,
    as_of: date,
    config: RiskConfig | None = None,
    contract_nos: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> AlertRunReport:
    """Run the early-warning rules over active loans as of `as_of` and upsert the alerts.

    Idempotent: running it again on the same data changes nothing but `last_seen_on`; a
    loan keeps at most one unresolved alert per rule (`huifang.domain.early_warning`).
    """
    config = config or load_risk_config()
    report = AlertRunReport(as_of, config.rules.version)
    with transaction(engine) as s:
        ids = _book_ids(s, as_of, contract_nos)
    total = len(ids)
    ctx = config.context
    for start in range(0, total, CHUNK):
        chunk = ids[start : start + CHUNK]
        with transaction(engine) as s:
            loans = _load_loans(s, [Loan.id.in_(chunk)])
            events = _risk_events(s, chunk, as_of)
            history = _ltv_history(s, chunk, as_of)
            hits: list[AlertHit] = []
            for loan in loans:
                try:
                    snap = snapshot(loan, as_of, events[loan.id], history[loan.id])
                except ValueError as exc:
                    report.failed.append((loan.contract_no, str(exc)))
                    continue
                hits.extend(evaluate(config.rules, snap, ctx))
                report.loans += 1
            _store_hits(s, {loan.contract_no: loan.id for loan in loans}, hits, as_of, report)
        if progress is not None:
            progress(min(start + CHUNK, total), total)
    return report


@dataclass(frozen=True)
class AlertView:
    """An alert as pages and the CLI show it."""

    id: int
    key: str
    contract_no: str
    rule_id: str
    rule_version: str
    severity: str
    status: str
    actions: tuple[str, ...]
    title_zh: str
    title_en: str
    facts: Mapping[str, str]
    first_seen_on: date
    last_seen_on: date
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None
    resolution_note: str | None


def _view(row: RiskAlert) -> AlertView:
    return AlertView(
        id=row.id,
        key=row.key,
        contract_no=row.contract_no,
        rule_id=row.rule_id,
        rule_version=row.rule_version,
        severity=row.severity,
        status=row.status,
        actions=tuple(row.actions or ()),
        title_zh=row.title_zh,
        title_en=row.title_en,
        facts=dict(row.facts or {}),
        first_seen_on=row.first_seen_on,
        last_seen_on=row.last_seen_on,
        acknowledged_by=row.acknowledged_by,
        acknowledged_at=row.acknowledged_at,
        resolved_by=row.resolved_by,
        resolved_at=row.resolved_at,
        resolution_note=row.resolution_note,
    )


_SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}


def list_alerts(
    engine: Engine,
    status: AlertStatus | None = None,
    contract_no: str | None = None,
) -> list[AlertView]:
    """Alerts, most severe first, then oldest first."""
    with transaction(engine) as s:
        q = select(RiskAlert)
        if status is not None:
            q = q.where(RiskAlert.status == status.value)
        if contract_no is not None:
            q = q.where(RiskAlert.contract_no == contract_no)
        rows = [_view(r) for r in s.scalars(q)]
    return _ordered(rows)


def _ordered(rows: Iterable[AlertView]) -> list[AlertView]:
    return sorted(rows, key=lambda a: (_SEVERITY_ORDER.get(a.severity, 9), a.first_seen_on, a.id))


def evaluate_loan_alerts(engine: Engine, as_of: date, contract_no: str) -> list[AlertView]:
    """Run the early-warning rules for one loan now (a visit has just recorded its findings)
    and return the alerts this opened, most severe first — so the risk officer sees them at
    once and the caller can show them, without listing the loan's alerts before and after."""
    report = evaluate_alerts(engine, as_of, contract_nos=[contract_no])
    if not report.new_ids:
        return []
    with transaction(engine) as s:
        rows = s.scalars(select(RiskAlert).where(RiskAlert.id.in_(report.new_ids)))
        return _ordered(_view(r) for r in rows)


def _state(row: RiskAlert) -> AlertState:
    return AlertState(
        status=AlertStatus(row.status),
        acknowledged_by=row.acknowledged_by,
        acknowledged_at=row.acknowledged_at,
        resolved_by=row.resolved_by,
        resolved_at=row.resolved_at,
        resolution_note=row.resolution_note,
    )


def _apply(row: RiskAlert, state: AlertState) -> None:
    row.status = state.status.value
    row.acknowledged_by = state.acknowledged_by
    row.acknowledged_at = state.acknowledged_at
    row.resolved_by = state.resolved_by
    row.resolved_at = state.resolved_at
    row.resolution_note = state.resolution_note


def _alert_row(s: Session, alert_id: int) -> RiskAlert:
    row = s.get(RiskAlert, alert_id, with_for_update=True)
    if row is None:
        raise NotFound(f"没有预警 {alert_id} / no alert {alert_id}")
    return row


def acknowledge_alert(
    engine: Engine, alert_id: int, actor: str, at: datetime | None = None
) -> AlertView:
    """open → acknowledged (`huifang.domain.early_warning.acknowledge`)."""
    with transaction(engine) as s:
        row = _alert_row(s, alert_id)
        _apply(row, acknowledge(_state(row), actor, at or _now()))
        s.flush()
        return _view(row)


def resolve_alert(
    engine: Engine, alert_id: int, actor: str, note: str, at: datetime | None = None
) -> AlertView:
    """open/acknowledged → resolved with a note (`huifang.domain.early_warning.resolve`)."""
    with transaction(engine) as s:
        row = _alert_row(s, alert_id)
        _apply(row, resolve(_state(row), actor, at or _now(), note))
        s.flush()
        return _view(row)


# --- tiers -----------------------------------------------------------------------------------


@dataclass
class TierRunReport:
    """What a tier assessment run recorded."""

    as_of: date
    loans: int = 0
    changes: list[tuple[str, str, str | None, str]] = field(default_factory=list)
    by_tier: dict[str, int] = field(default_factory=dict)
    failed: list[tuple[str, str]] = field(default_factory=list)


def _reasons(reasons: Sequence[TierReason]) -> list[dict[str, str]]:
    return [{"code": r.code, "tier": r.tier.value, "zh": r.zh, "en": r.en} for r in reasons]


def _last_tiers(s: Session, loan_ids: Sequence[int], as_of: date) -> dict[tuple[int, str], str]:
    out: dict[tuple[int, str], str] = {}
    rows = s.execute(
        select(RiskTierChange.loan_id, RiskTierChange.kind, RiskTierChange.tier)
        .where(RiskTierChange.loan_id.in_(loan_ids), RiskTierChange.as_of <= as_of)
        .order_by(RiskTierChange.as_of, RiskTierChange.id)
    )
    for loan_id, kind, tier in rows:
        out[(loan_id, kind)] = tier
    return out


def assess_tiers(
    engine: Engine,
    as_of: date,
    config: RiskConfig | None = None,
    behaviour: Mapping[str, BehaviourScore] | None = None,
    contract_nos: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> TierRunReport:
    """Set each active loan's origination and risk tier as of `as_of`; record changes only.

    `behaviour` maps contract numbers to the behaviour model's scores (absent: the tier is
    set without one, and the reasons say so). LTV is the latest stored valuation on or
    before `as_of`; open alerts are those not resolved. Idempotent for a given date.
    """
    config = config or load_risk_config()
    settings = config.tiers
    scores = behaviour or {}
    report = TierRunReport(as_of)
    with transaction(engine) as s:
        ids = _book_ids(s, as_of, contract_nos)
    total = len(ids)
    for start in range(0, total, CHUNK):
        chunk = ids[start : start + CHUNK]
        with transaction(engine) as s:
            loans = _load_loans(s, [Loan.id.in_(chunk)])
            last = _last_tiers(s, chunk, as_of)
            history = _ltv_history(s, chunk, as_of)
            severities: dict[int, list[str]] = defaultdict(list)
            for loan_id, severity in s.execute(
                select(RiskAlert.loan_id, RiskAlert.severity).where(
                    RiskAlert.loan_id.in_(chunk),
                    RiskAlert.status != AlertStatus.RESOLVED.value,
                    RiskAlert.first_seen_on <= as_of,
                )
            ):
                severities[loan_id].append(severity)
            for loan in loans:
                try:
                    origination = origination_tier(
                        loan.credit_score,
                        down_payment_ratio(loan.down_payment, loan.vehicle_price),
                        settings.origination,
                    )
                    state = loan_state(loan, as_of)
                    ltv_now = history[loan.id][-1][1] if history[loan.id] else None
                    assessment = risk_tier(
                        RiskInputs(
                            origination=origination.tier,
                            months_on_book=int(months_between(loan.disbursement_date, as_of)),
                            dpd=state.dpd,
                            behaviour=scores.get(loan.contract_no),
                            ltv=ltv_now,
                            open_alert_severities=tuple(severities[loan.id]),
                        ),
                        settings.risk,
                    )
                except ValueError as exc:
                    report.failed.append((loan.contract_no, str(exc)))
                    continue
                report.loans += 1
                tier = assessment.tier.value
                report.by_tier[tier] = report.by_tier.get(tier, 0) + 1
                for kind, current, reasons in (
                    ("origination", origination.tier, origination.reasons),
                    ("risk", assessment.tier, assessment.reasons),
                ):
                    before = last.get((loan.id, kind))
                    previous = RiskTier(before) if before else None
                    if previous is current:
                        continue
                    s.add(
                        RiskTierChange(
                            loan_id=loan.id,
                            kind=kind,
                            as_of=as_of,
                            previous_tier=before,
                            tier=current.value,
                            reasons=_reasons(reasons),
                            settings_version=settings.version,
                        )
                    )
                    report.changes.append((loan.contract_no, kind, before, current.value))
            s.flush()
        if progress is not None:
            progress(min(start + CHUNK, total), total)
    return report


def tier_history(engine: Engine, contract_no: str) -> list[dict[str, object]]:
    """A loan's recorded tier changes, oldest first."""
    with transaction(engine) as s:
        loan = _loan(s, contract_no)
        rows = s.scalars(
            select(RiskTierChange)
            .where(RiskTierChange.loan_id == loan.id)
            .order_by(RiskTierChange.as_of, RiskTierChange.id)
        )
        return [
            {
                "kind": r.kind,
                "as_of": r.as_of,
                "previous_tier": r.previous_tier,
                "tier": r.tier,
                "reasons": list(r.reasons),
                "settings_version": r.settings_version,
            }
            for r in rows
        ]


__all__ = [
    "AlertRunReport",
    "AlertView",
    "CollateralRecord",
    "NotFound",
    "RevalueReport",
    "RiskConfig",
    "RiskError",
    "TierRunReport",
    "ValuationResult",
    "acknowledge_alert",
    "assess_tiers",
    "collateral_record",
    "evaluate_alerts",
    "evaluate_loan_alerts",
    "list_alerts",
    "load_risk_config",
    "loan_state",
    "record_inspection",
    "resolve_alert",
    "revalue_book",
    "revalue_loan",
    "snapshot",
    "tier_history",
    "vehicle_facts",
]
