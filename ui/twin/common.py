"""What the twin view's parts share: the mode enum, titles, date formats and the region atlas.

Why: the toolbar, the playback, compare, what-if and export controllers and the view read the
same few facts; one module keeps them from drifting apart.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import date
from enum import StrEnum
from importlib.resources import files
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QDate, QObject
from PySide6.QtWidgets import QLabel

if TYPE_CHECKING:
    from app.services.twin_view import TwinTimeline, WhatIf
    from ui.twin.view import TwinView
    from viz.regions import RegionAtlas


class Mode(StrEnum):
    """What the twin view shows: one date, two dates compared, or a what-if projection."""

    TWIN = "twin"
    COMPARE = "compare"
    WHATIF = "whatif"


class ViewController(QObject):
    """A part of the twin view that acts on it (owned by the view, deleted with it)."""

    def __init__(self, view: TwinView) -> None:
        super().__init__(view)
        self.view = view


#: days, mean, 90 % low, 90 % high of one plotted estimate
Series = tuple[Sequence[date], np.ndarray, np.ndarray, np.ndarray]
PROJECTED_DIMENSION = "depression"  # the dimension the what-if charts follow
RECENT_DAYS = 56  # what-if charts show the last eight weeks of the estimate first
LEGEND_TITLE = "Deviation from healthy\n(model estimate)"
COMPARE_TITLE = "Deviation\n(model est.)"
COMPARE_ZOOM = 0.72  # two half-width views: leave room for the brain and the legend
BANNER = (
    "<b>Model estimate, not a measurement.</b> Region colours are derived from this patient's "
    "clinical scores and actigraphy by an illustrative, literature-informed map; they do not "
    "image or describe the patient's brain."
)
NO_PATIENT = "Open a patient to see the digital twin."


@functools.cache
def scene_atlas() -> RegionAtlas:
    """The region atlas of the shipped region map on the shipped brain (built once)."""
    from viz.brain import load_brain
    from viz.regions import build_atlas

    doc = json.loads((files("resources") / "twin" / "region_map.json").read_text("utf-8"))
    return build_atlas(doc, load_brain(), source="region_map.json")


def fmt(day: date) -> str:
    """A date as the twin view writes it (07 Dec 2026)."""
    return day.strftime("%d %b %Y")


def qdate(day: date) -> QDate:
    """A Python date as a QDate."""
    return QDate(day.year, day.month, day.day)


def pydate(day: QDate) -> date:
    """A QDate as a Python date."""
    return date(day.year(), day.month(), day.day())


def label(text: str, name: str) -> QLabel:
    """A word-wrapped label whose look the theme gives by object name (``/* twin */``)."""
    lab = QLabel(text)
    lab.setObjectName(name)
    lab.setWordWrap(True)
    return lab


def provenance_text(timeline: TwinTimeline) -> str:
    """One line of provenance under the view: twin model, snapshot, data span, region map."""
    prov = timeline.provenance
    return (
        f"Twin: {prov.get('model', '')} {prov.get('model_version', '')}, snapshot "
        f"v{prov['twin_state_version']}, {len(timeline.state.observations)} observations, "
        f"{fmt(timeline.dates[0])} \u2013 {fmt(timeline.dates[-1])}. Region map "
        f"v{prov['region_map_version']} (illustrative). "
        f"{prov.get('training_data', '').removeprefix('none: ').capitalize()}."
    )


def projection_series(t: TwinTimeline, result: WhatIf) -> tuple[Series, Series]:
    """The what-if chart's two series: the recent estimate, then the projection."""
    from app.services.twin_view import Z90

    dim = t.state.dimensions.index(PROJECTED_DIMENSION)
    recent = slice(max(0, len(t.dates) - RECENT_DAYS), len(t.dates))
    m, s = t.state.mean[dim, recent], t.state.sd[dim, recent]
    pm, plo, phi = result.projection.series(PROJECTED_DIMENSION)
    return (t.dates[recent], m, m - Z90 * s, m + Z90 * s), (result.projection.days, pm, plo, phi)
