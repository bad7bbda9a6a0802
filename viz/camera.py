"""Camera presets and picking: where a twin layer is seen from and what lies under a click.

Why: every view of a scene (one, or two linked) is aimed the same way, and a click must name
the same region whichever host reported it. Nucleus glyphs are drawn over the glass cortex,
so they win a pick; connection tubes are not pickable.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from vtkmodules.vtkRenderingCore import vtkCellPicker

from app.core.errors import ValidationError
from viz.layer import TwinLayer

Vec = tuple[float, float, float]
#: preset -> (direction from the brain to the eye, view-up)
DIRECTIONS: dict[str, tuple[Vec, Vec]] = {
    "oblique": ((-1.0, 0.3, 0.28), (0.0, 0.0, 1.0)),
    "lateral": ((-1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "lateral_left": ((-1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "lateral_right": ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "medial": ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "medial_left": ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "medial_right": ((-1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "top": ((0.0, 0.0, 1.0), (0.0, 1.0, 0.0)),
    "bottom": ((0.0, 0.0, -1.0), (0.0, 1.0, 0.0)),
    "front": ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
}
CAMERA_PRESETS = tuple(DIRECTIONS)
#: one-hemisphere presets: the far hemisphere would only clutter the glass view
HIDDEN_HEMISPHERE = {
    "lateral": "R",
    "lateral_left": "R",
    "medial": "R",
    "medial_left": "R",
    "lateral_right": "L",
    "medial_right": "L",
}


def aim(layers: Sequence[TwinLayer], preset: str, zoom: float = 1.0) -> None:
    """Point every layer's camera at the brain from a named direction.

    Lateral and medial presets show one hemisphere (medial walls face each other).
    """
    if preset not in DIRECTIONS:
        raise ValidationError(f"camera preset '{preset}': expected one of {CAMERA_PRESETS}")
    direction, up = DIRECTIONS[preset]
    hidden = HIDDEN_HEMISPHERE.get(preset)
    for layer in layers:
        for hemi, actor in layer.cortex.items():
            actor.SetVisibility(hemi != hidden)
        ren = layer.renderer
        bounds = _visible_bounds(layer)
        center = np.array(
            [(bounds[0] + bounds[1]) / 2, (bounds[2] + bounds[3]) / 2, (bounds[4] + bounds[5]) / 2]
        )
        cam = ren.GetActiveCamera()
        d = np.array(direction) / np.linalg.norm(direction)
        cam.SetFocalPoint(*center)
        cam.SetPosition(*(center + d * 500.0))
        cam.SetViewUp(*up)
        cam.SetViewAngle(30.0)
        ren.ResetCamera(bounds)
        cam.Zoom(1.35 * zoom)
        cam.SetWindowCenter(0.16, 0.0)  # leave the right side to the legend
        ren.ResetCameraClippingRange()


def _visible_bounds(layer: TwinLayer) -> tuple[float, ...]:
    b = np.array([a.GetBounds() for a in layer.cortex.values() if a.GetVisibility()])
    return (
        b[:, 0].min(),
        b[:, 1].max(),
        b[:, 2].min(),
        b[:, 3].max(),
        b[:, 4].min(),
        b[:, 5].max(),
    )


def pick_region(layer: TwinLayer, x: float, y: float) -> str | None:
    """Region under display point (x, y) in VTK coordinates (origin bottom-left)."""
    picker = vtkCellPicker()
    picker.SetTolerance(0.0005)
    picker.PickFromListOn()
    inside = layer.inside
    if inside is not None and inside.GetVisibility():
        picker.AddPickList(inside)
        if picker.Pick(x, y, 0.0, layer.renderer):
            rid = layer.nucleus_at(picker.GetPointId())
            if rid is not None:
                return rid
        picker.InitializePickList()
    for actor in layer.cortex.values():
        if actor.GetVisibility():
            picker.AddPickList(actor)
    if not picker.Pick(x, y, 0.0, layer.renderer):
        return None
    return layer.region_at_vertex(picker.GetActor(), picker.GetPointId())
