"""Seeded synthetic cohort for the demonstration models.

No public clinical dataset may be shipped, so the demo models learn from simulated patients. The
generator draws correlated features (a latent severity drives symptoms, sleep and history), hides
some of them the way real records are incomplete, and draws outcomes from logistic models whose
base rates and effect directions follow the literature. Every effect is listed in ``EFFECTS`` with
its source and an evidence grade: "literature (approx.)" where a published figure was converted to
a log-odds coefficient (the conversion is approximate), "illustrative" where the direction is
plausible but the size was chosen for the demo. docs/models.md renders this table.

Each record also carries the *true generating risk* of each outcome (``risk_relapse_6m``,
``risk_hosp_90d``, ``risk_response_8w`` for the assigned treatment), computed from the full,
unmasked features. Real records never have it; it exists so the prediction intervals' coverage
can be measured on held-out synthetic patients. It is never a model input (``RISK_PREFIX``).

The cohort is for demonstrating the software; it says nothing about real patients.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .targets import TREATMENT_OPTIONS

Arrays = dict[str, np.ndarray]

#: Keys of the true generating risk in each record; reserved, never a feature name.
RISK_PREFIX = "risk_"


@dataclass(frozen=True)
class Effect:
    """One term of an outcome's logistic model."""

    outcome: str
    feature: str
    coefficient: float  # log-odds per unit of `unit`
    unit: str
    evidence: str  # "literature (approx.)" | "illustrative"
    source: str
    term: Callable[[Arrays], np.ndarray]


#: Base rates the intercepts are solved for (see docs/models.md for sources).
BASE_RATES: dict[str, tuple[float, str]] = {
    "relapse_6m": (
        0.25,
        "approx.; between the ~18% (on drug) and ~41% (placebo) relapse rates "
        "of Geddes et al. 2003 over 1-3 years and STAR*D 12-month rates "
        "(Rush et al. 2006), scaled to 6 months — illustrative",
    ),
    "hosp_90d": (0.06, "illustrative outpatient rate, no source"),
    "response_ssri": (
        0.47,
        "STAR*D level 1 (citalopram) response 47% (Trivedi et al. 2006); "
        "used here as an approximate 8-week rate",
    ),
    "response_snri": (0.49, "approx.; SNRIs slightly above citalopram in Cipriani et al. 2018"),
    "response_bupropion": (0.47, "approx.; similar to citalopram in Cipriani et al. 2018"),
    "response_mirtazapine": (0.50, "approx.; mirtazapine among the higher ORs in Cipriani 2018"),
    "response_cbt": (
        0.47,
        "approx.; CBT comparable to medication for moderate-severe depression "
        "(DeRubeis et al. 2005)",
    ),
    "response_combination": (
        0.57,
        "approx.; combined treatment better than medication alone "
        "(Cuijpers et al. 2014, g about 0.4)",
    ),
}

_L = "literature (approx.)"
_I = "illustrative"


def _resp(
    feature: str,
    coef: float,
    unit: str,
    evidence: str,
    source: str,
    term: Callable[[Arrays], np.ndarray],
) -> list[Effect]:
    return [
        Effect(f"response_{o}", feature, coef, unit, evidence, source, term)
        for o in TREATMENT_OPTIONS
    ]


