"""Risk bands and fixed user-facing notices shared by the prediction engine and the UI."""

from __future__ import annotations

import numpy as np

#: Band names in increasing order of risk.
BANDS: tuple[str, ...] = ("very low", "low", "moderate", "high", "very high")
#: Lower band edges: very low < 0.2 <= low < 0.4 <= moderate < 0.6 <= high < 0.8 <= very high.
BAND_EDGES: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8)

#: Shown wherever risk scores are shown: suicide risk is deliberately not an ML output.
SUICIDE_RISK_NOTICE = (
    "Suicide risk is not estimated by any model in Novamind. It is assessed with the C-SSRS and "
    "clinical judgement; language flags from note analysis are only prompts to ask."
)

#: Label carried by every model trained on the synthetic cohort.
SYNTHETIC_LABEL = "trained on synthetic data — demonstration only"


def risk_band(probability: float) -> str:
    """Band of one probability, so alert rules and the UI use the same thresholds."""
    if not 0.0 <= probability <= 1.0 or probability != probability:
        raise ValueError(f"probability must be within [0, 1], got {probability!r}")
    return BANDS[int(np.searchsorted(BAND_EDGES, probability, side="right"))]


def risk_band_codes(probabilities: np.ndarray) -> np.ndarray:
    """Vectorised band index (0 = very low ... 4 = very high) for caseload scoring."""
    return np.searchsorted(np.asarray(BAND_EDGES), probabilities, side="right").astype(np.int8)
