"""XGBoost prediction engine: signed model registry, feature assembly, calibrated risk and
treatment-response predictions with TreeSHAP explanations. Pure logic: no database, no Qt."""

from .bands import BANDS, SUICIDE_RISK_NOTICE, SYNTHETIC_LABEL, risk_band
from .device import DeviceReport, detect_device
from .features import CATALOGUE, FeatureSpec, assemble_matrix, specs_for
from .predict import (
    CaseloadScores,
    Contribution,
    Prediction,
    explain,
    score_caseload,
)
from .registry import LoadedModel, ModelRegistry, RegistryRecord
from .signing import TrustedKey, load_trusted_keys
from .targets import TARGETS, TREATMENT_OPTIONS
from .training import TrainConfig, TrainOutcome, train_all

__all__ = [
    "BANDS", "CATALOGUE", "SUICIDE_RISK_NOTICE", "SYNTHETIC_LABEL", "TARGETS", "TREATMENT_OPTIONS",
    "CaseloadScores", "Contribution", "DeviceReport", "FeatureSpec", "LoadedModel", "ModelRegistry",
    "Prediction", "RegistryRecord", "TrainConfig", "TrainOutcome", "TrustedKey", "assemble_matrix",
    "detect_device", "explain", "load_trusted_keys", "risk_band",
    "score_caseload", "specs_for", "train_all",
]  # fmt: skip
