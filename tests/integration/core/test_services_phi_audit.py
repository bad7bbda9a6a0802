"""Every service function that takes a principal is run, for every role, against a real demo
clinic with the real `rbac.can` and `audit.append` spied on (wrapped, not replaced): one that
hands back patient data without a permission check and an audit event naming those patients
fails the walk. Functions are found by introspection (pkgutil + inspect), so a new service
function is walked the day it is added; a deliberately leaky function shows the walk bites.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import pkgutil
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import keyring
import numpy as np
import pytest
from sqlalchemy import select

import app.services
from app.core.config import load_settings
from app.core.domain import Action, Principal, Role
from app.core.errors import NovamindError
from app.core.security import audit, rbac
from app.core.store.models import (
    ActigraphySeries,
    Alert,
    BreakGlassGrant,
    ClinicalNote,
    Encounter,
    Medication,
    NlpAnalysis,
    Patient,
    Prediction,
    SyncConflict,
)
from app.demo import DEMO_PASSWORD, create_demo_clinic
from app.services import auth, clinic_dashboard, history, notes, patients, phi_audit, twin_view
from app.services.context import AppContext, actor_of
from tests.support.keyring_backends import MemoryKeyring

ROLES = [Role.CLINICIAN, Role.SUPERVISOR, Role.RESEARCHER, Role.ADMIN, Role.IT]
STAFF = {
    Role.CLINICIAN: "dr.adams",
    Role.SUPERVISOR: "sup.davis",
    Role.RESEARCHER: "res.evans",
    Role.ADMIN: "admin",
    Role.IT: "it.ops",
}

# Functions the walk cannot drive with generic arguments, each with where it is covered.
SKIP = {
    "app.services.nlp.analyse_note": "needs the LLM child process; its read is nlp.read_note "
    "and its write nlp.store_analysis, both walked / tested below",
    "app.services.nlp.store_analysis": "needs a model output; the note/patient check is "
    "test_rbac_issue17::test_store_analysis_refuses_a_note_of_another_patient",
    "app.services.assessments.submit": "needs instrument answers; a write audited with the "
    "patient (tests/unit/scoring)",
    "app.services.pat.import_file": "needs an activity file (test_pat_service)",
    "app.services.pat.store_analysed": "needs an analysed recording (test_pat_service)",
    "app.services.actigraphy_view.store_prepared": "needs a prepared import (test_pat_service)",
    "app.services.fhir_exchange.import_assessments": "needs a FHIR file (test_fhir_exchange)",
}


@dataclasses.dataclass
class World:
    ctx: AppContext
    users: dict[Role, Principal]
    pid: str  # a patient on dr.adams's care team
    other: str  # a patient not on it
    tmp: Path
    n: int = 0

    def fresh(self) -> int:
        self.n += 1
        return self.n


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    root = tmp_path_factory.mktemp("walk")
    env = {"NOVAMIND_DATA_DIR": str(root), "NOVAMIND_POLICY": str(root / "p.toml")}
    ctx = AppContext.open(load_settings(env))
    create_demo_clinic(ctx, patients=3, days=60, actigraphy_days=2)
    users = {r: auth.login(ctx, u, DEMO_PASSWORD) for r, u in STAFF.items()}
    mine = {p.id for p in patients.list_patients(ctx, users[Role.CLINICIAN])}
    every = [p.id for p in patients.list_patients(ctx, users[Role.SUPERVISOR])]
    pid = sorted(mine)[0]
    other = next(p for p in every if p not in mine)
    w = World(ctx, users, pid, other, root)
    _conflict(w)  # so the conflict list has a row to show
    _alert(w)
    yield w
    ctx.close()
    keyring.set_keyring(previous)


def _plain_note(w: World) -> str:
    return notes.create_draft(w.ctx, w.users[Role.CLINICIAN], w.pid, "Walk", "walk body").id


def _note(w: World) -> str:
    """A draft note of the patient with one stored analysis (so analysis reads return rows)."""
    analysis_id = _analysis(w)
    return w.ctx.store.read(lambda s: s.get(NlpAnalysis, analysis_id).note_id)


def _add(w: World, row: Any) -> str:  # noqa: ANN401 — any ORM row
    def do(uow: Any) -> str:  # noqa: ANN401
        uow.session.add(row)
        uow.session.flush()
        return row.id

    return w.ctx.store.write(do)


def _alert(w: World) -> str:
    now = datetime.now(UTC)
    return _add(
        w,
        Alert(patient_id=w.pid, rule="walk", severity="info", triggered_at=now, author_id="t"),
    )


def _conflict(w: World) -> str:
    nid = _plain_note(w)
    return _add(
        w,
        SyncConflict(
            table_name="clinical_notes",
            record_id=nid,
            field="title",
            local_json='"A"',
            remote_json='"B"',
            local_clock="1",
            remote_clock="2",
        ),
    )


def _analysis(w: World) -> str:
    nid = _plain_note(w)
    return _add(
        w,
        NlpAnalysis(
            patient_id=w.pid,
            note_id=nid,
            model_name="m",
            model_sha256="0" * 64,
            result_json=json.dumps({"findings": [{}], "decisions": {}}),
            author_id="t",
        ),
    )


def _grant(w: World) -> str:
    now = datetime.now(UTC)
    return _add(
        w,
        BreakGlassGrant(
            patient_id=w.pid,
            user_id=w.users[Role.CLINICIAN].user_id,
            reason="walk grant reason",
            granted_at=now,
            expires_at=now + timedelta(hours=1),
            author_id="t",
        ),
    )


def _series(w: World) -> str:
    return w.ctx.store.read(
        lambda s: s.scalar(select(ActigraphySeries.id).where(ActigraphySeries.patient_id == w.pid))
    )


def _medication(w: World) -> str:
    """A current medication of the patient (stop_medication needs one not yet stopped)."""
    row = Medication(
        patient_id=w.pid, name="walk", drug_class="SSRI", dose=10.0, unit="mg",
        frequency="daily", start=date(2024, 1, 1), author_id="t",
    )  # fmt: skip
    return _add(w, row)


def _admission(w: World) -> str:
    """An open admission of the patient (record_discharge needs one)."""
    start = datetime(2024, 2, 1, tzinfo=UTC)
    return _add(w, Encounter(patient_id=w.pid, kind="admission", start=start, author_id="t"))


def _prediction(w: World) -> str:
    """A stored prediction of the patient (the demo clinic scored its patients)."""
    return w.ctx.store.read(
        lambda s: s.scalar(select(Prediction.id).where(Prediction.patient_id == w.pid))
    )


def _mrn(w: World) -> str:
    return w.ctx.store.read(lambda s: s.get(Patient, w.pid).mrn)


def _period() -> clinic_dashboard.DashboardFilter:
    today = datetime.now(UTC).date()
    return clinic_dashboard.DashboardFilter(today - timedelta(days=90), today)


def _timeline(w: World) -> Any:  # noqa: ANN401
    return twin_view.load_timeline(w.ctx, w.users[Role.SUPERVISOR], w.pid)


# Argument builders by parameter name; a new parameter name without one fails the walk.
BUILD: dict[str, Callable[[World], Any]] = {
    "patient_id": lambda w: w.pid,
    "note_id": _note,
    "alert_id": _alert,
    "conflict_id": _conflict,
    "analysis_id": _analysis,
    "grant_id": _grant,
    "series_id": _series,
    "prediction_id": _prediction,
    "mrn": _mrn,
    "timeline": _timeline,
    "title": lambda w: "Walk title",
    "body": lambda w: "Walk body",
    "status": lambda w: "acknowledged",
    "reason": lambda w: "checked during the walk",
    "keep": lambda w: "local",
    "finding": lambda w: 0,
    "accept": lambda w: True,
    "kind": lambda w: "walk",
    "ref": lambda w: f"ref-{w.fresh()}",
    "content": lambda w: {"text": "draft"},
    "path": lambda w: w.tmp / f"export-{w.fresh()}.json",
    "option": lambda w: next(iter(twin_view.OPTION_CLASS)),
    "password": lambda w: DEMO_PASSWORD,
    "start": lambda w: datetime(2024, 1, 1, tzinfo=UTC),
    "counts": lambda w: np.ones(1440, dtype=np.int32),
    "given_name": lambda w: "Walk",
    "family_name": lambda w: "Canary",
    "birth_date": lambda w: date(1970, 1, 1),
    "sex": lambda w: "other",
    "action": lambda w: "walk.read",
    "destination": lambda w: w.tmp / "walk-report.pdf",
    "old_password": lambda w: "not the old password",
    "new_password": lambda w: "a new long passphrase 1234",
    "intake": lambda w: history.IntakeHistory(prior_episodes=1, flags={"hopelessness": True}),
    "name": lambda w: "walk medication",
    "drug_class": lambda w: "SSRI",
    "dose": lambda w: 20.0,
    "unit": lambda w: "mg",
    "frequency": lambda w: "once daily",
    "medication_id": _medication,
    "encounter_id": _admission,
    "end": lambda w: date(2024, 6, 1),
    "admitted": lambda w: date(2023, 1, 1),
    "discharged": lambda w: date(2023, 1, 20),
    "flt": lambda w: _period(),
    "dash": lambda w: clinic_dashboard.load(w.ctx, w.users[Role.SUPERVISOR], _period()),
    "key": lambda w: "completion:phq9",
    "since": lambda w: date(2024, 1, 1),
}
BUILD_MRN_NEW = "W-"  # create_patient's mrn must be new: see _args


def service_functions() -> list[tuple[str, Callable[..., Any]]]:
    """Every public function defined in app/services that takes (ctx, principal, ...)."""
    found = []
    for info in pkgutil.iter_modules(app.services.__path__):
        mod = importlib.import_module(f"app.services.{info.name}")
        for name, fn in inspect.getmembers(mod, inspect.isfunction):
            if name.startswith("_") or fn.__module__ != mod.__name__:
                continue
            if list(inspect.signature(fn).parameters)[:2] == ["ctx", "principal"]:
                found.append((f"{mod.__name__}.{name}", fn))
    return sorted(found, key=lambda x: x[0])


def _args(w: World, fn: Callable[..., Any]) -> tuple[list[Any], dict[str, Any], bool]:
    """(positional after ctx and principal, keywords, whether it names one patient's record)."""
    pos: list[Any] = []
    kw: dict[str, Any] = {}
    scoped = False
    params = list(inspect.signature(fn).parameters.values())[2:]
    for p in params:
        if p.name == "mrn" and fn.__name__ == "create_patient":
            value: Any = f"{BUILD_MRN_NEW}{w.fresh()}"
        elif p.default is not inspect.Parameter.empty and p.name not in BUILD:
            continue
        elif p.name in BUILD:
            value = BUILD[p.name](w)
        else:
            raise AssertionError(
                f"{fn.__module__}.{fn.__name__}: no argument builder for '{p.name}' — add one "
                "to BUILD so the PHI walk covers it"
            )
        scoped |= p.name in {"patient_id", "note_id", "alert_id", "analysis_id", "series_id"}
        scoped |= p.name in {"conflict_id", "grant_id", "timeline"}
        scoped |= p.name in {"medication_id", "encounter_id"}
        scoped |= p.name == "mrn" and fn.__name__ != "create_patient"
        if p.kind is inspect.Parameter.KEYWORD_ONLY:
            kw[p.name] = value
        else:
            pos.append(value)
    return pos, kw, scoped


def _strings(value: Any, seen: set[int] | None = None) -> Iterator[str]:  # noqa: ANN401
    seen = seen if seen is not None else set()
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k, seen)
            yield from _strings(v, seen)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for v in value:
            yield from _strings(v, seen)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _strings(getattr(value, f.name), seen)


