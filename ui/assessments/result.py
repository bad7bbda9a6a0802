"""The scored result: total, band (with the rule that gave it), part scores and critical flags.

Every line of text comes from the engine's result (rule texts, band source, flag messages), so
what the clinician reads is exactly what was computed.
"""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QLayout, QVBoxLayout, QWidget

from app.services.assessments import AssessmentOutcome
from app.services.instrument_catalog import Instrument
from ui.widgets import label

# Band colours from least to most severe (colour-blind-safe-ish ramp, readable on both themes).
RAMP = ("#2e8b57", "#7fa83a", "#d9a21b", "#e07b24", "#c0392b")


def band_step(rank: int, n_bands: int) -> int:
    """Where a band rank falls on the five-step severity ramp (the theme colours each step)."""
    if n_bands <= 1:
        return 0
    return round(rank * (len(RAMP) - 1) / (n_bands - 1))


def band_colour(rank: int, n_bands: int) -> str:
    """Colour for a band rank on the instrument's own scale (the trend chart's regions)."""
    return RAMP[band_step(rank, n_bands)]


def _label(text: str, name: str, *, wrap: bool = True) -> QLabel:
    """Result wording: plain text, wrapped, selectable (to copy into a note)."""
    return label(text, name, wrap=wrap, plain=True, selectable=True)


class ResultPanel(QFrame):
    """Shows one AssessmentOutcome; the critical flag, if any, comes first and in red."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("resultPanel")
        self.setAccessibleName("Assessment result")
        self._lay = QVBoxLayout(self)
        self._lay.setContentsMargins(18, 16, 18, 16)
        self._lay.setSpacing(8)
        self.critical_box: QFrame | None = None
        self.band_chip: QLabel | None = None
        self.total_label: QLabel | None = None
        self.alert_line: QLabel | None = None

    def clear(self) -> None:
        """Drop the shown result (patient switch, lock)."""
        _clear_layout(self._lay)
        self.critical_box = self.band_chip = self.total_label = self.alert_line = None

    def show_outcome(self, inst: Instrument, outcome: AssessmentOutcome) -> None:
        """Render the result of a submitted administration."""
        self.clear()
        res = outcome.result
        lay = self._lay
        crit = [f for f in res.flags if f.severity == "critical"]
        if res.flags:
            box = QFrame()
            box.setObjectName("criticalBox" if crit else "warningBox")
            bl = QVBoxLayout(box)
            bl.setContentsMargins(14, 10, 14, 10)
            head = "CRITICAL — act now" if crit else "Flag"
            bl.addWidget(_label(f"⚠  {head}", "criticalHead"))
            for f in res.flags:
                bl.addWidget(_label(f.message, "criticalText"))
                bl.addWidget(_label(f"Rule: {f.rule_text}", "criticalRule"))
            box.setAccessibleName(f"{head}: " + " ".join(f.message for f in res.flags))
            lay.addWidget(box)
            self.critical_box = box

        top = QHBoxLayout()
        title = _label(inst.short_name, "resultTitle", wrap=False)
        top.addWidget(title)
        top.addStretch(1)
        if res.total is not None:
            self.total_label = _label(f"{res.total} / {res.max_total}", "resultTotal", wrap=False)
            self.total_label.setAccessibleName(f"Total {res.total} of {res.max_total}")
            top.addWidget(self.total_label)
        chip = _label(res.band.label, "severityChip", wrap=False)
        chip.setProperty("ramp", band_step(res.band.rank, len(inst.bands)))
        chip.setAccessibleName(f"Severity band: {res.band.label}")
        top.addWidget(chip)
        self.band_chip = chip
        lay.addLayout(top)

        lay.addWidget(_label(f"Band rule: {res.band.rule_text}", "ruleText"))
        lay.addWidget(_label(f"Scoring: {res.rule_text}", "ruleText"))
        for s in res.subscales:
            lay.addWidget(_label(f"{s.label}: {s.value:g}   ({s.rule_text})", "detailText"))
        for c in res.classifications:
            verdict = "met" if c.met else "not met"
            text = f"{c.label}: {verdict}   ({c.rule_text}; {c.source})"
            lay.addWidget(_label(text, "detailText"))
        if res.parameters:
            params = ", ".join(f"{k} = {v:g}" for k, v in res.parameters)
            lay.addWidget(_label(f"Parameters used: {params}", "detailText"))
        n = len(outcome.alert_ids)
        if n:
            text = f"{n} alert{'s' if n > 1 else ''} raised — it is in the alert inbox now."
        else:
            text = "No new alert raised."
        self.alert_line = _label(text, "alertLine" if n else "detailText")
        lay.addWidget(self.alert_line)
        lay.addWidget(
            _label(
                f"Scored by the Novamind scoring engine from the {inst.short_name} definition "
                f"v{res.instrument_version} ({inst.item_text_source} item wording). "
                f"Source: {inst.citation}",
                "provenance",
            )
        )


def _clear_layout(layout: QLayout) -> None:
    while layout.count():
        item = layout.takeAt(0)
        if item is None:
            break
        widget, inner = item.widget(), item.layout()
        if widget is not None:
            widget.deleteLater()
        elif inner is not None:
            _clear_layout(inner)
