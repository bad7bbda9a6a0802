"""Every bar of the contributions chart carries a label as drawn (issue 20): pyqtgraph drops a
tick label wider than its axis, which left bars such as the psychosocial-stressor flag unnamed;
long labels are elided instead, in full in the chart's tooltip. Driven over a real model's
stored explanation."""

from __future__ import annotations

from PySide6.QtGui import QImage, QPainter

from app.core.domain import Role
from app.services import predictions
from ui.panels.charts import MAX_LABEL_WIDTH, ContributionChart, plain_words


def _drawn_labels(chart: ContributionChart) -> list[str]:
    """The tick texts pyqtgraph actually paints on the left axis."""
    img = QImage(8, 8, QImage.Format.Format_ARGB32)
    painter = QPainter(img)
    try:
        specs = chart.getAxis("left").generateDrawSpecs(painter)
    finally:
        painter.end()
    return [text for _, _, text in specs[2]] if specs else []


def test_every_bar_has_a_drawn_label_long_ones_elided(ctx, clinic, qtbot, show) -> None:
    me = clinic["users"][Role.CLINICIAN]
    pid = clinic["mine"]
    predictions.predict(ctx, me, pid)
    relapse = next(v for v in predictions.latest(ctx, me, pid) if v.target == "relapse_6m")
    items = relapse.contributions
    words = [plain_words(c) for c in items]
    chart = ContributionChart()
    show(chart, 900, 520)
    chart.set_contributions(items, k=len(items))  # every input, the long ones included
    qtbot.wait(50)
    metrics = chart.fontMetrics()
    long = [w for w in words if metrics.horizontalAdvance(w) > MAX_LABEL_WIDTH]
    assert any(w.startswith("psychosocial stressor") for w in long), long

    bars = chart.bars()
    drawn = _drawn_labels(chart)
    assert len(bars) == len(items) == len(chart.tick_labels)
    assert sorted(drawn) == sorted(chart.tick_labels), "a bar was left without its label"
    assert all(t.strip() for t in drawn)
    by_feature = {c["feature"]: plain_words(c) for c in items}
    for (feature, _), shown in zip(bars, chart.tick_labels, strict=True):
        full = by_feature[feature]
        if shown != full:  # elided in the middle: the name's start and the value stay
            assert "…" in shown
            head, tail = shown.split("…")
            assert full.startswith(head) and full.endswith(tail) and head and tail
        assert full in chart.toolTip()  # the full words are one hover away


def test_short_labels_are_drawn_unchanged(qtbot, show) -> None:
    items = [
        {"feature": "phq9", "label": "latest PHQ-9", "unit": "points", "value": 18.0,
         "contribution": 0.4},
        {"feature": "sleep", "label": "sleep efficiency", "unit": "proportion", "value": 0.81,
         "contribution": -0.2},
    ]  # fmt: skip
    chart = ContributionChart()
    show(chart, 900, 300)
    chart.set_contributions(items)
    qtbot.wait(50)
    assert chart.tick_labels == [plain_words(c) for c in items]
    assert sorted(_drawn_labels(chart)) == sorted(chart.tick_labels)
    chart.set_contributions([])
    assert chart.tick_labels == [] and chart.bars() == []