EFFECTS: tuple[Effect, ...] = (
    # --- relapse within 6 months ---
    Effect(
        "relapse_6m",
        "phq9_current",
        0.20,
        "PHQ-9 point of residual symptoms",
        _L,
        "Paykel et al. 1995 (residual symptoms: relapse 76% vs 25%); Judd et al. 1998",
        lambda a: a["phq9_current"],
    ),
    Effect(
        "relapse_6m",
        "prior_episodes",
        0.15,
        "prior episode (capped at 8)",
        _L,
        "Solomon et al. 2000 (recurrence risk +16% per prior recurrence)",
        lambda a: np.minimum(a["prior_episodes"], 8),
    ),
    Effect(
        "relapse_6m",
        "on_maintenance_ad x adherence_pdc",
        -1.2,
        "fully adherent maintenance",
        _L,
        "Geddes et al. 2003 (continuation reduces relapse odds by about 70%)",
        lambda a: a["on_maintenance_ad"] * a["adherence_pdc"],
    ),
    Effect(
        "relapse_6m",
        "gad7_current",
        0.04,
        "GAD-7 point",
        _I,
        "anxiety comorbidity",
        lambda a: a["gad7_current"],
    ),
    Effect(
        "relapse_6m",
        "sleep_tst_h",
        0.25,
        "hour of sleep below 7 h",
        _I,
        "residual insomnia",
        lambda a: np.maximum(7.0 - a["sleep_tst_h"], 0),
    ),
    Effect(
        "relapse_6m",
        "nlp_psychosocial_stressor",
        0.35,
        "stressor present",
        _I,
        "life events",
        lambda a: a["nlp_psychosocial_stressor"],
    ),
    Effect(
        "relapse_6m",
        "age_at_onset",
        -0.015,
        "year of age at onset",
        _I,
        "early onset",
        lambda a: a["age_at_onset"],
    ),
    # --- hospitalisation within 90 days ---
    Effect(
        "hosp_90d",
        "prior_admissions",
        0.35,
        "prior admission (capped at 5)",
        _I,
        "prior admission predicts readmission",
        lambda a: np.minimum(a["prior_admissions"], 5),
    ),
    Effect(
        "hosp_90d",
        "months_since_admission",
        -0.6,
        "recent admission (< 6 months)",
        _I,
        "readmission risk is highest soon after discharge",
        lambda a: -np.nan_to_num((a["months_since_admission"] < 6).astype(float)),
    ),
    Effect(
        "hosp_90d",
        "phq9_current",
        0.08,
        "PHQ-9 point",
        _I,
        "symptom severity",
        lambda a: a["phq9_current"],
    ),
    Effect(
        "hosp_90d",
        "phq9_slope",
        0.25,
        "PHQ-9 point per week of worsening",
        _I,
        "deterioration",
        lambda a: np.maximum(a["phq9_slope"], 0),
    ),
    Effect(
        "hosp_90d",
        "adherence_pdc",
        -1.0,
        "proportion of days covered",
        _I,
        "non-adherence",
        lambda a: a["adherence_pdc"],
    ),
    Effect(
        "hosp_90d",
        "nlp_substance_use",
        0.6,
        "flag",
        _I,
        "substance use",
        lambda a: a["nlp_substance_use"],
    ),
    Effect(
        "hosp_90d",
        "nlp_psychotic_features",
        1.0,
        "flag",
        _I,
        "psychotic features",
        lambda a: a["nlp_psychotic_features"],
    ),
    Effect(
        "hosp_90d",
        "nlp_hopelessness",
        0.4,
        "flag",
        _I,
        "hopelessness",
        lambda a: a["nlp_hopelessness"],
    ),
    # --- treatment response at 8 weeks (shared predictors) ---
    *_resp(
        "anxious_depression",
        -0.5,
        "anxious depression present",
        _L,
        "Fava et al. 2008 (STAR*D: lower remission with anxious depression)",
        lambda a: a["anxious_depression"],
    ),
    *_resp(
        "failed_trials",
        -0.35,
        "failed adequate trial (capped at 4)",
        _L,
        "Rush et al. 2006 (remission falls from ~37% at level 1 to ~13% at levels 3-4)",
        lambda a: np.minimum(a["failed_trials"], 4),
    ),
    *_resp(
        "phq9_baseline",
        -0.03,
        "PHQ-9 point above 15",
        _I,
        "Trivedi et al. 2006 report lower remission with greater baseline severity; "
        "size for response chosen for the demo",
        lambda a: a["phq9_baseline"] - 15,
    ),
    *_resp(
        "episode_months",
        -0.25,
        "doubling of episode length beyond 6 months",
        _L,
        "Trivedi et al. 2006 (longer current episode, lower remission); size illustrative",
        lambda a: np.maximum(np.log2(a["episode_months"] / 6), 0),
    ),
    *_resp(
        "nlp_psychosocial_stressor",
        -0.2,
        "stressor present",
        _I,
        "psychosocial stress",
        lambda a: a["nlp_psychosocial_stressor"],
    ),
    # option-specific modifiers, purely illustrative (no established moderators)
    Effect(
        "response_mirtazapine",
        "sleep_tst_h",
        0.2,
        "hour of sleep below 7 h",
        _I,
        "sedating antidepressant in insomnia (illustrative, not an established moderator)",
        lambda a: np.maximum(7.0 - a["sleep_tst_h"], 0),
    ),
    Effect(
        "response_bupropion",
        "sleep_tst_h",
        -0.15,
        "hour of sleep below 7 h",
        _I,
        "activating antidepressant in insomnia (illustrative)",
        lambda a: np.maximum(7.0 - a["sleep_tst_h"], 0),
    ),
    Effect(
        "response_cbt",
        "anxious_depression",
        0.2,
        "anxious depression present",
        _I,
        "partly offsets the shared anxious-depression term (illustrative)",
        lambda a: a["anxious_depression"],
    ),
)

