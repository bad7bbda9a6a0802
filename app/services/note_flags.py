"""Clinician-accepted note findings as the prediction models' flag inputs (nlp_*).

The rules (resources/model_inputs/note_flags.json) have the shape of the twin's finding rules
(engines.twin.findings.FindingRule: a kind and a label keyword), but name a model input instead
of a twin source. Only findings a clinician ACCEPTED (``decisions[i].accepted is True`` in the
stored analysis) of notes dated on or before ``now`` count; unreviewed, pending and rejected
model output never sets a flag, and findings of deleted notes are dropped.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.core.errors import ConfigError
from app.services.accepted_findings import accepted_findings_many
from engines.twin.findings import FINDING_KINDS, FindingRule

FORMAT = "novamind.model_inputs.note_flags"
FLAG_INPUTS = (
    "nlp_substance_use",
    "nlp_psychotic_features",
    "nlp_psychosocial_stressor",
    "nlp_hopelessness",
)


def load_note_flag_rules(path: str | Path | None = None) -> tuple[FindingRule, ...]:
    """The rules (default: the shipped file), each a FindingRule whose ``source`` is the model
    input it sets; a malformed file is a ConfigError naming the file and the field."""
    if path is None:
        label = "resources/model_inputs/note_flags.json"
        ref = resources.files("resources") / "model_inputs" / "note_flags.json"
    else:
        label, ref = str(path), Path(path)
    try:
        doc = json.loads(ref.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{label}: cannot be read as JSON ({type(exc).__name__})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ConfigError(f"{label}: field 'format' must be '{FORMAT}'")
    rules_doc = doc.get("rules")
    if not isinstance(rules_doc, list) or not rules_doc:
        raise ConfigError(f"{label}: field 'rules' must be a non-empty list")
    return tuple(_rule(r, f"{label}: rules[{i}]") for i, r in enumerate(rules_doc))


def _rule(r: Any, where: str) -> FindingRule:  # noqa: ANN401 — one parsed JSON value
    if not isinstance(r, dict) or r.get("input") not in FLAG_INPUTS:
        raise ConfigError(f"{where}: 'input' must be one of {', '.join(FLAG_INPUTS)}")
    kinds = r.get("kinds")
    if not isinstance(kinds, list) or not kinds or not set(kinds) <= FINDING_KINDS:
        raise ConfigError(f"{where}: 'kinds' must be a non-empty subset of {sorted(FINDING_KINDS)}")
    words = r.get("keywords")
    if not isinstance(words, list) or not words:
        raise ConfigError(f"{where}: 'keywords' must be a non-empty list")
    if not all(isinstance(k, str) and k.strip() for k in words):
        raise ConfigError(f"{where}: 'keywords' must be non-empty strings")
    return FindingRule(r["input"], frozenset(kinds), tuple(k.strip().casefold() for k in words))


@cache
def note_flag_rules() -> tuple[FindingRule, ...]:
    """The shipped rules, loaded once."""
    return load_note_flag_rules()


def accepted_flags(session: Session, patient_id: str, now: datetime) -> set[str]:
    """The flag inputs a clinician-accepted finding of a note dated on or before ``now`` sets."""
    return accepted_flags_many(session, [patient_id], now).get(patient_id, set())


def accepted_flags_many(
    session: Session, patient_ids: Collection[str], now: datetime
) -> dict[str, set[str]]:
    """``accepted_flags`` for many patients in one query (patients with none are absent)."""
    rules = note_flag_rules()
    out: dict[str, set[str]] = {}
    for patient_id, found in accepted_findings_many(session, patient_ids, now).items():
        flags = {r.source for f in found for r in rules if r.matches(f.kind, f.label)}
        if flags:
            out[patient_id] = flags
    return out
