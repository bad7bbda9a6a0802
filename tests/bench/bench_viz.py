"""Benchmark the 3D twin: cold open, patient open, and timeline scrub vs bare PyVista loops.

Run: python -m tests.bench.bench_viz   (software OpenGL when no GPU: Mesa llvmpipe via EGL)

What each loop draws, per frame, in a window of the same size with the same camera (the twin
scene's oblique view copied into the bare plotters), multi-sampling off:

- twin scene: ``set_region_values(dict)`` (13 regions -> per-vertex arrays in place) and
  ``set_caption(date)``, then ``render()``: the cortex (64,984 vertices, 129,960 triangles,
  two hemisphere actors), 13 nucleus glyphs, connection tubes, legend, caption, gradient
  background.
- bare PyVista, matched: ONE PyVista mesh of the same 64,984 vertices / 129,960 triangles,
  coloured through the twin's own cortex lookup table (same colours and alpha), same
  lighting (one headlight), back-face culling and transparency mode as the twin cortex; the
  loop copies a precomputed per-vertex array into its scalars, marks it modified, renders.
  Nothing else is drawn. This is the strict reference: the ratio is the scene's overhead.
- bare PyVista, defaults: the same mesh and loop with PyVista's defaults (five-light kit, no
  culling, order-independent transparency for glass) and the same opacity.

Loops are interleaved in blocks of ``BLOCK`` frames in one process; fps is frames / wall
time, and "cpu fps" is frames / process CPU time (all threads). Ratios are the median over
blocks of (bare block time / twin block time), so a load spike from another process on a
shared machine hits one block pair, not the figure. The cold open runs in fresh subprocesses.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from viz import brain as brain_mod
from viz import gl
from viz.colormaps import cortex_lut, encode_region_colors
from viz.regions import build_atlas
from viz.scene import TwinScene, region_vector

REGIONS = Path(__file__).resolve().parents[1] / "unit" / "viz" / "regions_test.json"
FRAMES = 80
BLOCK = 5
SIZES = ((640, 480), (800, 600))
COLD_RUNS = 3

COLD_OPEN = r"""
import json, sys, time
t0 = time.perf_counter()
from viz.brain import load_brain
from viz.regions import build_atlas
from viz.scene import TwinScene
t1 = time.perf_counter()
brain = load_brain()
atlas = build_atlas(json.loads(open(sys.argv[1]).read()), brain)
t2 = time.perf_counter()
scene = TwinScene(atlas, brain, window_size=(800, 600))
t3 = time.perf_counter()
scene.set_region_values({rid: 0.5 for rid in atlas.ids})
scene.set_caption("2026-11-25")
scene.render()
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "data": t2 - t1, "build": t3 - t2, "render": t4 - t3,
                  "total": t4 - t0, "pyvista": "pyvista" in sys.modules,
                  "matplotlib": "matplotlib" in sys.modules}))
"""


def timeline(ids: tuple[str, ...], n: int) -> list[dict[str, float]]:
    """Smoothly varying per-region values for n dates (like a scrubbed twin)."""
    t = np.linspace(0, 2 * np.pi, n)
    return [
        {rid: float(0.5 + 0.45 * np.sin(t[i] + k)) for k, rid in enumerate(ids)} for i in range(n)
    ]


def ms(t0: float) -> float:
    """Milliseconds since ``t0`` (perf_counter)."""
    return (time.perf_counter() - t0) * 1000.0


def cold_open() -> dict[str, float]:
    """Median timings of a fresh process: import, data, build, first rendered twin."""
    runs = []
    for _ in range(COLD_RUNS):
        out = subprocess.run(
            [sys.executable, "-c", COLD_OPEN, str(REGIONS)],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    keys = ("import", "data", "build", "render", "total")
    med = {k: 1000 * statistics.median(r[k] for r in runs) for k in keys}
    med["pyvista"] = any(r["pyvista"] for r in runs)
    med["matplotlib"] = any(r["matplotlib"] for r in runs)
    return med


def _renderer(scene: TwinScene) -> object:
    """The scene's renderer (older scenes, measured for "before" figures, had a plotter)."""
    renderers = getattr(scene, "renderers", None)
    return renderers[0] if renderers else scene.plotter.renderer


