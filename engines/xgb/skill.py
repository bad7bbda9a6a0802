"""Brier skill gate: a model barely better than the base rate is not shown as a risk score.

Why: a number on screen reads as knowledge about the patient. If the model's held-out Brier
score is hardly lower than always predicting the training prevalence, the number mostly
restates the base rate; showing it per patient would mislead. The card records the skill and
the decision, and predictions carry the reason as ``withheld``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from . import metrics

MIN_BRIER_SKILL = 0.02


def _skill(p: np.ndarray, y: np.ndarray, base_rate: float) -> float:
    ref = float(np.mean((base_rate - y) ** 2))
    return 1.0 - float(np.mean((p - y) ** 2)) / ref if ref > 0 else 0.0


def skill_section(
    p: np.ndarray, y: np.ndarray, *, base_rate: float, n_boot: int = 200, seed: int = 0
) -> dict[str, Any]:
    """The card's ``skill`` section: Brier skill on the test split (with a paired bootstrap
    95 % CI) and whether the model may be shown as a risk score (point estimate >= minimum)."""
    p = np.asarray(p, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n_test = len(y)
    brier = float(np.mean((p - y) ** 2))
    no_skill_brier = float(np.mean((base_rate - y) ** 2))
    skill = _skill(p, y, base_rate)
    rng = np.random.default_rng(seed)
    boots = [_skill(p[i], y[i], base_rate) for i in rng.integers(0, n_test, (n_boot, n_test))]
    lo, hi = np.quantile(boots, [0.025, 0.975]) if n_test else (np.nan, np.nan)
    auc = metrics.auc(p, y)
    shown = skill >= MIN_BRIER_SKILL
    if shown:
        reason = (
            f"Held-out Brier skill {skill:.3f} is at least {MIN_BRIER_SKILL}: the model predicts "
            f"better than the base rate of {base_rate:.1%} on {n_test:,} held-out patients."
        )
    else:
        reason = (
            f"Not shown as a risk score: on {n_test:,} held-out patients its Brier skill is "
            f"{skill:.3f}, below the minimum {MIN_BRIER_SKILL} — its predictions are barely "
            f"better than giving everyone the base rate of {base_rate:.1%} "
            f"(Brier {brier:.4f} vs {no_skill_brier:.4f}; AUC {auc:.2f}). The inputs separate "
            "patients too weakly for a per-patient number to mean more than the base rate."
        )
    return {
        "split": "test",
        "brier": round(brier, 5),
        "no_skill_brier": round(no_skill_brier, 5),
        "no_skill": "the training prevalence given to every patient",
        "brier_skill": round(skill, 4),
        "brier_skill_ci": [round(float(lo), 4), round(float(hi), 4)],
        "ci_level": 0.95,
        "minimum": MIN_BRIER_SKILL,
        "shown_as_risk_score": shown,
        "reason": reason,
    }


def withheld_reason(card: Mapping[str, Any]) -> str | None:
    """The reason a model is not to be shown as a risk score, or None when it may be shown.

    Cards made before the gate have no ``skill`` section and are shown as before."""
    sk = card.get("skill")
    if not isinstance(sk, Mapping) or sk.get("shown_as_risk_score", True):
        return None
    return str(sk.get("reason") or "model not better than the base rate")
