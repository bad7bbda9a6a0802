"""Qt helpers shared by the UI tests."""

from __future__ import annotations

import gc

from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtWidgets import QApplication


def flush_deletes() -> None:
    """Let Qt delete widgets scheduled with deleteLater (and Python free cycles)."""
    gc.collect()  # widgets held only by Python reference cycles (e.g. pyqtgraph's menus)
    for _ in range(3):
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        QApplication.processEvents()
