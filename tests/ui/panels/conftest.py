"""Fixtures for the panel tests: real widgets over the real encrypted store; every top-level
widget a test opens must be closed (napari-style leak check)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtWidgets import QApplication, QWidget

from app.services.context import AppContext
from engines.llm.synthetic_gguf import write_tiny_llama
from tests.conftest import REPO

DEPRESJON = REPO.parent / "shared" / "data" / "depresjon"
if not DEPRESJON.is_dir():
    DEPRESJON = Path("/work/shared/data/depresjon")


def flush() -> None:
    for _ in range(3):
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        QApplication.processEvents()


@pytest.fixture(autouse=True)
def no_leaked_panels(qapp: QApplication) -> Iterator[None]:
    before = set(QApplication.topLevelWidgets())
    yield
    flush()
    leaked = [w for w in QApplication.topLevelWidgets() if w not in before and w.isVisible()]
    for w in leaked:
        w.close()
        w.deleteLater()
    flush()
    assert not leaked, f"leaked top-level widgets: {[type(w).__name__ for w in leaked]}"


@pytest.fixture
def show() -> Iterator:
    """show(widget): show it now, close and delete it at teardown."""
    opened: list[QWidget] = []

    def _show(w: QWidget, width: int = 1200, height: int = 900) -> QWidget:
        w.resize(width, height)
        w.show()
        opened.append(w)
        return w

    yield _show
    for w in opened:
        if shiboken6.isValid(w):
            w.close()
            w.deleteLater()
    flush()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model directory holding a tiny random-weight llama GGUF (loads in ~1 s)."""
    d = tmp_path_factory.mktemp("tiny-models")
    write_tiny_llama(d / "tiny-random.gguf")
    return d


@pytest.fixture
def llm_ctx(ctx: AppContext, tiny_model_dir: Path) -> AppContext:
    ctx.settings = replace(ctx.settings, model_dirs=(tiny_model_dir,))
    return ctx


@pytest.fixture(autouse=True)
def collect_garbage() -> Iterator[None]:
    """Collect cycles while Qt is alive (pyqtgraph items hold reference cycles; freeing them
    during interpreter finalisation trips a PySide6 refcount error)."""
    yield
    flush()
    gc.collect()
    flush()
