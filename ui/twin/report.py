"""PDF patient report of the twin: twin images, trends with bands, predictions with provenance.

Why: clinicians file and share a fixed document, not a 3D view. The twin images are rendered
by an offscreen ``TwinScene`` in a CPU-pool child process (``render_images``: VTK is not
thread-safe, and on the GUI thread the renders stalled the window); the PDF itself is painted
with QPainter on a QPdfWriter off the GUI thread (mostly Qt's own C++: ~50 ms, no stall).
Every model output in the report carries its provenance, uncertainty and honesty label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QMarginsF, QPointF, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QImage,
    QPageLayout,
    QPageSize,
    QPainter,
    QPainterPath,
    QPdfWriter,
    QPen,
)

from app.services import model_cards, vocabulary
from app.services import twin_view as tv
from app.services.predictions import PredictionView
from ui.twin.common import LEGEND_TITLE, PROJECTED_DIMENSION, projection_series

if TYPE_CHECKING:
    from viz.protocol import SingleScene
    from viz.regions import RegionAtlas

IMAGE_SIZE = (900, 680)
DPI = 150
INK = QColor(30, 35, 45)
MUTED = QColor(95, 105, 120)
ACCENT = QColor(37, 99, 235)
PROJ = QColor(124, 58, 237)
WARN_BG = QColor(254, 243, 199)
WARN_BORDER = QColor(217, 119, 6)


@dataclass(frozen=True)
class Shot:
    """One report image: region values (or a difference ``before`` → ``values``) and its
    caption. Plain data, so a child process can render it."""

    key: str
    caption: str
    values: dict[str, float]
    legend: str = LEGEND_TITLE
    before: dict[str, float] | None = None


@dataclass(frozen=True)
class ImageJob:
    """The report's twin images as plain data: colour limit and shots in order."""

    lim: float
    shots: tuple[Shot, ...]


def image_job(timeline: tv.TwinTimeline, lim: float, whatif: tv.WhatIf | None) -> ImageJob:
    """Earlier date, latest date, their difference and (if any) the week-8 projection."""
    from viz.scene import DIFFERENCE_TITLE

    last = len(timeline.dates) - 1
    first = max(0, last - 56)
    shots = [
        Shot(key, f"{timeline.dates[i].strftime('%d %b %Y')}   model estimate", timeline.frame(i))
        for key, i in (("earlier", first), ("latest", last))
    ]
    shots.append(
        Shot(
            "difference",
            f"Change {timeline.dates[first].strftime('%d %b')} to "
            f"{timeline.dates[last].strftime('%d %b %Y')}",
            timeline.frame(last),
            DIFFERENCE_TITLE,
            before=timeline.frame(first),
        )
    )
    if whatif is not None:
        step = min(8, len(whatif.projection.days) - 1)
        shots.append(
            Shot(
                "whatif",
                f"{whatif.option_label}: projected week {step}",
                whatif.regions_at(step),
                "Projected deviation\n(illustrative)",
            )
        )
    return ImageJob(lim, tuple(shots))


class ReportScene:
    """An offscreen twin scene that renders the report's images (one thread only: VTK)."""

    def __init__(self, atlas: RegionAtlas) -> None:
        from viz.scene import TwinScene

        self.scene: SingleScene = TwinScene(atlas, window_size=IMAGE_SIZE, colormap="diverging")

    def render(self, job: ImageJob) -> dict[str, np.ndarray]:
        """RGB arrays (height × width × 3) of the job's shots, by key."""
        s = self.scene
        s.set_camera("oblique")
        out: dict[str, np.ndarray] = {}
        for shot in job.shots:
            if shot.before is not None:
                s.show_difference(shot.before, shot.values, title=shot.legend)
            else:
                s.set_colormap("diverging", (-job.lim, job.lim), shot.legend)
                s.set_region_values(shot.values)
            s.set_caption(shot.caption)
            out[shot.key] = np.ascontiguousarray(s.render_image(IMAGE_SIZE))
        return out

    def close(self) -> None:
        """Release the offscreen window."""
        self.scene.close()


_CHILD_SCENE: list[ReportScene] = []  # in a CPU-pool child: one scene, reused by later reports


def render_images(job: ImageJob) -> dict[str, np.ndarray]:
    """Render the report's images in a CPU-pool child process (``TaskManager.call_cpu``):
    the offscreen VTK renders took 0.5-0.75 s on the GUI thread (software OpenGL), a stall
    of the whole window, and the report's second render window and GL context no longer
    live in the desktop process. The child builds its scene once and keeps it."""
    if not _CHILD_SCENE:
        from ui.twin.common import scene_atlas

        _CHILD_SCENE.append(ReportScene(scene_atlas()))
    return _CHILD_SCENE[0].render(job)


