"""The 3D twin scene: cortex parcels, nucleus glyphs and connection tubes (no Qt).

Why: the same scene serves the interactive Qt view (pass a pyvistaqt ``QtInteractor`` as the
plotter), PDF reports and tests (offscreen). Scrubbing the timeline only rewrites two scalar
arrays in place with ``np.take`` and marks them modified; the mesh, actors and lookup tables
are built once. Values are model estimates mapped from clinical dimensions, and the scalar bar
says so. Call everything from the GUI thread (VTK is not thread-safe).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyvista as pv
from vtkmodules.util.numpy_support import vtk_to_numpy
from vtkmodules.vtkIOImage import vtkPNGWriter
from vtkmodules.vtkRenderingAnnotation import vtkScalarBarActor
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkCellPicker,
    vtkPolyDataMapper,
    vtkRenderer,
    vtkTextActor,
    vtkWindowToImageFilter,
)

from app.errors import ValidationError
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

VALUE_ARRAY = "twin_value"  # the model estimate per vertex (NaN outside regions)
COLOR_ARRAY = "twin_color"  # what the lookup table maps: anatomy grey < 0 <= data
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
    tube_radius_mm: float = 0.8
    tube_rgb: tuple[float, float, float] = (0.40, 0.52, 0.72)
    tube_opacity: float = 0.6
    background_top: tuple[float, float, float] = (0.985, 0.985, 0.99)
    background_bottom: tuple[float, float, float] = (0.86, 0.88, 0.91)
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
            poly = pv.PolyData.from_regular_faces(brain.vertices[sl], faces - sl.start)
            poly.point_data.set_array(brain.normals[sl], "Normals")
            poly.point_data.active_normals_name = "Normals"
            n = sl.stop - sl.start
            poly.point_data.set_array(np.full(n, np.nan, dtype=np.float32), VALUE_ARRAY)
            poly.point_data.set_array(np.zeros(n, dtype=np.float32), COLOR_ARRAY)
            vdata = poly.GetPointData()
            value_view = vtk_to_numpy(vdata.GetArray(VALUE_ARRAY))
            color_view = vtk_to_numpy(vdata.GetArray(COLOR_ARRAY))
            background = (-1.0 + shade[sl]).astype(np.float32)  # anatomy grey, in [-1, 0)
            color_view[:] = background
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
        self.glyphs: dict[str, vtkActor] = {}
        for rid in atlas.nucleus_ids:
            spheres = [
                pv.Sphere(
                    radius=style.glyph_radius_mm, center=p, theta_resolution=20, phi_resolution=14
                )
                for p in atlas.nucleus_points[rid]
            ]
            merged = spheres[0].merge(spheres[1:]) if len(spheres) > 1 else spheres[0]
            actor = _plain_actor(merged.compute_normals())
            prop = actor.GetProperty()
            prop.SetInterpolationToPhong()
            prop.SetSpecular(0.35)
            prop.SetSpecularPower(30)
            prop.SetAmbient(0.15)
            renderer.AddActor(actor)
            self.glyphs[rid] = actor
        self.tubes = self._build_tubes()
        self.values = np.full(len(atlas.ids), np.nan)
        self.alphas = (style.anatomy_opacity, style.region_opacity)

    def _build_tubes(self) -> vtkActor | None:
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
        tubes = [
            pv.Line(pa, pb, resolution=1).tube(
                radius=self.style.tube_radius_mm * (0.5 + 0.5 * w), n_sides=14, capping=True
            )
            for pa, pb, w in segments
        ]
        merged = tubes[0].merge(tubes[1:]) if len(tubes) > 1 else tubes[0]
        actor = _plain_actor(merged)
        prop = actor.GetProperty()
        prop.SetColor(*self.style.tube_rgb)
        prop.SetOpacity(self.style.tube_opacity)
        prop.SetSpecular(0.2)
        actor.PickableOff()
        self.renderer.AddActor(actor)
        return actor

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
        position = {rid: i for i, rid in enumerate(self.atlas.ids)}
        for rid, actor in self.glyphs.items():
            actor.GetProperty().SetColor(*cmap.rgb(float(values[position[rid]])))

    def set_lut(self, cmap: ColorMap) -> None:
        """Install the anatomy + data lookup table on both hemispheres."""
        lut = cortex_lut(cmap, *self.alphas)
        for actor in self.cortex.values():
            actor.GetMapper().SetLookupTable(lut)
            actor.GetMapper().SetScalarRange(-1.0, 1.0)

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
        if self.translucent:  # glyphs drawn through glass cortex win over the surface in front
            for actor in self.glyphs.values():
                picker.AddPickList(actor)
            if self.glyphs and picker.Pick(x, y, 0.0, self.renderer):
                return self._glyph_region(picker.GetActor())
            picker.InitializePickList()
        for actor in [*self.cortex.values(), *self.glyphs.values()]:
            if actor.GetVisibility():
                picker.AddPickList(actor)
        if not picker.Pick(x, y, 0.0, self.renderer):
            return None
        actor = picker.GetActor()
        if actor in self.glyphs.values():
            return self._glyph_region(actor)
        for hemi_pos, hemi_actor in enumerate(self.cortex.values()):
            if actor is hemi_actor:
                idx = int(self._hemi[hemi_pos][0][picker.GetPointId()])
                return self.atlas.ids[idx] if idx < len(self.atlas.ids) else None
        return None

    def _glyph_region(self, actor: object) -> str | None:
        for rid, glyph in self.glyphs.items():
            if glyph is actor:
                return rid
        return None


def _plain_actor(poly: pv.PolyData) -> vtkActor:
    mapper = vtkPolyDataMapper()
    mapper.SetInputData(poly)
    mapper.ScalarVisibilityOff()
    actor = vtkActor()
    actor.SetMapper(mapper)
    return actor


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


class _SceneBase:
    """Window, lights, legend, camera presets and image export shared by all scenes."""

    def __init__(
        self,
        plotter: pv.Plotter | None,
        window_size: tuple[int, int],
        style: SceneStyle,
        shape: tuple[int, int],
    ) -> None:
        self.style = style
        self._owns_plotter = plotter is None
        if plotter is None:
            gl.prepare_headless()
            plotter = pv.Plotter(off_screen=True, window_size=list(window_size), shape=shape)
        self.plotter = plotter
        self.render_window = plotter.render_window
        self.render_window.SetMultiSamples(0)  # decided after the first frame (see render)
        self._gl_checked = False
        self.software_rendering: bool | None = None
        self.renderer_name = ""
        for ren in plotter.renderers:
            ren.SetBackground(*style.background_bottom)
            ren.SetBackground2(*style.background_top)
            ren.GradientBackgroundOn()
            ren.SetUseDepthPeeling(False)  # order-independent transparency instead: cheaper

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

    def _fit_overlays(self) -> None:
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

    def render(self) -> None:
        """Draw a frame now (after the first, multi-sampling follows the GL renderer)."""
        self._fit_overlays()
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
            self.plotter.close()


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
        plotter: pv.Plotter | None = None,
        window_size: tuple[int, int] = (800, 600),
        style: SceneStyle | None = None,
        colormap: str = "sequential",
        clim: tuple[float, float] = (0.0, 1.0),
        title: str = DEFAULT_TITLE,
        camera: str = "oblique",
    ) -> None:
        super().__init__(plotter, window_size, style or SceneStyle(), (1, 1))
        self.atlas = atlas
        self.layer = _TwinLayer(self.plotter.renderer, brain or load_brain(), atlas, self.style)
        self.scalar_bar = self._scalar_bar(self.plotter.renderer)
        self.caption = self._caption(self.plotter.renderer)
        self.set_colormap(colormap, clim, title)
        self.set_camera(camera)

    def _layers(self) -> list[_TwinLayer]:
        return [self.layer]

    @property
    def colormap(self) -> ColorMap:
        """The data colour map in use."""
        return self._cmap

    def set_colormap(
        self, kind: str, clim: tuple[float, float], title: str = DEFAULT_TITLE
    ) -> None:
        """Change map, range and legend title; current values are re-coloured."""
        self._cmap = make_colormap(kind, clim)
        self.layer.set_lut(self._cmap)
        self.scalar_bar.SetLookupTable(self._cmap.scalar_bar_lut())
        self.scalar_bar.SetTitle(title)
        self.layer.apply(self.layer.values, self._cmap)

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
        for actor in [*self.layer.glyphs.values(), self.layer.tubes]:
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
        plotter: pv.Plotter | None = None,
        window_size: tuple[int, int] = (1200, 560),
        style: SceneStyle | None = None,
        colormap: str = "sequential",
        clim: tuple[float, float] = (0.0, 1.0),
        title: str = DEFAULT_TITLE,
        camera: str = "oblique",
    ) -> None:
        super().__init__(plotter, window_size, style or SceneStyle(), (1, 2))
        self.atlas = atlas
        brain = brain or load_brain()
        self.layers: list[_TwinLayer] = []
        self.captions: list[vtkTextActor] = []
        for col in range(2):
            self.plotter.subplot(0, col)
            ren = self.plotter.renderer
            self.layers.append(_TwinLayer(ren, brain, atlas, self.style))
            self.captions.append(self._caption(ren))
        self.layers[1].renderer.SetActiveCamera(self.layers[0].renderer.GetActiveCamera())
        self.scalar_bar = self._scalar_bar(self.layers[1].renderer)
        self.scalar_bar.GetPositionCoordinate().SetValue(0.78, 0.2)
        self.scalar_bar.SetWidth(0.2)
        self._cmap = make_colormap(colormap, clim)
        self.scalar_bar.SetTitle(title)
        self._install()
        self.set_camera(camera)

    def _layers(self) -> list[_TwinLayer]:
        return self.layers

    def _install(self) -> None:
        for layer in self.layers:
            layer.set_lut(self._cmap)
            layer.apply(layer.values, self._cmap)
        self.scalar_bar.SetLookupTable(self._cmap.scalar_bar_lut())

    def set_colormap(
        self, kind: str, clim: tuple[float, float], title: str = DEFAULT_TITLE
    ) -> None:
        """Change the shared map and range (both dates stay on one scale)."""
        self._cmap = make_colormap(kind, clim)
        self.scalar_bar.SetTitle(title)
        self._install()

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