class BareLoop:
    """One PyVista mesh of the whole cortex; per frame: copy scalars, Modified, Render."""

    def __init__(self, brain, scene: TwinScene, size, lut, matched: bool, opacity: float):  # noqa: ANN001
        import pyvista as pv

        mesh = pv.PolyData.from_regular_faces(brain.vertices, brain.faces)
        mesh.point_data.set_array(brain.normals, "Normals")
        mesh.point_data.active_normals_name = "Normals"
        mesh.point_data.set_array(np.zeros(brain.n_vertices, dtype=np.float32), "s")
        pl = pv.Plotter(off_screen=True, window_size=list(size))
        pl.render_window.SetMultiSamples(0)
        if matched:
            pl.remove_all_lights()
            pl.add_light(pv.Light(light_type="headlight"))
            pl.renderer.SetUseOIT(False)
            actor = pl.add_mesh(
                mesh, scalars="s", clim=(-1, 1), show_scalar_bar=False, culling="back",
                smooth_shading=True, specular=0.12, specular_power=18,
            )  # fmt: skip
            actor.mapper.lookup_table = lut
            actor.mapper.scalar_range = (-1.0, 1.0)
        else:
            pl.add_mesh(mesh, scalars="s", clim=(-1, 1), opacity=opacity, show_scalar_bar=False)
        pl.renderer.GetActiveCamera().DeepCopy(_renderer(scene).GetActiveCamera())
        pl.renderer.ResetCameraClippingRange()
        pl.render_window.Render()
        self.plotter = pl
        self.arr = mesh.point_data["s"]
        self.vtk_arr = mesh.GetPointData().GetArray("s")

    def frame(self, vertex_values: np.ndarray) -> None:
        """Copy one frame's per-vertex scalars and render."""
        self.arr[:] = vertex_values
        self.vtk_arr.Modified()
        self.plotter.render_window.Render()

    def close(self) -> None:
        """Release the window."""
        self.plotter.close()


