"""The 3D twin scene: cortex parcels, nucleus glyphs and connection tubes (no Qt).

Why: the same scene serves the interactive Qt view (pass a pyvistaqt ``QtInteractor`` as the
plotter), PDF reports and tests (offscreen). Scrubbing the timeline only rewrites two scalar
arrays in place with ``np.take`` and marks them modified; the mesh, actors and lookup tables
are built once. Values are model estimates mapped from clinical dimensions, and the scalar bar
says so. Call everything from the GUI thread (VTK is not thread-safe).

Speed on software OpenGL (Mesa llvmpipe; see docs/bench/viz.md): the scene is plain VTK (no
PyVista import, which costs ~2 s through matplotlib), lit by one headlight (a five-light kit
costs ~35 % more per frame), and its glass cortex is drawn with ordinary alpha blending,
hemispheres sorted back to front each frame, instead of order-independent transparency.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from vtkmodules.util.numpy_support import vtk_to_numpy
from vtkmodules.vtkCommonCore import vtkCommand
from vtkmodules.vtkRenderingAnnotation import vtkScalarBarActor
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkCellPicker,
    vtkLight,
    vtkPolyDataMapper,
    vtkRenderer,
    vtkRenderWindow,
    vtkTextActor,
    vtkWindowToImageFilter,
)

from app.core.errors import ValidationError
from viz import gl
from viz.brain import BrainMesh, load_brain
from viz.colormaps import (
    ColorMap,
    anatomy_shade,
    cortex_lut,
    encode_region_colors,
    make_colormap,
)
from viz.regions import RegionAtlas
from viz.vtkbuild import (
    add_point_array,
    append,
    rgb_actor,
    spheres,
    triangle_mesh,
    tubes,
)

VALUE_ARRAY = "twin_value"  # the model estimate per vertex (NaN outside regions)
COLOR_ARRAY = "twin_color"  # what the lookup table maps: anatomy grey < 0 <= data
INSIDE_ARRAY = "inside_rgba"  # per-point colour of the merged tubes + nucleus glyphs
DEFAULT_TITLE = "Model estimate\n(not measured)"
DIFFERENCE_TITLE = "Change B \u2212 A\n(model estimate)"
CAMERA_PRESETS = (
    "oblique",
    "lateral",
    "lateral_left",
    "lateral_right",
    "medial",
    "medial_left",
    "medial_right",
    "top",
    "bottom",
    "front",
)


@dataclass(frozen=True)
class SceneStyle:
    """Look of the scene; the defaults were chosen by looking at rendered images."""

    anatomy_opacity: float = 0.35  # grey cortex outside regions: glass, nuclei show through
    region_opacity: float = 0.92  # coloured regions stay readable
    glyph_radius_mm: float = 4.5
    glyph_resolution: int = 16  # sphere facets around (Phong-shaded, round at this size)
    glyph_opacity: float = 0.85  # glass: nuclei blended over the cortex (see sort_translucent)
    tube_radius_mm: float = 0.8
    tube_sides: int = 10
    tube_rgb: tuple[float, float, float] = (0.40, 0.52, 0.72)
    tube_opacity: float = 0.55
    background: tuple[float, float, float] = (0.93, 0.94, 0.955)  # flat: a clear is ~free
    # A gradient (bottom, top) is a full-window quad: ~10 % of a frame on llvmpipe. Off by
    # default; reports may switch it on.
    background_gradient: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None
    text_rgb: tuple[float, float, float] = (0.12, 0.14, 0.18)
    show_scalar_bar: bool = True


class _TwinLayer:
    """One twin's actors inside one renderer (a scene has one, a comparison two)."""

    def __init__(
        self, renderer: vtkRenderer, brain: BrainMesh, atlas: RegionAtlas, style: SceneStyle
    ) -> None:
        if len(atlas.vertex_region) != brain.n_vertices:
            raise ValidationError("region atlas was built for a different brain mesh")
        self.renderer = renderer
        self.atlas = atlas
        self.style = style
        shade = anatomy_shade(brain.sulc)
        self.cortex: dict[str, vtkActor] = {}
        self._hemi: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, object]] = []
        for hemi, sl in brain.hemisphere_slices().items():
            faces = brain.faces[(brain.faces[:, 0] >= sl.start) & (brain.faces[:, 0] < sl.stop)]
            poly = triangle_mesh(brain.vertices[sl], faces - sl.start, brain.normals[sl])
            n = sl.stop - sl.start
            value_view = add_point_array(poly, VALUE_ARRAY, np.full(n, np.nan))
            background = (-1.0 + shade[sl]).astype(np.float32)  # anatomy grey, in [-1, 0)
            color_view = add_point_array(poly, COLOR_ARRAY, background)
            vdata = poly.GetPointData()
            index = atlas.vertex_region[sl].astype(np.intp)
            index[index < 0] = len(atlas.ids)  # points at the trailing NaN slot
            mapper = vtkPolyDataMapper()
            mapper.SetInputData(poly)
            mapper.SetScalarModeToUsePointFieldData()
            mapper.SelectColorArray(COLOR_ARRAY)
            mapper.SetColorModeToMapScalars()
            mapper.ScalarVisibilityOn()
            mapper.InterpolateScalarsBeforeMappingOff()
            mapper.SetScalarRange(-1.0, 1.0)
            actor = vtkActor()
            actor.SetMapper(mapper)
            prop = actor.GetProperty()
            prop.SetInterpolationToPhong()
            prop.SetAmbient(0.12)
            prop.SetDiffuse(0.85)
            prop.SetSpecular(0.12)
            prop.SetSpecularPower(18)
            prop.BackfaceCullingOn()
            renderer.AddActor(actor)
            self.cortex[hemi] = actor
            self._hemi.append((index, background, value_view, color_view, vdata))
        self._build_inside()
        self.values = np.full(len(atlas.ids), np.nan)
        self.alphas = (style.anatomy_opacity, style.region_opacity)

    def _build_inside(self) -> None:
        """Connection tubes and nucleus glyphs as ONE actor coloured per point (RGBA).

        One draw call with the cortex's shader: 13 glyph actors plus a tube actor cost
        ~10 % of a glass frame on llvmpipe (one actor: ~4 %). Tubes come first in the data so
        glyphs blend over them. ``_glyph_region``: nucleus of each point (-1 for tube points).
        """
        self.inside: vtkActor | None = None
        self._glyph_pos = np.array(
            [self.atlas.ids.index(r) for r in self.atlas.nucleus_ids], dtype=np.intp
        )
        tube = self._tube_poly()
        parts = [] if tube is None else [tube]
        owner = [np.full(tube.GetNumberOfPoints(), -1)] if tube is not None else []
        for k, rid in enumerate(self.atlas.nucleus_ids):
            style = self.style
            glyph = spheres(
                self.atlas.nucleus_points[rid], style.glyph_radius_mm, style.glyph_resolution
            )
            parts.append(glyph)
            owner.append(np.full(glyph.GetNumberOfPoints(), k))
        self._glyph_region = np.concatenate(owner) if owner else np.zeros(0, dtype=np.intp)
        self._n_tube_points = int(np.sum(self._glyph_region < 0))
        if not parts:
            self._rgba = np.zeros((0, 4), dtype=np.uint8)
            return
        self.inside, self._rgba = rgb_actor(append(parts), INSIDE_ARRAY)
        tube_rgba = [*(round(255 * c) for c in self.style.tube_rgb)]
        self._rgba[: self._n_tube_points] = [*tube_rgba, round(255 * self.style.tube_opacity)]
        prop = self.inside.GetProperty()
        prop.SetInterpolationToPhong()
        prop.SetSpecular(0.3)
        prop.SetSpecularPower(30)
        prop.SetAmbient(0.15)
        prop.BackfaceCullingOn()
        self.renderer.AddActor(self.inside)

    @property
    def glyphs(self) -> vtkActor | None:
        """The actor holding the nucleus glyphs (and the connection tubes)."""
        return self.inside

    @property
    def tubes(self) -> vtkActor | None:
        """The actor holding the connection tubes (and the nucleus glyphs)."""
        return self.inside

    def _tube_poly(self) -> object | None:
        segments: list[tuple[tuple[float, ...], tuple[float, ...], float]] = []
        wmax = max((c.weight for c in self.atlas.connections), default=1.0)
        for conn in self.atlas.connections:
            ends_a = {a.hemi: a.xyz for a in self.atlas.anchors[conn.a]}
            ends_b = {b.hemi: b.xyz for b in self.atlas.anchors[conn.b]}
            for hemi in ("L", "R"):
                pa, pb = ends_a.get(hemi, ends_a.get("M")), ends_b.get(hemi, ends_b.get("M"))
                if pa is not None and pb is not None and pa != pb:
                    seg = (pa, pb, conn.weight / wmax)
                    if seg not in segments:
                        segments.append(seg)
        if not segments:
            return None
        radius = self.style.tube_radius_mm
        return tubes(
            [(a, b, radius * (0.5 + 0.5 * w)) for a, b, w in segments], self.style.tube_sides
        )

    def apply(self, values: np.ndarray, cmap: ColorMap) -> None:
        """Write per-region ``values`` (aligned with ``atlas.ids``) into the actors in place."""
        self.values = values
        raw = np.append(values, np.nan).astype(np.float32)
        enc = np.append(encode_region_colors(cmap, values), np.nan).astype(np.float32)
        for index, background, value_view, color_view, vdata in self._hemi:
            np.take(raw, index, out=value_view)
            np.take(enc, index, out=color_view)
            missing = np.isnan(color_view)
            color_view[missing] = background[missing]
            vdata.GetArray(VALUE_ARRAY).Modified()
            vdata.GetArray(COLOR_ARRAY).Modified()
        if self.inside is not None and len(self._glyph_pos):
            table = np.array([cmap.rgb(float(values[i])) for i in self._glyph_pos])
            rgb = np.round(table * 255.0).astype(np.uint8)
            glyph_rgb = self._rgba[self._n_tube_points :, :3]
            glyph_rgb[:] = rgb[self._glyph_region[self._n_tube_points :]]
            self.inside.GetMapper().GetInput().GetPointData().GetScalars().Modified()

    def nucleus_rgb(self, rid: str) -> tuple[float, float, float]:
        """The colour (0-1) drawn on a nucleus glyph now, read back from the actor."""
        k = self.atlas.nucleus_ids.index(rid)
        first = int(np.argmax(self._glyph_region == k))
        r, g, b = (int(c) for c in self._rgba[first, :3])
        return (r / 255.0, g / 255.0, b / 255.0)

    def set_lut(self, cmap: ColorMap) -> None:
        """Install the anatomy + data lookup table on both hemispheres."""
        lut = cortex_lut(cmap, *self.alphas)
        glass = self.translucent
        for actor in self.cortex.values():
            actor.GetMapper().SetLookupTable(lut)
            actor.GetMapper().SetScalarRange(-1.0, 1.0)
            # Saying so up front spares VTK a per-frame scan of 32k mapped colours for alpha.
            actor.SetForceTranslucent(glass)
            actor.SetForceOpaque(not glass)
        if self.inside is not None:
            alpha = self.style.glyph_opacity if glass else 1.0
            self._rgba[self._n_tube_points :, 3] = round(255 * alpha)
            self.inside.GetMapper().GetInput().GetPointData().GetScalars().Modified()
            self.inside.SetForceTranslucent(glass)

    def sort_translucent(self) -> None:
        """Order the glass pass: far hemisphere, near hemisphere, tubes, then nucleus glyphs.

        Glass is drawn with plain alpha blending in draw order (order-independent transparency
        costs ~30 % more per frame on llvmpipe, depth peeling ~5x). Translucent surfaces do
        not write depth, so the tubes and glyphs blended last stay visible through the cortex
        (as nuclei seen through glass), while the opaque depth buffer is empty inside it.
        """
        if not self.translucent:
            return
        eye = np.array(self.renderer.GetActiveCamera().GetPosition())
        hemis = sorted(
            self.cortex.values(),
            key=lambda a: -float(np.linalg.norm(eye - np.array(a.GetCenter()))),
        )
        order = [*hemis, *([self.inside] if self.inside is not None else [])]
        members = set(map(id, order))
        current = [p for p in _iterate(self.renderer.GetViewProps()) if id(p) in members]
        if [id(p) for p in current] != [id(p) for p in order]:
            for actor in order:
                self.renderer.RemoveActor(actor)
                self.renderer.AddActor(actor)

    def vertex_values(self) -> np.ndarray:
        """The per-vertex model estimates currently on the cortex actors (both hemispheres)."""
        return np.concatenate([np.array(h[2]) for h in self._hemi])

    @property
    def translucent(self) -> bool:
        """Whether the cortex is drawn as glass (so glyphs inside are visible)."""
        return min(self.alphas) < 1.0

    def pick(self, x: float, y: float) -> str | None:
        """Region under display point (x, y) in VTK coordinates (origin bottom-left)."""
        picker = vtkCellPicker()
        picker.SetTolerance(0.0005)
        picker.PickFromListOn()
        if self.inside is not None and self.inside.GetVisibility():
            # glyphs are drawn over the glass cortex, so they win; tubes are not pickable
            picker.AddPickList(self.inside)
            if picker.Pick(x, y, 0.0, self.renderer):
                rid = self._nucleus_at(picker.GetPointId())
                if rid is not None:
                    return rid
            picker.InitializePickList()
        for actor in self.cortex.values():
            if actor.GetVisibility():
                picker.AddPickList(actor)
        if not picker.Pick(x, y, 0.0, self.renderer):
            return None
        actor = picker.GetActor()
        for hemi_pos, hemi_actor in enumerate(self.cortex.values()):
            if actor is hemi_actor:
                idx = int(self._hemi[hemi_pos][0][picker.GetPointId()])
                return self.atlas.ids[idx] if idx < len(self.atlas.ids) else None
        return None

    def _nucleus_at(self, point_id: int) -> str | None:
        if not 0 <= point_id < len(self._glyph_region) or self._glyph_region[point_id] < 0:
            return None  # a tube
        return self.atlas.nucleus_ids[int(self._glyph_region[point_id])]


