"""Tidy Qt objects at the end of this package's tests, while the QApplication still exists.

PySide6 6.12 with pyqtgraph 0.14 has aborted at interpreter exit ("bool_dealloc" while garbage
collecting) when Qt wrappers were left to the final collection; collecting here avoids that.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module", autouse=True)
def _collect_qt_wrappers_early(qapp: object) -> Iterator[None]:
    yield
    for w in qapp.topLevelWidgets():  # type: ignore[attr-defined]
        w.close()
        w.deleteLater()
    qapp.processEvents()  # type: ignore[attr-defined]
    gc.collect()
    qapp.processEvents()  # type: ignore[attr-defined]
