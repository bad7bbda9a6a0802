"""Illustrative neurotransmitter model of medication classes (teaching aid, not clinical).

Loads ``resources/twin/medication_classes.json``: for each class the signed relative effect on
serotonin, noradrenaline, dopamine, GABA and glutamate, an onset time and small illustrative
effects on twin dimensions used by the what-if projection.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from engines.errors import InputError

from ._io import DIMENSIONS, load_json, need, number

MEDICATION_FILE = "medication_classes.json"
TRANSMITTERS: tuple[str, ...] = ("serotonin", "noradrenaline", "dopamine", "GABA", "glutamate")
REQUIRED_CLASSES = (
    "ssri",
    "snri",
    "ndri",
    "mirtazapine",
    "lithium",
    "antipsychotic",
    "benzodiazepine",
)
ILLUSTRATIVE_LABEL = "Illustrative, not clinical"


@dataclass(frozen=True)
class MedicationClass:
    """One class: transmitter effects (-1..1), onset and illustrative dimension effects."""

    id: str
    display_name: str
    mechanism: str
    effects: Mapping[str, float]
    onset_weeks: float
    dimension_effects: Mapping[str, float]
    refs: tuple[str, ...]
    label: str = ILLUSTRATIVE_LABEL


@dataclass(frozen=True)
class MedicationModel:
    """All classes of the loaded file, with its version and references."""

    version: str
    classes: Mapping[str, MedicationClass]
    references: Mapping[str, str]
    label: str

    def get(self, class_id: str) -> MedicationClass:
        """Look up a class id; unknown ids are a InputError."""
        try:
            return self.classes[class_id]
        except KeyError:
            raise InputError(f"medication model: unknown class '{class_id}'") from None


def load_medication_model(path: str | Path | None = None) -> MedicationModel:
    """Load and validate the medication-class file."""
    label, doc = load_json(MEDICATION_FILE, path, "novamind.twin.medication_classes")
    file_label = need(doc, "label", str, label)
    if "illustrative" not in file_label.lower():
        raise InputError(f"{label}: field 'label' must say the model is illustrative")
    refs = need(doc, "references", dict, label)
    classes: dict[str, MedicationClass] = {}
    for cid, c in need(doc, "classes", dict, label).items():
        where = f"{label}: classes.{cid}"
        effects_doc = need(c, "effects", dict, where)
        effects = {}
        for t in TRANSMITTERS:
            v = number(effects_doc, t, f"{where}.effects")
            if not -1.0 <= v <= 1.0:
                raise InputError(f"{where}.effects: '{t}' must lie in -1..1")
            effects[t] = v
        dim_effects = {}
        for d, v in need(c, "dimension_effects", dict, where).items():
            if d not in DIMENSIONS:
                raise InputError(f"{where}.dimension_effects: unknown dimension '{d}'")
            dim_effects[d] = number({"v": v}, "v", f"{where}.dimension_effects.{d}")
        onset = number(c, "onset_weeks", where)
        if onset <= 0:
            raise InputError(f"{where}: 'onset_weeks' must be positive")
        crefs = need(c, "refs", list, where)
        for ref in crefs:
            if ref not in refs:
                raise InputError(f"{where}: reference '{ref}' not in 'references'")
        classes[cid] = MedicationClass(
            id=cid,
            display_name=need(c, "display_name", str, where),
            mechanism=need(c, "mechanism", str, where),
            effects=effects,
            onset_weeks=onset,
            dimension_effects=dim_effects,
            refs=tuple(crefs),
        )
    missing = [c for c in REQUIRED_CLASSES if c not in classes]
    if missing:
        raise InputError(f"{label}: classes: missing '{missing[0]}'")
    return MedicationModel(doc["version"], classes, dict(refs), file_label)
