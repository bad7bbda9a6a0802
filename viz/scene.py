"""The 3D twin scene: window, lights, legend, camera and image export around twin layers (no Qt).

Why: the same scene serves the interactive Qt view (pass a host's render target as the
plotter), PDF reports and tests (offscreen). Scrubbing the timeline only rewrites scalar
arrays in place (see :mod:`viz.layer`); the mesh, actors and lookup tables are built once.
Values are model estimates mapped from clinical dimensions, and the legend says so. Call
everything from the GUI thread (VTK is not thread-safe). The UI holds scenes through the
protocols in :mod:`viz.protocol`.

Speed on software OpenGL (Mesa llvmpipe; see docs/bench/viz.md): the scene is plain VTK (no
PyVista import, which costs ~2 s through matplotlib), lit by one headlight (a five-light kit
costs ~35 % more per frame), and its glass cortex is drawn with ordinary alpha blending,
hemispheres sorted back to front each frame, instead of order-independent transparency.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import ClassVar, Protocol

import numpy as np
from vtkmodules.util.numpy_support import vtk_to_numpy
from vtkmodules.vtkCommonCore import vtkCommand
from vtkmodules.vtkRenderingCore import (
    vtkLight,
    vtkRenderer,
    vtkRenderWindow,
    vtkTextActor,
    vtkWindowToImageFilter,
)

from app.core.errors import ValidationError
from viz import gl, overlays
from viz.brain import BrainMesh, load_brain
from viz.camera import CAMERA_PRESETS, aim, pick_region
from viz.colormaps import ColorMap, make_colormap
from viz.layer import COLOR_ARRAY, INSIDE_ARRAY, VALUE_ARRAY, SceneStyle, TwinLayer
from viz.protocol import Pick
from viz.regions import RegionAtlas

__all__ = [
    "CAMERA_PRESETS",
    "COLOR_ARRAY",
    "DEFAULT_TITLE",
    "DIFFERENCE_TITLE",
    "INSIDE_ARRAY",
    "VALUE_ARRAY",
    "CompareScene",
    "Pick",
    "RenderTarget",
    "SceneStyle",
    "TwinScene",
    "make_render_window",
    "region_vector",
]

DEFAULT_TITLE = "Model estimate\n(not measured)"
DIFFERENCE_TITLE = "Change B \u2212 A\n(model estimate)"


class RenderTarget(Protocol):
    """A caller's window to draw into: a pyvistaqt ``QtInteractor`` or a Qt host's window."""

    @property
    def render_window(self) -> vtkRenderWindow: ...

    @property
    def renderers(self) -> Iterable[vtkRenderer]: ...


def region_vector(atlas: RegionAtlas, values: Mapping[str, float]) -> np.ndarray:
    """Align a {region: value} mapping with ``atlas.ids`` (missing regions become NaN).

    Unknown region ids are an error so a renamed region cannot silently vanish from view.
    """
    unknown = [k for k in values if k not in atlas.kinds]
    if unknown:
        raise ValidationError(f"region values: unknown region(s) {', '.join(sorted(unknown))}")
    out = np.full(len(atlas.ids), np.nan)
    for i, rid in enumerate(atlas.ids):
        v = values.get(rid)
        if v is not None:
            try:
                out[i] = float(v)
            except (TypeError, ValueError) as exc:
                raise ValidationError(f"region values: '{rid}' is not a number") from exc
    return out


def make_render_window(views: int) -> tuple[vtkRenderWindow, list[vtkRenderer]]:
    """An OpenGL render window split into ``views`` side-by-side renderers.

    Scenes use it offscreen; the Qt layer hands it to a native embedded window. Creating it
    here guarantees VTK's OpenGL classes are registered first (else a bare stub comes back).
    """
    window = vtkRenderWindow()
    renderers = []
    for i in range(views):
        ren = vtkRenderer()
        ren.SetViewport(i / views, 0.0, (i + 1) / views, 1.0)
        window.AddRenderer(ren)
        renderers.append(ren)
    return window, renderers


class _SceneBase:
    """Window, lights, layers, legend, camera presets and image export shared by all scenes.

    A subclass says how many side-by-side ``views`` it has and its default window size.
    """

    views: ClassVar[int] = 1
    default_size: ClassVar[tuple[int, int]] = (800, 600)

    def __init__(
        self,
        atlas: RegionAtlas,
        brain: BrainMesh | None = None,
        *,
        plotter: RenderTarget | None = None,
        window_size: tuple[int, int] | None = None,
        style: SceneStyle | None = None,
        colormap: str = "sequential",
        clim: tuple[float, float] = (0.0, 1.0),
        title: str = DEFAULT_TITLE,
        camera: str = "oblique",
    ) -> None:
        self.atlas = atlas
        self.style = style or SceneStyle()
        self._open_window(plotter, window_size or self.default_size)
        brain = brain or load_brain()
        self.layers = [TwinLayer(ren, brain, atlas, self.style) for ren in self.renderers]
        self.scalar_bar = overlays.scalar_bar(self.layers[-1].renderer, self.style)
        self.captions: list[vtkTextActor] = [
            overlays.caption(ren, self.style) for ren in self.renderers
        ]
        self._overlay_size: tuple[int, int] | None = None
        self._arrange()
        self.set_colormap(colormap, clim, title)
        self.set_camera(camera)
        self._watch_draw_order()

    def _open_window(self, plotter: RenderTarget | None, window_size: tuple[int, int]) -> None:
        views = self.views
        self._owns_plotter = plotter is None
        self.plotter = plotter  # the caller's render target, None when offscreen
        if plotter is None:
            gl.prepare_headless()
            self.render_window, self.renderers = make_render_window(views)
            self.render_window.SetOffScreenRendering(1)
            self.render_window.SetSize(int(window_size[0]), int(window_size[1]))
        else:
            self.render_window = plotter.render_window
            self.renderers = list(plotter.renderers)[:views]
            if len(self.renderers) < views:
                raise ValidationError(f"scene needs a plotter with {views} views (shape (1, 2))")
        self.render_window.SetMultiSamples(0)  # decided after the first frame (see render)
        self._gl_checked = False
        self.software_rendering: bool | None = None
        self.renderer_name = ""
        style = self.style
        for ren in self.renderers:
            ren.SetBackground(*style.background)
            if style.background_gradient is not None:
                ren.SetBackground(*style.background_gradient[0])
                ren.SetBackground2(*style.background_gradient[1])
                ren.GradientBackgroundOn()
            # Glass is blended in draw order (see TwinLayer.sort_translucent): depth peeling
            # and order-independent transparency cost 5x and 1.3x a frame on llvmpipe.
            ren.SetUseDepthPeeling(False)
            ren.SetUseOIT(False)
            ren.RemoveAllLights()  # one headlight: a light kit costs ~35 % more per frame
            light = vtkLight()
            light.SetLightTypeToHeadlight()
            ren.AddLight(light)

    def _arrange(self) -> None:
        """Hook: place overlays and link cameras after the layers exist."""

    def _watch_draw_order(self) -> None:
        """Sort glass hemispheres before every frame, however the frame is triggered."""
        for layer in self.layers:
            layer.renderer.AddObserver(
                vtkCommand.StartEvent, lambda *_, lay=layer: lay.sort_translucent()
            )

    def fit_overlays(self) -> None:
        """Scale legend and caption fonts with the window (reports are small, screens big)."""
        width, height = self.render_window.GetSize()
        if (width, height) == self._overlay_size:
            return
        self._overlay_size = (width, height)
        overlays.fit([self.scalar_bar], self.captions, height)

    @property
    def has_rendered(self) -> bool:
        """Whether the first frame (which settles multi-sampling for this GL) is drawn."""
        return self._gl_checked

    @property
    def colormap(self) -> ColorMap:
        """The data colour map in use."""
        return self._cmap

    def set_colormap(
        self, kind: str, clim: tuple[float, float], title: str = DEFAULT_TITLE
    ) -> None:
        """Change map, range and legend title; current values are re-coloured (every view
        of a scene shares one scale)."""
        self._install(make_colormap(kind, clim), title)
        for layer in self.layers:
            layer.apply(layer.values, self._cmap)

    def _install(self, cmap: ColorMap, title: str) -> None:
        self._cmap = cmap
        for layer in self.layers:
            layer.set_lut(cmap)
        self.scalar_bar.SetLookupTable(cmap.scalar_bar_lut())
        self.scalar_bar.SetTitle(title)

    def render(self) -> None:
        """Draw a frame now (after the first, multi-sampling follows the GL renderer)."""
        self.fit_overlays()
        self.render_window.Render()
        if not self._gl_checked:
            self._gl_checked = True
            self.renderer_name = gl.renderer_string(self.render_window)
            self.software_rendering = gl.is_software_renderer(self.renderer_name)
            samples = gl.multisamples_for(self.renderer_name)
            if samples:
                self.render_window.SetMultiSamples(samples)
                self.render_window.Render()

    def set_camera(self, preset: str = "oblique", *, zoom: float = 1.0) -> None:
        """Point every (linked) view at the brain from a named direction.

        Lateral and medial presets show one hemisphere (medial walls face each other).
        """
        aim(self.layers, preset, zoom)

    def render_image(self, size: tuple[int, int] | None = None) -> np.ndarray:
        """Render and return the frame as an (h, w, 3) uint8 array (top row first)."""
        old = tuple(self.render_window.GetSize())
        if size is not None and tuple(size) != old:
            self.render_window.SetSize(int(size[0]), int(size[1]))
        self.render()
        grab = vtkWindowToImageFilter()
        grab.SetInput(self.render_window)
        grab.SetInputBufferTypeToRGB()
        grab.ReadFrontBufferOff()
        grab.Update()
        img = grab.GetOutput()
        w, h, _ = img.GetDimensions()
        arr = vtk_to_numpy(img.GetPointData().GetScalars()).reshape(h, w, 3)[::-1].copy()
        if size is not None and tuple(size) != old and not self._owns_plotter:
            self.render_window.SetSize(*old)
        self._last_grab = grab
        return arr

    def render_png(self, path: str | Path, size: tuple[int, int] | None = None) -> Path:
        """Render offscreen to a PNG (reports, screenshots, tests) and return its path."""
        from vtkmodules.vtkIOImage import vtkPNGWriter  # lazily: ~70 ms of import, reports only

        self.render_image(size)
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        writer = vtkPNGWriter()
        writer.SetFileName(str(out))
        writer.SetInputConnection(self._last_grab.GetOutputPort())
        writer.Write()
        return out

    def project(self, xyz: Sequence[float], layer: int = 0) -> tuple[float, float]:
        """Display position (x, y; origin top-left, pixels) of a world point in one view."""
        ren = self.layers[layer].renderer
        ren.SetWorldPoint(float(xyz[0]), float(xyz[1]), float(xyz[2]), 1.0)
        ren.WorldToDisplay()
        x, y, _ = ren.GetDisplayPoint()
        return x, self.render_window.GetSize()[1] - 1 - y

    def close(self) -> None:
        """Release the render window (only if this scene created it)."""
        if self._owns_plotter:
            self.render_window.Finalize()


class TwinScene(_SceneBase):
    """One twin on one brain: ``set_region_values`` per timeline frame, ``pick`` on click.

    ``colormap`` is ``"sequential"`` (one date's estimate over ``clim``) or ``"diverging"``;
    ``show_difference`` switches to a symmetric diverging map of B - A.
    """

    @property
    def layer(self) -> TwinLayer:
        """The scene's one twin layer."""
        return self.layers[0]

    @property
    def caption(self) -> vtkTextActor:
        """The caption above the view."""
        return self.captions[0]

    def set_region_values(self, values: Mapping[str, float]) -> None:
        """Show one date's per-region estimates (regions left out show anatomy only)."""
        self.layer.apply(region_vector(self.atlas, values), self._cmap)

    def region_values(self) -> dict[str, float]:
        """The per-region values on screen now (NaN where none)."""
        return {rid: float(v) for rid, v in zip(self.atlas.ids, self.layer.values)}

    def vertex_values(self) -> np.ndarray:
        """Per-vertex model estimates on the cortex actors (NaN outside regions)."""
        return self.layer.vertex_values()

    def show_difference(
        self,
        before: Mapping[str, float],
        after: Mapping[str, float],
        *,
        limit: float | None = None,
        title: str = DIFFERENCE_TITLE,
    ) -> dict[str, float]:
        """Difference map: after - before on a symmetric diverging scale; returns the values."""
        a, b = region_vector(self.atlas, before), region_vector(self.atlas, after)
        diff = b - a
        finite = np.abs(diff[np.isfinite(diff)])
        lim = float(limit) if limit else float(finite.max()) if finite.size else 1.0
        lim = lim if lim > 0 else 1.0
        self._install(make_colormap("diverging", (-lim, lim)), title)
        self.layer.apply(diff, self._cmap)
        return {rid: float(v) for rid, v in zip(self.atlas.ids, diff)}

    def set_caption(self, text: str) -> None:
        """Top-left caption, e.g. the date shown (never patient identifiers)."""
        self.caption.SetInput(text)

    def set_cortex_opacity(self, anatomy: float, regions: float | None = None) -> None:
        """Opacity of grey anatomy and of coloured regions; 1, 1 = solid cortex, nuclei hidden."""
        regions = max(anatomy, self.style.region_opacity) if regions is None else regions
        for value in (anatomy, regions):
            if not 0.0 < value <= 1.0:
                raise ValidationError(f"cortex opacity {value!r}: must be in (0, 1]")
        self.layer.alphas = (float(anatomy), float(regions))
        self.layer.set_lut(self._cmap)
        # Inside a solid cortex glyphs and tubes cannot be seen; not drawing them also keeps
        # the frame out of the (costly on llvmpipe) translucent pass.
        if self.layer.inside is not None:
            self.layer.inside.SetVisibility(self.layer.translucent)

    def pick(self, x: float, y: float) -> Pick:
        """The region under the display point (x, y; origin top-left, pixels)."""
        vy = self.render_window.GetSize()[1] - 1 - y
        return Pick(pick_region(self.layer, x, vy), 0)


class CompareScene(_SceneBase):
    """Two dates side by side with one shared camera and one shared colour scale.

    Rotating either view rotates both (the renderers share a single vtkCamera). For a
    difference map use ``TwinScene.show_difference``.
    """

    views = 2
    default_size = (1200, 560)

    def _arrange(self) -> None:
        self.layers[1].renderer.SetActiveCamera(self.layers[0].renderer.GetActiveCamera())
        self.scalar_bar.GetPositionCoordinate().SetValue(0.78, 0.2)
        self.scalar_bar.SetWidth(0.2)

    def set_region_values(
        self, values_a: Mapping[str, float], values_b: Mapping[str, float]
    ) -> None:
        """Show date A on the left and date B on the right."""
        va, vb = region_vector(self.atlas, values_a), region_vector(self.atlas, values_b)
        self.layers[0].apply(va, self._cmap)
        self.layers[1].apply(vb, self._cmap)

    def set_captions(self, left: str, right: str) -> None:
        """Captions above each view, e.g. the two dates."""
        self.captions[0].SetInput(left)
        self.captions[1].SetInput(right)

    def vertex_values(self, side: int) -> np.ndarray:
        """Per-vertex estimates on the left (0) or right (1) view's cortex."""
        return self.layers[side].vertex_values()

    def cameras_linked(self) -> bool:
        """True while both views use the same camera object."""
        return (
            self.layers[0].renderer.GetActiveCamera() is self.layers[1].renderer.GetActiveCamera()
        )

    def pick(self, x: float, y: float) -> Pick:
        """Region and side under display point (x, y; origin top-left); side -1 if none."""
        vy = self.render_window.GetSize()[1] - 1 - y
        for side, layer in enumerate(self.layers):
            if layer.renderer.IsInViewport(int(x), int(vy)):
                return Pick(pick_region(layer, x, vy), side)
        return Pick(None, -1)