#: Share of patients whose value is hidden (missing completely at random) per feature block. The
#: blocks and rates mirror how the app's records go missing at use time (issue 20 item 1): the
#: history block is unknown until the intake history is recorded, note flags until a clinician
#: records them or accepts a matching note finding, actigraphy until a recording is analysed.
#: months_since_admission is also absent (structurally) for anyone never admitted.
MISSINGNESS: dict[tuple[str, ...], float] = {
    (
        "prior_episodes",
        "age_at_onset",
        "prior_admissions",
        "months_since_admission",
        "failed_trials",
    ): 0.2,
    ("sleep_tst_h", "sleep_efficiency", "sleep_waso_min", "circ_is", "circ_iv", "circ_ra"): 0.55,
    (
        "nlp_hopelessness",
        "nlp_substance_use",
        "nlp_psychosocial_stressor",
        "nlp_psychotic_features",
    ): 0.25,
    ("adherence_pdc",): 0.2,
    ("gad7_current", "anxious_depression"): 0.1,
    ("phq9_slope",): 0.15,
    ("episode_months",): 0.1,
}


def _features(n: int, rng: np.random.Generator) -> Arrays:
    s = rng.standard_normal(n)  # latent severity
    age = np.clip(rng.normal(42, 13, n), 18, 85).round()
    base = np.clip(np.round(15 + 4 * s + rng.normal(0, 2, n)), 5, 27)
    current = np.clip(np.round(base * rng.uniform(0.1, 1.0, n) + rng.normal(0, 1.5, n)), 0, 27)
    gad7 = np.clip(np.round(8 + 2.5 * s + rng.normal(0, 3.5, n)), 0, 21)
    admissions = rng.poisson(0.3 * np.exp(0.6 * s))
    since = np.where(admissions > 0, rng.uniform(1, 120, n).round(1), np.nan)
    onset = np.minimum(np.clip(rng.normal(30, 10, n), 12, 80), age).round()
    return {
        "age_years": age,
        "sex_female": (rng.random(n) < 0.62).astype(float),
        "phq9_baseline": base,
        "phq9_current": current,
        "phq9_slope": np.clip((current - base) / 8 + rng.normal(0, 0.3, n), -27, 27).round(2),
        "gad7_current": gad7,
        "anxious_depression": (gad7 >= 10).astype(float),
        "episode_months": np.clip(rng.lognormal(np.log(6), 1.0, n), 0.5, 240).round(1),
        "failed_trials": rng.poisson(0.5 + 0.3 * (s > 0)).astype(float),
        "prior_episodes": rng.poisson(1.5 + 0.5 * np.maximum(s, 0)).astype(float),
        "prior_admissions": admissions.astype(float),
        "months_since_admission": since,
        "age_at_onset": onset,
        "n_psychotropics": rng.poisson(1.2 + 0.4 * (s > 0)).astype(float),
        "on_maintenance_ad": (rng.random(n) < 0.6).astype(float),
        "adherence_pdc": rng.beta(5, 1.5, n).round(3),
        "sleep_tst_h": np.clip(rng.normal(6.8 - 0.3 * s, 1.1), 2, 12).round(2),
        "sleep_efficiency": np.clip(rng.normal(85 - 3 * s, 6), 40, 100).round(1),
        "sleep_waso_min": np.clip(rng.normal(45 + 10 * s, 20), 0, 300).round(),
        "circ_is": np.clip(rng.normal(0.55 - 0.05 * s, 0.12), 0.05, 0.95).round(3),
        "circ_iv": np.clip(rng.normal(0.8 + 0.1 * s, 0.25), 0.1, 2.5).round(3),
        "circ_ra": np.clip(rng.normal(0.8 - 0.05 * s, 0.1), 0.1, 1.0).round(3),
        "nlp_hopelessness": (rng.random(n) < 1 / (1 + np.exp(1.5 - 0.8 * s))).astype(float),
        "nlp_substance_use": (rng.random(n) < 0.12).astype(float),
        "nlp_psychosocial_stressor": (rng.random(n) < 0.35).astype(float),
        "nlp_psychotic_features": (rng.random(n) < 1 / (1 + np.exp(3.5 - 0.6 * s))).astype(float),
    }


