"""Model cards of the prediction models, for the model card dialog (no patient data)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.core.config import Settings
from app.core.errors import NotFoundError
from app.services import predictions
from app.services._engine_errors import translates_engine_errors
from engines.errors import MissingError
from engines.xgb.registry import ModelRegistry


@translates_engine_errors
def model_card(
    name: str,
    version: str | None = None,
    settings: Settings | None = None,
    model_sha256: str | None = None,
) -> dict[str, Any]:
    """The signed card of a registered model: the active one (clinic-trained when active, as
    predictions use; the demo model without `settings`) unless a version is named; a named
    version is looked up in the clinic registry first, then the demo one, and when the stored
    prediction's `model_sha256` is given only the card of that very model file is returned."""
    if version is None:
        model = (
            predictions.active_model(name, settings)
            if settings is not None
            else predictions.registry().load(name)
        )
        return dict(model.card.to_json())
    registries: list[ModelRegistry] = []
    if settings is not None:
        root = predictions.clinic_registry_dir(settings)
        keys = predictions.clinic_trusted_keys(settings)
        if keys and root.is_dir():
            registries.append(ModelRegistry(root, keys, read_only=True))
    registries.append(predictions.registry())
    for reg in registries:
        try:
            card = reg.load(name, version).card
        except MissingError:
            continue
        if model_sha256 is None or card.model_sha256 == model_sha256:
            return dict(card.to_json())
    raise NotFoundError(f"The model behind this prediction ({name} {version}) is not installed.")


def model_name_for(target: str, option: str | None) -> str:
    """Registry name of the model behind a stored prediction."""
    return f"response_{option}" if option else target


@dataclass(frozen=True)
class Skill:
    """How much better than the base rate a model is, and whether it may be shown as a risk
    score (the engine's rule: Brier skill at least the minimum)."""

    brier_skill: float | None  # 1 - Brier / no-skill Brier on held-out data
    minimum: float | None  # the rule's threshold; None on cards made before the rule
    shown_as_risk_score: bool
    reason: str  # the engine's words on the decision (why withheld, or why shown)


@dataclass(frozen=True)
class Uncertainty:
    """How the prediction intervals are made and how often they held on held-out data."""

    method: str
    nominal: str  # "90%", "" when not stated
    description: str  # the method in plain words ("" on older cards)
    # (which held-out patients, measured coverage in words, median width in words)
    coverage: tuple[tuple[str, str, str], ...]


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else None


def skill_of(card: Mapping[str, Any]) -> Skill:
    """The card's skill section; for a card made before the rule, the Brier skill is worked
    out from its held-out metrics and the model counts as shown (as it was when signed)."""
    sec = card.get("skill")
    if isinstance(sec, Mapping):
        shown = bool(sec.get("shown_as_risk_score", True))
        return Skill(
            _num(sec.get("brier_skill")),
            _num(sec.get("minimum")),
            shown,
            str(sec.get("reason") or ("" if shown else "below the minimum Brier skill")),
        )
    metrics = card.get("metrics", {})
    brier = _num((metrics.get("held_out", {}).get("brier") or {}).get("value"))
    base = _num(metrics.get("no_skill_brier"))
    value = 1 - brier / base if brier is not None and base else None
    return Skill(value, None, True, "")


def _pct(x: Any) -> str:
    v = _num(x)
    return f"{v:.0%}" if v is not None and 0 <= v <= 1 else ("" if x is None else str(x))


def interval_level(card: Mapping[str, Any]) -> str:
    """Nominal coverage of the model's intervals ("90%"), "" when the card does not say."""
    unc = card.get("uncertainty")
    if isinstance(unc, Mapping) and unc.get("nominal") is not None:
        return _pct(unc["nominal"])
    level = card.get("calibration", {}).get("interval", {}).get("level")
    return _pct(level) if level is not None else ""


NOT_SHOWN = "Not shown as a risk score"
_GROUPS = (
    ("overall", "All held-out patients"),
    ("with_missing", "With missing inputs"),
    ("complete", "With every input"),
)


def not_shown_text(reason: str) -> str:
    """'Not shown as a risk score: <reason>' (the engine's reason may already start so)."""
    text = reason.strip()
    if text.lower().startswith(NOT_SHOWN.lower()):
        text = text[len(NOT_SHOWN) :].lstrip(" :—-")
    return f"{NOT_SHOWN}: {text}"


def _coverage_words(c: Any) -> str:
    """One group's measured coverage: '90.4% (89.6–91.2%, 95% CI) · 6,000 patients'."""
    if not isinstance(c, Mapping) or _num(c.get("value")) is None:
        return "not measured (no patients in this group)"
    text = f"{c['value']:.1%}"
    if _num(c.get("ci_low")) is not None and _num(c.get("ci_high")) is not None:
        text += f" ({c['ci_low']:.1%}–{c['ci_high']:.1%}, 95% CI)"
    if c.get("n") is not None:
        text += f" · {int(c['n']):,} patients"
    return text


def uncertainty_of(card: Mapping[str, Any]) -> Uncertainty:
    """The card's uncertainty section in words: per group of held-out patients (all, with
    missing inputs, complete) the measured coverage and the median width; an older card states
    only its interval method."""
    unc = card.get("uncertainty")
    if not isinstance(unc, Mapping):
        method = str(card.get("calibration", {}).get("interval", {}).get("method", "none"))
        return Uncertainty(method, interval_level(card), "", ())
    cov = unc.get("coverage")
    cov = cov if isinstance(cov, Mapping) else {}
    widths = unc.get("median_width", unc.get("widths"))
    widths = widths if isinstance(widths, Mapping) else {}
    rows: list[tuple[str, str, str]] = []
    for key, words in _GROUPS:
        if cov.get("measured"):
            measured = _coverage_words(cov.get(key))
        else:
            measured = f"not measured ({cov.get('reason', 'not stated')})"
        w = _num(widths.get(key))
        width = "—" if w is None else f"{w * 100:.0f} percentage points"
        rows.append((words, measured, width))
    return Uncertainty(
        str(unc.get("method", "")),
        interval_level(card),
        str(unc.get("description") or ""),
        tuple(rows),
    )


def feature_sources(card: Mapping[str, Any]) -> list[str]:
    """Per input, where in the app it comes from (cards made before sources were listed: "")."""
    return [str(f.get("source") or "") for f in card.get("features", [])]
