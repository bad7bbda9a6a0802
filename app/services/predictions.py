"""Risk and treatment-response predictions: features assembled from the store, scored by the
signed XGBoost models of engines.xgb, stored with provenance, uncertainty and explanations.

Suicide risk is deliberately not an ML score (see engines.xgb.bands.SUICIDE_RISK_NOTICE).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import exists, func, or_, select, true
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.domain import Action, Principal
from app.core.errors import NotFoundError
from app.core.security import rbac
from app.core.store.models import (
    ActigraphySeries,
    AssessmentResponse,
    Encounter,
    Medication,
    NlpAnalysis,
    Patient,
    Prediction,
)
from app.core.store.store import Actor, UnitOfWork
from app.services import model_inputs, phi_audit
from app.services._engine_errors import translates_engine_errors
from app.services._records import add_audited
from app.services.assessments import raise_alerts
from app.services.context import AppContext, actor_of
from app.services.engine_events import prediction_event
from engines.xgb.demo import bundled_registry
from engines.xgb.predict import Prediction as ModelPrediction
from engines.xgb.predict import explain
from engines.xgb.registry import LoadedModel, ModelRegistry
from engines.xgb.signing import TrustedKey

TARGETS = ("relapse_6m", "hosp_90d")
OPTIONS = ("ssri", "snri", "bupropion", "mirtazapine", "cbt", "combination")


@dataclass(frozen=True)
class PredictionView:
    id: str
    target: str
    option: str | None
    probability: float
    interval_low: float
    interval_high: float
    band: str
    model_version: str
    synthetic: bool
    provenance: dict[str, Any]
    notice: str
    contributions: list[dict[str, Any]]
    generated_at: datetime
    # why the model is not shown as a risk score (Brier skill below the minimum); None = shown
    withheld: str | None = None
    missing_inputs: tuple[str, ...] = ()  # labels of the inputs missing for this patient
    patient_id: str = ""  # whose prediction (views read from the store always carry it)

    @property
    def interval_level(self) -> str:
        """The interval's nominal coverage as stored ("90%"), or "" when not stated."""
        return interval_level(self.provenance)

    @property
    def provenance_summary(self) -> str:
        """The provenance in words: the model, what it was trained on, how the interval was made."""
        prov = self.provenance
        if set(prov) == {"note"}:  # a provenance stored as plain text
            return str(prov["note"])
        parts = [f"{prov.get('model', '')} {prov.get('version', '')}".strip()]
        if prov.get("synthetic"):
            parts.append("trained on synthetic data — demonstration only")
        elif prov.get("training_description"):
            parts.append(str(prov["training_description"]))
        if prov.get("interval_method"):
            parts.append(f"interval: {prov['interval_method']}")
        return " · ".join(p for p in parts if p)


def interval_level(provenance: dict[str, Any]) -> str:
    """Nominal coverage of a stored interval ("90%"): the stored figure, else the level its
    coverage or method text states, else ""."""
    nominal = provenance.get("interval_nominal")
    if isinstance(nominal, int | float) and 0 < nominal < 1:
        return f"{nominal:.0%}"
    for key in ("interval_coverage", "interval_method"):  # "90% interval, coverage …"
        found = re.search(r"(\d{2}(?:\.\d)?) ?% interval", str(provenance.get(key, "")))
        if found:
            return f"{found.group(1)}%"
    return "90%" if "90%" in str(provenance.get("interval_method", "")) else ""


def _missing_labels(prov: dict[str, Any], items: list[dict[str, Any]]) -> tuple[str, ...]:
    """Labels of the inputs the model scored without: as stored, or (older rows) read off the
    stored contributions, where a missing input has no value."""
    stored = prov.get("missing_inputs")
    if isinstance(stored, list):
        return tuple(str(m.get("label") or m.get("feature")) for m in stored if isinstance(m, dict))
    return tuple(
        str(c.get("label") or c.get("feature"))
        for c in items
        if isinstance(c, dict) and "value" in c and c["value"] is None
    )


