"""Model card: what a model predicts, from which features, trained on what, and how well.

The card is JSON next to the model file, signed together with the model hash. The UI's model card
dialog and reliability diagram read it; the predictor reads its calibration and interval maps.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engines.errors import InputError

from .features import FeatureSpec

SCHEMA = "novamind-model-card/1"
_REQUIRED = (
    "schema",
    "name",
    "version",
    "target",
    "outcome",
    "features",
    "model_file",
    "model_format",
    "model_sha256",
    "training_data",
    "created_at",
    "metrics",
    "calibration",
    "intended_use",
    "limits",
    "labels",
)


@dataclass(frozen=True)
class ModelCard:
    """Typed view of a card; ``raw`` is the exact signed JSON document."""

    raw: Mapping[str, Any] = field(repr=False)

    @property
    def name(self) -> str:
        """Model (= target family) name, e.g. 'relapse_6m'."""
        return str(self.raw["name"])

    @property
    def version(self) -> str:
        """Version string within the model name."""
        return str(self.raw["version"])

    @property
    def model_version(self) -> str:
        """'name@version', the id carried by predictions and events."""
        return f"{self.name}@{self.version}"

    @property
    def target(self) -> str:
        """Outcome key (e.g. relapse_6m, response_ssri)."""
        return str(self.raw["target"])

    @property
    def features(self) -> tuple[FeatureSpec, ...]:
        """Input features in model column order."""
        return tuple(FeatureSpec.from_card(f) for f in self.raw["features"])

    @property
    def model_sha256(self) -> str:
        """SHA-256 of the model file this card describes."""
        return str(self.raw["model_sha256"])

    @property
    def synthetic(self) -> bool:
        """True when trained on the synthetic cohort (shown as demonstration only)."""
        return self.raw["training_data"].get("kind") == "synthetic"

    @property
    def calibration(self) -> Mapping[str, Any]:
        """Calibration method, parameters, interval maps and reliability bins."""
        return self.raw["calibration"]

    @property
    def uncertainty(self) -> Mapping[str, Any] | None:
        """Interval method, parameters and measured coverage; None on cards made before it."""
        unc = self.raw.get("uncertainty")
        return unc if isinstance(unc, Mapping) else None

    @property
    def interval_method(self) -> str:
        """How the interval was made, in plain words (shown with each prediction)."""
        unc = self.uncertainty
        if unc is not None:
            return str(unc.get("description") or unc.get("method", ""))
        return str(self.raw["calibration"].get("interval", {}).get("method", "none"))

    @property
    def interval_coverage(self) -> str:
        """e.g. '90% interval, coverage 90.4% on 6,000 held-out synthetic patients'."""
        unc = self.uncertainty
        if unc is None:
            return "coverage not measured (model made before coverage was recorded)"
        return str(unc.get("text", ""))

    @property
    def held_out(self) -> Mapping[str, Any]:
        """Held-out metrics (calibrated) with bootstrap confidence intervals."""
        return self.raw["metrics"]["held_out"]

    def provenance(self) -> dict[str, Any]:
        """Compact provenance attached to each prediction."""
        td = self.raw["training_data"]
        return {
            "model": self.name,
            "version": self.version,
            "model_sha256": self.model_sha256,
            "training_data": td.get("kind"),
            "training_description": td.get("description", ""),
            "created_at": self.raw["created_at"],
            "labels": list(self.raw["labels"]),
            "interval_method": self.interval_method,
            "interval_coverage": self.interval_coverage,
        }

    def to_json(self) -> dict[str, Any]:
        """Plain JSON document (the signed content)."""
        return json.loads(json.dumps(self.raw))


def parse_card(path: Path, data: bytes) -> ModelCard:
    """Parse and structurally validate a card file."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputError(f"{path}: model card is not valid JSON") from None
    return validate_card(doc, where=str(path))


def validate_card(doc: Any, *, where: str) -> ModelCard:
    """Check required fields and types so a bad card fails here, not in the middle of scoring."""
    if not isinstance(doc, dict):
        raise InputError(f"{where}: model card must be a JSON object")
    missing = [k for k in _REQUIRED if k not in doc]
    if missing:
        raise InputError(f"{where}: model card lacks field(s): {', '.join(missing)}")
    if doc["schema"] != SCHEMA:
        raise InputError(f"{where}: unsupported card schema {doc['schema']!r}")
    if doc["model_format"] not in ("json", "ubj"):
        raise InputError(f"{where}: model_format must be 'json' or 'ubj'")
    if not isinstance(doc["features"], list) or not doc["features"]:
        raise InputError(f"{where}: 'features' must be a non-empty list")
    for i, f in enumerate(doc["features"]):
        for k in ("name", "label", "unit", "group"):
            if not isinstance(f, dict) or k not in f:
                raise InputError(f"{where}: features[{i}] lacks '{k}'")
    kind = doc["training_data"].get("kind") if isinstance(doc["training_data"], dict) else None
    if kind not in ("synthetic", "clinic"):
        raise InputError(f"{where}: training_data.kind must be 'synthetic' or 'clinic'")
    cal = doc["calibration"]
    if not isinstance(cal, dict) or cal.get("method") not in ("platt", "isotonic", "none"):
        raise InputError(f"{where}: calibration.method must be platt, isotonic or none")
    unc = doc.get("uncertainty")
    if unc is not None:
        if not isinstance(unc, dict) or not all(
            isinstance(unc.get(k), int | float) for k in ("q", "base_logit_sd")
        ):
            raise InputError(f"{where}: uncertainty section lacks base_logit_sd or q")
    try:
        card = ModelCard(raw=doc)
        card.features  # noqa: B018 - parses every feature spec now
        return card
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{where}: malformed model card ({exc})") from None
