"""Read models of the 3D twin view: region values per date, their evidence, what-if projections
and the inputs of the PDF patient report.

Why: the Qt view must not know the Kalman state layout or the region equation; it asks for a
``TwinTimeline`` (arrays aligned with region ids and dates) once per patient and then scrubs
through it with plain indexing. Everything here is pure Python/NumPy plus service calls (no Qt),
so it runs off the GUI thread.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np
from numpy.typing import NDArray

from app.core.domain import PatientSummary, Principal
from app.core.errors import NotFoundError, ValidationError
from app.services import model_cards, patients, predictions, twin
from app.services._engine_errors import translates_engine_errors
from app.services.context import AppContext
from app.services.predictions import PredictionView
from app.services.vocabulary import DIMENSION_LABELS, OPTION_LABELS, SOURCE_LABELS
from engines.twin import (
    ACTIVITY_LABEL,
    MedicationClass,
    MedicationModel,
    Projection,
    RegionMap,
    TwinState,
    explain_region,
    load_medication_model,
    load_region_map,
    project,
)
from engines.twin.state import Z90 as Z90  # the one 90 % band factor (shared with engines)
from engines.twin.whatif import PROJECTION_LABEL
from engines.xgb.bands import SYNTHETIC_LABEL as SYNTHETIC_LABEL

Array = NDArray[np.float64]

#: Which illustrative medication class drives the projection's small class effect.
OPTION_CLASS: Mapping[str, str] = {
    "ssri": "ssri",
    "snri": "snri",
    "bupropion": "ndri",
    "mirtazapine": "mirtazapine",
    "cbt": "psychotherapy",
    "combination": "ssri",
}
WHATIF_LABEL = (
    "Illustrative projection from a model trained on synthetic data \u2014 "
    "not a prediction for this patient"
)
WHATIF_LABEL_CLINIC = f"{PROJECTION_LABEL}."


@translates_engine_errors
@functools.cache
def region_map() -> RegionMap:
    """The shipped region map (validated once per process)."""
    return load_region_map()


@translates_engine_errors
@functools.cache
def option_medications() -> MedicationModel:
    """The illustrative medication model plus a no-drug class for psychotherapy (CBT).

    The twin's medication file covers drug classes only; CBT has no transmitter effect in this
    illustrative model, so its projection is driven by the response probability alone.
    """
    base = load_medication_model()
    classes = dict(base.classes)
    classes["psychotherapy"] = MedicationClass(
        id="psychotherapy",
        display_name="Psychotherapy (no drug effect)",
        mechanism="no pharmacological effect modelled",
        effects=dict.fromkeys(("serotonin", "noradrenaline", "dopamine", "GABA", "glutamate"), 0.0),
        onset_weeks=4.0,
        dimension_effects={},
        refs=(),
    )
    return replace(base, classes=classes)


@dataclass(frozen=True, eq=False)
class TwinTimeline:
    """A patient's twin resolved into per-region values per grid date (for scrubbing)."""

    patient_id: str
    state: TwinState
    dates: tuple[date, ...]
    region_ids: tuple[str, ...]
    region_names: Mapping[str, str]
    values: Array  # (region, day) activity deviation
    sd: Array  # (region, day)
    region_map_version: str
    label: str = ACTIVITY_LABEL

    def index_of(self, day: date) -> int:
        """Grid index of a date (clamped to the timeline)."""
        return int(np.clip((day - self.dates[0]).days, 0, len(self.dates) - 1))

    def frame(self, index: int) -> dict[str, float]:
        """{region: value} of one grid day, ready for ``TwinScene.set_region_values``."""
        col = self.values[:, index]
        return {rid: float(v) for rid, v in zip(self.region_ids, col)}

    def color_limit(self) -> float:
        """Symmetric colour range covering the whole timeline (rounded up to 0.05)."""
        peak = float(np.nanmax(np.abs(self.values))) if self.values.size else 0.0
        return max(0.1, float(np.ceil(peak * 20.0) / 20.0))

    def region_series(self, region_id: str) -> tuple[Array, Array, Array]:
        """(mean, 5 % band, 95 % band) of one region over the timeline."""
        i = self.region_ids.index(region_id)
        m, s = self.values[i], self.sd[i]
        return m, m - Z90 * s, m + Z90 * s

    @property
    def provenance(self) -> dict[str, str]:
        """Where the numbers come from (twin engine + region map versions)."""
        return {
            **dict(self.state.provenance),
            "twin_state_version": str(self.state.version),
            "region_map_version": self.region_map_version,
        }