def _solve_intercept(lin: np.ndarray, rate: float) -> float:
    lo, hi = -20.0, 20.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if np.mean(1 / (1 + np.exp(-(mid + lin)))) < rate:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def outcome_probabilities(arrays: Arrays) -> dict[str, np.ndarray]:
    """True outcome probabilities of the generating model (for tests and documentation)."""
    n = len(arrays["age_years"])
    out = {}
    for outcome, (rate, _src) in BASE_RATES.items():
        lin = np.zeros(n)
        for e in EFFECTS:
            if e.outcome == outcome:
                lin += e.coefficient * np.nan_to_num(e.term(arrays))
        out[outcome] = 1 / (1 + np.exp(-(_solve_intercept(lin, rate) + lin)))
    return out


def generate_cohort(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` synthetic patient records (features with realistic gaps + outcomes), reproducibly."""
    rng = np.random.default_rng(seed)
    truth = _features(n, rng)
    probs = outcome_probabilities(truth)
    treatment = rng.choice(len(TREATMENT_OPTIONS), n)
    labels = {k: (rng.random(n) < p).astype(int) for k, p in probs.items()}
    response = np.choose(treatment, [labels[f"response_{o}"] for o in TREATMENT_OPTIONS])
    risk_response = np.choose(treatment, [probs[f"response_{o}"] for o in TREATMENT_OPTIONS])
    observed = {k: v.copy() for k, v in truth.items()}
    for block, share in MISSINGNESS.items():
        hide = rng.random(n) < share
        for name in block:
            observed[name][hide] = np.nan
    names = list(observed)
    cols = [observed[k].tolist() for k in names]
    records: list[dict[str, Any]] = []
    for i in range(n):
        rec: dict[str, Any] = {"patient_id": f"synthetic-{seed}-{i:06d}"}
        for name, col in zip(names, cols):
            v = col[i]
            rec[name] = None if v != v else v
        rec["treatment"] = TREATMENT_OPTIONS[int(treatment[i])]
        rec["relapse_6m"] = int(labels["relapse_6m"][i])
        rec["hosp_90d"] = int(labels["hosp_90d"][i])
        rec["response_8w"] = int(response[i])
        rec[f"{RISK_PREFIX}relapse_6m"] = float(probs["relapse_6m"][i])
        rec[f"{RISK_PREFIX}hosp_90d"] = float(probs["hosp_90d"][i])
        rec[f"{RISK_PREFIX}response_8w"] = float(risk_response[i])
        records.append(rec)
    return records
