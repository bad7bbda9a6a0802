"""Benchmark of the twin view widget: patient open → rendered twin, and scrub fps in the widget.

Run under a display (``xvfb-run -a python -m tests.bench.bench_twinui [native|gl|image]``).
Measures, for the image renderer and (where Qt can embed OpenGL) the native VTK window and the
pyvistaqt QOpenGLWidget:
- cold open: first patient, including building the 3D scene;
- warm open: switching patient on a built scene — service read + region map + first frame
  (target <= 250 ms);
- scrub fps: slider steps, each drawing a frame in the widget, glass and solid cortex, side by
  side with the bare ``TwinScene`` loop (set values + render) at the same size.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

SIZE = (1100, 720)
SCRUB_FRAMES = 40
ROUNDS = 3


def _wait(app: object, cond: object, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        app.processEvents()  # type: ignore[attr-defined]
        if time.monotonic() > end:
            raise TimeoutError("timed out")


def _open(app: object, view: object, pid: str) -> float:
    frames = view.host.frames  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    view.set_patient(pid)  # type: ignore[attr-defined]
    _wait(app, lambda: view.timeline is not None and view.host.frames > frames)  # type: ignore[attr-defined]
    return (time.perf_counter() - t0) * 1000.0


def _scrub(app: object, view: object, n: int) -> float:
    """Frames shown per second while the slider steps (a step whose frame is not shown yet
    does not count, so a host that defers painting cannot look faster than it is)."""
    t = view.timeline  # type: ignore[attr-defined]
    last = len(t.dates) - 1
    shown = view.host.frames  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    for k in range(n):
        view.slider.setValue(k % last)  # type: ignore[attr-defined]
        view.flush()  # type: ignore[attr-defined]
        app.processEvents()  # type: ignore[attr-defined]
    return (view.host.frames - shown) / (time.perf_counter() - t0)  # type: ignore[attr-defined]


class _OnScreen:
    """A plain top-level VTK window (no Qt) for the on-screen baseline."""

    def __init__(self, size: tuple[int, int]) -> None:
        from viz.scene import make_render_window

        self.render_window, self.renderers = make_render_window(1)
        self.render_window.SetSize(*size)


def _bare(view: object, n: int, solid: bool, on_screen: bool = False) -> float:
    """The same scene class driven directly at the widget's frame size.

    Offscreen (what reports use) or in a bare on-screen VTK window: showing a frame on screen
    costs a buffer swap that an offscreen loop never pays.
    """
    from ui.twin.view import scene_atlas
    from viz.scene import TwinScene

    t = view.timeline  # type: ignore[attr-defined]
    size = view.host.frame_size()  # type: ignore[attr-defined]
    window = _OnScreen(size) if on_screen else None
    scene = TwinScene(scene_atlas(), plotter=window, window_size=size, colormap="diverging")
    if solid:
        scene.set_cortex_opacity(1.0, 1.0)
    scene.render()
    frames = [t.frame(i) for i in range(len(t.dates))]
    t0 = time.perf_counter()
    for k in range(n):
        scene.set_region_values(frames[k % len(frames)])
        if view.host.mode == "image":  # type: ignore[attr-defined]
            scene.render_image()  # renders and reads the frame back, as the image host does
        else:
            scene.render()
    fps = n / (time.perf_counter() - t0)
    scene.close()
    if window is not None:
        window.render_window.Finalize()
    return fps


def run(renderer: str) -> list[tuple[str, str]]:
    """Measure one renderer; returns (row label, value) pairs."""
    os.environ["NOVAMIND_TWIN_RENDERER"] = renderer
    from PySide6.QtWidgets import QApplication

    from app.demo import DEMO_PASSWORD, create_demo_clinic
    from app.services import auth, patients
    from app.services.context import AppContext
    from ui.twin import TwinView

    app = QApplication.instance()
    ctx = AppContext.open(_settings())
    create_demo_clinic(ctx, patients=4, days=180)
    who = auth.login(ctx, "dr.adams", DEMO_PASSWORD)
    pids = [p.id for p in patients.list_patients(ctx, who)]
    view = TwinView(ctx, who)
    view.resize(*SIZE)
    view.show()
    _wait(app, lambda: view.isVisible())
    rows = [("renderer", f"{view.host.mode} ({renderer})")]
    rows.append(("cold open (first patient, builds scene), ms", f"{_open(app, view, pids[0]):.0f}"))
    warm = [_open(app, view, pids[(k + 1) % len(pids)]) for k in range(6)]
    rows.append(("warm open, median of 6, ms", f"{statistics.median(warm):.0f}"))
    rows.append(("warm open, max, ms", f"{max(warm):.0f}"))
    rows.append(("frame size (px)", "x".join(map(str, view.host.frame_size()))))
    embedded = view.host.mode != "image"
    for solid in (False, True):
        view.deep.setChecked(not solid)
        _scrub(app, view, 5)
        # Interleaved rounds, medians: the shared machine's load drifts within a run.
        widget, offscreen, on_screen = [], [], []
        for _ in range(ROUNDS):
            widget.append(_scrub(app, view, SCRUB_FRAMES))
            offscreen.append(_bare(view, SCRUB_FRAMES, solid))
            if embedded:
                on_screen.append(_bare(view, SCRUB_FRAMES, solid, on_screen=True))
        fps, bare = statistics.median(widget), statistics.median(offscreen)
        name = "solid" if solid else "glass"
        rows.append((f"scrub fps in widget, {name} (median of {ROUNDS})", f"{fps:.1f}"))
        rows.append((f"bare TwinScene fps offscreen, {name}", f"{bare:.1f}"))
        rows.append((f"widget / bare offscreen, {name}", f"{100 * fps / bare:.0f} %"))
        if embedded:
            shown = statistics.median(on_screen)
            rows.append((f"bare TwinScene fps in an on-screen VTK window, {name}", f"{shown:.1f}"))
            rows.append((f"widget / bare on-screen, {name}", f"{100 * fps / shown:.0f} %"))
    view.close()
    ctx.close()
    return rows


def _settings() -> object:
    from app.core.config import load_settings

    root = Path(tempfile.mkdtemp(prefix="bench-twinui-"))
    return load_settings(
        {"NOVAMIND_DATA_DIR": str(root / "data"), "NOVAMIND_POLICY": str(root / "p.toml")}
    )


def main() -> None:
    """Print a markdown table for the image renderer and, if available, embedded OpenGL."""
    import keyring
    from PySide6.QtWidgets import QApplication

    from tests.support.keyring_backends import MemoryKeyring
    from ui.twin.host import choose_renderer

    keyring.set_keyring(MemoryKeyring())
    QApplication.instance() or QApplication([])
    only = [a for a in sys.argv[1:] if a in ("native", "gl", "image")]
    renderers = ["image"]
    os.environ.pop("NOVAMIND_TWIN_RENDERER", None)
    if choose_renderer() != "image":
        renderers += ["native", "gl"] if choose_renderer() == "native" else ["gl"]
    for r in only or renderers:
        rows = run(r)
        print(f"\n| {r} renderer | value |\n| --- | ---: |")
        for label, value in rows:
            print(f"| {label} | {value} |")


if __name__ == "__main__":
    main()
