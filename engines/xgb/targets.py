"""Prediction targets: outcome definitions, populations, feature sets, intended use and limits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .features import FeatureSpec, specs_for

TREATMENT_OPTIONS: tuple[str, ...] = (
    "ssri",
    "snri",
    "bupropion",
    "mirtazapine",
    "cbt",
    "combination",
)
#: Display label of each treatment option; the one source (app.services.vocabulary re-exports it).
OPTION_LABELS: Mapping[str, str] = {
    "ssri": "SSRI",
    "snri": "SNRI",
    "bupropion": "Bupropion (NDRI)",
    "mirtazapine": "Mirtazapine",
    "cbt": "CBT (psychotherapy)",
    "combination": "Antidepressant + psychotherapy",
}

_RELAPSE_FEATURES = (
    "phq9_current",
    "phq9_baseline",
    "gad7_current",
    "anxious_depression",
    "prior_episodes",
    "age_at_onset",
    "adherence_pdc",
    "on_maintenance_ad",
    "sleep_tst_h",
    "sleep_efficiency",
    "circ_is",
    "nlp_psychosocial_stressor",
    "age_years",
)
_HOSP_FEATURES = (
    "prior_admissions",
    "months_since_admission",
    "phq9_current",
    "phq9_slope",
    "adherence_pdc",
    "n_psychotropics",
    "failed_trials",
    "nlp_substance_use",
    "nlp_psychotic_features",
    "nlp_hopelessness",
    "sleep_tst_h",
    "circ_iv",
    "age_years",
)
_RESPONSE_FEATURES = (
    "phq9_baseline",
    "gad7_current",
    "anxious_depression",
    "episode_months",
    "failed_trials",
    "prior_episodes",
    "sleep_tst_h",
    "sleep_efficiency",
    "circ_ra",
    "nlp_psychosocial_stressor",
    "age_years",
)

_COMMON_LIMITS = (
    "Not a diagnosis and not a substitute for clinical judgement.",
    "Suicide risk is not modelled; use the C-SSRS and clinical assessment.",
    "Validated only on the data named in training_data; performance elsewhere is unknown.",
    "Contributions explain the model, not the patient's biology; they are not causal.",
)


@dataclass(frozen=True)
class TargetSpec:
    """One model: which label, for which population, from which features."""

    name: str
    title: str
    outcome: str
    label_key: str
    feature_names: tuple[str, ...]
    treatment: str | None = None  # population filter for response models
    intended_use: str = ""
    limits: tuple[str, ...] = _COMMON_LIMITS

    @property
    def features(self) -> tuple[FeatureSpec, ...]:
        """Feature specs in model column order."""
        return specs_for(self.feature_names)

    @property
    def risk_key(self) -> str:
        """Record key of the true generating risk (synthetic records only; never a feature)."""
        return f"risk_{self.label_key}"

    def risk_of(self, record: Mapping[str, Any]) -> float | None:
        """True risk of a training record when the generator recorded it, else None."""
        v = record.get(self.risk_key)
        return None if v is None else float(v)

    def label_of(self, record: Mapping[str, Any]) -> float | None:
        """Outcome for a training record, or None if the record is not in this population."""
        if self.treatment is not None and record.get("treatment") != self.treatment:
            return None
        v = record.get(self.label_key)
        return None if v is None else float(v)


TARGETS: dict[str, TargetSpec] = {
    "relapse_6m": TargetSpec(
        name="relapse_6m",
        title="Relapse within 6 months",
        outcome="new depressive episode or return to PHQ-9 >= 15 within 6 months of response",
        label_key="relapse_6m",
        feature_names=_RELAPSE_FEATURES,
        intended_use="Prioritise follow-up of patients after response to acute treatment.",
    ),
    "hosp_90d": TargetSpec(
        name="hosp_90d",
        title="Psychiatric hospitalisation within 90 days",
        outcome="any psychiatric inpatient admission within 90 days",
        label_key="hosp_90d",
        feature_names=_HOSP_FEATURES,
        intended_use="Sort a caseload so clinicians review the highest-risk patients first.",
    ),
}
for _opt in TREATMENT_OPTIONS:
    TARGETS[f"response_{_opt}"] = TargetSpec(
        name=f"response_{_opt}",
        title=f"Response to {OPTION_LABELS[_opt]} at 8 weeks",
        outcome=">= 50% reduction of PHQ-9 from baseline at 8 weeks",
        label_key="response_8w",
        feature_names=_RESPONSE_FEATURES,
        treatment=_opt,
        intended_use="Compare options in shared decision-making; never the sole basis for choice.",
    )
