"""The risk officer's collateral pages and `/api/v1` twins, over `services/risk.py`: a loan's
car with its current valuation and LTV band, the valuation history and the inspections;
revaluing the car as of a date and recording an inspection (which revalues as of its date).

Everyone who may read the loan (`loans.read`, own branches) sees the record; only the risk
role (`collateral.manage`) revalues and records inspections. Each change and its audit entry
(`collateral.revalue`, `collateral.inspection`) are one transaction in the service."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from huifang.domain.collateral import Inspection, VehicleCondition
from huifang.security.roles import Permission
from huifang.services import loan_views, risk
from huifang.web.deps import actor, get_engine
from huifang.web.rendering import lang_of, render
from huifang.web.routes.api import ERRORS, ErrorBody
from huifang.web.routes.common import BadRequest, InScope, in_scope, refused, today

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["collateral"])
BAD: dict[int | str, dict[str, object]] = {
    **ERRORS,
    422: {"model": ErrorBody, "description": "参数有误 / invalid request"},
}
CONDITIONS = tuple(VehicleCondition)
MAX_PHOTOS = 20

CollateralLoan = Annotated[
    InScope, in_scope(Permission.LOANS_READ, "loan_id", loan_views.loan_branch)
]
ManagedLoan = Annotated[
    InScope, in_scope(Permission.COLLATERAL_MANAGE, "loan_id", loan_views.loan_branch)
]


def _record(request: Request, loan: InScope) -> risk.CollateralRecord:
    return risk.collateral_record(get_engine(request), loan.id)


def _revalue(request: Request, loan: InScope, as_of: date | None) -> risk.ValuationResult:
    """Revalue the loan's car as of `as_of` (default today) — page and API."""
    engine = get_engine(request)
    record = risk.collateral_record(engine, loan.id)
    return risk.revalue_loan(
        engine,
        record.contract_no,
        as_of or today(request),
        actor=actor(request, loan.principal),
        branch_code=loan.branch,
    )


def _inspection(
    request: Request,
    loan: InScope,
    inspected_on: date | None,
    inspector: str,
    condition: str,
    mileage_km: int | None,
    photos: list[str],
    notes: str,
) -> tuple[int, risk.ValuationResult]:
    """Record an inspection of the loan's car and revalue it as of that day — page and API.
    The inspector defaults to the caller; photos are references to stored files."""
    try:
        grade = VehicleCondition(condition)
    except ValueError:
        raise BadRequest(f"车况无效: {condition}", f"unknown condition: {condition}") from None
    if len(photos) > MAX_PHOTOS:
        raise BadRequest(f"照片最多 {MAX_PHOTOS} 张", f"at most {MAX_PHOTOS} photos")
    try:
        inspection = Inspection(
            inspected_on=inspected_on or today(request),
            inspector=inspector.strip() or loan.principal.display_name,
            condition=grade,
            mileage_km=mileage_km,
            photos=tuple(p.strip() for p in photos),
            notes=notes.strip(),
        )
    except ValueError as exc:
        raise risk.RiskError(str(exc)) from None
    engine = get_engine(request)
    record = risk.collateral_record(engine, loan.id)
    return risk.record_inspection(
        engine,
        record.contract_no,
        inspection,
        actor=actor(request, loan.principal),
        branch_code=loan.branch,
    )


# --- pages -----------------------------------------------------------------------------------


def _panel(
    request: Request, loan: InScope, status: int = 200, message: str | None = None, ok: bool = False
) -> Response:
    return render(
        request,
        "_collateral.html",
        status,
        c=_record(request, loan),
        can_manage=loan.principal.can(Permission.COLLATERAL_MANAGE),
        conditions=CONDITIONS,
        today=today(request),
        message=message,
        ok=ok,
    )


def _message(request: Request, exc: Exception) -> str:
    zh = getattr(exc, "zh", None)
    en = getattr(exc, "en", None)
    if not isinstance(zh, str) or not isinstance(en, str):
        zh, _, en = str(exc).partition(" / ")
        en = en or zh
    return en if lang_of(request) == "en" else zh


