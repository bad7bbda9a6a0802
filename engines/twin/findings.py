"""Which clinician-accepted note findings feed the twin, and as which ``nlp.*`` source.

The rules live in ``resources/twin/note_findings.json``: a finding whose kind is listed and whose
label contains one of a rule's keywords enters the twin as that rule's source with value
:data:`FINDING_PRESENT` (a binary flag; the observation model gives each ``nlp.*`` source the
dimension value a present finding stands for and the spread of that value). The caller passes
only findings a clinician accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engines.errors import InputError

from ._io import load_json, need
from .observations import ObservationModel, load_observation_model

NOTE_FINDINGS_FILE = "note_findings.json"
FINDING_KINDS = frozenset({"condition", "risk_factor", "protective_factor"})
FINDING_PRESENT = 1.0


@dataclass(frozen=True)
class FindingRule:
    """Findings of one of ``kinds`` whose label contains a keyword feed ``source``."""

    source: str
    kinds: frozenset[str]
    keywords: tuple[str, ...]

    def matches(self, kind: str, label: str) -> bool:
        text = label.casefold()
        return kind in self.kinds and any(k in text for k in self.keywords)


@dataclass(frozen=True)
class FindingRules:
    """The loaded rules, with their version."""

    version: str
    rules: tuple[FindingRule, ...]

    def sources_for(self, kind: str, label: str) -> tuple[str, ...]:
        """The ``nlp.*`` sources one accepted finding feeds (none when no rule matches)."""
        return tuple(r.source for r in self.rules if r.matches(kind, label))


def load_finding_rules(
    path: str | Path | None = None, model: ObservationModel | None = None
) -> FindingRules:
    """Load and validate the rules (default: the shipped resource file); every rule's source
    must be an ``nlp.*`` source of the observation model."""
    label, doc = load_json(NOTE_FINDINGS_FILE, path, "novamind.twin.note_findings")
    need(doc, "why", str, label)
    model = model or load_observation_model()
    rules: list[FindingRule] = []
    for i, r in enumerate(need(doc, "rules", list, label)):
        where = f"{label}: rules[{i}]"
        source = need(r, "source", str, where)
        if not source.startswith("nlp.") or source not in model.sources:
            raise InputError(f"{where}: source '{source}' is not an nlp.* observation source")
        kinds = need(r, "kinds", list, where)
        if not kinds or not set(kinds) <= FINDING_KINDS:
            raise InputError(
                f"{where}: 'kinds' must be a non-empty subset of {sorted(FINDING_KINDS)}"
            )
        keywords = need(r, "keywords", list, where)
        if not keywords or not all(isinstance(k, str) and k.strip() for k in keywords):
            raise InputError(f"{where}: 'keywords' must be non-empty strings")
        rules.append(
            FindingRule(source, frozenset(kinds), tuple(k.strip().casefold() for k in keywords))
        )
    return FindingRules(version=doc["version"], rules=tuple(rules))
