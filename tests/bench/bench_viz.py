"""Benchmark the 3D twin: scene build, patient open, and timeline scrub vs a bare PyVista loop.

Run: python -m tests.bench.bench_viz   (software OpenGL when no GPU: Mesa llvmpipe via EGL)

The scrub loop calls ``TwinScene.set_region_values`` (per-region dict -> per-vertex arrays in
place) and renders the whole scene (cortex, glyphs, tubes, legend). The bare loop renders the
same 64,984-vertex cortex as a single PyVista mesh and only copies a precomputed per-vertex
array into its scalars before each render. Both run in one process, interleaved in blocks.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pyvista as pv

from viz import brain as brain_mod
from viz import gl
from viz.regions import build_atlas
from viz.scene import TwinScene

REGIONS = Path(__file__).resolve().parents[1] / "unit" / "viz" / "regions_test.json"
FRAMES = 100
BLOCK = 20


def timeline(ids: tuple[str, ...], n: int) -> list[dict[str, float]]:
    """Smoothly varying per-region values for n dates (like a scrubbed twin)."""
    t = np.linspace(0, 2 * np.pi, n)
    return [
        {rid: float(0.5 + 0.45 * np.sin(t[i] + k)) for k, rid in enumerate(ids)} for i in range(n)
    ]


def ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0


def bare_plotter(brain: brain_mod.BrainMesh, size: tuple[int, int], opacity: float):
    mesh = pv.PolyData.from_regular_faces(brain.vertices, brain.faces)
    mesh.point_data.set_array(brain.normals, "Normals")
    mesh.point_data.active_normals_name = "Normals"
    mesh.point_data.set_array(np.zeros(brain.n_vertices, dtype=np.float32), "s")
    pl = pv.Plotter(off_screen=True, window_size=list(size))
    pl.render_window.SetMultiSamples(0)
    pl.add_mesh(mesh, scalars="s", clim=(0, 1), opacity=opacity, show_scalar_bar=False)
    pl.render_window.Render()
    arr = mesh.point_data["s"]
    vtk_arr = mesh.GetPointData().GetArray("s")
    return pl, arr, vtk_arr


def scrub(scene: TwinScene, frames, bare, vertex_frames) -> tuple[float, float]:
    pl, arr, vtk_arr = bare
    ours = theirs = 0.0
    for start in range(0, len(frames), BLOCK):
        t0 = time.perf_counter()
        for values in frames[start : start + BLOCK]:
            scene.set_region_values(values)
            scene.render()
        ours += time.perf_counter() - t0
        t0 = time.perf_counter()
        for vf in vertex_frames[start : start + BLOCK]:
            arr[:] = vf
            vtk_arr.Modified()
            pl.render_window.Render()
        theirs += time.perf_counter() - t0
    return len(frames) / ours, len(frames) / theirs


def main() -> None:
    """Print markdown tables of measured build/open times and scrub frame rates."""
    gl.prepare_headless()
    rows = []
    brain_mod.load_brain.cache_clear()
    t0 = time.perf_counter()
    brain = brain_mod.load_brain()
    t_load = ms(t0)
    defn = json.loads(REGIONS.read_text())
    t0 = time.perf_counter()
    atlas = build_atlas(defn, brain)
    t_atlas = ms(t0)
    frames = timeline(atlas.ids, FRAMES)

    t0 = time.perf_counter()
    scene = TwinScene(atlas, brain, window_size=(800, 600))
    t_actors = ms(t0)
    t0 = time.perf_counter()
    scene.set_region_values(frames[0])
    scene.render()
    t_first = ms(t0)
    t0 = time.perf_counter()
    brain2 = brain_mod.load_brain()
    atlas2 = build_atlas(defn, brain2)
    scene2 = TwinScene(atlas2, brain2, window_size=(800, 600))
    scene2.set_region_values(frames[1])
    scene2.render()
    t_second_scene = ms(t0)
    scene2.close()
    t0 = time.perf_counter()
    scene.set_region_values(frames[2])
    scene.set_caption("2026-11-25")
    scene.render()
    t_open_warm = ms(t0)
    scene.close()

    print(f"OpenGL renderer: {scene.renderer_name} (software: {scene.software_rendering})\n")
    print("| step | ms |\n| --- | ---: |")
    for name, value in [
        ("load shipped mesh (npz, cold)", t_load),
        ("resolve region definition -> atlas", t_atlas),
        ("build scene actors (first window in process)", t_actors),
        ("first render (GL context + shader compile)", t_first),
        ("second scene, new window, to first frame", t_second_scene),
        ("patient open on existing scene: values + render", t_open_warm),
    ]:
        print(f"| {name} | {value:.1f} |")
    print()

    vec = {rid: i for i, rid in enumerate(atlas.ids)}
    idx = atlas.vertex_region.astype(np.intp).copy()
    idx[idx < 0] = len(atlas.ids)
    vertex_frames = [
        np.append([f[r] for r in atlas.ids], np.nan)[idx].astype(np.float32) for f in frames
    ]
    assert len(vec) == len(atlas.ids)
    print("| window | cortex | twin scene fps | bare PyVista fps | ratio |")
    print("| --- | --- | ---: | ---: | ---: |")
    for size in ((640, 480), (800, 600)):
        for mode, anatomy, bare_opacity in (("glass", None, 0.6), ("solid", 1.0, 1.0)):
            scene = TwinScene(atlas, brain, window_size=size)
            if anatomy is not None:
                scene.set_cortex_opacity(anatomy, 1.0)
            scene.set_region_values(frames[0])
            scene.render()
            bare = bare_plotter(brain, size, bare_opacity)
            ours, theirs = scrub(scene, frames, bare, vertex_frames)
            rows.append((size, mode, ours, theirs))
            print(
                f"| {size[0]}x{size[1]} | {mode} | {ours:.1f} | {theirs:.1f} "
                f"| {100 * ours / theirs:.0f} % |"
            )
            bare[0].close()
            scene.close()
    print(f"\n{FRAMES} frames per loop, interleaved in blocks of {BLOCK}; multi-sampling off.")


if __name__ == "__main__":
    main()
