"""The training distribution of a signed model's inputs, for drift monitoring.

Model cards do not (yet) store bin edges and reference shares, and the 16 donor rows are far too
few to bin. What a synthetic model's signed card does fix is its whole training set: the
generator, the cohort size and seed, the split fractions and the split seed. So the reference
here is that training split *regenerated* from the signed fields, and it is only used when the
regenerated split has exactly the signed number of training rows (a changed generator would
otherwise pass unnoticed). A card with a ``reference`` section (bins stored at training) is read
as it is. A clinic-trained card has neither: drift is then reported as unavailable, not guessed.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .card import ModelCard, validate_card
from .features import assemble_matrix
from .monitoring import FeatureReference, reference_bins
from .synthetic import generate_cohort
from .targets import TARGETS
from .training import grouped_split

SYNTHETIC_GENERATOR = "engines.xgb.synthetic.generate_cohort"


@dataclass(frozen=True)
class TrainingReference:
    """Per-feature reference bins and where they came from (shown with every PSI)."""

    features: tuple[FeatureReference, ...]
    source: str


@functools.lru_cache(maxsize=2)
def _cohort(n: int, seed: int) -> tuple[Mapping[str, Any], ...]:
    return tuple(generate_cohort(n, seed))


def _stored(card: ModelCard) -> TrainingReference | None:
    ref = card.raw.get("reference")
    if not isinstance(ref, Mapping) or not isinstance(ref.get("features"), list):
        return None
    feats = tuple(FeatureReference.from_json(dict(f)) for f in ref["features"])
    return TrainingReference(feats, str(ref.get("source", "bins stored in the signed card")))


_CACHE: dict[str, TrainingReference | None] = {}  # by model SHA-256: a card never changes
_LOCK = threading.Lock()


def _regenerated(card: ModelCard) -> TrainingReference | None:
    td = card.raw.get("training_data", {})
    split = card.raw.get("split", {})
    params = card.raw.get("params", {})
    target = TARGETS.get(card.name)
    if (
        td.get("kind") != "synthetic"
        or td.get("generator") != SYNTHETIC_GENERATOR
        or target is None
        or not isinstance(split.get("fractions"), list)
        or not isinstance(params.get("seed"), int)
    ):
        return None
    records = _cohort(int(td["n_patients"]), int(td["seed"]))
    rows = [r for r in records if target.label_of(r) is not None]
    fractions = tuple(float(f) for f in split["fractions"])
    train, _, _ = grouped_split(rows, (fractions[0], fractions[1], fractions[2]), params["seed"])
    if len(train) != split.get("n_train"):
        return None  # the generator no longer reproduces the signed split
    specs = card.features
    x = assemble_matrix([rows[i] for i in train], specs)
    feats = tuple(reference_bins(s.name, x[:, j]) for j, s in enumerate(specs))
    source = (
        f"training split regenerated from the signed card ({td['generator']}, "
        f"{td['n_patients']:,} patients, seed {td['seed']}; {len(train):,} training rows, "
        "as signed)"
    )
    return TrainingReference(feats, source)


def training_reference(card: ModelCard) -> TrainingReference | None:
    """The card's stored reference, else the regenerated synthetic training split, else None."""
    stored = _stored(card)
    if stored is not None:
        return stored
    with _LOCK:  # one regeneration even when two checks start at once
        if card.model_sha256 not in _CACHE:
            _CACHE[card.model_sha256] = _regenerated(card)
        return _CACHE[card.model_sha256]


def needs_regeneration(card: ModelCard) -> bool:
    """Whether `training_reference` would have to regenerate a cohort (no stored section and
    nothing cached for this model file yet)."""
    return _stored(card) is None and card.model_sha256 not in _CACHE


def regenerate_references(cards: list[dict[str, Any]]) -> dict[str, TrainingReference | None]:
    """References of many cards (plain signed JSON documents) by model SHA-256: picklable in
    and out, so a caller can run it in a child process and keep the cohort's memory out of its
    own heap (then hand the results to `remember`)."""
    out: dict[str, TrainingReference | None] = {}
    for doc in cards:
        card = validate_card(doc, where="model card")
        out[card.model_sha256] = training_reference(card)
    return out


def remember(references: Mapping[str, TrainingReference | None]) -> None:
    """Cache references computed elsewhere (see `regenerate_references`)."""
    with _LOCK:
        _CACHE.update(references)
