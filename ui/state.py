"""Window geometry and splitter state, kept as JSON in the user data dir (not QSettings, so
it lives beside the user's other Novamind files and IT can reset it by deleting one file)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from PySide6.QtCore import QByteArray

log = logging.getLogger(__name__)


class UiState:
    """Named byte blobs (Qt saveGeometry/saveState) stored base64 in ``ui_state.json``."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "ui_state.json"
        self._values: dict[str, str] = {}
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(raw, dict):
                self._values = {str(k): str(v) for k, v in raw.items()}
        except FileNotFoundError:
            pass
        except (OSError, ValueError):
            log.warning("ignoring unreadable %s", self.path.name)

    def get(self, key: str) -> QByteArray | None:
        value = self._values.get(key)
        return QByteArray.fromBase64(value.encode("ascii")) if value else None

    def put(self, key: str, blob: QByteArray) -> None:
        self._values[key] = bytes(blob.toBase64().data()).decode("ascii")

    def save(self) -> None:
        """Write atomically (a crash mid-write keeps the previous file)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._values, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)
