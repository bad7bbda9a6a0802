"""Plain-VTK builders for the twin scene's geometry (no PyVista on the hot path).

Why: importing ``pyvista.plotting`` pulls in matplotlib and costs ~2 s before the first twin
can be drawn; the scene needs only a few VTK sources and filters, which import in ~0.2 s.
Everything here returns ``vtkPolyData`` / ``vtkActor`` built from numpy arrays in bulk.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import vtkmodules.vtkRenderingFreeType  # noqa: F401  (text rendering for legend and caption)
import vtkmodules.vtkRenderingOpenGL2  # noqa: F401  (registers the OpenGL render classes)
from vtkmodules.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray, vtk_to_numpy
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkFiltersCore import vtkAppendPolyData, vtkPolyDataNormals, vtkTubeFilter
from vtkmodules.vtkFiltersSources import vtkLineSource, vtkSphereSource
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper


def triangle_mesh(vertices: np.ndarray, faces: np.ndarray, normals: np.ndarray) -> vtkPolyData:
    """A triangle surface from (n, 3) vertices, (m, 3) faces and (n, 3) point normals."""
    points = vtkPoints()
    points.SetData(numpy_to_vtk(np.ascontiguousarray(vertices, dtype=np.float32), deep=True))
    n_faces = len(faces)
    offsets = np.arange(0, 3 * n_faces + 1, 3, dtype=np.int64)
    cells = vtkCellArray()
    cells.SetData(
        numpy_to_vtkIdTypeArray(offsets, deep=True),
        numpy_to_vtkIdTypeArray(np.ascontiguousarray(faces, dtype=np.int64).ravel(), deep=True),
    )
    poly = vtkPolyData()
    poly.SetPoints(points)
    poly.SetPolys(cells)
    vtk_normals = numpy_to_vtk(np.ascontiguousarray(normals, dtype=np.float32), deep=True)
    vtk_normals.SetName("Normals")
    poly.GetPointData().SetNormals(vtk_normals)
    return poly


def add_point_array(poly: vtkPolyData, name: str, values: np.ndarray) -> np.ndarray:
    """Attach a float32 point array and return a writable numpy view of VTK's memory."""
    data = np.ascontiguousarray(values, dtype=np.float32)
    arr = numpy_to_vtk(data, deep=True)
    arr.SetName(name)
    poly.GetPointData().AddArray(arr)
    return vtk_to_numpy(poly.GetPointData().GetArray(name))


def append(parts: Sequence[vtkPolyData]) -> vtkPolyData:
    """Merge poly data pieces into one (one actor, one draw call), in the given order."""
    append = vtkAppendPolyData()
    for part in parts:
        append.AddInputData(part)
    append.Update()
    return append.GetOutput()


def spheres(
    centers: Sequence[Sequence[float]] | np.ndarray, radius: float, resolution: int
) -> vtkPolyData:
    """Merged sphere glyphs with point normals (theta ``resolution``, phi 0.7 of it)."""
    parts = []
    for c in centers:
        src = vtkSphereSource()
        src.SetCenter(float(c[0]), float(c[1]), float(c[2]))
        src.SetRadius(radius)
        src.SetThetaResolution(resolution)
        src.SetPhiResolution(max(6, round(resolution * 0.7)))
        src.Update()
        parts.append(src.GetOutput())
    return append(parts)


def tubes(
    segments: Sequence[tuple[Sequence[float], Sequence[float], float]], sides: int
) -> vtkPolyData:
    """Capped tubes along straight segments (start, end, radius), merged, with normals."""
    parts = []
    for a, b, radius in segments:
        line = vtkLineSource()
        line.SetPoint1(*map(float, a))
        line.SetPoint2(*map(float, b))
        tube = vtkTubeFilter()
        tube.SetInputConnection(line.GetOutputPort())
        tube.SetRadius(radius)
        tube.SetNumberOfSides(sides)
        tube.CappingOn()
        tube.Update()
        parts.append(tube.GetOutput())
    normals = vtkPolyDataNormals()
    normals.SetInputData(append(parts))
    normals.SplittingOn()
    normals.Update()
    return normals.GetOutput()


def rgb_actor(poly: vtkPolyData, name: str) -> tuple[vtkActor, np.ndarray]:
    """An actor coloured by a per-point RGBA uchar array used as is (no lookup table).

    Returns the actor and a writable (n, 4) numpy view of the colours; call ``Modified()``
    on the VTK array after writing.
    """
    rgba = np.zeros((poly.GetNumberOfPoints(), 4), dtype=np.uint8)
    rgba[:, 3] = 255
    colors = numpy_to_vtk(rgba, deep=True)
    colors.SetName(name)
    poly.GetPointData().SetScalars(colors)
    mapper = vtkPolyDataMapper()
    mapper.SetInputData(poly)
    mapper.SetColorModeToDirectScalars()
    mapper.ScalarVisibilityOn()
    actor = vtkActor()
    actor.SetMapper(mapper)
    return actor, vtk_to_numpy(poly.GetPointData().GetScalars())
