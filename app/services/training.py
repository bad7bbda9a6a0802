"""`novamind train`: retrain the prediction models on the clinic's own records, offline.

Training rows are built only from what the store can label honestly:
- treatment response (≥ 50 % PHQ-9 reduction at 8 weeks) for every treatment plan with a
  baseline PHQ-9 (the last before the start) and a PHQ-9 6-10 weeks after it; features are
  assembled as of the plan's start (no look-ahead);
- relapse and hospitalisation need recorded episodes and admissions, which this client does
  not record yet, so those targets report "insufficient events" and keep their current model.
The engine enforces the minimum events per feature, evaluates on held-out patients, calibrates,
and activates a new version only if it beats the active one.

Trust: only IT runs it (OPERATE_SYSTEM), and the signing key must be one IT issued: its public
half must be in IT's model trust file (setting model_trust_file, beside the site policy), the
same file predictions read. Nothing in the user-writable data folder decides which keys count.
Synthetic (demo) patients never train a "clinic" model: a store with any real patient trains
on its real patients only; a store of synthetic patients only (the demo) trains a model whose
card says "synthetic", shown everywhere as demonstration only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import model_trust_path
from app.core.domain import Action, Principal
from app.core.errors import ValidationError
from app.core.security import rbac
from app.core.store.models import AssessmentResponse, Patient, TreatmentPlan
from app.core.store.store import Actor
from app.services._engine_errors import translates_engine_errors
from app.services._id_sets import in_ids
from app.services.context import AppContext, actor_of
from app.services.model_inputs import build_features_many
from app.services.predictions import clinic_registry_dir, clinic_trusted_keys
from engines.xgb.registry import ModelRegistry
from engines.xgb.signing import key_id_of, public_bytes
from engines.xgb.training import TrainOutcome, train_all

OPTION_OF_PLAN = {
    "SSRI": "ssri",
    "SNRI": "snri",
    "bupropion": "bupropion",
    "NDRI": "bupropion",
    "mirtazapine": "mirtazapine",
    "CBT": "cbt",
    "combination": "combination",
}


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """IT's Ed25519 model-signing key (PEM, unencrypted or with NOVAMIND_SIGNING_PASSPHRASE)."""
    import os

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationError(f"{path}: cannot be read ({exc.strerror})") from None
    passphrase = os.environ.get("NOVAMIND_SIGNING_PASSPHRASE")
    try:
        key = serialization.load_pem_private_key(
            data, password=passphrase.encode() if passphrase else None
        )
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"{path.name}: not a usable PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValidationError(f"{path.name}: the model-signing key must be Ed25519")
    return key


def training_records(session: Session) -> list[dict[str, Any]]:
    """One record per treatment plan with a labelled 8-week response (see module docs).
    Features come set-based: one ``build_features_many`` per distinct plan start (the cut-off)."""
    plans = [
        (plan, OPTION_OF_PLAN[plan.option])
        for plan in session.scalars(select(TreatmentPlan).where(TreatmentPlan.deleted_at.is_(None)))
        if plan.option in OPTION_OF_PLAN
    ]
    phq_of: dict[str, list[tuple[datetime, float]]] = {}
    for pid, at, total in session.execute(
        select(AssessmentResponse.patient_id, AssessmentResponse.administered_at,
               AssessmentResponse.total)
        .where(in_ids(AssessmentResponse.patient_id, {p.patient_id for p, _ in plans}),
               AssessmentResponse.instrument == "phq9",
               AssessmentResponse.deleted_at.is_(None),  # not one deleted in error
               AssessmentResponse.total.is_not(None))  # PHQ-9 always has a total
        .order_by(AssessmentResponse.patient_id, AssessmentResponse.administered_at)
    ):  # fmt: skip
        if total is not None:
            phq_of.setdefault(pid, []).append((at, total))
    labelled: list[tuple[str, datetime, str, int]] = []
    for plan, option in plans:
        start = datetime.combine(plan.start, time(23, 59)).astimezone()
        phq = phq_of.get(plan.patient_id, [])
        before = [v for t, v in phq if t <= start]
        follow = [
            (t, v) for t, v in phq if start + timedelta(weeks=6) <= t <= start + timedelta(weeks=10)
        ]
        if not before or not follow or not before[-1]:
            continue
        week8 = min(follow, key=lambda tv: abs((tv[0] - start) - timedelta(weeks=8)))[1]
        labelled.append((plan.patient_id, start, option, 1 if week8 <= 0.5 * before[-1] else 0))
    by_start: dict[datetime, list[str]] = {}
    for pid, start, _, _ in labelled:
        by_start.setdefault(start, []).append(pid)
    features = {
        (pid, start): f
        for start, pids in by_start.items()
        for pid, f in zip(pids, build_features_many(session, pids, start), strict=True)
    }
    out = []
    for pid, start, option, response in labelled:
        record = dict(features[(pid, start)])
        record.update(treatment=option, group_id=pid, response_8w=response)
        out.append(record)
    return out


