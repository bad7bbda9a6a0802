"""Loading and checking the twin's shipped data files.

Every file is read from ``resources/twin`` unless a path is given (IT overrides, tests). A bad
file raises InputError naming the file and the field, so a broken install is a clear message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from engines.errors import InputError

DIMENSIONS: tuple[str, ...] = (
    "depression",
    "anxiety",
    "sleep_disruption",
    "activity_energy",
    "circadian_stability",
    "risk_signal",
)


def load_json(name: str, path: str | Path | None, expected_format: str) -> tuple[str, dict]:
    """Read a twin data file; returns (display name of the file, parsed document)."""
    if path is None:
        ref = resources.files("resources") / "twin" / name
        label = f"resources/twin/{name}"
        try:
            text = ref.read_text(encoding="utf-8")
        except (FileNotFoundError, OSError) as exc:
            raise InputError(f"{label}: cannot be read ({type(exc).__name__})") from exc
    else:
        label = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (FileNotFoundError, OSError) as exc:
            raise InputError(f"{label}: cannot be read ({type(exc).__name__})") from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{label}: line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg})"
        ) from exc
    if not isinstance(doc, dict):
        raise InputError(f"{label}: top level must be an object")
    if doc.get("format") != expected_format:
        raise InputError(f"{label}: field 'format' must be '{expected_format}'")
    version = doc.get("version")
    if not isinstance(version, str) or not version:
        raise InputError(f"{label}: field 'version' must be a non-empty string")
    return label, doc


def need(obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """Fetch a required field of a given type or raise InputError naming it."""
    if not isinstance(obj, Mapping) or key not in obj:
        raise InputError(f"{where}: missing field '{key}'")
    value = obj[key]
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        raise InputError(f"{where}: field '{key}' has the wrong type")
    return value


def number(obj: Mapping[str, Any], key: str, where: str) -> float:
    """Fetch a required finite number."""
    value = float(need(obj, key, (int, float), where))
    if value != value or value in (float("inf"), float("-inf")):
        raise InputError(f"{where}: field '{key}' is not a finite number")
    return value
