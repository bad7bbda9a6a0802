"""What every screenshot script shares: a throwaway demo data dir with an in-memory keyring,
the themed QApplication, and waiting for the widgets to settle.

Nothing here touches the user's own store or keyring.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

    from app.services.context import AppContext


def wait(app: QApplication, cond: Callable[[], object], timeout: float = 30.0) -> None:
    """Process events until `cond()` holds; TimeoutError after `timeout` seconds."""
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise TimeoutError("the widget did not reach the expected state")
        app.processEvents()
        time.sleep(0.01)


def settle(app: QApplication, n: int = 30) -> None:
    """Let queued paints and layouts run before a grab."""
    for _ in range(n):
        app.processEvents()
        time.sleep(0.005)


def open_demo(
    description: str | None, prefix: str
) -> tuple[argparse.Namespace, QApplication, AppContext]:
    """Parse `OUT_DIR [--theme]`, point Novamind at a fresh temp data dir with an in-memory
    keyring, and return the arguments, the themed application and an open (empty) store."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("out", type=Path)
    parser.add_argument("--theme", default="light", choices=("light", "dark"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["NOVAMIND_DATA_DIR"] = str(tmp / "data")
    os.environ["NOVAMIND_POLICY"] = str(tmp / "policy.toml")

    import keyring
    from PySide6.QtWidgets import QApplication

    from app.core.config import load_settings
    from app.services.context import AppContext
    from tests.support.keyring_backends import MemoryKeyring
    from ui import theme

    keyring.set_keyring(MemoryKeyring())
    app = QApplication.instance() or QApplication([])
    if not isinstance(app, QApplication):
        raise RuntimeError("a non-widget Qt application already exists in this process")
    theme.apply(app, args.theme)  # what the shell shows
    return args, app, AppContext.open(load_settings())
