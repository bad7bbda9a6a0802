"""Observations: the numeric facts that alert rules look at (scores, items, risk predictions).

Metric names are stable strings, e.g. ``phq9.total``, ``phq9.item.q9``,
``cssrs_screener.band_rank``, ``pcl5.score.B``, ``phq9.flag.item9_positive`` and
``risk.<target>`` for predictions. Ids only, no PHI.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engines.errors import InputError


@dataclass(frozen=True)
class Observation:
    """One value of one metric for one patient at one time; ``id`` is cited as alert evidence."""

    id: str
    patient_id: str
    metric: str
    value: float
    at: datetime

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise InputError(f"observation {self.id}: 'at' must be timezone-aware")


def prediction_observation(
    *, prediction_id: str, patient_id: str, target: str, probability: float, at: datetime
) -> Observation:
    """Turn a risk prediction into an observation (metric ``risk.<target>``) for the alert rules."""
    if not 0.0 <= probability <= 1.0:
        raise InputError(f"prediction {prediction_id}: probability must lie in [0, 1]")
    return Observation(
        id=f"{prediction_id}/risk.{target}",
        patient_id=patient_id,
        metric=f"risk.{target}",
        value=float(probability),
        at=at,
    )
