"""Two and three workstations edit offline, sync through moto's S3 server, and converge."""

from __future__ import annotations

from app.services import sync_service
from tests.integration.sync.helpers import Workstation, add_patients, dump, edit_patient


def _round(stations: list[Workstation], rounds: int = 2) -> None:
    for _ in range(rounds):
        for w in stations:
            w.sync()


def test_two_workstations_converge(stations: list[Workstation]) -> None:
    a, b, _ = stations
    pa = add_patients(a, 5, "A")
    pb = add_patients(b, 4, "B")
    _round([a, b])
    da, db = dump(a), dump(b)
    assert da == db
    assert set(pa) | set(pb) == set(da["patients"])
    # disjoint offline edits of different fields merge without conflict
    edit_patient(a, pa[0], status="inactive")
    edit_patient(b, pa[0], sex="other")
    _round([a, b])
    da, db = dump(a), dump(b)
    assert da == db
    assert da["patients"][pa[0]]["status"] == "inactive"
    assert da["patients"][pa[0]]["sex"] == "other"
    assert sync_service.sync_status(a.ctx).open_conflicts == 0


def test_three_workstations_converge(stations: list[Workstation]) -> None:
    a, b, c = stations
    ids = add_patients(a, 3, "A") + add_patients(b, 3, "B") + add_patients(c, 3, "C")
    _round(stations)
    edit_patient(c, ids[0], family_name="Edited-by-C")
    edit_patient(a, ids[4], status="discharged")
    _round(stations)
    dumps = [dump(w) for w in stations]
    assert dumps[0] == dumps[1] == dumps[2]
    assert len(dumps[0]["patients"]) == 9
    assert dumps[0]["patients"][ids[0]]["family_name"] == "Edited-by-C"
    for w in stations:
        st = sync_service.sync_status(w.ctx)
        assert st.pending_records == 0 and st.unsent_bundles == 0 and st.quarantined == 0


def test_concurrent_same_field_edit_is_a_conflict_not_an_overwrite(
    stations: list[Workstation],
) -> None:
    a, b, _ = stations
    (pid,) = add_patients(a, 1, "A")
    _round([a, b])
    edit_patient(a, pid, family_name="Value-from-A")
    edit_patient(b, pid, family_name="Value-from-B")
    _round([a, b])
    da, db = dump(a), dump(b)
    assert da == db  # same winner everywhere
    for w in (a, b):
        assert sync_service.sync_status(w.ctx).open_conflicts == 1
    from sqlalchemy import select

    from app.core.store.models import SyncConflict

    rows = a.ctx.store.read(lambda s: list(s.scalars(select(SyncConflict))))
    kept = {rows[0].local_json, rows[0].remote_json}
    assert kept == {'"Value-from-A"', '"Value-from-B"'}