def to_qimages(arrays: dict[str, np.ndarray]) -> dict[str, QImage]:
    """The rendered arrays as QImages (copies: the arrays may go away)."""
    out = {}
    for key, arr in arrays.items():
        h, w, _ = arr.shape
        out[key] = QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return out


class _Doc:
    """A tiny flowing layout on a QPdfWriter: text blocks, images and page breaks."""

    def __init__(self, path: Path) -> None:
        self.writer = QPdfWriter(str(path))
        self.writer.setResolution(DPI)
        self.writer.setPageLayout(
            QPageLayout(
                QPageSize(QPageSize.PageSizeId.A4),
                QPageLayout.Orientation.Portrait,
                QMarginsF(14, 14, 14, 14),
                QPageLayout.Unit.Millimeter,
            )
        )
        self.writer.setTitle("Novamind digital twin report")
        self.writer.setCreator("Novamind")
        self.p = QPainter(self.writer)
        rect = self.writer.pageLayout().paintRectPixels(DPI)
        self.width, self.height = float(rect.width()), float(rect.height())
        self.y = 0.0
        self.page = 1

    def font(self, pt: float, bold: bool = False) -> QFont:
        f = QFont("DejaVu Sans")
        f.setPointSizeF(pt)
        f.setBold(bold)
        return f

    def need(self, h: float) -> None:
        if self.y + h > self.height - 40:
            self.new_page()

    def new_page(self) -> None:
        self.footer()
        self.writer.newPage()
        self.page += 1
        self.y = 0.0

    def footer(self) -> None:
        self.p.setFont(self.font(7))
        self.p.setPen(MUTED)
        self.p.drawText(
            QRectF(0, self.height - 24, self.width, 24),
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
            f"Novamind digital twin report \u00b7 page {self.page} \u00b7 model estimates, "
            "not measurements",
        )

    def text(
        self,
        s: str,
        pt: float = 9,
        bold: bool = False,
        color: QColor = INK,
        x: float = 0.0,
        w: float | None = None,
        gap: float = 6.0,
    ) -> float:
        self.p.setFont(self.font(pt, bold))
        self.p.setPen(color)
        w = (self.width - x) if w is None else w
        flags = int(Qt.AlignmentFlag.AlignLeft) | int(Qt.TextFlag.TextWordWrap)
        r = self.p.boundingRect(QRectF(x, 0, w, 10000), flags, s)
        self.need(r.height())
        self.p.drawText(QRectF(x, self.y, w, r.height()), flags, s)
        self.y += r.height() + gap
        return r.height()

    def box(self, s: str, pt: float = 8.5) -> None:
        self.p.setFont(self.font(pt))
        flags = int(Qt.AlignmentFlag.AlignLeft) | int(Qt.TextFlag.TextWordWrap)
        pad = 14.0
        r = self.p.boundingRect(QRectF(0, 0, self.width - 2 * pad, 10000), flags, s)
        h = r.height() + 2 * pad
        self.need(h)
        self.p.setPen(QPen(WARN_BORDER, 2))
        self.p.setBrush(WARN_BG)
        self.p.drawRoundedRect(QRectF(0, self.y, self.width, h), 10, 10)
        self.p.setBrush(Qt.BrushStyle.NoBrush)
        self.p.setPen(INK)
        self.p.drawText(QRectF(pad, self.y + pad, self.width - 2 * pad, r.height()), flags, s)
        self.y += h + 10

    def image_height(self, n: int, img: QImage, fraction: float = 1.0) -> float:
        w = (self.width * fraction - 16.0 * (n - 1)) / n
        return w * img.height() / max(1, img.width()) + 36

    def images(
        self, imgs: Sequence[QImage], captions: Sequence[str], fraction: float = 1.0
    ) -> None:
        n = len(imgs)
        gap = 16.0
        w = (self.width * fraction - gap * (n - 1)) / n
        h = w * imgs[0].height() / max(1, imgs[0].width())
        x0 = (self.width - self.width * fraction) / 2
        self.need(h + 30)
        for i, (img, cap) in enumerate(zip(imgs, captions)):
            x = x0 + i * (w + gap)
            self.p.drawImage(QRectF(x, self.y, w, h), img)
            self.p.setPen(QPen(QColor(210, 214, 220), 1))
            self.p.drawRect(QRectF(x, self.y, w, h))
            self.p.setFont(self.font(7.5))
            self.p.setPen(MUTED)
            self.p.drawText(
                QRectF(x, self.y + h + 4, w, 26), int(Qt.AlignmentFlag.AlignHCenter), cap
            )
        self.y += h + 36

    def finish(self) -> None:
        self.footer()
        self.p.end()


