"""Image regression: offscreen renders compared with stored reference PNGs (tolerance).

Regenerate the references after an intended visual change, then look at them:
    python -m tests.unit.viz.test_image_regression
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from vtkmodules.util.numpy_support import vtk_to_numpy
from vtkmodules.vtkIOImage import vtkPNGReader

from tests.unit.viz.conftest import VALUES_A, VALUES_B
from viz.scene import TwinScene

REFERENCE = Path(__file__).parent / "reference"
SIZE = (300, 300)
# Mean absolute difference over all pixels and channels (0-255). Identical software stacks give
# ~0; other Mesa/VTK builds shift edges slightly. A wrong value set is well above (see test).
TOLERANCE = 1.5

CASES = {
    "twin_oblique": ("oblique", "values", VALUES_A),
    "twin_bottom": ("bottom", "values", VALUES_B),
    "twin_difference": ("medial_left", "difference", None),
}


def read_png(path: Path) -> np.ndarray:
    reader = vtkPNGReader()
    reader.SetFileName(str(path))
    reader.Update()
    img = reader.GetOutput()
    w, h, _ = img.GetDimensions()
    arr = vtk_to_numpy(img.GetPointData().GetScalars())
    return arr.reshape(h, w, -1)[::-1, :, :3]


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def show(scene: TwinScene, case: str, values: dict | None = None) -> None:
    preset, mode, default = CASES[case]
    if mode == "difference":
        scene.show_difference(VALUES_A, values or VALUES_B)
    else:
        scene.set_colormap("sequential", (0.0, 1.0))
        scene.set_region_values(values or default)
    scene.set_camera(preset)


@pytest.fixture(scope="module")
def scene(atlas, brain):
    s = TwinScene(atlas, brain, window_size=SIZE)
    yield s
    s.close()


@pytest.mark.parametrize("case", sorted(CASES))
def test_render_matches_reference(scene, case):
    show(scene, case)
    got = scene.render_image(SIZE)
    ref = read_png(REFERENCE / f"{case}.png")
    assert mean_abs_diff(got, ref) < TOLERANCE


def test_png_written_offscreen_round_trips(scene, tmp_path):
    show(scene, "twin_oblique")
    out = scene.render_png(tmp_path / "twin.png", SIZE)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert mean_abs_diff(read_png(out), read_png(REFERENCE / "twin_oblique.png")) < TOLERANCE


@pytest.mark.parametrize("case", sorted(CASES))
def test_wrong_values_fail_the_comparison(scene, case):
    """The tolerance is tight enough to catch a wrong date's values being shown."""
    _, mode, default = CASES[case]
    source = VALUES_B if mode == "difference" else default
    wrong = {k: round(1.0 - v, 3) for k, v in source.items()}
    show(scene, case, wrong)
    got = scene.render_image(SIZE)
    assert mean_abs_diff(got, read_png(REFERENCE / f"{case}.png")) > TOLERANCE


def main() -> None:
    """Rewrite the reference images from the current scene code."""
    import json

    from tests.unit.viz.conftest import REGIONS_FILE
    from viz.brain import load_brain
    from viz.regions import build_atlas

    brain = load_brain()
    atlas = build_atlas(json.loads(REGIONS_FILE.read_text()), brain)
    scene = TwinScene(atlas, brain, window_size=SIZE)
    REFERENCE.mkdir(exist_ok=True)
    for case in CASES:
        show(scene, case)
        print(scene.render_png(REFERENCE / f"{case}.png", SIZE))
    scene.close()


if __name__ == "__main__":
    main()
