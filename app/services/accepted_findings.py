"""The note findings a clinician ACCEPTED, read one way for every consumer (the twin's ``nlp.*``
observations in twin_notes, the models' ``nlp_*`` flags in note_flags).

Only ``decisions[i].accepted is True`` in a stored analysis counts: unreviewed, pending and
rejected model output is never returned. Analyses and notes that are deleted are dropped.
A finding is dated at its note's signing, else its writing.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.store.models import ClinicalNote, NlpAnalysis
from app.services._id_sets import in_ids


@dataclass(frozen=True)
class AcceptedFinding:
    analysis_id: str
    note_id: str
    index: int  # the finding's position in the analysis (its decision key)
    kind: str
    label: str
    when: datetime  # the note's signing, else its writing


def accepted_findings(
    session: Session, patient_id: str, now: datetime | None = None
) -> list[AcceptedFinding]:
    """The patient's accepted findings, oldest analysis first (then by finding); with ``now``,
    only those of notes dated on or before it (no look-ahead when training on the past)."""
    return accepted_findings_many(session, [patient_id], now).get(patient_id, [])


def accepted_findings_many(
    session: Session, patient_ids: Collection[str], now: datetime | None = None
) -> dict[str, list[AcceptedFinding]]:
    """``accepted_findings`` for many patients in one query (patients without any are absent
    from the mapping)."""
    if not patient_ids:
        return {}
    rows = session.execute(
        select(
            NlpAnalysis.patient_id,
            NlpAnalysis.id,
            NlpAnalysis.result_json,
            ClinicalNote.id,
            ClinicalNote.signed_at,
            ClinicalNote.created_at,
        )
        .join(ClinicalNote, ClinicalNote.id == NlpAnalysis.note_id)
        .where(
            in_ids(NlpAnalysis.patient_id, patient_ids),
            NlpAnalysis.deleted_at.is_(None),
            ClinicalNote.deleted_at.is_(None),
        )
        .order_by(NlpAnalysis.created_at, NlpAnalysis.id)
    )
    out: dict[str, list[AcceptedFinding]] = {}
    for patient_id, analysis_id, result_json, note_id, signed_at, created_at in rows:
        when = signed_at or created_at
        if now is not None and when > now:
            continue
        found = _accepted_in(analysis_id, note_id, when, result_json)
        if found:
            out.setdefault(patient_id, []).extend(found)
    return out


def _accepted_in(
    analysis_id: str, note_id: str, when: datetime, result_json: str
) -> list[AcceptedFinding]:
    data = json.loads(result_json)
    if not isinstance(data, dict):
        return []
    decisions = data.get("decisions") or {}
    out: list[AcceptedFinding] = []
    for i, finding in enumerate(data.get("findings") or []):
        decision = decisions.get(str(i))
        if not isinstance(decision, dict) or decision.get("accepted") is not True:
            continue
        if not isinstance(finding, dict):
            continue
        kind, label = str(finding.get("kind", "")), str(finding.get("label", ""))
        out.append(AcceptedFinding(analysis_id, note_id, i, kind, label, when))
    return out