def view_of(r: Prediction) -> PredictionView:
    """One stored prediction as the screens show it (provenance and contributions parsed)."""
    prov = json.loads(r.provenance) if r.provenance.startswith("{") else {"note": r.provenance}
    contrib = json.loads(r.contributions_json)
    items = contrib.get("items", []) if isinstance(contrib, dict) else []
    withheld = prov.get("withheld")
    return PredictionView(
        r.id,
        r.target,
        r.option,
        r.probability,
        r.interval_low,
        r.interval_high,
        r.band,
        r.model_version,
        bool(prov.get("synthetic", True)),
        prov,
        prov.get("notice", ""),
        items,
        r.generated_at,
        str(withheld) if withheld else None,
        _missing_labels(prov, items),
        r.patient_id,
    )


@translates_engine_errors
@functools.cache
def registry() -> ModelRegistry:
    """The shipped, signature-checked demo model registry."""
    return bundled_registry()


def clinic_registry_dir(settings: Settings) -> Path:
    """Where `novamind train` installs the clinic's own signed models."""
    return Path(settings.data_dir) / "models" / "xgb"


@translates_engine_errors
def clinic_trusted_keys(settings: Settings) -> tuple[TrustedKey, ...]:
    """The keys that may sign clinic-trained models: IT's model trust file only (setting
    model_trust_file, default beside the site policy), never a file in the data folder."""
    from app.core.config import model_trust_path
    from engines.xgb.signing import load_trusted_keys

    path = model_trust_path(settings)
    return load_trusted_keys(path) if path.exists() else ()


@translates_engine_errors
def _model_for(name: str, settings: Settings) -> LoadedModel | None:
    """The active clinic-trained model of a target if there is one, else the demo model."""
    root = clinic_registry_dir(settings)
    keys = clinic_trusted_keys(settings)
    if keys and root.is_dir():
        clinic = ModelRegistry(root, keys, read_only=True)
        if name in clinic.names() and clinic.active_version(name) is not None:
            return clinic.load(name)
    reg = registry()
    return reg.load(name) if reg.active_version(name) is not None else None


@translates_engine_errors
def active_model(name: str, settings: Settings) -> LoadedModel:
    """The model every screen scores `name` with now (the patient view, the caseload): the
    clinic's active trained model when there is one, else the demo model."""
    model = _model_for(name, settings)
    if model is None:
        raise NotFoundError(f"No prediction model is active for {name}.")
    return model


def _store(
    uow: UnitOfWork, actor: Actor, p: ModelPrediction, option: str | None, now: datetime
) -> str:
    contributions = [
        {
            "feature": c.feature,
            "label": c.label,
            "unit": c.unit,
            "value": c.value,
            "contribution": c.contribution,
        }
        for c in p.contributions
    ]
    missing = [{"feature": c.feature, "label": c.label} for c in p.contributions if c.value is None]
    row = Prediction(
        patient_id=p.patient_id,
        target=p.target,
        option=option,
        probability=p.probability,
        interval_low=p.interval_low,
        interval_high=p.interval_high,
        band=p.band,
        model_name=p.title,
        model_version=p.model_version,
        provenance=json.dumps(
            {
                **dict(p.provenance),
                "synthetic": p.synthetic,
                "notice": p.notice,
                "interval_method": p.interval_method,
                "withheld": p.withheld,  # the engine's Brier skill rule
                "missing_inputs": missing,
            }
        ),
        contributions_json=json.dumps({"bias": p.bias, "margin": p.margin, "items": contributions}),
        generated_at=now,
        author_id=actor.id,
    )
    detail = {"target": p.target, "model_version": p.model_version}
    add_audited(
        uow, actor, "prediction.generate", row, patient_id=p.patient_id, record_type="prediction",
        detail=detail,
    )  # fmt: skip
    uow.emit(prediction_event(p, row.id))
    return row.id


