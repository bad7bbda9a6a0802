"""Model cards of the prediction models, for the model card dialog (no patient data)."""

from __future__ import annotations

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