def _chart(
    doc: _Doc,
    rect: QRectF,
    title: str,
    series: Sequence[tuple[Sequence[date], np.ndarray, np.ndarray, np.ndarray, QColor, bool]],
) -> None:
    """One small-multiple trend: lines with 90 % bands on a date axis."""
    p = doc.p
    p.setFont(doc.font(8, True))
    p.setPen(INK)
    p.drawText(QRectF(rect.x(), rect.y(), rect.width(), 20), int(Qt.AlignmentFlag.AlignLeft), title)
    plot = QRectF(rect.x() + 44, rect.y() + 26, rect.width() - 52, rect.height() - 52)
    d0 = min(s[0][0] for s in series)
    d1 = max(s[0][-1] for s in series)
    span = max(1, (d1 - d0).days)
    lo = min(float(np.nanmin(s[2])) for s in series)
    hi = max(float(np.nanmax(s[3])) for s in series)
    if hi - lo < 1e-6:
        hi = lo + 1.0
    pad = 0.05 * (hi - lo)
    lo, hi = lo - pad, hi + pad

    def pt(day: date, v: float) -> QPointF:
        return QPointF(
            plot.x() + plot.width() * (day - d0).days / span,
            plot.bottom() - plot.height() * (v - lo) / (hi - lo),
        )

    p.setPen(QPen(QColor(225, 228, 233), 1))
    p.setFont(doc.font(6.5))
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        y = pt(d0, v).y()
        p.setPen(QPen(QColor(230, 233, 238), 1))
        p.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
        p.setPen(MUTED)
        p.drawText(QRectF(rect.x(), y - 10, 40, 20), int(Qt.AlignmentFlag.AlignRight), f"{v:.2f}")
    for frac, align, dx in (
        (0.0, Qt.AlignmentFlag.AlignLeft, 0),
        (0.5, Qt.AlignmentFlag.AlignHCenter, -60),
        (1.0, Qt.AlignmentFlag.AlignRight, -120),
    ):
        day = date.fromordinal(d0.toordinal() + round(span * frac))
        x = pt(day, lo).x()
        p.drawText(QRectF(x + dx, plot.bottom() + 4, 120, 20), int(align), day.strftime("%d %b %y"))
    for days, mean, low, high, color, dashed in series:
        band = QPainterPath(pt(days[0], float(high[0])))
        for d, v in zip(days[1:], high[1:]):
            band.lineTo(pt(d, float(v)))
        for d, v in zip(reversed(days), reversed(low)):
            band.lineTo(pt(d, float(v)))
        band.closeSubpath()
        fill = QColor(color)
        fill.setAlpha(55)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(fill)
        p.drawPath(band)
        p.setBrush(Qt.BrushStyle.NoBrush)
        line = QPainterPath(pt(days[0], float(mean[0])))
        for d, v in zip(days[1:], mean[1:]):
            line.lineTo(pt(d, float(v)))
        pen = QPen(color, 2.5)
        if dashed:
            pen.setStyle(Qt.PenStyle.DashLine)
        p.setPen(pen)
        p.drawPath(line)
    p.setPen(QPen(QColor(200, 204, 210), 1))
    p.drawRect(plot)


