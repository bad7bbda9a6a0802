"""UI fixtures: a real shell window over a real encrypted store, and a leak check that fails a
test which leaves top-level widgets behind (napari-style)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import shiboken6
from PySide6.QtWidgets import QApplication, QMenu

from app.services.context import AppContext
from tests.support.qt import flush_deletes
from ui.shell import ShellWindow


@pytest.fixture(autouse=True)
def no_leaked_widgets(qapp: QApplication) -> Iterator[None]:
    before = set(QApplication.topLevelWidgets())
    yield
    flush_deletes()
    # pyqtgraph keeps hidden, parentless context menus on its plot items until Python
    # frees them; a window the user could see (or anything else) is a real leak
    leaked = [
        w
        for w in QApplication.topLevelWidgets()
        if w not in before and not (isinstance(w, QMenu) and not w.isVisible())
    ]
    for w in leaked:  # clean up so one leak does not cascade into later tests
        w.close()
        w.deleteLater()
    flush_deletes()
    assert not leaked, f"leaked top-level widgets: {[type(w).__name__ for w in leaked]}"


def close_window(window: ShellWindow) -> None:
    window.close()
    window.deleteLater()
    flush_deletes()


@pytest.fixture
def make_shell(ctx: AppContext) -> Iterator:
    """Factory: open a shell window on the test store (closed and deleted at teardown)."""
    windows: list[ShellWindow] = []

    def make(*, resize: bool = True) -> ShellWindow:
        w = ShellWindow(ctx)
        if resize:
            w.resize(1200, 760)
        w.show()
        windows.append(w)
        return w

    yield make
    for w in windows:
        if shiboken6.isValid(w):
            close_window(w)
