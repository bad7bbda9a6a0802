"""Observed outcomes of stored predictions, read from the records written after them, so a
model's calibration can be checked as outcomes arrive.

Each target's outcome follows its model card's definition as far as the records allow:

- relapse_6m: a PHQ-9 of 15 or more, or a MADRS of 22 or more, within 182 days;
- hosp_90d: a psychiatric admission (encounter of kind "admission") starting within 90 days;
- response_<option>: the patient started that option (a treatment plan, or a medication of its
  class, from 14 days before to 28 days after the prediction) and the first PHQ-9 8-12 weeks
  later is at most half the PHQ-9 at (or in the 30 days before) the prediction;
- pat_screen (the actigraphy depression screen): the PHQ-9 nearest the recording's end, within
  14 days either side, is 10 or more.

"No event" is only believed for a patient seen again (a PHQ-9 or MADRS) in the second half of
the horizon or later; otherwise the outcome is unknown (NULL), never silently 0. The caller asks
only for predictions whose horizon has passed.

The definitions are SQL expressions over a prediction row aliased ``p`` (patient_id,
generated_at, option): each is a handful of index probes (the covering index on assessment
totals, admissions by kind, medications and plans by patient), evaluated by SQLite inside the one
scan of the predictions, so 100,000 predictions need no per-row Python. Deleted records never
count. Every piece is a constant of this module; nothing from a user reaches the SQL text.
"""

from __future__ import annotations

RELAPSE_PHQ9, RELAPSE_MADRS, RESPONSE_DROP, SCREEN_PHQ9 = 15, 22, 0.5, 10
HORIZON_DAYS = {"relapse_6m": 182.0, "hosp_90d": 90.0, "response": 84.0, "pat_screen": 14.0}
#: Medication classes (Medication.drug_class) that mean a response option was started.
OPTION_CLASSES = {"ssri": "SSRI", "snri": "SNRI", "bupropion": "NDRI", "mirtazapine": "NaSSA"}

DEFINITIONS = {
    "relapse_6m": "PHQ-9 >= 15 or MADRS >= 22 within 182 days (no event counted only for a "
    "patient seen again after day 91)",
    "hosp_90d": "psychiatric admission within 90 days (no event counted only for a patient "
    "seen again after day 45)",
    "response": "option started within -14..+28 days and the first PHQ-9 at 8-12 weeks at most "
    "50% of the PHQ-9 at prediction",
    "pat_screen": "PHQ-9 >= 10 nearest the recording's end, within 14 days",
}


def horizon_days(target: str) -> float:
    """Days after a prediction before its outcome can be judged."""
    return HORIZON_DAYS["response" if target.startswith("response_") else target]


def definition(target: str) -> str:
    """The outcome definition in words (shown with the calibration figures)."""
    return DEFINITIONS["response" if target.startswith("response_") else target]


_AR = (
    "SELECT 1 FROM assessment_responses a WHERE a.patient_id = p.patient_id"
    " AND a.deleted_at IS NULL AND a.total IS NOT NULL"
)
_SEEN = "EXISTS ({ar} AND a.instrument IN ('phq9', 'madrs') AND a.administered_at >= {after})"


def _seen_after(days: int) -> str:
    return _SEEN.format(ar=_AR, after=f"datetime(p.generated_at, '+{days} days')")


RELAPSE_SQL = (
    "CASE WHEN EXISTS (" + _AR + " AND a.instrument = 'phq9' AND a.administered_at > p.generated_at"
    " AND a.administered_at <= datetime(p.generated_at, '+182 days')"
    f" AND a.total >= {RELAPSE_PHQ9})"
    " OR EXISTS (" + _AR + " AND a.instrument = 'madrs' AND a.administered_at > p.generated_at"
    " AND a.administered_at <= datetime(p.generated_at, '+182 days')"
    f" AND a.total >= {RELAPSE_MADRS}) THEN 1"
    f" WHEN {_seen_after(91)} THEN 0 END"
)

HOSP_SQL = (
    "CASE WHEN EXISTS (SELECT 1 FROM encounters e WHERE e.kind = 'admission'"  # noqa: S608  # nosec B608
    " AND e.patient_id = p.patient_id AND e.deleted_at IS NULL AND e.start > p.generated_at"
    " AND e.start <= datetime(p.generated_at, '+90 days')) THEN 1"
    f" WHEN {_seen_after(45)} THEN 0 END"
)

_CLASS_OF_OPTION = (
    "CASE p.option "
    + " ".join(f"WHEN '{o}' THEN '{c}'" for o, c in OPTION_CLASSES.items())
    + " END"
)
_STARTED = (
    "(EXISTS (SELECT 1 FROM treatment_plans tp WHERE tp.patient_id = p.patient_id"  # noqa: S608  # nosec B608
    " AND tp.deleted_at IS NULL AND tp.option = p.option"
    " AND tp.start BETWEEN date(p.generated_at, '-14 days') AND date(p.generated_at, '+28 days'))"
    " OR EXISTS (SELECT 1 FROM medications m WHERE m.patient_id = p.patient_id"
    f" AND m.deleted_at IS NULL AND m.drug_class = ({_CLASS_OF_OPTION})"
    " AND m.start BETWEEN date(p.generated_at, '-14 days') AND date(p.generated_at, '+28 days')))"
)
_PHQ9 = (
    "(SELECT a.total FROM assessment_responses a WHERE a.patient_id = p.patient_id"
    " AND a.instrument = 'phq9' AND a.deleted_at IS NULL AND a.total IS NOT NULL"
)
_BASELINE = (
    _PHQ9 + " AND a.administered_at <= p.generated_at"
    " AND a.administered_at >= datetime(p.generated_at, '-30 days')"
    " ORDER BY a.administered_at DESC LIMIT 1)"
)
_FOLLOW = (
    _PHQ9 + " AND a.administered_at >= datetime(p.generated_at, '+56 days')"
    " AND a.administered_at <= datetime(p.generated_at, '+84 days')"
    " ORDER BY a.administered_at LIMIT 1)"
)
RESPONSE_SQL = (
    f"CASE WHEN {_STARTED} AND {_BASELINE} > 0 THEN"
    f" CASE WHEN {_FOLLOW} <= {RESPONSE_DROP} * {_BASELINE} THEN 1"
    f" WHEN {_FOLLOW} > {RESPONSE_DROP} * {_BASELINE} THEN 0 END END"
)

#: The outcome of the XGBoost prediction row ``p`` (NULL when unknown).
XGB_OUTCOME_SQL = (
    f"CASE WHEN p.target = 'relapse_6m' THEN {RELAPSE_SQL}"
    f" WHEN p.target = 'hosp_90d' THEN {HOSP_SQL}"
    f" WHEN p.option IS NOT NULL THEN {RESPONSE_SQL} END"
)

#: The outcome of a screen, for a row with p.patient_id and p.generated_at = recording's end.
SCREEN_OUTCOME_SQL = (
    _PHQ9 + " AND a.administered_at BETWEEN datetime(p.generated_at, '-14 days')"
    " AND datetime(p.generated_at, '+14 days')"
    " ORDER BY abs(julianday(a.administered_at) - julianday(p.generated_at)) LIMIT 1)"
    f" >= {SCREEN_PHQ9}"
)