@translates_engine_errors
def timeline_from_state(patient_id: str, state: TwinState) -> TwinTimeline:
    """Resolve a twin state into region values for every grid date."""
    rm = region_map()
    values, sd = rm.state_activity(state)
    return TwinTimeline(
        patient_id=patient_id,
        state=state,
        dates=tuple(state.dates()),
        region_ids=rm.ids,
        region_names={r.id: r.display_name for r in rm.regions},
        values=values,
        sd=sd,
        region_map_version=rm.version,
    )


@translates_engine_errors
def load_timeline(ctx: AppContext, principal: Principal, patient_id: str) -> TwinTimeline | None:
    """The latest twin of a patient as a scrubbable timeline (None before any observation)."""
    state = twin.latest_state(ctx, principal, patient_id)
    return None if state is None else timeline_from_state(patient_id, state)


@dataclass(frozen=True)
class EvidenceItem:
    """One observation behind a region's value, in words the clinician reads."""

    obs_id: str
    what: str
    day: date
    dimension: str
    weight: float  # share of the region's observation-driven value (signed)
    contribution: float

    def sentence(self) -> str:
        """Plain-language line (ids only, never free text)."""
        direction = "raised" if self.contribution > 0 else "lowered"
        return (
            f"{self.what} on {self.day.isoformat()} {direction} it via "
            f"{DIMENSION_LABELS.get(self.dimension, self.dimension).lower()} "
            f"(weight {self.weight:+.3f})"
        )


@dataclass(frozen=True)
class RegionDetail:
    """What the side panel shows for one region on one date."""

    region_id: str
    name: str
    day: date
    value: float
    sd: float
    low: float
    high: float
    dimensions: Mapping[str, float]  # dimension → signed weight in the region map
    references: tuple[str, ...]
    evidence: tuple[EvidenceItem, ...]
    prior_note: str
    label: str = ACTIVITY_LABEL


@translates_engine_errors
def region_detail(timeline: TwinTimeline, region_id: str, day: date, top: int = 8) -> RegionDetail:
    """A region's value, uncertainty and the observations that moved it on one grid date."""
    rm = region_map()
    region = rm.region(region_id)
    idx = timeline.index_of(day)
    day = timeline.dates[idx]
    i = timeline.region_ids.index(region_id)
    value, sd = float(timeline.values[i, idx]), float(timeline.sd[i, idx])
    evidence = explain_region(rm, timeline.state, region_id, day)
    items = tuple(
        EvidenceItem(
            e.obs_id,
            SOURCE_LABELS.get(e.source, e.source),
            _obs_day(timeline.state, e.obs_id),
            e.dimension,
            e.region_weight,
            e.contribution,
        )
        for e in evidence[:top]
        if abs(e.region_weight) >= 5e-4  # below this an observation no longer moves the value
    )
    refs = sorted({ref for w in region.weights for ref in w.refs})
    return RegionDetail(
        region_id=region_id,
        name=region.display_name,
        day=day,
        value=value,
        sd=sd,
        low=value - Z90 * sd,
        high=value + Z90 * sd,
        dimensions={w.dimension: w.weight for w in region.weights},
        references=tuple(refs),
        evidence=items,
        prior_note=(
            "No observation informs this region on this date; the value is the model's prior."
            if not evidence
            else ""
        ),
    )


def _obs_day(state: TwinState, obs_id: str) -> date:
    for o in state.observations:
        if o.obs_id == obs_id:
            return o.day
    raise ValidationError(f"twin: observation '{obs_id}' is not part of this state")


