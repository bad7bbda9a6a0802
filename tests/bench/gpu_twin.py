"""GPU check: the twin scene's timeline-scrub fps with the full fsaverage cortex on EGL.

`python -m tests.bench.gpu_twin [--dry-run]` (normally run by gpu.sh).

The scene and loop are tests/bench/bench_viz's: `TwinScene` over the shipped fsaverage mesh
(64,984 vertices, 129,960 triangles) and the region definition the viz tests use, per frame
`set_region_values` + `set_caption` + `render()`, off-screen through VTK's EGL window
(`viz.gl.prepare_headless`). On the GPU each block of frames ends with `WaitForCompletion`
(glFinish), so queued frames are not counted as drawn. The OpenGL renderer string is recorded
and a software renderer (llvmpipe) on a GPU machine is an error: that would measure the CPU.
When PyVista imports, bench_viz's matched bare loop runs interleaved for the ratio.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

from tests.bench.gpu_common import dry_run, table, write_result

SIZES = ((800, 600), (1920, 1080))
FRAMES = 200
BLOCK = 10


def _vertex_frames(scene: Any, atlas: Any, frames: list[dict[str, float]]) -> list[np.ndarray]:
    """Per-vertex scalars of each frame, as bench_viz computes them for its bare loops."""
    from viz.colormaps import encode_region_colors
    from viz.scene import region_vector

    idx = atlas.vertex_region.astype(np.intp).copy()
    idx[idx < 0] = len(atlas.ids)
    background = np.concatenate([h[1] for h in scene.layer._hemi])
    out = []
    for f in frames:
        enc = np.append(encode_region_colors(scene.colormap, region_vector(atlas, f)), np.nan)
        v = enc[idx].astype(np.float32)
        out.append(np.where(np.isnan(v), background, v).astype(np.float32))
    return out


def main(argv: list[str] | None = None) -> int:
    """Scrub the timeline at each size and cortex mode; print the table; write gpu_twin.json."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="small window, few frames, any GL")
    ap.add_argument("--frames", type=int, default=FRAMES)
    args = ap.parse_args(argv)
    dry = args.dry_run or dry_run([])
    sizes = ((320, 240),) if dry else SIZES
    n_frames = 20 if dry else args.frames

    from viz import gl

    gl.prepare_headless()
    from tests.bench.bench_viz import REGIONS, BareLoop, timeline
    from viz.brain import load_brain
    from viz.colormaps import cortex_lut
    from viz.regions import build_atlas
    from viz.scene import TwinScene

    brain = load_brain()
    atlas = build_atlas(json.loads(REGIONS.read_text()), brain)
    frames = timeline(atlas.ids, n_frames)
    dates = [f"2026-{1 + i // 28 % 12:02d}-{1 + i % 28:02d}" for i in range(n_frames)]
    rows: list[list[Any]] = []
    results = []
    renderer = ""
    for size in sizes:
        for mode, anatomy in (("glass", None), ("solid", 1.0)):
            scene = TwinScene(atlas, brain, window_size=size)
            if anatomy is not None:
                scene.set_cortex_opacity(anatomy, 1.0)
            scene.set_region_values(frames[0])
            scene.render()
            renderer = scene.renderer_name
            if not dry and scene.software_rendering:
                scene.close()
                raise RuntimeError(f"EGL gave a software renderer ({renderer}), not the GPU")
            bare: Any = None
            try:  # the matched bare loop needs PyVista; without it, scene fps only
                import pyvista  # noqa: F401

                opacity = scene.style.anatomy_opacity if anatomy is None else 1.0
                lut = cortex_lut(scene.colormap, *scene.layer.alphas)
                bare = BareLoop(brain, scene, size, lut, matched=True, opacity=opacity)
                vframes = _vertex_frames(scene, atlas, frames)
            except ImportError:
                bare = None
            spent = np.zeros((2, -(-n_frames // BLOCK)))
            for b, start in enumerate(range(0, n_frames, BLOCK)):
                block = range(start, min(start + BLOCK, n_frames))
                t0 = time.perf_counter()
                for i in block:
                    scene.set_region_values(frames[i])
                    scene.set_caption(dates[i])
                    scene.render()
                scene.render_window.WaitForCompletion()
                spent[0, b] = time.perf_counter() - t0
                if bare is not None:
                    t0 = time.perf_counter()
                    for i in block:
                        bare.frame(vframes[i])
                    if (rw := bare.plotter.render_window) is not None:
                        rw.WaitForCompletion()
                    spent[1, b] = time.perf_counter() - t0
            fps = n_frames / spent[0].sum()
            bare_fps = n_frames / spent[1].sum() if bare is not None else None
            ratio = float(np.median(spent[1] / spent[0])) if bare is not None else None
            if bare is not None:
                bare.close()
            scene.close()
            results.append(
                {"size": size, "cortex": mode, "fps": fps, "bare_fps": bare_fps, "ratio": ratio}
            )
            rows.append(
                [
                    f"{size[0]}x{size[1]}",
                    mode,
                    round(fps, 1),
                    round(bare_fps, 1) if bare_fps else "n/a (no PyVista)",
                    f"{ratio:.0%}" if ratio else "n/a",
                ]
            )
    print(f"OpenGL renderer: {renderer}; {brain.n_vertices:,} vertices\n")
    print(table(["window", "cortex", "twin fps", "bare matched fps", "twin / bare"], rows))
    print(
        f"\n{n_frames} frames per loop in blocks of {BLOCK} (glFinish per block); "
        f"mode: {'dry run' if dry else 'GPU'}"
    )
    out = write_result("twin", {"dry_run": dry, "renderer": renderer, "results": results})
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
