"""A small fixed clinic history for the dashboard's tests (figures computed by hand in
tests/integration/ops/test_clinic_dashboard.py): three patients on two care teams, their
PHQ-9 / GAD-7, clinical alerts acted on through the real alert service on a set clock,
predictions, a reviewed note analysis and an actigraphy recording's daily wear."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from app.core.domain import Role
from app.core.security import audit as audit_chain
from app.core.store.models import (
    ActigraphyResult,
    ActigraphySeries,
    Alert,
    AssessmentResponse,
    ClinicalNote,
    NlpAnalysis,
    Prediction,
)
from app.services import alerts
from app.services.clinic_dashboard import DashboardFilter
from app.services.context import AppContext
from tests.support.records import add_patient

NOW = datetime(2026, 6, 30, 12, tzinfo=UTC)
PERIOD = DashboardFilter(date(2026, 4, 8), date(2026, 6, 30))


def at(month: int, day: int, hour: int = 0) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def assess(ctx: AppContext, pid: str, instrument: str, when: datetime) -> None:
    ctx.store.write(
        lambda uow: uow.session.add(
            AssessmentResponse(
                patient_id=pid, instrument=instrument, administered_at=when,
                answers_json="{}", total=5.0, band="mild",
            )
        )
    )  # fmt: skip


def add_alert(ctx: AppContext, pid: str, severity: str, when: datetime) -> str:
    def do(uow) -> str:
        a = Alert(patient_id=pid, rule="phq9_item9", severity=severity, triggered_at=when)
        uow.session.add(a)
        uow.session.flush()
        return a.id

    return ctx.store.write(do)


def act(ctx, monkeypatch, principal, alert_id: str, status: str, when: datetime) -> None:
    """A real transition through the alert service, on a clock set to ``when``."""
    monkeypatch.setattr(alerts, "utcnow", lambda: when)
    monkeypatch.setattr(audit_chain, "utcnow", lambda: when)
    alerts.transition(ctx, principal, alert_id, status, "handled in clinic")
    monkeypatch.undo()


def build_history(
    ctx: AppContext, clinic: dict, monkeypatch: pytest.MonkeyPatch
) -> dict[str, object]:
    """The fixed history on top of the ``clinic`` fixture's users and patients."""
    me, other = clinic["users"][Role.CLINICIAN], clinic["other"]
    t1, t2 = clinic["mine"], clinic["theirs"]
    t3 = add_patient(ctx, me, "T-3", family_name="Third")
    for pid, inst, when in (
        (t1, "phq9", at(4, 10)), (t1, "phq9", at(5, 10)), (t1, "phq9", at(6, 10)),
        (t1, "gad7", at(4, 10)),
        (t2, "phq9", at(4, 9)), (t2, "phq9", at(4, 20)), (t2, "gad7", at(6, 20)),
        (t3, "phq9", at(3, 1)),
    ):  # fmt: skip
        assess(ctx, pid, inst, when)
    a1 = add_alert(ctx, t1, "critical", at(6, 1, 8))
    a2 = add_alert(ctx, t2, "critical", at(6, 5))
    add_alert(ctx, t3, "critical", at(6, 10))
    a4 = add_alert(ctx, t1, "warning", at(6, 20))
    add_alert(ctx, t2, "warning", at(3, 1))
    act(ctx, monkeypatch, me, a1, "acknowledged", at(6, 1, 10))
    act(ctx, monkeypatch, me, a1, "resolved", at(6, 2, 8))
    act(ctx, monkeypatch, other, a2, "acknowledged", at(6, 5, 6))
    act(ctx, monkeypatch, other, a2, "resolved", at(6, 5, 12))
    act(ctx, monkeypatch, me, a4, "resolved", at(6, 21))

    def records(uow) -> None:
        for pid, band, when in ((t1, "high", at(4, 15)), (t1, "low", at(6, 15)),
                                (t2, "moderate", at(5, 1))):  # fmt: skip
            uow.session.add(
                Prediction(
                    patient_id=pid, target="relapse_6m", probability=0.5, interval_low=0.3,
                    interval_high=0.7, band=band, model_name="m", model_version="1",
                    provenance="test", generated_at=when,
                )
            )  # fmt: skip
        note = ClinicalNote(patient_id=t1, title="Visit", body="Low mood.", status="signed")
        uow.session.add(note)
        uow.session.flush()
        result = {
            "findings": [{"kind": "risk_factor", "label": x} for x in ("a", "b", "c")],
            "decisions": {"0": {"accepted": True}, "1": {"accepted": False}},
        }
        uow.session.add(
            NlpAnalysis(
                patient_id=t1, note_id=note.id, model_name="mentallama-7b", model_sha256="00",
                result_json=json.dumps(result), created_at=at(6, 11),
            )
        )  # fmt: skip
        series = ActigraphySeries(
            patient_id=t2, start=at(6, 1), n_epochs=5 * 1440, chunk_epochs=1440,
            content_sha256="00",
        )  # fmt: skip
        uow.session.add(series)
        uow.session.flush()
        days = [
            {"day": f"2026-06-0{d}", "valid_minutes": 1440, "nonwear_minutes": 0}
            for d in range(1, 5)
        ] + [{"day": "2026-06-05", "valid_minutes": 1440, "nonwear_minutes": 1000}]
        uow.session.add(
            ActigraphyResult(
                series_id=series.id, patient_id=t2, kind="daily", engine_version="t",
                data_json=json.dumps(days),
            )
        )  # fmt: skip

    ctx.store.write(records)
    return {"me": me, "other": other, "t1": t1, "t2": t2, "t3": t3}