def scrub(scene: TwinScene, frames, bares, vertex_frames, dates) -> np.ndarray:  # noqa: ANN001
    """Interleaved loops; (loop, block, wall|cpu) seconds: the scene, then each bare loop."""
    spent = np.zeros((1 + len(bares), -(-len(frames) // BLOCK), 2))
    for b, start in enumerate(range(0, len(frames), BLOCK)):
        block = range(start, min(start + BLOCK, len(frames)))
        w0, c0 = time.perf_counter(), time.process_time()
        for i in block:
            scene.set_region_values(frames[i])
            scene.set_caption(dates[i])
            scene.render()
        spent[0, b] = time.perf_counter() - w0, time.process_time() - c0
        for k, bare in enumerate(bares, start=1):
            w0, c0 = time.perf_counter(), time.process_time()
            for i in block:
                bare.frame(vertex_frames[i])
            spent[k, b] = time.perf_counter() - w0, time.process_time() - c0
    return spent


def main() -> None:
    """Print markdown tables of measured open times and scrub frame rates."""
    gl.prepare_headless()
    cold = cold_open()

    brain_mod.load_brain.cache_clear()
    t0 = time.perf_counter()
    brain = brain_mod.load_brain()
    t_load = ms(t0)
    defn = json.loads(REGIONS.read_text())
    t0 = time.perf_counter()
    atlas = build_atlas(defn, brain)
    t_atlas = ms(t0)
    frames = timeline(atlas.ids, FRAMES)
    dates = [f"2026-{1 + i // 28:02d}-{1 + i % 28:02d}" for i in range(FRAMES)]

    t0 = time.perf_counter()
    scene = TwinScene(atlas, brain, window_size=(800, 600))
    scene.set_region_values(frames[1])
    scene.render()
    t_second_scene = ms(t0)
    opens = []
    for i in range(5):
        t0 = time.perf_counter()
        scene.set_region_values(frames[2 + i])
        scene.set_caption(dates[2 + i])
        scene.render()
        opens.append(ms(t0))
    t_open_warm = statistics.median(opens)
    scene.close()

    print(f"OpenGL renderer: {scene.renderer_name} (software: {scene.software_rendering})\n")
    print("| step | ms |\n| --- | ---: |")
    for name, value in [
        ("cold process: import viz (vtk, numpy)", cold["import"]),
        ("cold process: load mesh + build atlas", cold["data"]),
        ("cold process: build scene actors + window", cold["build"]),
        ("cold process: first rendered twin (GL context, shaders)", cold["render"]),
        ("**cold process total: start -> rendered twin**", cold["total"]),
        ("load shipped mesh (npz, cold cache)", t_load),
        ("resolve region definition -> atlas", t_atlas),
        ("second scene in a process, new window, to first frame", t_second_scene),
        ("**patient open on the existing scene: values + caption + render**", t_open_warm),
    ]:
        print(f"| {name} | {value:.1f} |")
    print(
        f"\npyvista imported by the cold open: {cold['pyvista']}; "
        f"matplotlib: {cold['matplotlib']} (median of {COLD_RUNS} fresh processes)\n"
    )

    idx = atlas.vertex_region.astype(np.intp).copy()
    idx[idx < 0] = len(atlas.ids)
    print(
        "| window | cortex | twin fps | bare matched fps | ratio | bare defaults fps | ratio "
        "| twin cpu fps | matched cpu fps | cpu ratio |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for size in SIZES:
        for mode, anatomy in (("glass", None), ("solid", 1.0)):
            scene = TwinScene(atlas, brain, window_size=size)
            if anatomy is not None:
                scene.set_cortex_opacity(anatomy, 1.0)
            scene.set_region_values(frames[0])
            scene.render()
            shade = scene.layer._hemi  # per-vertex anatomy encoding, both hemispheres
            background = np.concatenate([h[1] for h in shade])
            vertex_frames = []
            for f in frames:
                enc = encode_region_colors(scene.colormap, region_vector(atlas, f))
                enc = np.append(enc, np.nan)
                v = enc[idx].astype(np.float32)
                vertex_frames.append(np.where(np.isnan(v), background, v).astype(np.float32))
            lut = cortex_lut(scene.colormap, *scene.layer.alphas)
            opacity = scene.style.anatomy_opacity if anatomy is None else 1.0
            bares = [
                BareLoop(brain, scene, size, lut, matched=True, opacity=opacity),
                BareLoop(brain, scene, size, lut, matched=False, opacity=opacity),
            ]
            spent = scrub(scene, frames, bares, vertex_frames, dates)
            fps = len(frames) / spent.sum(axis=1)  # (loop, wall|cpu)
            ratio = 100 * np.median(spent[1:] / spent[0], axis=1)  # (bare, wall|cpu)
            print(
                f"| {size[0]}x{size[1]} | {mode} | {fps[0, 0]:.1f} | {fps[1, 0]:.1f} "
                f"| {ratio[0, 0]:.0f} % | {fps[2, 0]:.1f} | {ratio[1, 0]:.0f} % "
                f"| {fps[0, 1]:.1f} | {fps[1, 1]:.1f} | {ratio[0, 1]:.0f} % |"
            )
            for bare in bares:
                bare.close()
            scene.close()
    print(
        f"\n{FRAMES} frames per loop, interleaved in blocks of {BLOCK}; ratios are medians of "
        "per-block ratios (twin fps / bare fps); multi-sampling off."
    )


if __name__ == "__main__":
    main()
