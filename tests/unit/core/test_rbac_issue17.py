"""Issue 17 (items 2 and 3): each test performs the attack and shows it refused or recorded.

Ended care-team assignments in list queries, revoked break-glass grants, an analysis filed under
another patient, a sync conflict rewriting a signed note, secrets in the conflict list, list
audits that name no patients, and exports not audited as disclosures.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from app.core.domain import Role
from app.core.errors import (
    ImmutableRecordError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from app.core.store.models import (
    Alert,
    AuditEvent,
    CareTeamAssignment,
    ClinicalNote,
    NlpAnalysis,
    SyncConflict,
    User,
)
from app.services import admin, alerts, fhir_exchange, nlp, notes, patients, phi_audit
from app.services import sync_service as sync
from app.services.context import AppContext
from engines.llm.notes import parse_note_analysis
from engines.llm.results import GenerationResult, GenParams, LoadParams, ModelProvenance
from sync.collisions import add_conflict

REASON = "Patient arrived in crisis, on-call cover"


def _events(ctx: AppContext, action: str) -> list[AuditEvent]:
    return ctx.store.read(
        lambda s: list(
            s.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
            )
        )
    )


def _add(ctx: AppContext, row: Any) -> str:  # noqa: ANN401 — any ORM row
    def do(uow: Any) -> str:  # noqa: ANN401
        uow.session.add(row)
        uow.session.flush()
        return row.id

    return ctx.store.write(do)


def _alert(ctx: AppContext, patient_id: str) -> str:
    now = datetime.now(UTC)
    return _add(
        ctx,
        Alert(patient_id=patient_id, rule="t", severity="info", triggered_at=now, author_id="t"),
    )


# ---- ended care-team assignments ----------------------------------------------------------


def test_a_deleted_assignment_no_longer_lists_the_patient_or_its_alerts(
    ctx: AppContext, clinic: dict
) -> None:
    me = clinic["users"][Role.CLINICIAN]
    _alert(ctx, clinic["mine"])
    assert [p.id for p in patients.list_patients(ctx, me)] == [clinic["mine"]]
    assert {a.patient_id for a in alerts.list_open_alerts(ctx, me)} == {clinic["mine"]}
    ctx.store.write(
        lambda uow: uow.session.execute(
            update(CareTeamAssignment)
            .where(CareTeamAssignment.patient_id == clinic["mine"])
            .values(deleted_at=datetime.now(UTC))
        )
    )
    assert patients.list_patients(ctx, me) == []
    assert alerts.list_open_alerts(ctx, me) == []
    assert patients.get_patient(ctx, clinic["users"][Role.SUPERVISOR], clinic["mine"])
    assert not patients.list_patients(ctx, me, search="Assigned")


def test_an_ended_assignment_no_longer_lists_the_patient(ctx: AppContext, clinic: dict) -> None:
    me = clinic["users"][Role.CLINICIAN]
    admin.assign_care_team(
        ctx,
        clinic["users"][Role.ADMIN],
        username=me.username,
        patient_id=clinic["mine"],
        active=False,
    )
    assert patients.list_patients(ctx, me) == []
    with pytest.raises(PermissionDeniedError):
        patients.get_patient(ctx, me, clinic["mine"])


# ---- break-glass revocation ---------------------------------------------------------------


def test_a_supervisor_revokes_break_glass_and_access_stops(ctx: AppContext, clinic: dict) -> None:
    me, sup = clinic["users"][Role.CLINICIAN], clinic["users"][Role.SUPERVISOR]
    patients.break_glass(ctx, me, clinic["theirs"], REASON)
    assert patients.get_patient(ctx, me, clinic["theirs"]).id == clinic["theirs"]
    (grant,) = patients.active_break_glass(ctx, sup, clinic["theirs"])
    with pytest.raises(PermissionDeniedError):  # the grantee cannot revoke (or list) grants
        patients.revoke_break_glass(ctx, me, grant)
    with pytest.raises(PermissionDeniedError):
        patients.revoke_break_glass(ctx, clinic["users"][Role.ADMIN], grant)
    patients.revoke_break_glass(ctx, sup, grant)
    with pytest.raises(PermissionDeniedError):
        patients.get_patient(ctx, me, clinic["theirs"])
    with pytest.raises(PermissionDeniedError):
        notes.list_notes(ctx, me, clinic["theirs"])
    assert patients.active_break_glass(ctx, sup, clinic["theirs"]) == []
    (ev,) = _events(ctx, "patient.break_glass_revoke")
    assert (ev.actor_id, ev.patient_id, ev.record_id) == (sup.user_id, clinic["theirs"], grant)
    assert json.loads(ev.detail_json) == {"grantee": me.user_id}
    with pytest.raises(ValidationError, match="already revoked"):
        patients.revoke_break_glass(ctx, sup, grant)
    with pytest.raises(NotFoundError):
        patients.revoke_break_glass(ctx, sup, "no-such-grant")


# ---- note analyses ------------------------------------------------------------------------

PROV = ModelProvenance("test", "t.gguf", "ab" * 32, "llama", "Q4_1", 1, 1, "demo", False)


def _analysis_of(note_id: str, text: str) -> Any:  # noqa: ANN401 — engines NoteAnalysis
    payload = {
        "summary": "s",
        "risk_level": "low",
        "conditions": [],
        "risk_factors": [],
        "protective_factors": [],
    }
    result = GenerationResult(
        "t", json.dumps(payload), 1, 5, 0.1, 1.0, "stop", LoadParams(), GenParams()
    )
    return parse_note_analysis(note_id, text, result, PROV)


def test_store_analysis_refuses_a_note_of_another_patient(ctx: AppContext, clinic: dict) -> None:
    me = clinic["users"][Role.CLINICIAN]
    admin.assign_care_team(
        ctx, clinic["users"][Role.ADMIN], username=me.username, patient_id=clinic["theirs"]
    )
    other_note = notes.create_draft(ctx, me, clinic["theirs"], "T", "other patient's note")
    with pytest.raises(ValidationError, match="another patient"):
        nlp.store_analysis(ctx, me, clinic["mine"], _analysis_of(other_note.id, "x"))
    with pytest.raises(NotFoundError):
        nlp.store_analysis(ctx, me, clinic["mine"], _analysis_of("no-such-note", "x"))
    assert ctx.store.read(lambda s: s.scalars(select(NlpAnalysis.id)).all()) == []
    own = notes.create_draft(ctx, me, clinic["mine"], "T", "own note")
    assert nlp.store_analysis(ctx, me, clinic["mine"], _analysis_of(own.id, "own note"))


def test_reading_a_notes_analyses_is_audited_with_the_patient(
    ctx: AppContext, clinic: dict
) -> None:
    me = clinic["users"][Role.CLINICIAN]
    own = notes.create_draft(ctx, me, clinic["mine"], "T", "own note")
    nlp.store_analysis(ctx, me, clinic["mine"], _analysis_of(own.id, "own note"))
    assert len(nlp.analyses_for_note(ctx, me, own.id)) == 1
    (ev,) = _events(ctx, "nlp.list")
    assert (ev.patient_id, ev.record_id, ev.actor_id) == (clinic["mine"], own.id, me.user_id)


# ---- sync conflicts -----------------------------------------------------------------------


def _conflict(ctx: AppContext, table: str, rid: str, field: str, local: Any, remote: Any) -> str:  # noqa: ANN401
    """Queue a conflict the way a sync run does; returns its id."""

    def do(uow: Any) -> str:  # noqa: ANN401
        add_conflict(uow.session, table, rid, field, local, remote, "1", "2")
        (row,) = [o for o in uow.session.new if isinstance(o, SyncConflict)]
        uow.session.flush()
        return row.id

    return ctx.store.write(do)


def test_a_conflict_cannot_rewrite_a_signed_note(ctx: AppContext, clinic: dict) -> None:
    me = clinic["users"][Role.CLINICIAN]
    note = notes.create_draft(ctx, me, clinic["mine"], "Visit", "what was signed")
    notes.sign(ctx, me, note.id)
    cid = _conflict(ctx, "clinical_notes", note.id, "body", "what was signed", "rewritten")
    with pytest.raises(ImmutableRecordError, match="signed"):
        sync.resolve_conflict(ctx, me, cid, "remote")
    with pytest.raises(ImmutableRecordError):
        sync.resolve_conflict(ctx, me, cid, "local")
    body = ctx.store.read(lambda s: s.get(ClinicalNote, note.id).body)
    assert body == "what was signed"
    assert ctx.store.read(lambda s: s.get(SyncConflict, cid).resolved_at) is None
    # a draft's conflict still resolves
    draft = notes.create_draft(ctx, me, clinic["mine"], "Draft", "a")
    did = _conflict(ctx, "clinical_notes", draft.id, "body", "a", "b")
    sync.resolve_conflict(ctx, me, did, "remote")
    assert ctx.store.read(lambda s: s.get(ClinicalNote, draft.id).body) == "b"


SECRET_VALUES = {
    "password_hash": ("$argon2id$v=19$m=65536$localhash", "$argon2id$v=19$m=65536$remotehash"),
    "totp_secret": ("JBSWY3DPEHPK3PXP", "KRSXG5CTMVRXEZLU"),
    "totp_last_step": (123456, 123457),
}


@pytest.mark.parametrize("role", [Role.ADMIN, Role.IT], ids=["admin", "it"])
def test_the_conflict_list_never_shows_secrets(ctx: AppContext, clinic: dict, role: Role) -> None:
    who = clinic["users"][role]
    uid = clinic["users"][Role.CLINICIAN].user_id
    for field, (local, remote) in SECRET_VALUES.items():
        _conflict(ctx, "users", uid, field, local, remote)
    _conflict(ctx, "users", uid, "display_name", "Old Name", "New Name")
    views = sync.list_conflicts(ctx, who)
    assert {v.field for v in views} == {*SECRET_VALUES, "display_name"}
    text = repr(views)
    for local, remote in SECRET_VALUES.values():
        assert str(local) not in text and str(remote) not in text
    shown = {v.field: (v.local_value, v.remote_value) for v in views}
    assert shown["password_hash"] == (sync.HIDDEN, sync.HIDDEN)
    assert shown["display_name"] == ("Old Name", "New Name")  # ordinary fields still shown
    (ev,) = _events(ctx, "sync.conflict_list")
    detail = json.loads(ev.detail_json)
    assert phi_audit.decode_ids(detail["records"]) == [uid]
    assert "argon2" not in ev.detail_json


def test_the_conflict_list_is_audited_with_the_patients(ctx: AppContext, clinic: dict) -> None:
    me = clinic["users"][Role.CLINICIAN]
    draft = notes.create_draft(ctx, me, clinic["mine"], "Draft", "a")
    _conflict(ctx, "clinical_notes", draft.id, "body", "a", "b")
    theirs_note = notes.create_draft(ctx, clinic["other"], clinic["theirs"], "D", "x")
    _conflict(ctx, "clinical_notes", theirs_note.id, "body", "x", "y")
    views = sync.list_conflicts(ctx, me)
    assert [v.record_id for v in views] == [draft.id]  # not the other clinician's patient
    (ev,) = _events(ctx, "sync.conflict_list")
    detail = json.loads(ev.detail_json)
    assert phi_audit.decode_ids(detail) == [clinic["mine"]]
    assert phi_audit.decode_ids(detail["records"]) == [draft.id]


def test_users_conflict_values_stay_out_of_reach_of_clinicians(
    ctx: AppContext, clinic: dict
) -> None:
    me = clinic["users"][Role.CLINICIAN]
    _conflict(ctx, "users", me.user_id, "password_hash", "$argon2id$a", "$argon2id$b")
    assert sync.list_conflicts(ctx, me) == []
    stored = ctx.store.read(lambda s: s.get(User, me.user_id).password_hash)
    assert stored.startswith("$argon2")


# ---- list audits name the patients ---------------------------------------------------------


def test_list_audits_name_every_patient_shown(ctx: AppContext, clinic: dict) -> None:
    sup = clinic["users"][Role.SUPERVISOR]
    shown = sorted(p.id for p in patients.list_patients(ctx, sup))
    ev = _events(ctx, "patient.list")[-1]
    detail = json.loads(ev.detail_json)
    assert phi_audit.decode_ids(detail) == shown
    assert detail["count"] == 2
    patients.list_deidentified(ctx, clinic["users"][Role.RESEARCHER])
    ev = _events(ctx, "research.list")[-1]
    assert phi_audit.decode_ids(json.loads(ev.detail_json)) == shown
    _alert(ctx, clinic["theirs"])
    alerts.list_open_alerts(ctx, sup)
    ev = _events(ctx, "alert.list")[-1]
    assert phi_audit.decode_ids(json.loads(ev.detail_json)) == [clinic["theirs"]]


def test_a_huge_list_audit_stays_bounded_and_says_so() -> None:
    ids = [f"{i:08d}-0000-4000-8000-{i:012d}" for i in range(10_000)]
    detail = phi_audit.encode_ids(ids)
    assert detail["count"] == 10_000 and detail["truncated"] is True
    assert len(json.dumps(detail)) < 80_000
    assert phi_audit.decode_ids(detail) == sorted(ids)[: phi_audit.MAX_LISTED_IDS]
    small = phi_audit.encode_ids(["b", "a", "a"])
    assert phi_audit.decode_ids(small) == ["a", "b"] and "truncated" not in small


# ---- exports are disclosures ---------------------------------------------------------------


def test_a_fhir_export_is_audited_as_a_disclosure(
    ctx: AppContext, clinic: dict, tmp_path: Path
) -> None:
    me = clinic["users"][Role.CLINICIAN]
    out = tmp_path / "Assigned_Test_T-1.json"  # people name files after the patient
    fhir_exchange.export_assessments(ctx, me, clinic["mine"], out)
    (ev,) = _events(ctx, phi_audit.DISCLOSURE)
    assert (ev.patient_id, ev.actor_id) == (clinic["mine"], me.user_id)
    detail = json.loads(ev.detail_json)
    assert detail["format"] == "fhir" and detail["destination_suffix"] == ".json"
    assert detail["destination_sha256"] == phi_audit.destination_digest(out)
    assert "Assigned" not in ev.detail_json and "T-1" not in ev.detail_json


def test_a_pdf_or_png_disclosure_needs_the_right_to_read(
    ctx: AppContext, clinic: dict, tmp_path: Path
) -> None:
    me = clinic["users"][Role.CLINICIAN]
    phi_audit.record_disclosure(ctx, me, clinic["mine"], kind="pdf", destination=tmp_path / "r.pdf")
    (ev,) = _events(ctx, phi_audit.DISCLOSURE)
    assert json.loads(ev.detail_json)["format"] == "pdf"
    for who, pid in ((me, clinic["theirs"]), (clinic["users"][Role.IT], clinic["mine"])):
        with pytest.raises(PermissionDeniedError):
            phi_audit.record_disclosure(ctx, who, pid, kind="png", destination=tmp_path / "x.png")
    with pytest.raises(ValidationError, match="unknown export kind"):
        phi_audit.record_disclosure(ctx, me, clinic["mine"], kind="zip", destination="a.zip")
    assert len(_events(ctx, phi_audit.DISCLOSURE)) == 1
