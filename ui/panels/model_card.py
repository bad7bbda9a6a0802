"""Model card dialog: what a model predicts, from which data, how well, and its limits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QScrollArea,
    QTableWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from app.core.domain import Principal
from app.services import model_cards, model_monitoring
from app.services.context import AppContext
from engines.xgb.bands import SYNTHETIC_LABEL
from ui.panels.charts import ReliabilityChart
from ui.panels.common import fill, label, muted, notice, section, table


def _fit_height(t: QTableWidget) -> None:
    """Fix a table's height to its rows (the dialog scrolls, the table does not)."""
    t.resizeRowsToContents()
    rows = sum(t.rowHeight(r) for r in range(t.rowCount()))
    t.setFixedHeight(t.horizontalHeader().height() + rows + 2 * t.frameWidth() + 2)


def _wrap_columns(t: QTableWidget, *wide: int) -> None:
    """Columns sized to their contents except the `wide` ones (default: the last), which share
    the rest and wrap; the rows grow to fit whenever the width changes."""
    head = t.horizontalHeader()
    for c in wide or (t.columnCount() - 1,):
        head.setSectionResizeMode(c, QHeaderView.ResizeMode.Stretch)
    t.setWordWrap(True)
    t.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    t.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    head.sectionResized.connect(lambda *_: _fit_height(t))
    _fit_height(t)


def _ci(m: dict[str, Any] | None, pct: bool = False) -> str:
    if not m:
        return "—"
    f = (lambda x: f"{x:.3f}") if not pct else (lambda x: f"{x:.0%}")
    return f"{f(m['value'])} ({f(m['ci_low'])}–{f(m['ci_high'])})"


