"""Colour maps for twin values, defined here so viz never imports matplotlib (~0.2 s).

Why: a clinician must read the scene at a glance. Two maps, both from ColorBrewer
(Brewer, colorbrewer2.org, Apache-2.0 licensed colour specifications):

- ``sequential`` (YlOrRd): a model estimate from low (pale yellow) to high (dark red), used for
  one date. Pale yellow stays distinct from the grey anatomy underneath.
- ``diverging`` (RdBu reversed): a signed change, blue = lower, white = no change, red =
  higher; used for the difference map (date B - date A) with a symmetric range.

The cortex actor maps one scalar per vertex through a 512-entry table over [-1, 1]: the lower
half is a grey ramp that shades anatomy by sulcal depth (vertices outside any region, or in a
region without a value), the upper half is the data map. See ``CortexEncoding``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from vtkmodules.vtkCommonCore import vtkLookupTable

from app.core.errors import ValidationError

_HEX = {
    "sequential": "ffffcc ffeda0 fed976 feb24c fd8d3c fc4e2a e31a1c bd0026 800026",
    "diverging": "053061 2166ac 4393c3 92c5de d1e5f0 f7f7f7 fddbc7 f4a582 d6604d b2182b 67001f",
}
N_COLORS = 256
ANATOMY_LIGHT = 0.86  # grey of a gyral crown
ANATOMY_DARK = 0.56  # grey of a sulcal fundus
NO_VALUE_RGB = (0.62, 0.62, 0.62)  # glyph colour when a nucleus has no value


def _ramp(hex_stops: str, n: int = N_COLORS) -> np.ndarray:
    stops = np.array(
        [[int(h[i : i + 2], 16) / 255.0 for i in (0, 2, 4)] for h in hex_stops.split()]
    )
    x = np.linspace(0.0, 1.0, len(stops))
    t = np.linspace(0.0, 1.0, n)
    return np.stack([np.interp(t, x, stops[:, c]) for c in range(3)], axis=1)


@dataclass(frozen=True, eq=False)
class ColorMap:
    """A named data colour map over ``clim``; values outside are clamped."""

    name: str
    colors: np.ndarray  # (N_COLORS, 3) RGB in [0, 1]
    clim: tuple[float, float]

    def normalize(self, values: np.ndarray) -> np.ndarray:
        """Map values to [0, 1] over ``clim`` (NaN stays NaN)."""
        lo, hi = self.clim
        return np.clip((np.asarray(values, dtype=np.float64) - lo) / (hi - lo), 0.0, 1.0)

    def rgb(self, value: float) -> tuple[float, float, float]:
        """Colour of one value (the glyphs use it); NaN gives the neutral no-value grey."""
        if value is None or not np.isfinite(value):
            return NO_VALUE_RGB
        u = float(self.normalize(np.array([value]))[0])
        r, g, b = self.colors[min(int(u * N_COLORS), N_COLORS - 1)]
        return (float(r), float(g), float(b))

    def scalar_bar_lut(self) -> vtkLookupTable:
        """A lookup table with the data colours over ``clim``, for the scalar bar legend."""
        lut = vtkLookupTable()
        lut.SetNumberOfTableValues(N_COLORS)
        for i, (r, g, b) in enumerate(self.colors):
            lut.SetTableValue(i, r, g, b, 1.0)
        lut.SetRange(*self.clim)
        lut.Build()
        return lut


def make_colormap(kind: str, clim: tuple[float, float]) -> ColorMap:
    """A ``sequential`` or ``diverging`` map over ``clim`` (low < high)."""
    if kind not in _HEX:
        raise ValidationError(f"colour map '{kind}': expected one of {', '.join(sorted(_HEX))}")
    lo, hi = float(clim[0]), float(clim[1])
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise ValidationError(f"colour map '{kind}': range {clim!r} must be finite, low < high")
    return ColorMap(kind, _ramp(_HEX[kind]), (lo, hi))


def anatomy_shade(sulc: np.ndarray) -> np.ndarray:
    """Per-vertex position in the grey ramp, in [0, 1): 0 = gyral crown, 1 = deep sulcus."""
    s = np.asarray(sulc, dtype=np.float64)
    lo, hi = np.percentile(s, [2, 98])
    return np.clip((s - lo) / max(hi - lo, 1e-9), 0.0, 0.999)


def cortex_lut(
    cmap: ColorMap, anatomy_alpha: float = 1.0, region_alpha: float = 1.0
) -> vtkLookupTable:
    """The 512-entry table over [-1, 1]: grey anatomy below 0, the data map from 0 to 1.

    Separate alphas let the anatomy be glass (nuclei show through) while coloured regions
    stay nearly opaque and readable.
    """
    grey = np.linspace(ANATOMY_LIGHT, ANATOMY_DARK, N_COLORS)
    lut = vtkLookupTable()
    lut.SetNumberOfTableValues(2 * N_COLORS)
    for i, g in enumerate(grey):
        lut.SetTableValue(i, g, g, g * 0.98, anatomy_alpha)
    for i, (r, g, b) in enumerate(cmap.colors):
        lut.SetTableValue(N_COLORS + i, r, g, b, region_alpha)
    lut.SetRange(-1.0, 1.0)
    lut.Build()
    return lut


def encode_region_colors(cmap: ColorMap, values: np.ndarray) -> np.ndarray:
    """Per-region cortex scalars in [0, 1) for finite values, NaN where there is no value."""
    u = cmap.normalize(values) * (1.0 - 1e-6)
    return np.where(np.isfinite(values), u, np.nan)
