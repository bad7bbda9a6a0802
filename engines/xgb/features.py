"""Typed feature catalogue and vectorised assembly of the model matrix.

Input is one plain dict per patient (keys = feature names), as the lead's service layer builds it
from the store and the twin. A key that is absent or None stays NaN in the matrix so XGBoost's
native missing-value handling routes it; it is never silently replaced by zero.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engines.errors import EngineConfigError, InputError

GROUPS = ("symptoms", "actigraphy", "medication", "history", "nlp", "demographics")
KINDS = ("continuous", "count", "binary")


@dataclass(frozen=True)
class FeatureSpec:
    """One model input: name, plain-words label, unit, source group, valid range and where in
    the app its value comes from (``source``, plain words shown on the model card)."""

    name: str
    label: str
    unit: str
    group: str
    kind: str = "continuous"
    minimum: float = -np.inf
    maximum: float = np.inf
    demographic: bool = False
    source: str = ""

    def __post_init__(self) -> None:
        if self.group not in GROUPS:
            raise ValueError(f"feature {self.name}: unknown group {self.group!r}")
        if self.kind not in KINDS:
            raise ValueError(f"feature {self.name}: unknown kind {self.kind!r}")

    def to_card(self) -> dict[str, Any]:
        """JSON form written into a model card."""
        return {
            "name": self.name,
            "label": self.label,
            "unit": self.unit,
            "group": self.group,
            "kind": self.kind,
            "minimum": None if np.isinf(self.minimum) else self.minimum,
            "maximum": None if np.isinf(self.maximum) else self.maximum,
            "demographic": self.demographic,
            "source": self.source,
        }

    @classmethod
    def from_card(cls, data: Mapping[str, Any]) -> FeatureSpec:
        """Inverse of :meth:`to_card` (cards written before ``source`` existed read as "")."""
        lo, hi = data.get("minimum"), data.get("maximum")
        return cls(
            name=str(data["name"]),
            label=str(data["label"]),
            unit=str(data["unit"]),
            group=str(data["group"]),
            kind=str(data.get("kind", "continuous")),
            minimum=-np.inf if lo is None else float(lo),
            maximum=np.inf if hi is None else float(hi),
            demographic=bool(data.get("demographic", False)),
            source=str(data.get("source") or ""),
        )


def _f(
    name: str,
    label: str,
    unit: str,
    group: str,
    kind: str = "continuous",
    lo: float = -np.inf,
    hi: float = np.inf,
    demographic: bool = False,
    *,
    source: str,
) -> FeatureSpec:
    return FeatureSpec(name, label, unit, group, kind, lo, hi, demographic, source)


_HISTORY = "Clinical history tab → "
_ACTI = "Actigraphy tab → newest analysed recording: "
_FLAG = (
    _HISTORY + "Intake history: {} (present/absent), or a clinician-accepted finding of it in "
    "Note analysis"
)

#: The catalogue. Models use subsets of it; the card of each model lists the ones it uses.
CATALOGUE: tuple[FeatureSpec, ...] = (
    # symptom scores and trajectories (scoring engine + twin)
    _f(
        "phq9_baseline", "PHQ-9 at start of episode", "points (0-27)", "symptoms", lo=0, hi=27,
        source="Assessments tab → PHQ-9: the first score recorded",
    ),
    _f(
        "phq9_current", "latest PHQ-9", "points (0-27)", "symptoms", lo=0, hi=27,
        source="Assessments tab → PHQ-9: the latest score",
    ),
    _f(
        "phq9_slope", "PHQ-9 trend over 8 weeks", "points per week", "symptoms", lo=-27, hi=27,
        source="Assessments tab → PHQ-9: trend of the scores of the last 8 weeks (two or more)",
    ),
    _f(
        "gad7_current", "latest GAD-7", "points (0-21)", "symptoms", lo=0, hi=21,
        source="Assessments tab → GAD-7: the latest score",
    ),
    _f(
        "anxious_depression", "anxious depression", "yes/no", "symptoms", "binary", 0, 1,
        source="Assessments tab → GAD-7: latest score 10 or more",
    ),
    _f(
        "episode_months", "length of current episode", "months", "symptoms", lo=0, hi=600,
        source="Assessments tab → PHQ-9: time since the first score recorded",
    ),
    # actigraphy (PAT engine)
    _f(
        "sleep_tst_h", "total sleep time", "hours per night", "actigraphy", lo=0, hi=24,
        source=_ACTI + "mean nightly total sleep time",
    ),
    _f(
        "sleep_efficiency", "sleep efficiency", "percent", "actigraphy", lo=0, hi=100,
        source=_ACTI + "mean nightly sleep efficiency",
    ),
    _f(
        "sleep_waso_min", "wake after sleep onset", "minutes per night", "actigraphy", lo=0,
        hi=1440, source=_ACTI + "mean nightly wake after sleep onset",
    ),
    _f(
        "circ_is", "interdaily stability", "0-1", "actigraphy", lo=0, hi=1,
        source=_ACTI + "interdaily stability",
    ),
    _f(
        "circ_iv", "intradaily variability", "0-2 (higher = fragmented)", "actigraphy", lo=0,
        hi=3, source=_ACTI + "intradaily variability",
    ),
    _f(
        "circ_ra", "relative amplitude of rest-activity rhythm", "0-1", "actigraphy", lo=0,
        hi=1, source=_ACTI + "relative amplitude",
    ),
    # medication history and adherence
    _f(
        "adherence_pdc", "antidepressant adherence", "proportion of days covered (0-1)",
        "medication", lo=0, hi=1,
        source=_HISTORY + "Medications: mean adherence of the current medications",
    ),
    _f(
        "failed_trials", "failed adequate trials this episode", "count", "medication", "count",
        0, 50,
        source=_HISTORY + "Intake history: failed trials before this clinic, plus Medications "
        "stopped for inadequate response",
    ),
    _f(
        "n_psychotropics", "current psychotropic medicines", "count", "medication", "count", 0,
        30, source=_HISTORY + "Medications: how many are current (not stopped)",
    ),
    _f(
        "on_maintenance_ad", "on maintenance antidepressant", "yes/no", "medication", "binary",
        0, 1, source=_HISTORY + "Medications: a current SSRI, SNRI, NDRI or NaSSA",
    ),
    # prior episodes and admissions
    _f(
        "prior_episodes", "prior depressive episodes", "count", "history", "count", 0, 100,
        source=_HISTORY + "Intake history: prior episodes",
    ),
    _f(
        "prior_admissions", "prior psychiatric admissions", "count", "history", "count", 0, 100,
        source=_HISTORY + "Intake history: prior admissions before this clinic, plus Admissions",
    ),
    _f(
        "months_since_admission", "time since last admission", "months", "history", lo=0,
        hi=1200,
        source=_HISTORY + "Admissions: latest discharge (0 while admitted), else Intake "
        "history: last discharge before this clinic",
    ),
    _f(
        "age_at_onset", "age at first episode", "years", "history", lo=0, hi=120,
        source=_HISTORY + "Intake history: age at onset",
    ),
    # flags: clinician-recorded on the intake, or a clinician-accepted note finding
    _f(
        "nlp_hopelessness", "hopelessness (clinician-recorded or accepted note finding)",
        "flag", "nlp", "binary", 0, 1, source=_FLAG.format("hopelessness"),
    ),
    _f(
        "nlp_substance_use", "substance use (clinician-recorded or accepted note finding)",
        "flag", "nlp", "binary", 0, 1, source=_FLAG.format("substance use"),
    ),
    _f(
        "nlp_psychosocial_stressor",
        "psychosocial stressor (clinician-recorded or accepted note finding)", "flag", "nlp",
        "binary", 0, 1, source=_FLAG.format("psychosocial stressor"),
    ),
    _f(
        "nlp_psychotic_features",
        "psychotic features (clinician-recorded or accepted note finding)", "flag", "nlp",
        "binary", 0, 1, source=_FLAG.format("psychotic features"),
    ),
    # demographics, each used only where IT policy allows it
    _f(
        "age_years", "age", "years", "demographics", lo=0, hi=120, demographic=True,
        source="Patient record: date of birth",
    ),
    _f(
        "sex_female", "female sex", "yes/no", "demographics", "binary", 0, 1, demographic=True,
        source="Patient record: sex (female 1, male 0; other or unknown left missing)",
    ),
)  # fmt: skip

CATALOGUE_BY_NAME: dict[str, FeatureSpec] = {f.name: f for f in CATALOGUE}


def specs_for(names: Sequence[str]) -> tuple[FeatureSpec, ...]:
    """Look up catalogue specs by name (order kept) — a typo is a clear error, not a NaN column."""
    missing = [n for n in names if n not in CATALOGUE_BY_NAME]
    if missing:
        raise InputError(f"unknown feature name(s): {', '.join(missing)}")
    return tuple(CATALOGUE_BY_NAME[n] for n in names)


def check_policy(specs: Sequence[FeatureSpec], allowed_demographics: frozenset[str]) -> None:
    """Refuse a model that uses a demographic the clinic's IT policy does not allow."""
    banned = [s.name for s in specs if s.demographic and s.name not in allowed_demographics]
    if banned:
        raise EngineConfigError(
            f"model uses demographic feature(s) not allowed by IT policy: {', '.join(banned)}",
            hint="Ask IT to allow them, or retrain the model without them.",
        )


