"""Issue 17: a PNG screenshot or PDF report of a patient's twin is a disclosure, audited by
the service layer (phi_audit.record_disclosure) with the patient id and no file name; a user
the service refuses gets no file left behind."""

from __future__ import annotations

import dataclasses
import json

from sqlalchemy import select

from app.core.domain import Role
from app.core.store.models import AuditEvent
from app.services import phi_audit
from ui.twin.view import TwinView


def _disclosures(view: TwinView) -> list[AuditEvent]:
    return view.ctx.store.read(
        lambda s: list(
            s.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == phi_audit.DISCLOSURE)
                .order_by(AuditEvent.seq)
            )
        )
    )


def test_a_screenshot_is_audited_as_a_disclosure(view: TwinView, qtbot, tmp_path) -> None:
    before = len(_disclosures(view))
    out = tmp_path / "Patient Name twin.png"
    with qtbot.waitSignal(view.screenshotSaved, timeout=10000):
        assert view.save_screenshot(out) == out
    ev = _disclosures(view)[before]
    assert (ev.patient_id, ev.actor_id) == (view.timeline.patient_id, view.principal.user_id)
    detail = json.loads(ev.detail_json)
    assert detail["format"] == "png"
    assert detail["destination_sha256"] == phi_audit.destination_digest(out)
    assert "Patient Name" not in ev.detail_json


def test_a_pdf_report_is_audited_as_a_disclosure(view: TwinView, qtbot, tmp_path) -> None:
    before = len(_disclosures(view))
    out = tmp_path / "report.pdf"
    with qtbot.waitSignal(view.reportExported, timeout=60000):
        view.export_report(out)
    ev = _disclosures(view)[before]
    assert ev.patient_id == view.timeline.patient_id
    assert json.loads(ev.detail_json)["format"] == "pdf"


def test_a_refused_screenshot_leaves_no_file(view: TwinView, qtbot, tmp_path) -> None:
    """A principal the service refuses (here the same user id with the IT role): no audit,
    no file, an error shown."""
    real = view.principal
    view.principal = dataclasses.replace(real, role=Role.IT)
    try:
        before = len(_disclosures(view))
        out = tmp_path / "twin.png"
        with qtbot.waitSignal(view.errorOccurred, timeout=10000):
            assert view.save_screenshot(out) is None
        assert not out.exists()
        assert len(_disclosures(view)) == before
    finally:
        view.principal = real