@dataclass(frozen=True, eq=False)
class WhatIf:
    """A projection under one option with the prediction that drove it."""

    option: str
    option_label: str
    projection: Projection
    prediction_id: str
    model_version: str
    synthetic: bool
    label: str
    provenance: Mapping[str, str] = field(default_factory=dict)

    def regions_at(self, step: int) -> dict[str, float]:
        """Projected region values at one projection step (for the scene overlay)."""
        p = self.projection
        return {rid: float(v) for rid, v in zip(p.region_ids, p.region_mean[:, step])}


@translates_engine_errors
def whatif_from(
    state: TwinState, option: str, prediction: PredictionView, weeks: int = 12
) -> WhatIf:
    """Project a twin under ``option`` from a stored treatment-response prediction; a model
    withheld as a risk score (no better than the base rate) may not drive a projection."""
    if option not in OPTION_CLASS:
        raise ValidationError(f"what-if: unknown treatment option '{option}'")
    if prediction.withheld:
        raise ValidationError(
            f"No what-if projection for {OPTION_LABELS[option]}. "
            f"{model_cards.not_shown_text(prediction.withheld)}",
            hint="A projection needs a response model that predicts better than the base rate; "
            "the model card says why this one does not.",
        )
    proj = project(
        state,
        option=OPTION_CLASS[option],
        p=float(prediction.probability),
        p_low=float(min(prediction.interval_low, prediction.probability)),
        p_high=float(max(prediction.interval_high, prediction.probability)),
        weeks=weeks,
        medications=option_medications(),
        regions=region_map(),
    )
    prov = {
        **dict(proj.provenance),
        "option": option,
        "medication_class_used": OPTION_CLASS[option],
        "response_model": prediction.model_version,
        "response_prediction_id": prediction.id,
        "response_model_training_data": str(prediction.provenance.get("training_data", "")),
    }
    return WhatIf(
        option=option,
        option_label=OPTION_LABELS[option],
        projection=proj,
        prediction_id=prediction.id,
        model_version=prediction.model_version,
        synthetic=prediction.synthetic,
        label=WHATIF_LABEL if prediction.synthetic else WHATIF_LABEL_CLINIC,
        provenance=prov,
    )


def response_predictions(
    ctx: AppContext, principal: Principal, patient_id: str
) -> dict[str, PredictionView]:
    """The newest treatment-response prediction per option."""
    return {
        p.option: p
        for p in predictions.latest(ctx, principal, patient_id)
        if p.option is not None and p.option in OPTION_CLASS and p.target.startswith("response")
    }


@translates_engine_errors
def whatif(ctx: AppContext, principal: Principal, timeline: TwinTimeline, option: str) -> WhatIf:
    """Project the patient's twin under ``option`` using its latest response prediction."""
    if option not in OPTION_CLASS:
        raise ValidationError(f"what-if: unknown treatment option '{option}'")
    preds = response_predictions(ctx, principal, timeline.patient_id)
    if option not in preds:
        raise NotFoundError(
            f"No treatment-response prediction for {OPTION_LABELS[option]} yet; "
            "run the predictions first."
        )
    return whatif_from(timeline.state, option, preds[option])


@dataclass(frozen=True, eq=False)
class ReportInput:
    """Everything the PDF patient report prints besides the rendered twin images."""

    patient: PatientSummary
    timeline: TwinTimeline
    predictions: tuple[PredictionView, ...]
    whatif: WhatIf | None


def report_input(
    ctx: AppContext,
    principal: Principal,
    timeline: TwinTimeline,
    whatif_result: WhatIf | None = None,
) -> ReportInput:
    """Gather the patient header and every latest prediction with provenance for the report."""
    pid = timeline.patient_id
    return ReportInput(
        patient=patients.get_patient(ctx, principal, pid),
        timeline=timeline,
        predictions=tuple(predictions.latest(ctx, principal, pid)),
        whatif=whatif_result,
    )
