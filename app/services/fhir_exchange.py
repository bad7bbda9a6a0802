"""FHIR R4 exchange of a patient's assessments: export a Bundle file, import one back.

The FHIR work (Questionnaire / QuestionnaireResponse / Observation, validation with the FHIR
model, re-scoring every response with the local instrument) is engines.scoring.fhir; this module
adds what needs the store: RBAC, reading and writing the patient's records in ONE transaction,
audit and events. A bad file raises ValidationError naming the file and the problem and stores
nothing.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.domain import Action, Principal
from app.core.errors import NotFoundError, ValidationError
from app.core.events import Change, PatientDataUpdated, RecordType
from app.core.security import rbac
from app.core.store.models import AssessmentResponse, Patient
from app.core.store.store import UnitOfWork
from app.services import phi_audit
from app.services._engine_errors import engine_errors, translates_engine_errors
from app.services.assessments import _stored_result, raise_alerts, record_assessment
from app.services.context import AppContext, actor_of
from engines.scoring.fhir import (
    BUNDLE_LIMITS,
    AssessmentRecord,
    export_bundle_json,
    import_bundle,
)

MAX_BUNDLE_BYTES = BUNDLE_LIMITS.max_bytes
IMPORT_MODE = "fhir-import"


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote."""

    path: Path
    assessments: int


@dataclass(frozen=True)
class ImportSummary:
    """What an import stored: new assessment ids, skipped duplicates and alerts raised."""

    path: Path
    assessment_ids: tuple[str, ...]
    duplicates: int
    alert_ids: tuple[str, ...]


@translates_engine_errors
def export_assessments(
    ctx: AppContext, principal: Principal, patient_id: str, path: Path | str
) -> ExportSummary:
    """Write the patient's assessments as a FHIR R4 collection Bundle (audited PHI export)."""
    path = Path(path)

    def read(session: Session) -> list[AssessmentRecord]:
        rbac.require(session, principal, Action.READ_PHI, patient_id)
        if session.get(Patient, patient_id) is None:
            raise NotFoundError("That patient record does not exist.")
        rows = session.scalars(
            select(AssessmentResponse)
            .where(AssessmentResponse.patient_id == patient_id)
            .order_by(AssessmentResponse.administered_at)
        )
        return [
            AssessmentRecord(r.id, patient_id, r.administered_at, _stored_result(r)) for r in rows
        ]

    records = ctx.store.read(read)
    text = export_bundle_json(records)
    _write_atomic(path, text)
    phi_audit.record_disclosure(
        ctx, principal, patient_id, kind="fhir", destination=path, records=len(records)
    )
    return ExportSummary(path, len(records))


def _write_atomic(path: Path, text: str) -> None:
    """Write via a temp file + rename so a crash never leaves half a bundle."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise ValidationError(f"{path.name}: cannot be written ({exc.strerror})") from None


def read_bundle_file(path: Path | str) -> tuple[AssessmentRecord, ...]:
    """Read and validate a Bundle file with the engine; errors name the file (no store access).

    The file is streamed (BUNDLE_LIMITS: size, nesting, counts and dates are checked before
    or while parsing), so a hostile or very large file neither crashes nor exhausts memory.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BUNDLE_BYTES:
            raise ValidationError(
                f"{path.name}: file is {size // (1024 * 1024)} MiB, larger than the "
                f"{MAX_BUNDLE_BYTES // (1024 * 1024)} MiB limit for a FHIR bundle"
            )
        with path.open("rb") as fh, engine_errors():
            return import_bundle(fh)
    except OSError as exc:
        raise ValidationError(f"{path.name}: cannot be read ({exc.strerror})") from None
    except ValidationError as exc:
        if str(exc).startswith(f"{path.name}: "):
            raise
        raise ValidationError(f"{path.name}: {exc}") from None


@translates_engine_errors
def import_assessments(
    ctx: AppContext, principal: Principal, patient_id: str, path: Path | str
) -> ImportSummary:
    """Import a Bundle file's assessments into a patient: all records in one transaction.

    The bundle's own patient reference is another system's id; the records are filed under
    ``patient_id``, chosen by the user. A response already stored for this patient (same
    instrument, time and answers) is skipped, so importing a file twice stores it once.
    """
    path = Path(path)
    records = read_bundle_file(path)  # invalid → ValidationError before the store is touched

    def do(uow: UnitOfWork) -> ImportSummary:
        rbac.require(uow.session, principal, Action.WRITE_CLINICAL, patient_id)
        if uow.session.get(Patient, patient_id) is None:
            raise NotFoundError("That patient record does not exist.")
        actor = actor_of(principal)
        existing = {
            _key(r.instrument, r.administered_at, _stored_result(r).answers)
            for r in uow.session.scalars(
                select(AssessmentResponse).where(AssessmentResponse.patient_id == patient_id)
            )
        }
        created: list[str] = []
        duplicates = 0
        for rec in records:
            res = rec.result
            key = _key(res.instrument_id, rec.authored, res.answers)
            if key in existing:
                duplicates += 1
                continue
            existing.add(key)
            try:
                outcome = record_assessment(
                    uow,
                    actor,
                    patient_id,
                    res.instrument_id,
                    dict(res.answers),
                    administered_at=rec.authored,
                    mode=IMPORT_MODE,
                    params=dict(res.parameters),
                    evaluate_alerts=False,
                )
            except ValidationError as exc:  # rolls the whole import back
                raise ValidationError(f"{path.name}: {exc}") from None
            created.append(outcome.assessment_id)
        alert_ids = raise_alerts(uow, actor, patient_id, datetime.now(UTC)) if created else []
        uow.audit(
            actor,
            "fhir.import",
            patient_id=patient_id,
            record_type="assessment",
            detail={"count": len(created), "duplicates": duplicates},
        )
        if created:
            uow.emit(
                PatientDataUpdated(
                    patient_id=patient_id,
                    record_type=RecordType.ASSESSMENT,
                    record_id=created[-1],
                    change=Change.CREATED,
                )
            )
        return ImportSummary(path, tuple(created), duplicates, tuple(alert_ids))

    return ctx.store.write(do)


def _key(instrument_id: str, at: datetime, answers: tuple[tuple[str, int], ...]) -> str:
    return json.dumps([instrument_id, at.astimezone(UTC).isoformat(), sorted(answers)])