class ModelCardDialog(QDialog):
    """Shows a model card (the signed JSON document) in readable form."""

    def __init__(self, card: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.card = card
        title = str(card.get("title", card.get("name", "model")))
        self.setWindowTitle(f"Model card — {title}")
        self.setAccessibleName("model card")
        self.resize(860, 720)
        outer = QVBoxLayout(self)
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("model card tabs")
        outer.addWidget(self.tabs)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        self.tabs.addTab(scroll, "Card")
        self.monitoring = MonitoringTab()
        self.tabs.addTab(self.monitoring, "Monitoring")
        inner = QWidget()
        scroll.setWidget(inner)
        lay = QVBoxLayout(inner)
        lay.setSpacing(8)

        h = label(title, "h1")
        h.setProperty("scale", "dialog")
        lay.addWidget(h)
        lay.addWidget(
            muted(
                f"{card.get('name')}@{card.get('version')} · created "
                f"{str(card.get('created_at', ''))[:10]} · XGBoost "
                f"{card.get('xgboost_version', '?')} · SHA-256 "
                f"{str(card.get('model_sha256', ''))[:16]}…"
            )
        )
        labels = list(card.get("labels", []))
        td = card.get("training_data", {})
        if td.get("kind") == "synthetic" and SYNTHETIC_LABEL not in labels:
            labels.append(SYNTHETIC_LABEL)
        for text in labels:
            lay.addWidget(notice(text[0].upper() + text[1:], "model label"))

        lay.addWidget(section("Target"))
        lay.addWidget(label(f"<b>{card.get('target')}</b>: {card.get('outcome', '')}", wrap=True))
        lay.addWidget(section("Intended use"))
        lay.addWidget(label(str(card.get("intended_use", "—")), wrap=True))

        lay.addWidget(section("Training data"))
        lay.addWidget(label(str(td.get("description", td.get("kind", "—"))), wrap=True))
        split = card.get("split", {})
        if split:
            lay.addWidget(
                muted(
                    f"Split {split.get('method', '')}: {split.get('n_train', '?')} training, "
                    f"{split.get('n_calibration', '?')} calibration, {split.get('n_test', '?')} "
                    f"held-out test records; {split.get('events_per_feature', '?')} events per "
                    "feature."
                )
            )

        lay.addWidget(section("Held-out performance (95% bootstrap CI)"))
        metrics = card.get("metrics", {})
        ho = metrics.get("held_out", {})
        raw = metrics.get("held_out_uncalibrated", {})
        self.metrics = table(
            ("Metric", "Calibrated model", "Before calibration"), "held-out metrics"
        )
        rows = [
            ("AUC", _ci(ho.get("auc")), _ci(raw.get("auc"))),
            ("Brier score (lower is better)", _ci(ho.get("brier")), _ci(raw.get("brier"))),
            ("Log-loss (lower is better)", _ci(ho.get("log_loss")), _ci(raw.get("log_loss"))),
            (
                "Calibration slope",
                f"{ho.get('calibration_slope', '—')}",
                f"{raw.get('calibration_slope', '—')}",
            ),
            (
                "Calibration intercept",
                f"{ho.get('calibration_intercept', '—')}",
                f"{raw.get('calibration_intercept', '—')}",
            ),
            ("No-skill Brier", f"{metrics.get('no_skill_brier', '—')}", ""),
        ]
        fill(self.metrics, rows)
        self.metrics.setFixedHeight(36 + 30 * len(rows))
        lay.addWidget(self.metrics)
        lay.addWidget(
            label(
                f"Held-out test set: {ho.get('n', '?')} records, {ho.get('events', '?')} events.",
                "muted",
            )
        )

        self._skill(card, lay)

        lay.addWidget(section("Calibration"))
        cal = card.get("calibration", {})
        row = QHBoxLayout()
        self.reliability = ReliabilityChart(card)
        row.addWidget(self.reliability, 3)
        interval = cal.get("interval", {})
        sel = cal.get("selection", {})
        row.addWidget(
            muted(
                f"Method: {cal.get('method', 'none')} ({sel.get('rule', '')}).\n\n"
                + (
                    "Intervals: see Prediction intervals below.\n\n"
                    if card.get("uncertainty")
                    else f"Intervals: {interval.get('method', 'none')}.\n\n"
                )
                + f"Fitted on {cal.get('fitted_on', '?')}.\n\n"
                "Blue: calibrated model; grey: before calibration; dashed: perfect calibration. "
                "Points on the dashed line mean predicted probabilities match observed "
                "frequencies on held-out data."
            ),
            2,
        )
        lay.addLayout(row)

        self._uncertainty(card, lay)

        lay.addWidget(section("Inputs"))
        feats = card.get("features", [])
        sources = model_cards.feature_sources(card)
        self.features = table(
            ("Input", "Unit", "Group", "Kind", "Comes from (in the app)"), "model features"
        )
        fill(
            self.features,
            [
                (
                    f.get("label", f["name"]),
                    f.get("unit", ""),
                    f.get("group", ""),
                    f.get("kind", ""),
                    src or "not stated on this card",
                )
                for f, src in zip(feats, sources, strict=True)
            ],
        )
        for i, f in enumerate(feats):
            for c in range(self.features.columnCount()):
                item = self.features.item(i, c)
                if item is not None:
                    item.setToolTip(f"{f.get('label', f['name'])}: {sources[i] or 'not stated'}")
        _wrap_columns(self.features)
        self.features.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.features.setColumnWidth(0, 200)
        lay.addWidget(self.features)
        lay.addWidget(
            muted(
                "Missing inputs are passed to XGBoost as missing (its native "
                "handling), never replaced by zero."
            )
        )

        lay.addWidget(section("Limits"))
        for lim in card.get("limits", []):
            lay.addWidget(label(f"•  {lim}", wrap=True))
        if card.get("notice"):
            lay.addWidget(notice(str(card["notice"]), "suicide risk notice", "danger"))
        lay.addWidget(muted(f"Explanations: {card.get('contributions', '—')}."))
        lay.addStretch(1)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        outer.addWidget(buttons)

    def load_monitoring(self, tasks: Any, ctx: AppContext, principal: Principal) -> None:
        """Compute this model's monitoring in the background (ui.tasks.TaskManager, progress in
        the task bar) and show it on the Monitoring tab."""
        name = str(self.card.get("name", ""))
        tab = self.monitoring
        tab.show_loading()

        def if_open(show: Callable[[Any], None]) -> Callable[[Any], None]:
            # the dialog deletes itself on close; a late result is then dropped
            return lambda value: show(value) if isValid(tab) else None

        tasks.run(
            lambda _token, progress: model_monitoring.model_report(
                ctx, principal, name, progress=progress
            ),
            label="Checking the model's monitoring",
            on_done=if_open(tab.show_report),
            on_error=if_open(tab.show_error),
            cancellable=False,
        )

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        for t in (self.features, self.coverage):
            _fit_height(t)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        for t in (self.features, self.coverage):
            _fit_height(t)

    def _skill(self, card: dict[str, Any], lay: QVBoxLayout) -> None:
        """Brier skill against the minimum, and whether predictions are shown as a risk score."""
        sk = model_cards.skill_of(card)
        lay.addWidget(section("Skill over the base rate"))
        value = "—" if sk.brier_skill is None else f"{sk.brier_skill:.3f}"
        minimum = "" if sk.minimum is None else f" (minimum {sk.minimum:.2f})"
        self.skill_value = label(
            f"Brier skill score {value}{minimum}: 1 − Brier / no-skill Brier on held-out data; "
            "0 is no better than predicting the base rate for everyone.",
            wrap=True,
        )
        self.skill_value.setAccessibleName("brier skill")
        lay.addWidget(self.skill_value)
        if sk.shown_as_risk_score:
            text = f"Shown as a risk score. {sk.reason}".strip()
            if sk.minimum is None:
                text += " (This card predates the minimum-skill rule.)"
            self.skill_verdict = label(text, "muted", wrap=True)
        else:
            self.skill_verdict = notice(model_cards.not_shown_text(sk.reason), "", "info")
        self.skill_verdict.setAccessibleName("risk score shown or withheld")
        lay.addWidget(self.skill_verdict)

    def _uncertainty(self, card: dict[str, Any], lay: QVBoxLayout) -> None:
        """How the prediction intervals are made and their measured coverage on held-out data."""
        unc = model_cards.uncertainty_of(card)
        lay.addWidget(section("Prediction intervals"))
        nominal = f"nominal {unc.nominal} · " if unc.nominal else ""
        self.interval_method = label(f"{nominal}{unc.method or 'method not stated'}", wrap=True)
        self.interval_method.setAccessibleName("interval method")
        lay.addWidget(self.interval_method)
        if unc.description:
            lay.addWidget(label(unc.description[:1].upper() + unc.description[1:] + ".", wrap=True))
        self.coverage = table(
            ("Held-out patients", "Measured coverage", "Median width"), "interval coverage"
        )
        fill(self.coverage, list(unc.coverage))
        _wrap_columns(self.coverage)
        self.coverage.setVisible(bool(unc.coverage))
        lay.addWidget(self.coverage)
        if not unc.coverage:
            lay.addWidget(muted("This card reports no measured coverage for its intervals."))
        else:
            fitted = card.get("uncertainty", {}).get("fitted_on")
            lay.addWidget(
                muted(
                    "Coverage: the share of held-out patients (not used to fit the model or its "
                    "intervals) whose true risk lay inside their interval; near the nominal level "
                    "means the interval is honest. Missing inputs widen a patient's interval."
                    + (f" Fitted on: {fitted}." if fitted else "")
                )
            )


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "—" if value is None or value != value else format(value, spec)


def _est(e: Any) -> str:
    """An estimate with its CI ("0.041 (0.035–0.048)"), or the point alone without one."""
    if e.ci_low != e.ci_low:  # NaN: no bootstrap for this window
        return _fmt(e.value)
    return f"{_fmt(e.value)} ({_fmt(e.ci_low)}–{_fmt(e.ci_high)})"


class MonitoringTab(QWidget):
    """The model's monitoring: status (with an "under review" banner), weekly volume, input
    drift against the training distribution and calibration on observed outcomes."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("model monitoring")
        outer = QVBoxLayout(self)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        outer.addWidget(scroll)
        inner = QWidget()
        scroll.setWidget(inner)
        self._lay = QVBoxLayout(inner)
        self.status = label("Monitoring not loaded.", "muted", wrap=True)
        self.status.setAccessibleName("monitoring status")
        self._lay.addWidget(self.status)
        self.banner = notice("", "model under review", "danger")
        self.banner.setVisible(False)
        self._lay.addWidget(self.banner)
        self._lay.addWidget(section("Predictions per week"))
        self.volume = table(("Week of", "Predictions"), "weekly prediction volume")
        self._lay.addWidget(self.volume)
        self._lay.addWidget(section("Input drift against the training distribution"))
        self.reference = muted("")
        self._lay.addWidget(self.reference)
        self.drift = table(
            ("Input", "PSI", "Missing now", "Missing in training", "Level"), "input drift"
        )
        self._lay.addWidget(self.drift)
        self._lay.addWidget(section("Calibration on observed outcomes"))
        self.outcome = muted("")
        self._lay.addWidget(self.outcome)
        self.calibration = table(
            ("Predictions made", "Outcomes", "Events", "Brier", "ECE", "Slope", "Intercept"),
            "calibration windows",
        )
        self._lay.addWidget(self.calibration)
        self.notes = muted("")
        self._lay.addWidget(self.notes)
        self._lay.addStretch(1)
        self.report: model_monitoring.ModelReport | None = None

    def show_loading(self) -> None:
        self.status.setText("Checking this model's monitoring…")

    def show_error(self, exc: BaseException) -> None:
        user_message = getattr(exc, "user_message", None)
        text = user_message() if callable(user_message) else "Monitoring could not be computed."
        self.status.setText(str(text))

    def show_report(self, r: model_monitoring.ModelReport) -> None:
        """Fill the tab from a report (GUI thread)."""
        self.report = r
        status = {
            "ok": "Status: OK — no policy threshold crossed.",
            "insufficient data": "Status: insufficient data — too few predictions or outcomes "
            "to judge drift or calibration yet.",
            "under review": "Status: UNDER REVIEW.",
        }.get(r.status, f"Status: {r.status}")
        self.status.setText(
            f"{status} {r.volume} predictions in the last {len(r.weekly_volume)} weeks."
        )
        self.banner.setVisible(r.status == "under review")
        if r.status == "under review":
            rules = ", ".join(a.replace("_", " ") for a in r.open_alerts)
            self.banner.setText(
                f"Under review: this model crossed a monitoring threshold ({rules}). Supervisors "
                "and IT have a system alert; treat its scores with extra caution until they "
                "resolve it."
            )
        fill(
            self.volume,
            [(d.isoformat(), str(n)) for d, n in zip(r.week_starts, r.weekly_volume, strict=True)],
        )
        _fit_height(self.volume)
        self.reference.setText(
            f"Reference: {r.reference}. {r.drift_n} predictions of this version in the window. "
            "PSI below 0.1 is stable; above 0.25 a large shift (thresholds from policy)."
        )
        fill(
            self.drift,
            [
                (
                    d.label,
                    _fmt(d.psi),
                    f"{d.missing_rate:.0%}",
                    f"{d.reference_missing_rate:.0%}",
                    d.level,
                )
                for d in r.drift
            ],
        )
        _wrap_columns(self.drift, 0)
        self.outcome.setText(
            f"Outcome: {r.outcome_definition}. 95% bootstrap intervals for the newest window."
        )
        rows = []
        for w in r.calibration:
            c = w.calibration
            when = f"{w.start.isoformat()} to {w.end.isoformat()}"
            if c is None:
                rows.append((when, "too few", "—", "—", "—", "—", "—"))
            else:
                rows.append(
                    (when, str(c.n), str(c.events), _est(c.brier), _est(c.ece), _est(c.slope),
                     _est(c.intercept))
                )  # fmt: skip
        fill(self.calibration, rows)
        _wrap_columns(self.calibration, 0)
        self.notes.setText(" ".join(r.notes))
