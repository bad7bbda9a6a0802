"""Twin view fixtures: a demo clinic (real store, real twin and prediction engines) and a view.

The image renderer is used unless NOVAMIND_TWIN_RENDERER is set: embedded OpenGL under Xvfb
depends on the machine's Mesa/GLX, offscreen VTK + QImage does not.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from PySide6.QtWidgets import QApplication

from app.core.domain import Principal
from app.demo import DEMO_PASSWORD, create_demo_clinic
from app.services import auth, patients
from app.services.context import AppContext
from tests.support.qt import flush_deletes

os.environ.setdefault("NOVAMIND_TWIN_RENDERER", "image")


@pytest.fixture(scope="module")
def shared_demo(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[AppContext, Principal, str]]:
    """One demo clinic per test module (its own store and keyring; building it takes seconds)."""
    import keyring

    from app.core.config import load_settings
    from tests.support.keyring_backends import MemoryKeyring

    root = tmp_path_factory.mktemp("twin-demo")
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    ctx = AppContext.open(
        load_settings(
            {"NOVAMIND_DATA_DIR": str(root / "data"), "NOVAMIND_POLICY": str(root / "p.toml")}
        )
    )
    keyring.set_keyring(previous)
    create_demo_clinic(ctx, patients=1, days=75, actigraphy_days=7)
    who = auth.login(ctx, "dr.adams", DEMO_PASSWORD)
    yield ctx, who, patients.list_patients(ctx, who)[0].id
    ctx.close()


@pytest.fixture(scope="module")
def shared_view(
    qapp: QApplication, shared_demo: tuple[AppContext, Principal, str]
) -> Iterator[object]:
    """One TwinView per module (the 3D scene is built once, like in the app)."""
    from ui.twin import TwinView

    ctx, who, _pid = shared_demo
    v = TwinView(ctx, who)
    v.resize(1100, 720)
    v.show()
    yield v
    v.close()
    v.deleteLater()
    flush_deletes()


@pytest.fixture
def view(qtbot, shared_view: object, shared_demo: tuple[AppContext, Principal, str]) -> object:
    """The module's TwinView reset to the twin mode with the demo patient freshly loaded."""
    v = shared_view
    v.set_mode("twin")
    v.deep.setChecked(True)
    v.diff_button.setChecked(False)
    v.camera.setCurrentIndex(0)
    with qtbot.waitSignal(v.timelineLoaded, timeout=60000):
        v.set_patient(shared_demo[2])
    return v
