"""One vocabulary for what the screens call things: targets, treatment options, twin dimensions and
observation sources. Every label shown for one of these ids comes from here, so a panel, the report
and the twin view never disagree about a name."""

from __future__ import annotations

from collections.abc import Mapping

from engines.xgb.targets import OPTION_LABELS, TARGETS

__all__ = [
    "DIMENSION_LABELS",
    "FLAG_LABELS",
    "OPTION_LABELS",
    "SOURCE_LABELS",
    "TARGET_LABELS",
    "interval_text",
    "prediction_title",
    "score_text",
]

#: Outcome targets (relapse, hospitalisation) by id, as the model cards title them.
TARGET_LABELS: Mapping[str, str] = {
    name: spec.title for name, spec in TARGETS.items() if not name.startswith("response_")
}

DIMENSION_LABELS: Mapping[str, str] = {
    "depression": "Depression",
    "anxiety": "Anxiety",
    "sleep_disruption": "Sleep disruption",
    "activity_energy": "Activity / energy",
    "circadian_stability": "Circadian stability",
    "risk_signal": "Risk signal",
}
SOURCE_LABELS: Mapping[str, str] = {
    "phq9.total": "PHQ-9 total score",
    "phq9.item3": "PHQ-9 item 3 (sleep)",
    "phq9.item9": "PHQ-9 item 9 (thoughts of death or self-harm)",
    "gad7.total": "GAD-7 total score",
    "madrs.total": "MADRS total score",
    "hamd17.total": "HAM-D 17 total score",
    "cssrs.ideation_severity": "C-SSRS screen level (ideation and suicidal behaviour)",
    "pat.tst_min": "Actigraphy: total sleep time",
    "pat.sleep_efficiency": "Actigraphy: sleep efficiency",
    "pat.waso_min": "Actigraphy: wake after sleep onset",
    "pat.m10": "Actigraphy: most active 10 hours (M10)",
    "pat.l5": "Actigraphy: least active 5 hours (L5)",
    "pat.mean_activity": "Actigraphy: mean activity",
    "pat.is": "Actigraphy: interdaily stability",
    "pat.iv": "Actigraphy: intradaily variability",
    "pat.ra": "Actigraphy: relative amplitude",
    "pat.depression_probability": "Actigraphy model: depression probability",
    "nlp.depression": "Accepted note finding: depression",
    "nlp.anxiety": "Accepted note finding: anxiety",
    "nlp.sleep_disruption": "Accepted note finding: sleep problem",
    "nlp.activity_energy": "Accepted note finding: low energy",
    "nlp.risk_signal": "Accepted note finding: suicidal or self-harm language",
}

#: Clinician-recorded flags of the intake history (app.services.history.FLAG_NAMES), which the
#: models read as their nlp_<flag> inputs with the accepted note findings.
FLAG_LABELS: Mapping[str, str] = {
    "substance_use": "Substance use",
    "psychotic_features": "Psychotic features",
    "psychosocial_stressor": "Psychosocial stressor",
    "hopelessness": "Hopelessness",
}


def prediction_title(target: str, option: str | None = None) -> str:
    """The heading of one prediction: the response to an option, or the outcome target."""
    if option:
        return f"Response to {OPTION_LABELS.get(option, option)}"
    return TARGET_LABELS.get(target, target)


def interval_text(low: float, high: float, level: str = "") -> str:
    """A prediction interval in words, its nominal coverage first: "90% interval 18%–47%", so
    every screen and the report state the same interval the same way."""
    return f"{level + ' ' if level else ''}interval {low:.0%}–{high:.0%}"


def score_text(probability: float, low: float, high: float, level: str = "") -> str:
    """A probability with its interval as one phrase: "31% (90% interval 18%–47%)"."""
    return f"{probability:.0%} ({interval_text(low, high, level)})"
