"""Model cards of the prediction models, for the model card dialog (no patient data)."""

from __future__ import annotations

from typing import Any

from app.services import predictions


def model_card(name: str, version: str | None = None) -> dict[str, Any]:
    """The signed card of a registered model (active version unless one is named)."""
    reg = predictions.registry()
    return dict(reg.load(name, version).card.to_json())


def model_name_for(target: str, option: str | None) -> str:
    """Registry name of the model behind a stored prediction."""
    return f"response_{option}" if option else target