@translates_engine_errors
def predict_in(
    uow: UnitOfWork,
    actor: Actor,
    patient_id: str,
    now: datetime,
    allowed: frozenset[str],
    settings: Settings | None = None,  # None: the demo models only
) -> list[str]:
    """Run every active model for one patient inside the caller's transaction."""
    features = model_inputs.build_features(uow.session, patient_id, now)
    ids = []
    for name in (*TARGETS, *(f"response_{o}" for o in OPTIONS)):
        model = _model_for(name, settings) if settings is not None else None
        if model is None and registry().active_version(name) is not None:
            model = registry().load(name)
        if model is None:
            continue
        (pred,) = explain(model, [features], allowed_demographics=allowed)
        option = name.removeprefix("response_") if name.startswith("response_") else None
        ids.append(_store(uow, actor, pred, option, now))
    raise_alerts(uow, actor, patient_id, now)
    return ids


@translates_engine_errors
def predict(ctx: AppContext, principal: Principal, patient_id: str) -> list[str]:
    """Score all models for a patient now; returns the stored prediction ids."""
    allowed = frozenset(ctx.settings.allowed_demographics)

    def do(uow: UnitOfWork) -> list[str]:
        rbac.require(uow.session, principal, Action.WRITE_CLINICAL, patient_id)
        return predict_in(
            uow, actor_of(principal), patient_id, datetime.now(UTC), allowed, ctx.settings
        )

    return ctx.store.write(do)


def latest(ctx: AppContext, principal: Principal, patient_id: str) -> list[PredictionView]:
    """The newest live prediction per target/option for a patient (audited read); a deleted
    one (a tombstone synced from another workstation) is left out, as the dashboard does."""

    def read(session: Session) -> list[PredictionView]:
        rbac.require(session, principal, Action.READ_PHI, patient_id)
        rows = session.scalars(
            select(Prediction)
            .where(Prediction.patient_id == patient_id, Prediction.deleted_at.is_(None))
            .order_by(Prediction.generated_at.desc())
        )
        seen: dict[tuple[str, str | None], PredictionView] = {}
        for r in rows:
            key = (r.target, r.option)
            if key in seen:
                continue
            seen[key] = view_of(r)
        return list(seen.values())

    views = ctx.store.read(read)
    phi_audit.audit_read(ctx, principal, **phi_audit.listed("prediction", patient_id, len(views)))
    return views


def get(ctx: AppContext, principal: Principal, prediction_id: str) -> PredictionView:
    """One stored prediction by id, as `latest` shows it (audited read of its patient's record).
    NotFoundError for an unknown id, PermissionDeniedError when its patient is not this
    principal's to read (a caller that must not reveal which ids exist answers both alike)."""

    def read(session: Session) -> PredictionView:
        row = session.get(Prediction, prediction_id)
        if row is None or row.deleted_at is not None:
            raise NotFoundError("That prediction does not exist.")
        rbac.require(session, principal, Action.READ_PHI, row.patient_id)
        return view_of(row)

    view = ctx.store.read(read)
    phi_audit.audit_read(
        ctx,
        principal,
        "prediction.read",
        patient_id=view.patient_id,
        record_type="prediction",
        record_id=view.id,
    )
    return view


#: The records a model input is read from (app/services/model_inputs.py); a change to any of them
#: after a patient was scored makes the stored predictions out of date.
_INPUT_RECORDS = (AssessmentResponse, Medication, Encounter, ActigraphySeries, NlpAnalysis)


def inputs_changed_since_scored(ctx: AppContext, principal: Principal, patient_id: str) -> bool:
    """Whether a record the models read changed after the newest stored prediction was made
    (so the screen can say "Score now" instead of showing old numbers as current). Compares
    write times (created/updated), not clinical dates: an intake typed today about last year
    still makes the scores stale."""

    def read(session: Session) -> bool:
        rbac.require(session, principal, Action.READ_PHI, patient_id)
        scored = session.scalar(
            select(func.max(Prediction.created_at)).where(Prediction.patient_id == patient_id)
        )
        if scored is None:
            return False
        changed = [
            exists()
            .where(model.patient_id == patient_id, model.updated_at > scored)
            .where(Encounter.kind == "admission" if model is Encounter else true())
            for model in _INPUT_RECORDS
        ]
        patient = exists().where(Patient.id == patient_id, Patient.updated_at > scored)
        return bool(session.scalar(select(or_(patient, *changed))))  # one query, stops early

    return ctx.store.read(read)