def training_set(session: Session) -> tuple[list[dict[str, Any]], str]:
    """The records to train on and their kind: a store with any real patient trains on its
    real patients only ("clinic"); a store of synthetic patients only is "synthetic"."""
    synthetic = set(session.scalars(select(Patient.id).where(Patient.is_synthetic.is_(True))))
    any_real = session.scalar(select(Patient.id).where(Patient.is_synthetic.is_(False)).limit(1))
    records = [r | {"is_synthetic": r["group_id"] in synthetic} for r in training_records(session)]
    if any_real is None:
        return records, "synthetic"
    return [r for r in records if not r["is_synthetic"]], "clinic"


def _trusted_signer(ctx: AppContext, signing_key: Ed25519PrivateKey) -> None:
    """Refuse a signing key whose public half is not in IT's model trust file."""
    key_id = key_id_of(public_bytes(signing_key))
    if key_id not in {k.key_id for k in clinic_trusted_keys(ctx.settings)}:
        raise ValidationError(
            f"the model-signing key {key_id} is not one IT trusts "
            f"(not in {model_trust_path(ctx.settings)})",
            hint="Use the signing key IT issued; IT lists its public key in the model trust "
            "file (policy setting model_trust_file).",
        )


@translates_engine_errors
def train(
    ctx: AppContext,
    who: Principal | Actor,
    signing_key: Ed25519PrivateKey,
    targets: Sequence[str] | None = None,
) -> list[TrainOutcome]:
    """Train, evaluate and (maybe) activate every target on this clinic's records."""
    if isinstance(who, Principal):
        ctx.store.read(lambda s: rbac.require(s, who, Action.OPERATE_SYSTEM))
        actor = actor_of(who)
    else:
        actor = who
    _trusted_signer(ctx, signing_key)
    records, kind = ctx.store.read(training_set)
    root = clinic_registry_dir(ctx.settings)
    root.mkdir(parents=True, exist_ok=True)

    def audit(rec: Any) -> None:  # noqa: ANN401 — engines.xgb.registry.RegistryRecord
        ctx.store.write(
            lambda uow: uow.audit(
                actor,
                f"model.{rec.action}",
                record_type="model",
                record_id=f"{rec.model_name}@{rec.version}"[:36],
                detail={"ok": rec.ok, "detail": rec.detail[:200]},
            )
        )

    registry = ModelRegistry(root, clinic_trusted_keys(ctx.settings), audit=audit)
    described = "this clinic's records" if kind == "clinic" else "synthetic (demo) records"
    return train_all(
        records,
        registry,
        signing_key,
        actor=actor.id,
        training_data={
            "kind": kind,
            "description": f"{len(records)} treatment episodes of {described}, "
            "labelled from PHQ-9 at 8 weeks",
            "n_records": len(records),
        },
        targets=targets,
        allowed_demographics=frozenset(ctx.settings.allowed_demographics),
    )