def write_pdf(path: Path, data: tv.ReportInput, images: dict[str, QImage]) -> Path:
    """Write the report (safe off the GUI thread: QPainter on a QPdfWriter)."""
    t = data.timeline
    doc = _Doc(path)
    pat = data.patient
    now = datetime.now(UTC).astimezone()
    doc.text("Digital twin report", 18, True, gap=2)
    doc.text(
        f"{pat.display_name}  \u00b7  MRN {pat.mrn}  \u00b7  born {pat.birth_date.isoformat()}"
        f"  \u00b7  {pat.sex}",
        10,
        gap=2,
    )
    doc.text(
        f"Generated {now.strftime('%d %b %Y %H:%M')}  \u00b7  twin snapshot v{t.state.version} "
        f"as of {t.dates[-1].strftime('%d %b %Y')}  \u00b7  "
        f"{len(t.state.observations)} observations",
        8.5,
        color=MUTED,
        gap=10,
    )
    honesty = [
        "Model estimates, not measurements. The twin fuses questionnaires, actigraphy and note "
        "findings with a Kalman filter; bands are 90 % intervals.",
        "Brain-region colours come from an illustrative literature-informed map of clinical "
        "dimensions; they do not image or describe this patient's brain.",
    ]
    if any(p.synthetic for p in data.predictions):
        honesty.append(f"Prediction models were {tv.SYNTHETIC_LABEL}.")
    if pat.is_synthetic:
        honesty.append("This is a synthetic demonstration record.")
    doc.box("\n".join(honesty))

    e, last = max(0, len(t.dates) - 57), len(t.dates) - 1
    doc.text("Twin on two dates", 12, True)
    doc.images(
        [images["earlier"], images["latest"]],
        [t.dates[e].strftime("%d %b %Y"), t.dates[last].strftime("%d %b %Y") + " (latest)"],
    )
    doc.need(doc.image_height(1, images["difference"], 0.62) + 40)
    doc.text("Change between the two dates", 12, True)
    doc.images(
        [images["difference"]],
        ["Red: increased deviation; blue: decreased (model estimate)"],
        fraction=0.62,
    )

    doc.new_page()
    doc.text("Trends of the twin's dimensions (estimate and 90 % band)", 12, True)
    cw, ch = (doc.width - 20) / 2, 250.0
    for k, dim in enumerate(t.state.dimensions):
        if k % 2 == 0:
            doc.need(ch + 10)
        i = t.state.dimensions.index(dim)
        m, s = t.state.mean[i], t.state.sd[i]
        rect = QRectF((k % 2) * (cw + 20), doc.y, cw, ch)
        _chart(
            doc,
            rect,
            vocabulary.DIMENSION_LABELS.get(dim, dim),
            [(t.dates, m, m - tv.Z90 * s, m + tv.Z90 * s, ACCENT, False)],
        )
        if k % 2 == 1 or k == len(t.state.dimensions) - 1:
            doc.y += ch + 10
    doc.text(
        "Scale: 0 to 1 twin units per dimension (higher = more of the named dimension).",
        7.5,
        color=MUTED,
    )

    doc.text("Predictions (latest per model)", 12, True)
    if not data.predictions:
        doc.text("No predictions have been generated for this patient.", 9, color=MUTED)
    for heading, detail in prediction_lines(data.predictions):
        doc.text(heading, 9.5, True, gap=1)
        doc.text(detail, 7.5, color=MUTED, gap=5)
    notice = next((p.notice for p in data.predictions if p.notice), "")
    if notice:
        doc.text(notice, 7.5, color=MUTED)

    if data.whatif is not None and "whatif" in images:
        w = data.whatif
        doc.new_page()
        doc.text(f"What-if: {w.option_label}", 12, True)
        doc.box(w.label)
        proj = w.projection
        doc.text(
            f"Response probability {proj.p:.0%} (interval {proj.p_low:.0%}\u2013"
            f"{proj.p_high:.0%}) from {w.model_version}; projection model "
            f"{w.provenance.get('model', '')} {w.provenance.get('model_version', '')} "
            f"({w.provenance.get('training_data', '')}).",
            8.5,
        )
        doc.images([images["whatif"]], ["Projected region deviation at week 8 (illustrative)"])
        estimate, projection = projection_series(t, w)
        doc.need(280)
        _chart(
            doc,
            QRectF(0, doc.y, doc.width, 270),
            f"{vocabulary.DIMENSION_LABELS[PROJECTED_DIMENSION]}: estimate (blue) and projection "
            "(purple, dashed) with 90 % bands",
            [(*estimate, ACCENT, False), (*projection, PROJ, True)],
        )
        doc.y += 280
    prov = t.provenance
    doc.text(
        f"Provenance: twin {prov.get('model', '')} {prov.get('model_version', '')} "
        f"({prov.get('method', '')}); observation model "
        f"v{prov.get('observation_model_version', '')}"
        f"; region map v{prov.get('region_map_version', '')}; {prov.get('training_data', '')}.",
        7.5,
        color=MUTED,
    )
    doc.finish()
    return path


def prediction_lines(preds: Sequence[PredictionView]) -> list[tuple[str, str]]:
    """(heading, provenance) printed per latest prediction, outcomes first: the probability
    with its interval and band, or, for a model withheld as a risk score (no better than the
    base rate), the reason instead of any number; then the inputs it scored without."""
    lines = []
    for pr in sorted(preds, key=lambda p: (p.option is not None, p.target)):
        name = vocabulary.prediction_title(pr.target, pr.option)
        if pr.withheld:
            heading = f"{name}: {model_cards.not_shown_text(pr.withheld)}"
        else:
            score = vocabulary.score_text(
                pr.probability, pr.interval_low, pr.interval_high, pr.interval_level
            )
            heading = f"{name}: {score}, {pr.band}"
        training = pr.provenance.get("training_description") or pr.provenance.get(
            "training_data", ""
        )
        detail = (
            f"Model {pr.model_version}, generated {pr.generated_at.strftime('%d %b %Y')}; "
            f"training data: {_short(training)}"
            + ("; trained on synthetic data \u2014 demonstration only" if pr.synthetic else "")
        )
        if pr.missing_inputs:
            detail += f"; scored without: {_short(', '.join(pr.missing_inputs), 240)}"
        lines.append((heading, detail))
    return lines


def _short(text: object, limit: int = 160) -> str:
    s = str(text)
    return s if len(s) <= limit else s[: limit - 1] + "\u2026"
