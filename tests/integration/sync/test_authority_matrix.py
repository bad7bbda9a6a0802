"""Every synced table x every certificate x every kind of author, through sync.authority.

Real records from the demo clinic in a real SQLCipher store play the incoming entries; the
store they are checked against is a second real store that already holds their parents.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.core.config import load_settings
from app.core.domain import note_content_hash
from app.core.store.models import SyncRecordState, User
from app.demo import create_demo_clinic
from app.services.context import AppContext
from sync import authority, capture, records
from sync.envelope import BundleError
from sync.hlc import HybridClock

ROLES = {
    "clinical": frozenset({"clinical"}),
    "admin-only": frozenset({"admin"}),
    "clinical+admin": frozenset({"clinical", "admin"}),
}
AUTHORS = ("admin-account", "it-console", "clinician-account", "unknown")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AppContext, dict[str, Any]]]:
    """A demo clinic store and one real sync entry per table (the first record of each)."""
    root = tmp_path_factory.mktemp("matrix")
    import keyring

    from tests.support.keyring_backends import MemoryKeyring

    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    ctx = AppContext.open(
        load_settings({"NOVAMIND_DATA_DIR": str(root), "NOVAMIND_POLICY": str(root / "p.toml")})
    )
    create_demo_clinic(ctx, patients=2, actigraphy_days=7)

    def read(uow: Any) -> dict[str, Any]:  # noqa: ANN401
        s = uow.session
        capture.capture(s, HybridClock("dev"))
        out: dict[str, Any] = {}
        for st in s.scalars(select(SyncRecordState).order_by(SyncRecordState.record_id)):
            out.setdefault(
                st.table_name,
                {"t": st.table_name, "id": st.record_id, "v": json.loads(st.values_json), "c": {}},
            )
        return out

    entries = ctx.store.write(read)
    admin_id = ctx.store.read(lambda s: s.scalar(select(User.id).where(User.role == "admin")))
    clinician_id = ctx.store.read(
        lambda s: s.scalar(select(User.id).where(User.role == "clinician"))
    )
    entries["_authors"] = {
        "admin-account": admin_id,
        "it-console": "os:it-desk",
        "clinician-account": clinician_id,
        "unknown": "5f0c4c1e-0000-4000-8000-000000000000",
    }
    yield ctx, entries
    ctx.close()
    keyring.set_keyring(previous)


def _expected(table: str, roles: frozenset[str], author: str) -> bool:
    if table in authority.ADMIN_TABLES:
        return "admin" in roles and author in {"admin-account", "it-console"}
    return "clinical" in roles


def test_every_synced_table_is_in_the_matrix(demo: tuple[AppContext, dict[str, Any]]) -> None:
    _, entries = demo
    missing = set(records.TABLES) - set(entries) - {"break_glass"}
    assert missing == set(), "the demo clinic should hold a record of every synced table"


@pytest.mark.parametrize("author", AUTHORS)
@pytest.mark.parametrize("cert", sorted(ROLES))
@pytest.mark.parametrize("table", sorted(records.TABLES))
def test_table_authority(
    demo: tuple[AppContext, dict[str, Any]], table: str, cert: str, author: str
) -> None:
    ctx, entries = demo
    if table not in entries:  # break_glass: made from a care-team row's patient and user
        base = entries["care_team"]
        entry = {
            "t": "break_glass",
            "id": "b0000000-0000-4000-8000-000000000001",
            "v": {
                **base["v"],
                "reason": "emergency",
                "granted_at": base["v"]["created_at"],
                "expires_at": base["v"]["created_at"],
            },
        }
        entry["v"] = {k: entry["v"].get(k) for k in records.columns("break_glass")}
    else:
        entry = json.loads(json.dumps(entries[table]))
        entry["id"] = str(uuid.uuid4())  # a new record: its author is the one under test
    entry["v"]["author_id"] = entries["_authors"][author]
    roles = ROLES[cert]
    check = lambda: ctx.store.read(lambda s: authority.check(s, [entry], roles))  # noqa: E731
    if _expected(table, roles, author):
        check()
    else:
        with pytest.raises(BundleError) as info:
            check()
        assert table in str(info.value)


def test_signed_note_must_match_its_hash(demo: tuple[AppContext, dict[str, Any]]) -> None:
    ctx, entries = demo
    note = json.loads(json.dumps(entries["clinical_notes"]))
    note["v"].update(
        status="signed", title="T", body="B", content_sha256=note_content_hash("T", "B")
    )
    ctx.store.read(lambda s: authority.check(s, [note], ROLES["clinical"]))
    note["v"]["body"] = "B, quietly rewritten"
    with pytest.raises(BundleError, match="content hash"):
        ctx.store.read(lambda s: authority.check(s, [note], ROLES["clinical"]))


def test_a_record_never_moves_to_another_patient(
    demo: tuple[AppContext, dict[str, Any]],
) -> None:
    ctx, entries = demo
    moved = json.loads(json.dumps(entries["assessment_responses"]))
    patients = ctx.store.read(lambda s: list(s.scalars(select(records.TABLES["patients"].c.id))))
    moved["v"]["patient_id"] = next(p for p in patients if p != moved["v"]["patient_id"])
    with pytest.raises(BundleError, match="another patient"):
        ctx.store.read(lambda s: authority.check(s, [moved], ROLES["clinical"]))


def test_a_dangling_reference_is_refused(demo: tuple[AppContext, dict[str, Any]]) -> None:
    ctx, entries = demo
    orphan = json.loads(json.dumps(entries["medications"]))
    orphan["id"] = "0e000000-0000-4000-8000-000000000001"
    orphan["v"]["patient_id"] = "0e000000-0000-4000-8000-00000000dead"
    with pytest.raises(BundleError, match="not held here"):
        ctx.store.read(lambda s: authority.check(s, [orphan], ROLES["clinical"]))


def test_demo_users_path_exists(tmp_path: Path) -> None:
    """The console authors the matrix accepts are the ones the CLI, first run and demo write."""
    from app.services.context import cli_actor

    assert cli_actor().id.startswith(authority.CONSOLE_PREFIX)
    assert {"first-run", "demo"} <= authority.CONSOLE_AUTHORS


def test_self_assignment_to_an_own_new_patient_only(
    demo: tuple[AppContext, dict[str, Any]],
) -> None:
    """The one care-team row a clinical device may send: its clinician on a patient that
    clinician registers (new, in the same bundle) — never on someone else's patient."""
    ctx, entries = demo
    clinician = entries["_authors"]["clinician-account"]
    patient = json.loads(json.dumps(entries["patients"]))
    patient.update(id="0f000000-0000-4000-8000-000000000001")
    patient["v"].update(author_id=clinician, mrn="NEW-MRN-1")
    row = json.loads(json.dumps(entries["care_team"]))
    row.update(id="0f000000-0000-4000-8000-000000000002")
    row["v"].update(patient_id=patient["id"], user_id=clinician, author_id=clinician)
    clinical = ROLES["clinical"]
    ctx.store.read(lambda s: authority.check(s, [patient, row], clinical))
    someone_elses = dict(row, v={**row["v"], "patient_id": entries["care_team"]["v"]["patient_id"]})
    with pytest.raises(BundleError, match="care_team"):
        ctx.store.read(lambda s: authority.check(s, [someone_elses], clinical))
    other_user = dict(row, v={**row["v"], "user_id": entries["_authors"]["admin-account"]})
    with pytest.raises(BundleError, match="care_team"):
        ctx.store.read(lambda s: authority.check(s, [patient, other_user], clinical))
    stolen = json.loads(json.dumps(entries["patients"]))
    stolen["v"]["author_id"] = clinician  # first make someone else's patient "mine"
    with pytest.raises(BundleError, match="change its author"):
        ctx.store.read(lambda s: authority.check(s, [stolen], clinical))