def _iterate(props: object) -> list[object]:
    props.InitTraversal()  # type: ignore[attr-defined]
    return [props.GetNextProp() for _ in range(props.GetNumberOfItems())]  # type: ignore[attr-defined]


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
    """Window, lights, legend, camera presets and image export shared by all scenes."""

    def __init__(
        self,
        plotter: object | None,
        window_size: tuple[int, int],
        style: SceneStyle,
        views: int,
    ) -> None:
        self.style = style
        self._owns_plotter = plotter is None
        self.plotter = plotter  # the caller's pyvista(qt) plotter, None when offscreen
        if plotter is None:
            gl.prepare_headless()
            self.render_window, self.renderers = make_render_window(views)
            self.render_window.SetOffScreenRendering(1)
            self.render_window.SetSize(int(window_size[0]), int(window_size[1]))
        else:
            self.render_window = plotter.render_window  # type: ignore[attr-defined]
            self.renderers = list(plotter.renderers)[:views]  # type: ignore[attr-defined]
            if len(self.renderers) < views:
                raise ValidationError(f"scene needs a plotter with {views} views (shape (1, 2))")
        self.render_window.SetMultiSamples(0)  # decided after the first frame (see render)
        self._gl_checked = False
        self.software_rendering: bool | None = None
        self.renderer_name = ""
        for ren in self.renderers:
            ren.SetBackground(*style.background)
            if style.background_gradient is not None:
                ren.SetBackground(*style.background_gradient[0])
                ren.SetBackground2(*style.background_gradient[1])
                ren.GradientBackgroundOn()
            # Glass is blended in draw order (see _TwinLayer.sort_translucent): depth peeling
            # and order-independent transparency cost 5x and 1.3x a frame on llvmpipe.
            ren.SetUseDepthPeeling(False)
            ren.SetUseOIT(False)
            ren.RemoveAllLights()  # one headlight: a light kit costs ~35 % more per frame
            light = vtkLight()
            light.SetLightTypeToHeadlight()
            ren.AddLight(light)

    def _watch_draw_order(self) -> None:
        """Sort glass hemispheres before every frame, however the frame is triggered."""
        for layer in self._layers():
            layer.renderer.AddObserver(
                vtkCommand.StartEvent, lambda *_, lay=layer: lay.sort_translucent()
            )

    def _scalar_bar(self, renderer: vtkRenderer) -> vtkScalarBarActor:
        bar = vtkScalarBarActor()
        bar.SetOrientationToVertical()
        bar.SetNumberOfLabels(5)
        bar.SetLabelFormat("%.2g")
        bar.SetBarRatio(0.28)
        bar.UnconstrainedFontSizeOn()
        bar.SetVerticalTitleSeparation(6)
        pos = bar.GetPositionCoordinate()
        pos.SetCoordinateSystemToNormalizedViewport()
        pos.SetValue(0.80, 0.2)
        bar.SetWidth(0.17)
        bar.SetHeight(0.6)
        for text in (bar.GetTitleTextProperty(), bar.GetLabelTextProperty()):
            text.SetColor(*self.style.text_rgb)
            text.ShadowOff()
            text.ItalicOff()
            text.SetFontFamilyToArial()
        bar.GetTitleTextProperty().BoldOff()
        bar.GetTitleTextProperty().SetFontSize(13)
        bar.GetLabelTextProperty().SetFontSize(12)
        bar.SetVisibility(self.style.show_scalar_bar)
        renderer.AddViewProp(bar)
        return bar

    def _caption(self, renderer: vtkRenderer) -> vtkTextActor:
        text = vtkTextActor()
        prop = text.GetTextProperty()
        prop.SetFontSize(15)
        prop.SetColor(*self.style.text_rgb)
        prop.SetFontFamilyToArial()
        prop.BoldOn()
        text.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
        text.GetPositionCoordinate().SetValue(0.03, 0.93)
        renderer.AddViewProp(text)
        return text

    def _layers(self) -> list[_TwinLayer]:
        raise NotImplementedError

    def fit_overlays(self) -> None:
        """Scale legend and caption fonts with the window (reports are small, screens big)."""
        size = tuple(self.render_window.GetSize())
        if size == getattr(self, "_overlay_size", None):
            return
        self._overlay_size = size
        h = max(size[1], 1)
        for bar in self._bars():
            bar.GetTitleTextProperty().SetFontSize(max(9, round(h / 42)))
            bar.GetLabelTextProperty().SetFontSize(max(8, round(h / 48)))
            bar.SetBarRatio(0.22 if h > 400 else 0.3)
        for cap in self._captions():
            cap.GetTextProperty().SetFontSize(max(10, round(h / 36)))

    def _bars(self) -> list[vtkScalarBarActor]:
        return [self.scalar_bar] if hasattr(self, "scalar_bar") else []

    def _captions(self) -> list[vtkTextActor]:
        return [self.caption] if hasattr(self, "caption") else list(getattr(self, "captions", []))

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
        self._cmap = make_colormap(kind, clim)
        for layer in self._layers():
            layer.set_lut(self._cmap)
            layer.apply(layer.values, self._cmap)
        self.scalar_bar.SetLookupTable(self._cmap.scalar_bar_lut())
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
        directions = {
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
        if preset not in directions:
            raise ValidationError(f"camera preset '{preset}': expected one of {CAMERA_PRESETS}")
        (dx, dy, dz), up = directions[preset]
        show = {"L": True, "R": True}
        if preset in ("lateral", "lateral_left", "medial", "medial_left"):
            show["R"] = False  # the far hemisphere would only clutter the glass view
        elif preset in ("lateral_right", "medial_right"):
            show["L"] = False
        for layer in self._layers():
            for hemi, actor in layer.cortex.items():
                actor.SetVisibility(show[hemi])
            ren = layer.renderer
            bounds = _visible_bounds(layer)
            center = np.array(
                [
                    (bounds[0] + bounds[1]) / 2,
                    (bounds[2] + bounds[3]) / 2,
                    (bounds[4] + bounds[5]) / 2,
                ]
            )
            cam = ren.GetActiveCamera()
            d = np.array([dx, dy, dz]) / np.linalg.norm([dx, dy, dz])
            cam.SetFocalPoint(*center)
            cam.SetPosition(*(center + d * 500.0))
            cam.SetViewUp(*up)
            cam.SetViewAngle(30.0)
            ren.ResetCamera(bounds)
            cam.Zoom(1.35 * zoom)
            cam.SetWindowCenter(0.16, 0.0)  # leave the right side to the legend
            ren.ResetCameraClippingRange()

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
        ren = self._layers()[layer].renderer
        ren.SetWorldPoint(float(xyz[0]), float(xyz[1]), float(xyz[2]), 1.0)
        ren.WorldToDisplay()
        x, y, _ = ren.GetDisplayPoint()
        return x, self.render_window.GetSize()[1] - 1 - y

    def close(self) -> None:
        """Release the render window (only if this scene created it)."""
        if self._owns_plotter:
            self.render_window.Finalize()


def _visible_bounds(layer: _TwinLayer) -> tuple[float, ...]:
    boxes = [a.GetBounds() for a in layer.cortex.values() if a.GetVisibility()]
    b = np.array(boxes)
    return (
        b[:, 0].min(),
        b[:, 1].max(),
        b[:, 2].min(),
        b[:, 3].max(),
        b[:, 4].min(),
        b[:, 5].max(),
    )


class TwinScene(_SceneBase):
    """One twin on one brain: ``set_region_values`` per timeline frame, ``pick`` on click.

    ``colormap`` is ``"sequential"`` (one date's estimate over ``clim``) or ``"diverging"``;
    ``show_difference`` switches to a symmetric diverging map of B - A.
    """

    def __init__(
        self,
        atlas: RegionAtlas,
        brain: BrainMesh | None = None,
        *,
        plotter: object | None = None,
        window_size: tuple[int, int] = (800, 600),
        style: SceneStyle | None = None,
        colormap: str = "sequential",
        clim: tuple[float, float] = (0.0, 1.0),
        title: str = DEFAULT_TITLE,
        camera: str = "oblique",
    ) -> None:
        super().__init__(plotter, window_size, style or SceneStyle(), 1)
        self.atlas = atlas
        ren = self.renderers[0]
        self.layer = _TwinLayer(ren, brain or load_brain(), atlas, self.style)
        self.scalar_bar = self._scalar_bar(ren)
        self.caption = self._caption(ren)
        self.set_colormap(colormap, clim, title)
        self.set_camera(camera)
        self._watch_draw_order()

    def _layers(self) -> list[_TwinLayer]:
        return [self.layer]

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
        self._cmap = make_colormap("diverging", (-lim, lim))
        self.layer.set_lut(self._cmap)
        self.scalar_bar.SetLookupTable(self._cmap.scalar_bar_lut())
        self.scalar_bar.SetTitle(title)
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
        solid = not self.layer.translucent
        for actor in (self.layer.inside,):
            if actor is not None:
                actor.SetVisibility(not solid)

    def pick(self, x: float, y: float) -> str | None:
        """Region id under the display point (x, y; origin top-left, pixels) or None."""
        return self.layer.pick(x, self.render_window.GetSize()[1] - 1 - y)


class CompareScene(_SceneBase):
    """Two dates side by side with one shared camera and one shared colour scale.

    Rotating either view rotates both (the renderers share a single vtkCamera). For a
    difference map use ``TwinScene.show_difference``.
    """

    def __init__(
        self,
        atlas: RegionAtlas,
        brain: BrainMesh | None = None,
        *,
        plotter: object | None = None,
        window_size: tuple[int, int] = (1200, 560),
        style: SceneStyle | None = None,
        colormap: str = "sequential",
        clim: tuple[float, float] = (0.0, 1.0),
        title: str = DEFAULT_TITLE,
        camera: str = "oblique",
    ) -> None:
        super().__init__(plotter, window_size, style or SceneStyle(), 2)
        self.atlas = atlas
        brain = brain or load_brain()
        self.layers: list[_TwinLayer] = []
        self.captions: list[vtkTextActor] = []
        for ren in self.renderers:
            self.layers.append(_TwinLayer(ren, brain, atlas, self.style))
            self.captions.append(self._caption(ren))
        self.layers[1].renderer.SetActiveCamera(self.layers[0].renderer.GetActiveCamera())
        self.scalar_bar = self._scalar_bar(self.layers[1].renderer)
        self.scalar_bar.GetPositionCoordinate().SetValue(0.78, 0.2)
        self.scalar_bar.SetWidth(0.2)
        self.set_colormap(colormap, clim, title)
        self.set_camera(camera)
        self._watch_draw_order()

    def _layers(self) -> list[_TwinLayer]:
        return self.layers

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

    def pick(self, x: float, y: float) -> tuple[int, str | None]:
        """(side, region id) under display point (x, y; origin top-left); side -1 if none."""
        vy = self.render_window.GetSize()[1] - 1 - y
        for side, layer in enumerate(self.layers):
            if layer.renderer.IsInViewport(int(x), int(vy)):
                return side, layer.pick(x, vy)
        return -1, None
