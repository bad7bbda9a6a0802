"""Predictions panel: each risk target with probability, calibrated interval, band, model
version and provenance; the explanation as signed bars in plain words; the model card; the
treatment comparison; and the fixed notice that suicide risk is not an ML score."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QWidget,
)

from app.core.domain import Principal
from app.services import model_cards, predictions, vocabulary
from app.services.context import AppContext
from app.services.predictions import PredictionView
from engines.xgb.bands import SUICIDE_RISK_NOTICE, SYNTHETIC_LABEL
from ui.panels.charts import ContributionChart
from ui.panels.common import (
    Frame,
    band_chip,
    fill,
    heading,
    label,
    muted,
    notice,
    scroll_body,
    section,
    set_error,
    table,
    user_message,
    value_label,
)
from ui.panels.model_card import ModelCardDialog
from ui.workspace.panel import PatientPanel


def title_of(v: PredictionView) -> str:
    return vocabulary.prediction_title(v.target, v.option)


def interval_text(v: PredictionView) -> str:
    """The interval in words, its nominal coverage first: "90% interval 18%–47%"."""
    return vocabulary.interval_text(v.interval_low, v.interval_high, v.interval_level)


def score_text(v: PredictionView) -> str:
    """The probability with its interval, as one phrase: "31% (90% interval 18%–47%)"."""
    return vocabulary.score_text(v.probability, v.interval_low, v.interval_high, v.interval_level)


def missing_text(v: PredictionView) -> str:
    """Which inputs the model scored without (they widen the interval), or that none were."""
    if not v.missing_inputs:
        return "All inputs present"
    return "Missing inputs: " + ", ".join(_lower_first(m) for m in v.missing_inputs)


def _lower_first(text: str) -> str:
    """'Latest GAD-7' -> 'latest GAD-7' inside a list; an acronym ('PHQ-9 trend') stays."""
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def withheld_text(v: PredictionView) -> str:
    return model_cards.not_shown_text(v.withheld or "")


def provenance_text(v: PredictionView) -> str:
    p = v.provenance
    data = p.get("training_data") or "unknown data"
    made = v.generated_at.strftime("%Y-%m-%d %H:%M") if v.generated_at else ""
    return f"Model {v.model_version} · trained on {data} data · scored {made}"


class RiskCard(Frame):
    """One risk target: probability with its interval, band, missing inputs, model and
    provenance; a withheld model (no better than the base rate) shows why instead of a score."""

    explain = Signal(str)
    card_requested = Signal(str)

    def __init__(self, v: PredictionView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = v
        self.setAccessibleName(f"{title_of(v)} prediction")
        head = QHBoxLayout()
        head.addWidget(label(title_of(v).upper(), "cardTitle"))
        head.addStretch(1)
        if v.withheld is None:
            head.addWidget(band_chip(v.band))
        self.body.addLayout(head)
        self.interval: QLabel | None = None
        if v.withheld is None:
            row = QHBoxLayout()
            self.value = value_label(f"{v.probability:.0%}", "large")
            self.value.setAccessibleName(f"probability {v.probability:.0%}")
            row.addWidget(self.value)
            self.interval = value_label(f"({interval_text(v)})", "medium")
            self.interval.setAccessibleName(f"{title_of(v)} interval")
            self.interval.setToolTip(str(v.provenance.get("interval_method", "")))
            row.addWidget(self.interval)
            row.addStretch(1)
            self.body.addLayout(row)
            coverage = v.provenance.get("interval_coverage")
            self.coverage = muted(
                "Model estimate, not a measurement" + (f" · {coverage}" if coverage else "")
            )
            self.coverage.setAccessibleName(f"{title_of(v)} interval coverage")
            self.body.addWidget(self.coverage)
        else:
            self.value = notice(withheld_text(v), f"{title_of(v)} withheld", "info")
            self.body.addWidget(self.value)
        self.missing = label(missing_text(v), "muted", wrap=True)
        self.missing.setAccessibleName(f"{title_of(v)} missing inputs")
        self.missing.setProperty("missingInputs", "true" if v.missing_inputs else "false")
        if v.missing_inputs:
            self.missing.setToolTip(
                "Not recorded for this patient: scored without them (never filled in as zero). "
                "Recording them can move the estimate."
            )
        self.body.addWidget(self.missing)
        self.body.addWidget(label(provenance_text(v), "muted", wrap=True))
        row = QHBoxLayout()
        why = QPushButton("Explain")
        why.setAccessibleName(f"explain {title_of(v)}")
        why.clicked.connect(lambda: self.explain.emit(self.key))
        card = QPushButton("Why not shown — model card…" if v.withheld else "Model card…")
        card.setAccessibleName(f"model card for {title_of(v)}")
        card.clicked.connect(lambda: self.card_requested.emit(self.key))
        self.card_button = card
        row.addWidget(why)
        row.addWidget(card)
        row.addStretch(1)
        self.body.addLayout(row)

    @property
    def key(self) -> str:
        return model_cards.model_name_for(self.view.target, self.view.option)


def _latest_and_staleness(
    ctx: AppContext, principal: Principal, patient_id: str
) -> tuple[list[PredictionView], bool]:
    """The stored predictions, and whether the records they were scored from changed since."""
    return (
        predictions.latest(ctx, principal, patient_id),
        predictions.inputs_changed_since_scored(ctx, principal, patient_id),
    )


class PredictionsPanel(PatientPanel):
    """Mount in the shell's Predictions tab: ``PredictionsPanel(ctx, principal, pid,
    tasks=ws.tasks)``; call ``set_patient(pid)`` when the patient changes."""

    loaded = Signal()
    #: predictions, and the records the models read (a change there makes the scores stale)
    record_types = frozenset(
        {"prediction", "patient", "assessment", "medication", "encounter", "nlp", "actigraphy"}
    )

    def _build(self) -> None:
        self.views: list[PredictionView] = []
        self._dialogs: list[ModelCardDialog] = []

        lay = scroll_body(self)

        top, self.status = heading("Risk predictions", "predictions status")
        self.score = QPushButton("&Score now")
        self.score.setAccessibleName("score this patient now")
        self.score.setToolTip("Run every active model on this patient's current record")
        self.score.clicked.connect(self.score_now)
        top.addWidget(self.score)
        lay.addLayout(top)

        self.suicide = notice(
            SUICIDE_RISK_NOTICE + " Use the C-SSRS and your clinical judgement.",
            "suicide risk notice",
            "danger",
        )
        lay.addWidget(self.suicide)
        self.synthetic = notice(
            f"Models {SYNTHETIC_LABEL}. Probabilities are model estimates with uncertainty, "
            "not measurements, and not a diagnosis.",
            "synthetic model label",
        )
        lay.addWidget(self.synthetic)
        self.stale = notice(
            "Records the models read have changed since these predictions were made. "
            "Use “Score now” to score the current record.",
            "predictions out of date",
            "info",
        )
        self.stale.hide()
        lay.addWidget(self.stale)

        self.cards = QGridLayout()
        self.cards.setSpacing(10)
        lay.addLayout(self.cards)
        self.empty = label(
            "No predictions stored for this patient yet. Use “Score now”.", "muted", wrap=True
        )
        lay.addWidget(self.empty)

        lay.addWidget(section("Why — top contributions"))
        pick = QHBoxLayout()
        pick.addWidget(label("Explain:"))
        self.explain_for = QComboBox()
        self.explain_for.setAccessibleName("prediction to explain")
        self.explain_for.currentIndexChanged.connect(self._show_explanation)
        pick.addWidget(self.explain_for, 1)
        lay.addLayout(pick)
        self.chart = ContributionChart()
        lay.addWidget(self.chart)
        self.legend = muted(
            "Red bars raise the predicted probability, blue bars lower it (TreeSHAP, log-odds of "
            "the model). Inputs shown as “not recorded” are missing and were not imputed. "
            "Contributions explain the model, not the patient's biology; they are not causal."
        )
        lay.addWidget(self.legend)

        lay.addWidget(section("Treatment comparison — demonstration only"))
        lay.addWidget(
            notice(
                "Predicted chance of response (≥ 50 % PHQ-9 reduction at 8 weeks) per option, "
                f"from models {SYNTHETIC_LABEL}. Not a treatment recommendation.",
                "treatment comparison label",
            )
        )
        self.treatments = table(
            ("Option", "Predicted chance of response", "Interval", "Model", "Missing inputs"),
            "treatment comparison",
        )
        self.treatments.setMinimumHeight(230)
        self.treatments.cellDoubleClicked.connect(self._treatment_card)
        lay.addWidget(self.treatments)
        lay.addStretch(1)

    # -- data ------------------------------------------------------------------------------
    def clear(self) -> None:
        """Drop PHI from the widgets (lock, sign-out, patient switch)."""
        super().clear()
        self.views = []
        self.stale.hide()
        self._render()

    def load(self) -> None:
        self.status.setText("Loading…")
        self.fetch(_latest_and_staleness, "Loading predictions", self._loaded, on_error=self._error)

    def score_now(self) -> None:
        pid = self.patient_id
        if not pid:
            return
        self.score.setEnabled(False)
        self.status.setText("Scoring…")

        def done(_ids: list[str]) -> None:
            self.score.setEnabled(True)
            if pid == self.patient_id:
                self.load()

        def failed(exc: BaseException) -> None:
            self.score.setEnabled(True)
            self._error(exc)

        self.tasks.call(
            predictions.predict,
            self.ctx,
            self.principal,
            pid,
            label="Scoring predictions",
            on_done=done,
            on_error=failed,
        )

    def _loaded(self, page: tuple[list[PredictionView], bool]) -> None:
        views, stale = page
        self.views = views
        self.stale.setVisible(stale)
        when = max((v.generated_at for v in views), default=None)
        self.status.setText(f"Last scored {when:%Y-%m-%d %H:%M}" if when else "")
        self._render()
        self.loaded.emit()

    def _error(self, exc: BaseException) -> None:
        set_error(self.status, user_message(exc))

    # -- rendering ---------------------------------------------------------------------------
    def risk_views(self) -> list[PredictionView]:
        order = list(vocabulary.TARGET_LABELS)
        risks = [v for v in self.views if v.option is None]
        return sorted(risks, key=lambda v: order.index(v.target) if v.target in order else 99)

    def treatment_views(self) -> list[PredictionView]:
        order = list(vocabulary.OPTION_LABELS)
        opts = [v for v in self.views if v.option is not None]
        return sorted(
            opts, key=lambda v: (v.withheld is not None, -v.probability if v.option in order else 0)
        )

    def _render(self) -> None:
        while self.cards.count():
            w = self.cards.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        risks = self.risk_views()
        for i, v in enumerate(risks):
            c = RiskCard(v)
            c.explain.connect(self.explain)
            c.card_requested.connect(self.open_model_card)
            self.cards.addWidget(c, 0, i)
        self.empty.setVisible(not self.views)
        self.synthetic.setVisible(any(v.synthetic for v in self.views) or not self.views)
        self.explain_for.blockSignals(True)
        self.explain_for.clear()
        for v in (*risks, *self.treatment_views()):
            self.explain_for.addItem(title_of(v), model_cards.model_name_for(v.target, v.option))
        self.explain_for.blockSignals(False)
        self._show_explanation()
        opts = self.treatment_views()
        fill(
            self.treatments,
            [
                (
                    vocabulary.OPTION_LABELS.get(v.option or "", v.option or ""),
                    "Not shown (no better than the base rate)"
                    if v.withheld
                    else f"{v.probability:.0%}",
                    "—" if v.withheld else f"{v.interval_low:.0%}–{v.interval_high:.0%}",
                    f"{v.model_version} (demonstration only)" if v.synthetic else v.model_version,
                    ", ".join(v.missing_inputs) or "none",
                )
                for v in opts
            ],
            [model_cards.model_name_for(v.target, v.option) for v in opts],
        )
        levels = {v.interval_level for v in opts if not v.withheld} - {""}
        header = self.treatments.horizontalHeaderItem(2)
        if header is not None:
            header.setText(f"{levels.pop()} interval" if len(levels) == 1 else "Interval")
        for i, v in enumerate(opts):
            cell = self.treatments.item(i, 1)
            if v.withheld and cell is not None:
                cell.setToolTip(withheld_text(v))
            gaps = self.treatments.item(i, 4)
            if gaps is not None:
                gaps.setToolTip(missing_text(v))

    def view_for(self, key: str) -> PredictionView | None:
        for v in self.views:
            if model_cards.model_name_for(v.target, v.option) == key:
                return v
        return None

    def explain(self, key: str) -> None:
        """Show the explanation of one model's prediction."""
        i = self.explain_for.findData(key)
        if i >= 0:
            self.explain_for.setCurrentIndex(i)

    def _show_explanation(self) -> None:
        v = self.view_for(self.explain_for.currentData() or "")
        self.chart.set_contributions(v.contributions if v else [])

    # -- model card --------------------------------------------------------------------------
    def _treatment_card(self, row: int, _col: int) -> None:
        item = self.treatments.item(row, 0)
        if item is not None:
            self.open_model_card(str(item.data(Qt.ItemDataRole.UserRole)))

    def open_model_card(self, key: str) -> None:
        """Load the signed model card off the GUI thread and show it."""
        v = self.view_for(key)
        version = v.model_version.split("@", 1)[1] if v and "@" in v.model_version else None
        sha = v.provenance.get("model_sha256") if v else None
        self.tasks.call(
            model_cards.model_card,
            key,
            version,
            self.ctx.settings,  # the clinic's trained model when a prediction came from it
            sha,
            label="Loading model card",
            on_done=self._show_card,
            on_error=self._error,
        )

    def _show_card(self, card: dict[str, Any]) -> None:
        dlg = ModelCardDialog(card, self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        if self.principal is not None:  # signed out meanwhile: the card alone
            dlg.load_monitoring(self.tasks, self.ctx, self.principal)
        dlg.finished.connect(
            lambda _r, d=dlg: self._dialogs.remove(d) if d in self._dialogs else None
        )
        self._dialogs.append(dlg)
        dlg.open()