def _has_data(result: Any) -> bool:  # noqa: ANN401
    if result is None or isinstance(result, (bool, int, float)):
        return False
    if isinstance(result, (list, tuple, dict, set)) and not result:
        return False
    return True


def _patient_keys(w: World) -> dict[str, str]:
    """Any string that identifies a patient (id, MRN, study pseudonym, or the id of one of
    their records) → patient id."""

    def read(s: Any) -> dict[str, str]:  # noqa: ANN401
        out = {}
        for pid, mrn in s.execute(select(Patient.id, Patient.mrn)).all():
            out[pid] = pid
            out[mrn] = pid
            out[patients.pseudonym(w.ctx, pid)] = pid
        for table in (ClinicalNote, Alert, NlpAnalysis, ActigraphySeries, BreakGlassGrant):
            out.update(dict(s.execute(select(table.id, table.patient_id)).all()))
        return out

    return w.ctx.store.read(read)


@dataclasses.dataclass
class Spies:
    checks: list[tuple[Action, str | None]] = dataclasses.field(default_factory=list)
    events: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def audited_patients(self) -> set[str]:
        named: set[str] = set()
        for ev in self.events:
            if ev.get("patient_id"):
                named.add(ev["patient_id"])
            named.update(phi_audit.decode_ids(ev.get("detail") or {}))
        return named


