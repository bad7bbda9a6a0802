"""Clinician-accepted note findings as twin observations (``nlp.*`` flags, docs/twin.md §2).

Only findings a clinician ACCEPTED are read (``decisions[i].accepted is True`` in the stored
analysis); unreviewed, pending and rejected model output never reaches the twin. Findings of
deleted notes are dropped. One note gives each source at most once (a second analysis of the
same note, or two matching findings, do not count the same evidence twice). Each observation's
id names the analysis record and the finding: ``<analysis id>/<source>/<finding index>``; it is
dated at the note's signing (else its writing).
"""

from __future__ import annotations

import json
from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.store.models import ClinicalNote, NlpAnalysis
from engines.twin.findings import FINDING_PRESENT, FindingRules, load_finding_rules
from engines.twin.observations import Observation


@cache
def finding_rules() -> FindingRules:
    """The shipped rules (resources/twin/note_findings.json), loaded once."""
    return load_finding_rules()


def accepted_finding_observations(session: Session, patient_id: str) -> list[Observation]:
    """One ``nlp.*`` observation per (note, source) backed by a clinician-accepted finding."""
    rules = finding_rules()
    rows = session.execute(
        select(NlpAnalysis, ClinicalNote)
        .join(ClinicalNote, ClinicalNote.id == NlpAnalysis.note_id)
        .where(
            NlpAnalysis.patient_id == patient_id,
            NlpAnalysis.deleted_at.is_(None),
            ClinicalNote.deleted_at.is_(None),
        )
        .order_by(NlpAnalysis.created_at, NlpAnalysis.id)
    )
    out: list[Observation] = []
    seen: set[tuple[str, str]] = set()
    for analysis, note in rows:
        data = json.loads(analysis.result_json)
        decisions = data.get("decisions", {}) if isinstance(data, dict) else {}
        for i, finding in enumerate(data.get("findings", []) if isinstance(data, dict) else []):
            decision = decisions.get(str(i))
            if not isinstance(decision, dict) or decision.get("accepted") is not True:
                continue
            kind, label = finding.get("kind", ""), finding.get("label", "")
            for source in rules.sources_for(str(kind), str(label)):
                if (note.id, source) in seen:
                    continue
                seen.add((note.id, source))
                when = note.signed_at or note.created_at
                out.append(
                    Observation(f"{analysis.id}/{source}/{i}", source, when, FINDING_PRESENT)
                )
    return out
