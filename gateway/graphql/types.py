"""GraphQL object types: plain views of what the services return to this principal.

Nested fields that need another service call (a patient's twin, predictions, alerts) resolve
through the same service functions as the root fields; everything else is read from the value
the service already returned (one audited read per record, not one per field).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from app.core.domain import AlertRecord, PatientSummary
from app.services import assessments as assessment_service
from app.services import overview, patients, twin_view
from app.services import predictions as prediction_service
from app.services.assessments import AssessmentRow
from app.services.predictions import PredictionView
from app.services.twin_view import Z90, TwinTimeline
from app.services.vocabulary import DIMENSION_LABELS
from engines.twin import Estimate
from gateway.graphql.context import (
    SCOPE_QUERY,
    charge,
    context_of,
    refusal,
    require_scope,
    service,
)

MAX_TIMELINE_DAYS = 366  # grid days one `timeline` field may return per dimension
DEFAULT_TIMELINE_DAYS = 90


@strawberry.type(description="An alert raised by a rule (critical answer, rising score, ...).")
class Alert:
    id: strawberry.ID
    patient_id: strawberry.ID
    rule: str
    severity: str
    status: str
    triggered_at: datetime
    resolution: str

    @strawberry.field(description="The alert's patient (an audited read, like `patient`).")
    async def patient(self, info: Info) -> Patient | None:
        return await fetch_patient(info, self.patient_id)

    @staticmethod
    def of(a: AlertRecord) -> Alert:
        return Alert(
            id=strawberry.ID(a.id),
            patient_id=strawberry.ID(a.patient_id),
            rule=a.rule,
            severity=a.severity,
            status=a.status,
            triggered_at=a.triggered_at,
            resolution=a.resolution,
        )


@strawberry.type(description="One scored administration of an instrument.")
class Assessment:
    id: strawberry.ID
    patient_id: strawberry.ID
    instrument: str
    administered_at: datetime
    total: float | None
    band: str
    critical: bool
    scoring_rule: str
    mode: str

    @staticmethod
    def of(patient_id: str, r: AssessmentRow) -> Assessment:
        return Assessment(
            id=strawberry.ID(r.id),
            patient_id=strawberry.ID(patient_id),
            instrument=r.instrument,
            administered_at=r.administered_at,
            total=r.total,
            band=r.band,
            critical=r.critical,
            scoring_rule=r.scoring_rule,
            mode=r.mode,
        )


@strawberry.type(description="A stored model output with its provenance and uncertainty.")
class Prediction:
    id: strawberry.ID
    target: str
    option: str | None
    probability: float
    interval_low: float
    interval_high: float
    interval_level: str = strawberry.field(description='Nominal coverage, e.g. "90%".')
    band: str
    model_name: str
    model_version: str
    synthetic: bool = strawberry.field(description="Trained on synthetic data (demo only).")
    notice: str
    withheld: str | None = strawberry.field(
        description="Why the model is not to be shown as a risk score; null when it may be."
    )
    missing_inputs: list[str]
    generated_at: datetime
    provenance_summary: str
    provenance: JSON

    @staticmethod
    def of(v: PredictionView) -> Prediction:
        return Prediction(
            id=strawberry.ID(v.id),
            target=v.target,
            option=v.option,
            probability=v.probability,
            interval_low=v.interval_low,
            interval_high=v.interval_high,
            interval_level=v.interval_level,
            band=v.band,
            model_name=str(v.provenance.get("model", "")),
            model_version=v.model_version,
            synthetic=v.synthetic,
            notice=v.notice,
            withheld=v.withheld,
            missing_inputs=list(v.missing_inputs),
            generated_at=v.generated_at,
            provenance_summary=v.provenance_summary,
            provenance=cast(JSON, v.provenance),
        )


@strawberry.type(description="A twin dimension on one day: mean, SD and 90 % band (0-1 scale).")
class DimensionEstimate:
    dimension: str
    label: str
    day: date
    mean: float
    sd: float
    low: float
    high: float
    extrapolated: bool


@strawberry.type(description="A brain region's modelled activity deviation on one day.")
class RegionValue:
    id: str
    name: str
    day: date
    value: float
    sd: float
    low: float
    high: float


def _timeline_days(days: int) -> int:
    if not 1 <= days <= MAX_TIMELINE_DAYS:
        raise refusal(f"days must be 1-{MAX_TIMELINE_DAYS}", "BAD_USER_INPUT")
    return days


@strawberry.type(description="The latest digital twin: a model estimate, never a measurement.")
class Twin:
    patient_id: strawberry.ID
    version: int
    start: date
    as_of: date
    observation_model_version: str
    region_map_version: str
    activity_label: str
    provenance: JSON
    observation_count: int
    timeline_: strawberry.Private[TwinTimeline]

    @staticmethod
    def of(t: TwinTimeline) -> Twin:
        s = t.state
        return Twin(
            patient_id=strawberry.ID(t.patient_id),
            version=s.version,
            start=s.start,
            as_of=s.as_of,
            observation_model_version=s.observation_model_version,
            region_map_version=t.region_map_version,
            activity_label=t.label,
            provenance=cast(JSON, t.provenance),
            observation_count=len(s.observations),
            timeline_=t,
        )

    @strawberry.field(description="Every dimension on `at` (default: asOf), with uncertainty.")
    def dimensions(self, at: date | None = None) -> list[DimensionEstimate]:
        s = self.timeline_.state
        return [_estimate(e) for e in s.at(at or s.as_of).values()]

    @strawberry.field(description="Daily estimates for the last `days` grid days up to asOf.")
    def timeline(
        self, dimension: str | None = None, days: int = DEFAULT_TIMELINE_DAYS
    ) -> list[DimensionEstimate]:
        s = self.timeline_.state
        grid = s.dates()[-_timeline_days(days) :]
        if dimension is not None and dimension not in s.dimensions:
            raise refusal("unknown twin dimension", "BAD_USER_INPUT")
        dims = [dimension] if dimension else list(s.dimensions)
        charge(points=len(dims) * len(grid))
        return [_estimate(s.estimate(d, day)) for d in dims for day in grid]

    @strawberry.field(description="Region activity on `at` (default: asOf, clamped to the grid).")
    def regions(self, at: date | None = None) -> list[RegionValue]:
        t = self.timeline_
        i = t.index_of(at or t.state.as_of)
        day = t.dates[i]
        out = []
        for r, rid in enumerate(t.region_ids):
            m, sd = float(t.values[r, i]), float(t.sd[r, i])
            out.append(RegionValue(id=rid, name=t.region_names[rid], day=day, value=m, sd=sd,
                                   low=m - Z90 * sd, high=m + Z90 * sd))  # fmt: skip
        return out


def _estimate(e: Estimate) -> DimensionEstimate:
    return DimensionEstimate(
        dimension=e.dimension,
        label=DIMENSION_LABELS.get(e.dimension, e.dimension),
        day=e.day,
        mean=e.mean,
        sd=e.sd,
        low=e.low,
        high=e.high,
        extrapolated=e.extrapolated,
    )


@strawberry.type(description="A new twin snapshot, with the twin as this client may read it.")
class TwinUpdate:
    snapshot_id: strawberry.ID
    patient_id: strawberry.ID
    twin: Twin | None


@strawberry.type(description="A patient's demographics as the service returns them.")
class Patient:
    id: strawberry.ID
    mrn: str
    display_name: str
    birth_date: date
    sex: str
    status: str
    is_synthetic: bool
    assigned: bool = strawberry.field(description="In this client's care team.")
    open_alerts: int
    latest_risk_band: str

    @staticmethod
    def of(p: PatientSummary) -> Patient:
        return Patient(
            id=strawberry.ID(p.id),
            mrn=p.mrn,
            display_name=p.display_name,
            birth_date=p.birth_date,
            sex=p.sex,
            status=p.status,
            is_synthetic=p.is_synthetic,
            assigned=p.assigned,
            open_alerts=p.open_alerts,
            latest_risk_band=p.latest_risk_band,
        )

    @strawberry.field(description="The patient's latest twin (null before any observation).")
    async def twin(self, info: Info) -> Twin | None:
        return await fetch_twin(info, self.id)

    @strawberry.field(description="The newest prediction per target and option.")
    async def predictions(self, info: Info) -> list[Prediction]:
        return await fetch_predictions(info, self.id)

    @strawberry.field(description="Every alert of the patient, newest first.")
    async def alerts(self, info: Info) -> list[Alert]:
        return await fetch_patient_alerts(info, self.id)

    @strawberry.field(description="Scored administrations, oldest first.")
    async def assessments(
        self, info: Info, instrument: Annotated[str | None, strawberry.argument()] = None
    ) -> list[Assessment]:
        return await fetch_assessments(info, self.id, instrument)


# --- fetchers: one service call each, as the client's principal -------------------------------


async def fetch_patient(info: Info, patient_id: str) -> Patient:
    ctx = context_of(info)
    require_scope(ctx, SCOPE_QUERY)
    return Patient.of(await service(ctx, patients.get_patient, str(patient_id)))


async def fetch_twin(info: Info, patient_id: str) -> Twin | None:
    ctx = context_of(info)
    require_scope(ctx, SCOPE_QUERY)
    t = await service(ctx, twin_view.load_timeline, str(patient_id))
    return None if t is None else Twin.of(t)


async def fetch_predictions(info: Info, patient_id: str) -> list[Prediction]:
    ctx = context_of(info)
    require_scope(ctx, SCOPE_QUERY)
    views = await service(ctx, prediction_service.latest, str(patient_id))
    return [Prediction.of(v) for v in views]


async def fetch_patient_alerts(info: Info, patient_id: str) -> list[Alert]:
    ctx = context_of(info)
    require_scope(ctx, SCOPE_QUERY)
    rows = await service(ctx, overview.list_patient_alerts, str(patient_id))
    return [Alert.of(a) for a in rows]


async def fetch_assessments(
    info: Info, patient_id: str, instrument: str | None = None
) -> list[Assessment]:
    ctx = context_of(info)
    require_scope(ctx, SCOPE_QUERY)
    rows = await service(ctx, assessment_service.history, str(patient_id), instrument)
    return [Assessment.of(str(patient_id), r) for r in rows]