def _column(rows: Sequence[Mapping[str, Any]], spec: FeatureSpec) -> np.ndarray:
    name = spec.name
    nan = np.nan
    try:
        # absent or None -> NaN (never 0); bools become 0/1
        return np.array([nan if (v := r.get(name)) is None else v for r in rows], dtype=np.float32)
    except (TypeError, ValueError):
        for i, v in enumerate(r.get(name) for r in rows):
            try:
                np.float32(np.nan if v is None else v)
            except (TypeError, ValueError):
                pid = rows[i].get("patient_id", f"row {i}")
                raise InputError(
                    f"patient {pid}: feature '{name}' is not a number ({type(v).__name__})"
                ) from None
        raise


def assemble_matrix(
    rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]],
    specs: Sequence[FeatureSpec],
    *,
    allowed_demographics: frozenset[str] | None = None,
) -> np.ndarray:
    """Build the float32 (n_patients, n_features) matrix, NaN for anything missing.

    ``rows`` is either one dict per patient or a column mapping (feature name -> values), which
    the service layer can build straight from a query. Values outside a feature's valid range are
    refused (InputError naming patient id and feature): a unit mix-up must not become a score.
    """
    if allowed_demographics is not None:
        check_policy(specs, allowed_demographics)
    if isinstance(rows, Mapping):
        lengths = {len(v) for v in rows.values()}
        if len(lengths) > 1:
            raise InputError("feature columns have different lengths")
        n = lengths.pop() if lengths else 0
        out = np.full((n, len(specs)), np.nan, dtype=np.float32)
        for j, spec in enumerate(specs):
            if spec.name in rows:
                out[:, j] = np.asarray(
                    [np.nan if v is None else v for v in rows[spec.name]], dtype=np.float32
                )
        col_ids = rows.get("patient_id")

        def id_of(i: int) -> Any:
            return col_ids[i] if col_ids is not None else f"row {i}"
    else:
        out = np.empty((len(rows), len(specs)), dtype=np.float32)
        for j, spec in enumerate(specs):
            out[:, j] = _column(rows, spec)
        seq = rows

        def id_of(i: int) -> Any:
            return seq[i].get("patient_id", f"row {i}")

    _check_ranges(out, specs, id_of)
    return out


def _check_ranges(x: np.ndarray, specs: Sequence[FeatureSpec], id_of: Callable[[int], Any]) -> None:
    if x.size == 0:
        return
    lo = np.array([s.minimum for s in specs], dtype=np.float32)
    hi = np.array([s.maximum for s in specs], dtype=np.float32)
    with np.errstate(invalid="ignore"):
        bad = (x < lo) | (x > hi) | np.isinf(x)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        s = specs[j]
        raise InputError(
            f"patient {id_of(int(i))}: feature '{s.name}' = {x[i, j]:g} is outside "
            f"[{s.minimum:g}, {s.maximum:g}] {s.unit}"
        )
