"""One twin's actors in one renderer: cortex parcels, nucleus glyphs and connection tubes.

Why: a scene shows one twin, a comparison two; both draw the same layer. Updating a frame only
rewrites two scalar arrays in place with ``np.take``; the mesh, actors and lookup tables are
built once. Call everything from the GUI thread (VTK is not thread-safe).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from vtkmodules.vtkCommonDataModel import vtkPointData, vtkPolyData
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkPolyDataMapper,
    vtkProp,
    vtkPropCollection,
    vtkRenderer,
)

from app.core.errors import ValidationError
from viz.brain import BrainMesh
from viz.colormaps import ColorMap, anatomy_shade, cortex_lut, encode_region_colors
from viz.regions import RegionAtlas
from viz.vtkbuild import add_point_array, append, rgb_actor, spheres, triangle_mesh, tubes

VALUE_ARRAY = "twin_value"  # the model estimate per vertex (NaN outside regions)
COLOR_ARRAY = "twin_color"  # what the lookup table maps: anatomy grey < 0 <= data
INSIDE_ARRAY = "inside_rgba"  # per-point colour of the merged tubes + nucleus glyphs


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


class TwinLayer:
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
        self._hemi: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, vtkPointData]] = []
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

    def _tube_poly(self) -> vtkPolyData | None:
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

    def nucleus_at(self, point_id: int) -> str | None:
        """The nucleus drawn at a point of the inside actor (None for a tube point)."""
        if not 0 <= point_id < len(self._glyph_region) or self._glyph_region[point_id] < 0:
            return None  # a tube
        return self.atlas.nucleus_ids[int(self._glyph_region[point_id])]

    def region_at_vertex(self, actor: vtkActor, point_id: int) -> str | None:
        """The region of a cortex vertex of ``actor`` (None off-region or another actor)."""
        for hemi_pos, hemi_actor in enumerate(self.cortex.values()):
            if actor is hemi_actor:
                idx = int(self._hemi[hemi_pos][0][point_id])
                return self.atlas.ids[idx] if idx < len(self.atlas.ids) else None
        return None


def _iterate(props: vtkPropCollection) -> list[vtkProp]:
    props.InitTraversal()
    return [props.GetNextProp() for _ in range(props.GetNumberOfItems())]
