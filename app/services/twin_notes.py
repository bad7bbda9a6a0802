"""Clinician-accepted note findings as twin observations (``nlp.*`` flags, docs/twin.md §2).

Only findings a clinician ACCEPTED are read (app.services.accepted_findings, shared with the
models' note flags); unreviewed, pending and rejected model output never reaches the twin.
Findings of deleted notes are dropped. One note gives each source at most once (a second
analysis of the same note, or two matching findings, do not count the same evidence twice).
Each observation's id names the analysis record and the finding:
``<analysis id>/<source>/<finding index>``; it is dated at the note's signing (else its writing).
"""

from __future__ import annotations

from functools import cache

from sqlalchemy.orm import Session

from app.services.accepted_findings import accepted_findings
from engines.twin.findings import FINDING_PRESENT, FindingRules, load_finding_rules
from engines.twin.observations import Observation


@cache
def finding_rules() -> FindingRules:
    """The shipped rules (resources/twin/note_findings.json), loaded once."""
    return load_finding_rules()


def accepted_finding_observations(session: Session, patient_id: str) -> list[Observation]:
    """One ``nlp.*`` observation per (note, source) backed by a clinician-accepted finding."""
    rules = finding_rules()
    out: list[Observation] = []
    seen: set[tuple[str, str]] = set()
    for f in accepted_findings(session, patient_id):
        for source in rules.sources_for(f.kind, f.label):
            if (f.note_id, source) in seen:
                continue
            seen.add((f.note_id, source))
            out.append(
                Observation(f"{f.analysis_id}/{source}/{f.index}", source, f.when, FINDING_PRESENT)
            )
    return out