@pytest.fixture
def spies(monkeypatch: pytest.MonkeyPatch) -> Spies:
    """Wrap the real decision point and the real audit append (both still run)."""
    sp = Spies()
    real_can, real_append = rbac.can, audit.append

    def can(session: Any, principal: Principal, action: Action, patient_id: str | None = None):  # noqa: ANN202, ANN401
        sp.checks.append((action, patient_id))
        return real_can(session, principal, action, patient_id)

    def append(session: Any, key: bytes, **kw: Any):  # noqa: ANN202, ANN401
        sp.events.append(kw)
        return real_append(session, key, **kw)

    monkeypatch.setattr(rbac, "can", can)
    monkeypatch.setattr(audit, "append", append)
    return sp


def check(
    w: World, sp: Spies, name: str, fn: Callable[..., Any], principal: Principal
) -> list[str]:
    """Run one function as one principal; the problems found (empty: it passes)."""
    pos, kw, scoped = _args(w, fn)  # builders run before the spies are read
    sp.checks.clear()
    sp.events.clear()
    try:
        result = fn(w.ctx, principal, *pos, **kw)
    except NovamindError:
        return []  # refused or not found: nothing was handed out
    if not _has_data(result):
        return []
    keys = _patient_keys(w)  # after the call: a patient it created counts too
    shown = {keys[s] for s in _strings(result) if s in keys}
    if scoped:
        shown.add(w.pid)
    if not shown:
        return []
    problems = []
    who = principal.role.value
    if not sp.checks:
        problems.append(f"{name} as {who}: returned patient data without a permission check")
    missing = shown - sp.audited_patients()
    if missing:
        problems.append(
            f"{name} as {who}: returned data of {len(missing)} patient(s) no audit event names"
        )
    return problems


