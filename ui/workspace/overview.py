"""Overview tab: the latest scores, relapse risk, open alerts, treatment and record counts."""

from __future__ import annotations

from PySide6.QtWidgets import QGridLayout

from app.services import model_cards, overview, vocabulary
from app.services.predictions import PredictionView
from ui.widgets import Card
from ui.workspace.panel import ALL_RECORDS, PatientPanel

WITHHELD = "Not shown as a risk score"


class OverviewTab(PatientPanel):
    record_types = ALL_RECORDS

    def _build(self) -> None:
        grid = QGridLayout(self)
        grid.setContentsMargins(16, 16, 16, 16)
        grid.setSpacing(12)
        self.phq = Card("PHQ-9 (depression)")
        self.gad = Card("GAD-7 (anxiety)")
        self.risk = Card(vocabulary.prediction_title("relapse_6m"))
        self.alerts = Card("Open alerts")
        self.treatment = Card("Treatment")
        self.data = Card("Records")
        for i, card in enumerate(self._cards()):
            grid.addWidget(card, i // 3, i % 3)
        grid.setRowStretch(2, 1)

    def _cards(self) -> tuple[Card, ...]:
        return (self.phq, self.gad, self.risk, self.alerts, self.treatment, self.data)

    def load(self) -> None:
        self.fetch(overview.patient_overview, "Loading overview", self._show)

    def _show(self, o: overview.PatientOverview) -> None:
        for card, inst in ((self.phq, "phq9"), (self.gad, "gad7")):
            a = o.latest.get(inst)
            if a is None:
                card.set("—", "not administered yet")
            else:
                crit = "  ·  critical item answered" if a.critical else ""
                card.set(
                    f"{a.total:.0f}  {a.band.replace('_', ' ')}",
                    f"{a.administered_at:%Y-%m-%d}{crit}",
                )
        self._show_risk(o.latest_prediction)
        self.alerts.set(str(o.open_alerts), "see the Alerts tab" if o.open_alerts else "none open")
        meds = ", ".join(f"{m.name} {m.dose:g} {m.unit} {m.frequency}" for m in o.medications)
        self.treatment.set(o.treatment_option or "—", meds or "no active medication")
        self.data.set(
            f"{o.assessments_count}", f"assessments · {o.actigraphy_series} actigraphy series"
        )

    def _show_risk(self, p: PredictionView | None) -> None:
        """The latest relapse prediction with its interval; a model withheld as a risk score
        (no better than the base rate) shows that instead of a number, its reason on hover."""
        why = ""
        if p is None:
            self.risk.set("—", "no prediction stored")
        elif p.withheld:
            # no interval or band either: the provenance summary would quote the interval
            self.risk.set(
                WITHHELD,
                f"model {p.model_version} · hover for why, or see its model card in Predictions",
            )
            why = model_cards.not_shown_text(p.withheld)
        else:
            self.risk.set(
                f"{p.probability:.0%}  {p.band}",
                f"{vocabulary.interval_text(p.interval_low, p.interval_high, p.interval_level)}"
                f" · {p.provenance_summary}",
            )
        self.risk.setToolTip(why)
        self.risk.value.setToolTip(why)
        self.risk.value.setAccessibleDescription(why)

    def clear(self) -> None:
        super().clear()
        for card in self._cards():
            card.set("—", "")
        self.risk.setToolTip("")
        self.risk.value.setToolTip("")