@router.get("/loans/{loan_id}/collateral", response_class=HTMLResponse)
def collateral_page(request: Request, loan: CollateralLoan) -> Response:
    """抵押车辆: 当前估值、抵押率分档、估值历史与检查记录 / the car, valuations, inspections."""
    return render(
        request,
        "collateral.html",
        c=_record(request, loan),
        can_manage=loan.principal.can(Permission.COLLATERAL_MANAGE),
        conditions=CONDITIONS,
        today=today(request),
        message=None,
        ok=False,
    )


def _date_field(value: object, what_zh: str, what_en: str) -> date | None:
    text = str(value or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{what_zh}格式应为 YYYY-MM-DD", f"{what_en} must be YYYY-MM-DD") from None


@router.post("/loans/{loan_id}/collateral/revalue", response_class=HTMLResponse)
async def collateral_revalue_page(request: Request, loan: ManagedLoan) -> Response:
    """重新估值 (HTMX, 返回抵押车辆面板) / revalue the car; returns the collateral panel."""
    form = await request.form()
    as_of = form.get("as_of")

    def work() -> Response:
        try:
            result = _revalue(request, loan, _date_field(as_of, "估值日", "valuation date"))
        except (risk.RiskError, BadRequest) as exc:
            return _panel(request, loan, 422, _message(request, exc))
        band = "" if result.band is None else f" · {result.band.code}"
        return _panel(request, loan, message=f"{result.valuation.value}{band}", ok=True)

    return await run_in_threadpool(work)


@router.post("/loans/{loan_id}/collateral/inspections", response_class=HTMLResponse)
async def collateral_inspection_page(request: Request, loan: ManagedLoan) -> Response:
    """登记车辆检查 (HTMX, 返回抵押车辆面板) / record an inspection; returns the panel."""
    form = await request.form()
    fields = {k: str(form.get(k) or "") for k in ("inspected_on", "inspector", "condition",
                                                    "mileage_km", "photos", "notes")}  # fmt: skip

    def work() -> Response:
        try:
            mileage = fields["mileage_km"].strip()
            if mileage and not mileage.isdigit():
                raise BadRequest("里程应为非负整数", "mileage must be a whole number of km")
            inspection_id, _ = _inspection(
                request,
                loan,
                _date_field(fields["inspected_on"], "检查日", "inspection date"),
                fields["inspector"][:60],
                fields["condition"],
                int(mileage) if mileage else None,
                [p for p in fields["photos"].splitlines() if p.strip()],
                fields["notes"][:2000],
            )
        except (risk.RiskError, BadRequest) as exc:
            return _panel(request, loan, 422, _message(request, exc))
        return _panel(request, loan, message=f"#{inspection_id}", ok=True)

    return await run_in_threadpool(work)


# --- API -------------------------------------------------------------------------------------


class ValuationOut(BaseModel):
    id: int | None = None
    as_of: date
    value: Decimal
    outstanding_principal: Decimal
    ltv: Decimal | None
    ltv_band: str | None
    band_zh: str | None = None
    band_en: str | None = None
    params_version: str | None = None
    curve: str
    age_months: Decimal
    mileage_km: int
    mileage_source: str
    condition: str
    inspection_id: int | None = None
    notes: list[dict[str, str]] = []


class InspectionOut(BaseModel):
    id: int
    inspected_on: date
    inspector: str
    condition: str
    condition_zh: str
    mileage_km: int | None
    photos: list[str]
    notes: str


class CollateralOut(BaseModel):
    loan_id: int
    contract_no: str
    vehicle: str
    vin: str
    plate: str | None
    price: Decimal
    current: ValuationOut | None
    valuations: list[ValuationOut]
    inspections: list[InspectionOut]


class RevalueIn(BaseModel):
    as_of: date | None = Field(default=None, description="估值日 (默认今天) / default today")


class RevalueOut(BaseModel):
    valuation: ValuationOut
    ltv_alert: str | None


class InspectionIn(BaseModel):
    inspected_on: date | None = Field(default=None, description="检查日 (默认今天)")
    inspector: str = Field(default="", max_length=60, description="检查人 (默认本人)")
    condition: VehicleCondition
    mileage_km: int | None = Field(default=None, ge=0, le=5_000_000)
    photos: list[str] = Field(default=[], max_length=MAX_PHOTOS)
    notes: str = Field(default="", max_length=2000, description="检查结论 / finding")


class InspectionResultOut(BaseModel):
    inspection_id: int
    valuation: RevalueOut


def _valuation_out(v: risk.ValuationRow) -> ValuationOut:
    return ValuationOut(
        id=v.id,
        as_of=v.as_of,
        value=v.value,
        outstanding_principal=v.outstanding_principal,
        ltv=v.ltv,
        ltv_band=v.ltv_band,
        band_zh=v.band_zh,
        band_en=v.band_en,
        params_version=v.params_version,
        curve=v.curve,
        age_months=v.age_months,
        mileage_km=v.mileage_km,
        mileage_source=v.mileage_source,
        condition=v.condition,
        inspection_id=v.inspection_id,
        notes=[dict(n) for n in v.notes],
    )


def _result_out(r: risk.ValuationResult) -> RevalueOut:
    v = r.valuation
    return RevalueOut(
        valuation=ValuationOut(
            as_of=v.as_of,
            value=v.value,
            outstanding_principal=r.outstanding_principal,
            ltv=r.ltv,
            ltv_band=r.band.code if r.band is not None else None,
            band_zh=r.band.zh if r.band is not None else None,
            band_en=r.band.en if r.band is not None else None,
            curve=v.curve,
            age_months=v.age_months,
            mileage_km=v.mileage_km,
            mileage_source=v.mileage_source,
            condition=v.condition.value,
            notes=[{"code": n.code, "zh": n.zh, "en": n.en} for n in v.notes],
        ),
        ltv_alert=r.ltv_alert,
    )


@api.get("/loans/{loan_id}/collateral", response_model=CollateralOut, responses=ERRORS)
def collateral_api(request: Request, loan: CollateralLoan) -> Any:
    """抵押车辆: 当前估值与抵押率分档、估值历史 (新→旧)、检查记录 / valuations, inspections."""
    c = _record(request, loan)
    return CollateralOut(
        loan_id=c.loan_id,
        contract_no=c.contract_no,
        vehicle=c.vehicle,
        vin=c.vin,
        plate=c.plate,
        price=c.price,
        current=_valuation_out(c.current) if c.current is not None else None,
        valuations=[_valuation_out(v) for v in c.valuations],
        inspections=[
            InspectionOut(
                id=i.id,
                inspected_on=i.inspected_on,
                inspector=i.inspector,
                condition=i.condition,
                condition_zh=i.condition_zh,
                mileage_km=i.mileage_km,
                photos=list(i.photos),
                notes=i.notes,
            )
            for i in c.inspections
        ],
    )


@api.post("/loans/{loan_id}/collateral/revalue", response_model=RevalueOut, responses=BAD)
def collateral_revalue_api(request: Request, loan: ManagedLoan, body: RevalueIn) -> Any:
    """按估值模型重新估值 (风控) / revalue the car with the valuation model (risk role)."""
    try:
        return _result_out(_revalue(request, loan, body.as_of))
    except risk.RiskError as exc:
        return refused(request, exc)


@api.post(
    "/loans/{loan_id}/collateral/inspections", response_model=InspectionResultOut, responses=BAD
)
def collateral_inspection_api(request: Request, loan: ManagedLoan, body: InspectionIn) -> Any:
    """登记车辆检查并按检查日重新估值 (风控) / record an inspection, revalue as of its date."""
    try:
        inspection_id, result = _inspection(
            request,
            loan,
            body.inspected_on,
            body.inspector,
            body.condition.value,
            body.mileage_km,
            body.photos,
            body.notes,
        )
    except (risk.RiskError, BadRequest) as exc:
        return refused(request, exc)
    return InspectionResultOut(inspection_id=inspection_id, valuation=_result_out(result))
