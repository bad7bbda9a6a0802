"""What the UI may rely on in a viz scene: the ``Scene`` protocols and the one pick result.

Why: the Qt layer should depend on a small contract, not on the VTK classes behind it, so a
host, a controller or a test double can hold "a scene" without importing VTK (importing it
costs ~0.2 s). ``TwinScene`` (one view) and ``CompareScene`` (two linked views) implement
these protocols; every ``pick`` returns a :class:`Pick`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from vtkmodules.vtkRenderingCore import vtkRenderer

    from viz.layer import SceneStyle


@dataclass(frozen=True)
class Pick:
    """What lies under a click: the region (None for none) and the view it is in.

    ``side`` is 0 for a single view, 0 (left) or 1 (right) in a comparison and -1 when the
    point is outside every view.
    """

    region_id: str | None
    side: int = 0

    @property
    def hit(self) -> bool:
        """Whether a region was under the point."""
        return self.region_id is not None


class Scene(Protocol):
    """A drawable scene: what hosts, screenshots and camera controls need."""

    @property
    def renderers(self) -> Sequence[vtkRenderer]: ...

    @property
    def has_rendered(self) -> bool: ...

    def render(self) -> None: ...

    def render_image(self, size: tuple[int, int] | None = None) -> np.ndarray: ...

    def fit_overlays(self) -> None: ...

    def set_camera(self, preset: str = "oblique", *, zoom: float = 1.0) -> None: ...

    def set_colormap(self, kind: str, clim: tuple[float, float], title: str = ...) -> None: ...

    def pick(self, x: float, y: float) -> Pick: ...

    def close(self) -> None: ...


class SingleScene(Scene, Protocol):
    """One twin in one view (the twin, difference and what-if modes; reports)."""

    @property
    def style(self) -> SceneStyle: ...

    def set_region_values(self, values: Mapping[str, float]) -> None: ...

    def show_difference(
        self,
        before: Mapping[str, float],
        after: Mapping[str, float],
        *,
        limit: float | None = None,
        title: str = ...,
    ) -> dict[str, float]: ...

    def set_caption(self, text: str) -> None: ...

    def set_cortex_opacity(self, anatomy: float, regions: float | None = None) -> None: ...


class PairScene(Scene, Protocol):
    """Two dates side by side with one camera and one colour scale."""

    def set_region_values(
        self, values_a: Mapping[str, float], values_b: Mapping[str, float]
    ) -> None: ...

    def set_captions(self, left: str, right: str) -> None: ...
