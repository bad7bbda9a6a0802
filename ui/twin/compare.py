"""Compare mode of the twin view: two dates side by side with linked cameras, or B − A.

Why: "what changed" is the question a clinician brings to a follow-up. The side-by-side scene
(two views, one camera, one colour scale) is built on first use only; the difference map is
drawn by the view's single scene.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QDateEdit, QHBoxLayout, QLabel, QPushButton, QWidget

from app.services import twin_view as tv
from ui.twin.common import (
    COMPARE_TITLE,
    COMPARE_ZOOM,
    ViewController,
    fmt,
    pydate,
    qdate,
    scene_atlas,
)
from ui.twin.host import SceneHost, make_host

if TYPE_CHECKING:
    from ui.twin.view import TwinView
    from viz.protocol import PairScene


class CompareController(ViewController):
    """The compare bar (dates A and B, difference switch) and the side-by-side scene."""

    def __init__(self, view: TwinView) -> None:
        super().__init__(view)
        self.host: SceneHost | None = None
        self.scene: PairScene | None = None
        self.bar = QWidget()
        cb = QHBoxLayout(self.bar)
        cb.setContentsMargins(0, 0, 0, 0)
        self.date_a, self.date_b = QDateEdit(), QDateEdit()
        for lab, edit in (("Date A", self.date_a), ("Date B", self.date_b)):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("dd MMM yyyy")
            edit.setAccessibleName(f"Compare {lab.lower()}")
            edit.dateChanged.connect(self._dates_changed)
            cb.addWidget(QLabel(lab))
            cb.addWidget(edit)
        self.diff_button = QPushButton("Difference map (B \u2212 A)")
        self.diff_button.setCheckable(True)
        self.diff_button.setAccessibleName("Show the difference map between the two dates")
        self.diff_button.toggled.connect(self._diff_toggled)
        cb.addWidget(self.diff_button)
        cb.addStretch(1)
        self.note = QLabel("Linked cameras: rotating one view rotates both.")
        cb.addWidget(self.note)

    @property
    def difference(self) -> bool:
        """Whether the difference map (one view) is chosen instead of two views."""
        return self.diff_button.isChecked()

    def load(self, timeline: tv.TwinTimeline) -> None:
        """Limit both dates to the timeline; A = eight weeks before the latest date, B = it."""
        for edit in (self.date_a, self.date_b):
            edit.blockSignals(True)
            edit.setDateRange(qdate(timeline.dates[0]), qdate(timeline.dates[-1]))
            edit.blockSignals(False)
        self.set_dates(timeline.dates[max(0, len(timeline.dates) - 57)], timeline.dates[-1])

    def set_dates(self, a: date, b: date) -> None:
        """Choose the two dates of the comparison."""
        self.date_a.setDate(qdate(a))
        self.date_b.setDate(qdate(b))

    def indices(self) -> tuple[int, int]:
        """Timeline indices of dates A and B (0, 0 without a timeline)."""
        t = self.view.timeline
        if t is None:
            return 0, 0
        return t.index_of(pydate(self.date_a.date())), t.index_of(pydate(self.date_b.date()))

    def ensure(self) -> SceneHost:
        """The side-by-side host, its scene built on first use."""
        if self.host is not None and self.scene is not None:
            return self.host
        from viz.scene import CompareScene

        view = self.view
        host = make_host((1, 2))
        host.setAccessibleName("Two dates side by side with linked cameras")
        host.clicked.connect(self._clicked)
        view.stack.addWidget(host)
        host.setGeometry(view.host.geometry())  # its shown size, before the camera
        lim = view.lim
        scene = CompareScene(
            scene_atlas(),
            plotter=host.plotter(),
            window_size=host.frame_size(),
            colormap="diverging",
            clim=(-lim, lim),
            title=COMPARE_TITLE,
        )
        scene.set_camera(view.toolbar.camera.currentData(), zoom=COMPARE_ZOOM)
        host.attach(scene)
        self.host, self.scene = host, scene
        return host

    def show(self) -> None:
        """Put the chosen presentation on screen (two views, or the view's single scene)."""
        view = self.view
        view.stack.setCurrentWidget(view.host if self.difference else self.ensure())

    def reset_colormap(self, lim: float) -> None:
        """The shared deviation scale on both views."""
        if self.scene is not None:
            self.scene.set_colormap("diverging", (-lim, lim), COMPARE_TITLE)

    def draw(self, t: tv.TwinTimeline) -> None:
        """Show dates A and B (or their difference) and draw the frame."""
        view = self.view
        ia, ib = self.indices()
        if self.difference:
            if view.scene is not None:
                view.scene.show_difference(t.frame(ia), t.frame(ib), limit=view.lim)
                view.scene.set_caption(f"Change {fmt(t.dates[ia])} to {fmt(t.dates[ib])}")
                view.host.refresh()
            return
        host = self.ensure()
        if self.scene is not None:
            self.scene.set_region_values(t.frame(ia), t.frame(ib))
            self.scene.set_captions(f"A  {fmt(t.dates[ia])}", f"B  {fmt(t.dates[ib])}")
        host.refresh()

    def _clicked(self, x: float, y: float) -> None:
        if self.scene is None:
            return
        hit = self.scene.pick(x, y)
        if hit.region_id:
            ia, ib = self.indices()
            self.view.index = ia if hit.side == 0 else ib
            self.view.select_region(hit.region_id)

    def _dates_changed(self) -> None:
        if self.view.mode == "compare":
            self.view.request_frame()

    def _diff_toggled(self, on: bool) -> None:
        view = self.view
        if view.mode != "compare" or view.timeline is None:
            return
        if not on:
            view.reset_colormap()
        self.show()
        view.flush()

    def close(self) -> None:
        """Release the side-by-side render window and its host (rebuilt on next use)."""
        host, self.host, self.scene = self.host, None, None
        if host is not None:
            host.close_scene()
            self.view.stack.removeWidget(host)
            host.deleteLater()
