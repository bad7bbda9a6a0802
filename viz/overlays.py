"""The 2D overlays of a scene: the colour legend (scalar bar) and the caption.

Why: every value drawn is a model estimate, and the legend title says so; the fonts follow the
window height so a small report image and a full-screen view read alike.
"""

from __future__ import annotations

from collections.abc import Sequence

from vtkmodules.vtkRenderingAnnotation import vtkScalarBarActor
from vtkmodules.vtkRenderingCore import vtkRenderer, vtkTextActor

from viz.layer import SceneStyle


def scalar_bar(renderer: vtkRenderer, style: SceneStyle) -> vtkScalarBarActor:
    """A vertical legend at the right of ``renderer`` in the style's text colour."""
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
        text.SetColor(*style.text_rgb)
        text.ShadowOff()
        text.ItalicOff()
        text.SetFontFamilyToArial()
    bar.GetTitleTextProperty().BoldOff()
    bar.GetTitleTextProperty().SetFontSize(13)
    bar.GetLabelTextProperty().SetFontSize(12)
    bar.SetVisibility(style.show_scalar_bar)
    renderer.AddViewProp(bar)
    return bar


def caption(renderer: vtkRenderer, style: SceneStyle) -> vtkTextActor:
    """A bold caption at the top left of ``renderer`` (e.g. the date shown)."""
    text = vtkTextActor()
    prop = text.GetTextProperty()
    prop.SetFontSize(15)
    prop.SetColor(*style.text_rgb)
    prop.SetFontFamilyToArial()
    prop.BoldOn()
    text.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
    text.GetPositionCoordinate().SetValue(0.03, 0.93)
    renderer.AddViewProp(text)
    return text


def fit(bars: Sequence[vtkScalarBarActor], captions: Sequence[vtkTextActor], height: int) -> None:
    """Scale legend and caption fonts with the window height (reports small, screens big)."""
    h = max(height, 1)
    for bar in bars:
        bar.GetTitleTextProperty().SetFontSize(max(9, round(h / 42)))
        bar.GetLabelTextProperty().SetFontSize(max(8, round(h / 48)))
        bar.SetBarRatio(0.22 if h > 400 else 0.3)
    for cap in captions:
        cap.GetTextProperty().SetFontSize(max(10, round(h / 36)))