FUNCTIONS = [(n, f) for n, f in service_functions() if n not in SKIP]


def test_the_walk_finds_the_service_functions() -> None:
    names = {n for n, _ in service_functions()}
    # a sample of reads the issue named: the walk must see them without a hand list
    for n in (
        "app.services.alerts.list_open_alerts",
        "app.services.nlp.analyses_for_note",
        "app.services.sync_service.list_conflicts",
        "app.services.patients.list_patients",
        "app.services.patients.list_deidentified",
    ):
        assert n in names
    assert len(names) >= 40
    assert set(SKIP) <= names  # a stale skip entry is an error too


@pytest.mark.parametrize("role", ROLES, ids=[r.value for r in ROLES])
@pytest.mark.parametrize(("name", "fn"), FUNCTIONS, ids=[n.split(".", 2)[2] for n, _ in FUNCTIONS])
def test_every_phi_return_is_checked_and_audited(
    world: World, spies: Spies, name: str, fn: Callable[..., Any], role: Role
) -> None:
    assert check(world, spies, name, fn, world.users[role]) == []


# ---- the walk bites: deliberately bad functions through the same checker -------------------


def leaky_unaudited_read(ctx: AppContext, principal: Principal, patient_id: str) -> str:
    """Checks the permission, returns the MRN, writes no audit event."""

    def read(session: Any) -> str:  # noqa: ANN401
        rbac.require(session, principal, Action.READ_PHI, patient_id)
        return session.get(Patient, patient_id).mrn

    return ctx.store.read(read)


def leaky_unchecked_read(ctx: AppContext, principal: Principal, patient_id: str) -> str:
    """Audits, but never asks whether this user may read the record."""
    mrn = ctx.store.read(lambda s: s.get(Patient, patient_id).mrn)
    ctx.store.write(lambda uow: uow.audit(actor_of(principal), "x", patient_id=patient_id))
    return mrn


def leaky_list_count_only(ctx: AppContext, principal: Principal) -> list[str]:
    """The old list audit: a count, not which patients."""
    ids = ctx.store.read(lambda s: list(s.scalars(select(Patient.id))))
    ctx.store.read(lambda s: rbac.require(s, principal, Action.LIST_PATIENTS))
    ctx.store.write(lambda uow: uow.audit(actor_of(principal), "x", detail={"count": len(ids)}))
    return ids


@pytest.mark.parametrize("bad", [leaky_unaudited_read, leaky_unchecked_read, leaky_list_count_only])
def test_the_checker_fails_a_leaky_function(world: World, spies: Spies, bad: Callable) -> None:
    problems = check(world, spies, bad.__name__, bad, world.users[Role.SUPERVISOR])
    assert problems, f"{bad.__name__} passed the PHI walk"


def test_a_new_leaky_service_function_is_found_by_the_walk(
    world: World, spies: Spies, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Add a leaky function to a real service module: discovery picks it up and it fails."""
    import app.services.patients as mod

    monkeypatch.setattr(leaky_unaudited_read, "__module__", mod.__name__)
    monkeypatch.setattr(mod, "leaky_unaudited_read", leaky_unaudited_read, raising=False)
    walked = dict(service_functions())
    assert "app.services.patients.leaky_unaudited_read" in walked
    fn = walked["app.services.patients.leaky_unaudited_read"]
    assert check(world, spies, "leaky", fn, world.users[Role.CLINICIAN])
