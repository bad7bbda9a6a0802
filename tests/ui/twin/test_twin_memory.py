"""Bounded memory of the Twin tab: opening and closing patients reuses one 3D scene and keeps
no patient's data, actors or widgets behind (object-level checks, not RSS timings)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QObject
from PySide6.QtWidgets import QApplication

from app.core.domain import Principal
from app.demo import DEMO_PASSWORD, create_demo_clinic
from app.services import auth, patients
from app.services.context import AppContext
from tests.support.qt import flush_deletes

CYCLES = 12
WAIT = 60000


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AppContext, Principal]]:
    import keyring

    from app.core.config import load_settings
    from tests.support.keyring_backends import MemoryKeyring

    root = tmp_path_factory.mktemp("twin-memory")
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    ctx = AppContext.open(
        load_settings(
            {"NOVAMIND_DATA_DIR": str(root / "data"), "NOVAMIND_POLICY": str(root / "p.toml")}
        )
    )
    keyring.set_keyring(previous)
    create_demo_clinic(ctx, patients=3, days=60, actigraphy_days=7)
    yield ctx, auth.login(ctx, "dr.adams", DEMO_PASSWORD)
    ctx.close()


def _alive(cls: type, ignore: weakref.WeakSet | None = None) -> int:
    """Live instances of ``cls``, leaving out those in ``ignore`` (other tests' objects)."""
    gc.collect()
    return sum(
        1 for o in gc.get_objects() if isinstance(o, cls) and (ignore is None or o not in ignore)
    )


def _actors(view) -> int:  # noqa: ANN001
    return sum(r.GetViewProps().GetNumberOfItems() for r in view.scene.renderers)


def test_open_close_cycles_reuse_one_scene_and_release_each_patient(
    qapp: QApplication, qtbot, clinic: tuple[AppContext, Principal]
) -> None:
    from ui.twin import TwinView
    from ui.twin.host import SceneHost
    from viz.scene import _SceneBase

    ctx, who = clinic
    pids = [p.id for p in patients.list_patients(ctx, who)]
    gc.collect()
    others = weakref.WeakSet(o for o in gc.get_objects() if isinstance(o, _SceneBase))
    view = TwinView(ctx, who)
    view.resize(900, 600)
    view.show()
    try:
        counts = []
        for k in range(CYCLES):
            view.set_patient(pids[k % len(pids)])
            qtbot.waitUntil(lambda: view.timeline is not None, timeout=WAIT)
            loaded = weakref.ref(view.timeline)
            view.flush()
            qtbot.waitUntil(lambda: not view.tasks.busy, timeout=WAIT)
            actors = _actors(view)
            if k % 2:  # the side-by-side scene is built on use and released with the patient
                view.set_mode("compare")
                assert view.compare is not None
            view.clear()
            assert view.compare is None and view.compare_host is None
            flush_deletes()
            counts.append(
                (
                    _alive(_SceneBase, others),
                    actors,
                    len(view.findChildren(QObject)),
                    len(view.findChildren(SceneHost)),
                )
            )
            assert view.timeline is None
            gc.collect()
            assert loaded() is None, "a closed patient's twin timeline is still held"
        assert {c[0] for c in counts} == {1}, f"scenes alive per cycle: {counts}"
        assert len({c[1] for c in counts}) == 1, f"actors per cycle: {counts}"
        # widgets made while loading (panel rows, chart items) are reused, not piled up
        assert counts[-1][2] <= counts[1][2], f"child objects per cycle: {counts}"
        assert {c[3] for c in counts} == {1}, f"scene hosts per cycle: {counts}"
    finally:
        view.shutdown()
        view.close()
        view.deleteLater()
        flush_deletes()
    assert _alive(_SceneBase, others) == 0, "a scene outlived its closed view"
