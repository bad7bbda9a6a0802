"""Per-patient feature rows (issue 21 item 1): after every kind of write, in the write's own
transaction, a patient's row finished for ``now`` gives exactly what the assembly from the
records gives (the per-patient path before issue 21 is the oracle); a row that is stale,
missing or not valid at ``now`` is never used; the migration's rebuild gives the same.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from alembic import command
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.core.domain import Role
from app.core.security import audit
from app.core.store import migrate
from app.core.store.models import AssessmentResponse, Patient, PatientFeatureRow
from app.core.store.store import Actor
from app.services import _id_sets, assessments, caseload, feature_rows, history, nlp, predictions
from app.services.context import AppContext
from app.services.history import IntakeHistory
from app.services.model_inputs import build_features_many, feature_matrix_many
from engines.xgb.features import CATALOGUE, assemble_matrix
from engines.xgb.predict import score_caseload
from tests.integration.core import test_features_many
from tests.integration.core.test_features_many import _actigraphy, _same, old_build_features
from tests.integration.core.test_model_inputs import _analysis, _med
from tests.support.records import add_patient, make_user

demo = test_features_many.demo  # the 50-patient demo clinic fixture
PHQ9_MILD = {f"q{i}": 1 for i in range(1, 10)}


def _from_rows(ctx: AppContext, ids: Sequence[str], now: datetime) -> dict[str, dict]:
    return ctx.store.read(lambda s: feature_rows.features_from_rows(s, ids, now))


def _oracle(ctx: AppContext, ids: Sequence[str], now: datetime) -> list[dict]:
    return ctx.store.read(lambda s: [old_build_features(s, pid, now) for pid in ids])


def _matrix_same(ctx: AppContext, ids: Sequence[str], now: datetime) -> None:
    """The caseload's matrix (rows, else records) equals the oracle's dicts assembled."""
    x = ctx.store.read(lambda s: feature_matrix_many(s, ids, now, CATALOGUE))
    ref = assemble_matrix(_oracle(ctx, ids, now), CATALOGUE)
    slope = [s.name for s in CATALOGUE].index("phq9_slope")
    rest = [j for j in range(len(CATALOGUE)) if j != slope]
    assert np.array_equal(x[:, rest], ref[:, rest], equal_nan=True)
    np.testing.assert_allclose(x[:, slope], ref[:, slope], rtol=1e-6, atol=1e-9)  # polyfit


def _stale(ctx: AppContext, pid: str) -> int | None:
    return ctx.store.read(lambda s: s.get(PatientFeatureRow, pid)).stale  # type: ignore[union-attr]


def _check_row(ctx: AppContext, pid: str) -> None:
    """The row is current, used, and equal to the oracle now and later."""
    assert _stale(ctx, pid) == 0
    for later in (timedelta(seconds=1), timedelta(days=45), timedelta(days=400)):
        now = datetime.now(UTC) + later
        got = _from_rows(ctx, [pid], now)
        assert pid in got, later  # served from the row, not the records
        assert _same([got[pid]], _oracle(ctx, [pid], now)), later
        many = ctx.store.read(lambda s, n=now: build_features_many(s, [pid], n))
        assert _same(many, _oracle(ctx, [pid], now))
        _matrix_same(ctx, [pid], now)


def _phq9(ctx: AppContext, me: Any, pid: str, when: datetime, answers: dict | None = None) -> str:  # noqa: ANN401
    actor = Actor(me.user_id, me.role.value)

    def do(uow: Any) -> str:  # noqa: ANN401
        out = assessments.record_assessment(
            uow, actor, pid, "phq9", answers or PHQ9_MILD, administered_at=when, mode="clinician"
        )
        return out.assessment_id

    return ctx.store.write(do)


@pytest.mark.parametrize("scan", [False, True], ids=["by id", "whole table"])
def test_the_demo_clinic_is_served_from_rows_equal_to_the_records(
    demo: tuple[AppContext, list[str]], scan: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both reads of the rows (most of the clinic reads the whole table) give the oracle."""
    if scan:
        monkeypatch.setattr(_id_sets, "SCAN_FROM", 1)
    ctx, ids = demo
    assert ctx.store.read(
        lambda s: s.scalar(select(PatientFeatureRow.stale).order_by(PatientFeatureRow.stale.desc()))
    ) == 0  # fmt: skip
    for later in (
        timedelta(seconds=1),
        timedelta(days=20),
        timedelta(days=90),
        timedelta(days=800),
    ):
        now = datetime.now(UTC) + later
        got = _from_rows(ctx, ids, now)
        assert len(got) >= 0.8 * len(ids), later  # the others end a medication after now
        served = list(got)
        assert _same([got[p] for p in served], _oracle(ctx, served, now)), later
        assert _same(ctx.store.read(lambda s, n=now: build_features_many(s, ids, n)),
                     _oracle(ctx, ids, now))  # fmt: skip
        _matrix_same(ctx, ids, now)


def test_the_caseload_scores_what_the_records_give(demo: tuple[AppContext, list[str]]) -> None:
    """score_visible (feature rows as a matrix) against the dict path before issue 21."""
    ctx, ids = demo
    me = make_user(ctx, "sup.rows", Role.SUPERVISOR)
    view = caseload.score_visible(ctx, me)
    model = predictions.active_model("relapse_6m", ctx.settings)
    allowed = frozenset(ctx.settings.allowed_demographics)
    ref = score_caseload(model, _oracle(ctx, ids, view.scored_at), allowed_demographics=allowed)
    p = dict(zip(ref.patient_ids, ref.probability.tolist(), strict=True))
    low = dict(zip(ref.patient_ids, ref.interval_low.tolist(), strict=True))
    assert {r.patient_id for r in view.rows} == set(ids)
    for r in view.rows:
        assert r.probability == pytest.approx(p[r.patient_id], abs=1e-6)
        assert r.interval_low == pytest.approx(low[r.patient_id], abs=1e-6)


def test_a_past_now_is_never_served_from_a_row(demo: tuple[AppContext, list[str]]) -> None:
    ctx, ids = demo
    assert _from_rows(ctx, ids, datetime.now(UTC) - timedelta(days=30)) == {}


def test_every_kind_of_write_keeps_the_row_current(ctx: AppContext, clinic: dict) -> None:
    me = clinic["users"][Role.CLINICIAN]
    pid = add_patient(ctx, me, "FR-1", family_name="Rows", birth_date=date(1984, 2, 29))
    _check_row(ctx, pid)  # a new patient: a row in the same transaction
    now = datetime.now(UTC)
    first = _phq9(ctx, me, pid, now - timedelta(days=90))
    for days in (50, 30, 16, 2):
        _phq9(ctx, me, pid, now - timedelta(days=days), {f"q{i}": 2 for i in range(1, 10)})
    _check_row(ctx, pid)  # assessments added
    assert "phq9_slope" in _from_rows(ctx, [pid], datetime.now(UTC))[pid]

    def delete(uow: Any) -> None:  # noqa: ANN401 — an erasure removes the row
        uow.session.delete(uow.session.get(AssessmentResponse, first))

    ctx.store.write(delete)
    _check_row(ctx, pid)
    newest = _phq9(ctx, me, pid, now - timedelta(days=1), {f"q{i}": 3 for i in range(1, 10)})
    assert _from_rows(ctx, [pid], datetime.now(UTC))[pid]["phq9_current"] == 27

    def delete_in_error(uow: Any) -> None:  # noqa: ANN401 — a tombstone (as sync merges one)
        uow.session.get(AssessmentResponse, newest).deleted_at = datetime.now(UTC)

    ctx.store.write(delete_in_error)
    _check_row(ctx, pid)  # a deleted administration is no input
    assert _from_rows(ctx, [pid], datetime.now(UTC))[pid]["phq9_current"] == 18
    history.record_intake(
        ctx, me, pid,
        IntakeHistory(prior_episodes=2, age_at_onset=21.0, prior_admissions_before=1,
                      last_discharge_before=date(2020, 3, 1), failed_trials_before=1,
                      flags={"hopelessness": False}),
    )  # fmt: skip
    _check_row(ctx, pid)  # intake history
    mid = _med(ctx, me, pid, date(2023, 1, 1))
    _check_row(ctx, pid)  # a current medication
    history.stop_medication(ctx, me, mid, end=date(2023, 3, 1), reason="inadequate_response")
    _check_row(ctx, pid)  # stopped: a failed trial
    history.record_admission(ctx, me, pid, admitted=date(2024, 7, 1), discharged=date(2024, 7, 9))
    _check_row(ctx, pid)  # an admission
    aid = _analysis(
        ctx,
        me,
        pid,
        [("risk_factor", "hopelessness", "feels completely hopeless about the future")],
    )
    nlp.review_finding(ctx, me, aid, 0, accept=True)
    _check_row(ctx, pid)  # an accepted finding
    assert _from_rows(ctx, [pid], datetime.now(UTC))[pid]["nlp_hopelessness"] == 1
    _actigraphy(ctx, me, pid, 3)
    _check_row(ctx, pid)  # an analysed recording
    assert "sleep_waso_min" in _from_rows(ctx, [pid], datetime.now(UTC))[pid]

    def edit(uow: Any) -> None:  # noqa: ANN401
        uow.session.get(Patient, pid).sex = "female"

    ctx.store.write(edit)
    _check_row(ctx, pid)
    assert _from_rows(ctx, [pid], datetime.now(UTC))[pid]["sex_female"] == 1
    history.record_admission(ctx, me, pid, admitted=datetime.now(UTC).date() - timedelta(days=1))
    _check_row(ctx, pid)  # in hospital now
    assert _from_rows(ctx, [pid], datetime.now(UTC))[pid]["months_since_admission"] == 0.0


def test_a_write_that_bypasses_the_session_marks_the_row_stale_and_it_is_not_used(
    ctx: AppContext, clinic: dict
) -> None:
    me = clinic["users"][Role.CLINICIAN]
    pid = add_patient(ctx, me, "FR-2", family_name="Rows", birth_date=date(1990, 5, 5))
    _phq9(ctx, me, pid, datetime.now(UTC) - timedelta(days=10))
    _check_row(ctx, pid)
    with ctx.store.engine.begin() as conn:  # bulk SQL, no session: only the triggers see it
        conn.execute(
            text(
                "INSERT INTO assessment_responses (id, created_at, updated_at, version, "
                "patient_id, instrument, instrument_version, administered_at, mode, answers_json, "
                "total, band, critical, scoring_rule) VALUES ('raw-1', :t, :t, 1, :p, 'phq9', "
                "'1.0', :t, 'self-report', '{}', 25, 'severe', 0, '')"
            ),
            {"t": (datetime.now(UTC) - timedelta(days=1)).replace(tzinfo=None), "p": pid},
        )
    assert _stale(ctx, pid) == 1
    now = datetime.now(UTC)
    assert _from_rows(ctx, [pid], now) == {}
    got = ctx.store.read(lambda s: build_features_many(s, [pid], now))
    assert got[0]["phq9_current"] == 25
    assert _same(got, _oracle(ctx, [pid], now))
    history.record_intake(ctx, me, pid, IntakeHistory(prior_episodes=1))  # the next write
    _check_row(ctx, pid)


def test_a_missing_row_is_assembled_from_the_records(ctx: AppContext, clinic: dict) -> None:
    me = clinic["users"][Role.CLINICIAN]
    pid = add_patient(ctx, me, "FR-3", family_name="Rows", birth_date=date(1970, 1, 1))
    _phq9(ctx, me, pid, datetime.now(UTC) - timedelta(days=3))
    with ctx.store.engine.begin() as conn:
        conn.execute(text("DELETE FROM patient_feature_rows WHERE patient_id = :p"), {"p": pid})
    now = datetime.now(UTC)
    assert _from_rows(ctx, [pid], now) == {}
    assert _same(ctx.store.read(lambda s: build_features_many(s, [pid], now)),
                 _oracle(ctx, [pid], now))  # fmt: skip


def test_the_migration_rebuilds_every_row(ctx: AppContext, clinic: dict) -> None:
    """Down to 0009 and up again: every patient gets a stale row (never used), and the next
    write transaction builds them all, equal to the records."""
    me = clinic["users"][Role.CLINICIAN]
    ids = [
        add_patient(ctx, me, f"FR-M{i}", family_name="Rows", birth_date=date(1980, 1, 1 + i))
        for i in range(3)
    ]
    for i, pid in enumerate(ids):
        _phq9(ctx, me, pid, datetime.now(UTC) - timedelta(days=5 + i))
    with ctx.store.engine.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "0009")
    with ctx.store.engine.begin() as conn:
        migrate.upgrade(conn)
    everyone = ctx.store.read(lambda s: list(s.scalars(select(Patient.id))))
    rows = ctx.store.read(
        lambda s: {
            r[0]: r[1]
            for r in s.execute(select(PatientFeatureRow.patient_id, PatientFeatureRow.stale))
        }
    )
    assert rows == dict.fromkeys(everyone, 1)
    now = datetime.now(UTC)
    assert _from_rows(ctx, everyone, now) == {}
    assert _same(ctx.store.read(lambda s: build_features_many(s, everyone, now)),
                 _oracle(ctx, everyone, now))  # fmt: skip
    ctx.store.write(
        lambda uow: audit.append(
            uow.session, uow.audit_key, actor_id=me.user_id, actor_role="clinician", action="t"
        )
    )
    for pid in everyone:
        _check_row(ctx, pid)


def test_rebuild_recomputes_every_row(ctx: AppContext, clinic: dict) -> None:
    me = clinic["users"][Role.CLINICIAN]
    pid = add_patient(ctx, me, "FR-4", family_name="Rows", birth_date=date(1999, 12, 31))
    _phq9(ctx, me, pid, datetime.now(UTC) - timedelta(days=8))
    before = ctx.store.read(lambda s: s.get(PatientFeatureRow, pid))
    n = ctx.store.write(lambda uow: feature_rows.rebuild(uow.session))
    assert n == len(ctx.store.read(lambda s: list(s.scalars(select(Patient.id)))))
    after = ctx.store.read(lambda s: s.get(PatientFeatureRow, pid))
    assert json.loads(after.static_json) == json.loads(before.static_json)
    _check_row(ctx, pid)


def test_a_failing_recompute_leaves_the_row_stale_and_the_write_done(
    ctx: AppContext, clinic: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows are a derived cache: a recompute that fails (injected here) never undoes the
    clinical write, and the stale row is not used."""
    me = clinic["users"][Role.CLINICIAN]
    pid = add_patient(ctx, me, "FR-5", family_name="Rows", birth_date=date(1975, 6, 1))

    def broken(session: Session, ids: Sequence[str]) -> list[dict]:
        raise RuntimeError("injected")

    monkeypatch.setattr(feature_rows, "compute_rows", broken)
    aid = _phq9(ctx, me, pid, datetime.now(UTC) - timedelta(days=1))
    assert ctx.store.read(lambda s: s.get(AssessmentResponse, aid)) is not None
    assert _stale(ctx, pid) == 1
    now = datetime.now(UTC)
    assert _from_rows(ctx, [pid], now) == {}
    assert _same(ctx.store.read(lambda s: build_features_many(s, [pid], now)),
                 _oracle(ctx, [pid], now))  # fmt: skip
    monkeypatch.undo()
    history.record_intake(ctx, me, pid, IntakeHistory(prior_episodes=1))
    _check_row(ctx, pid)


def test_a_commit_catches_up_a_bounded_number_of_stale_rows(ctx: AppContext, clinic: dict) -> None:
    """After a bulk change (here every row marked stale), a commit recomputes at most a bounded
    number of rows (the hook passes REFRESH_LIMIT); the rest stay stale and are assembled from
    the records, equal to the oracle, until later commits."""
    me = clinic["users"][Role.CLINICIAN]
    for i in range(3):
        add_patient(ctx, me, f"FR-L{i}", family_name="Rows", birth_date=date(1988, 3, 1 + i))
    everyone = ctx.store.read(lambda s: list(s.scalars(select(Patient.id))))
    stale_rows = (
        select(func.count()).select_from(PatientFeatureRow).where(PatientFeatureRow.stale == 1)
    )

    def bulk_then_two(uow: Any) -> tuple[int, int]:  # noqa: ANN401
        uow.session.execute(text("UPDATE patient_feature_rows SET stale = 1"))
        done = feature_rows.refresh_stale(uow.session, 2)
        now = datetime.now(UTC)
        assert _same(build_features_many(uow.session, everyone, now),
                     [old_build_features(uow.session, p, now) for p in everyone])  # fmt: skip
        return done, uow.session.scalar(stale_rows) or 0

    assert ctx.store.write(bulk_then_two) == (2, len(everyone) - 2)
    assert 0 < feature_rows.REFRESH_LIMIT < 10_000


def test_rows_of_another_layout_are_not_used(
    ctx: AppContext, clinic: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row written by another version (its layout tag) is assembled from the records."""
    me = clinic["users"][Role.CLINICIAN]
    pid = add_patient(ctx, me, "FR-6", family_name="Rows", birth_date=date(1966, 9, 9))
    _phq9(ctx, me, pid, datetime.now(UTC) - timedelta(days=4))
    now = datetime.now(UTC)
    assert pid in _from_rows(ctx, [pid], now)
    monkeypatch.setattr(feature_rows, "LAYOUT_TAG", feature_rows.LAYOUT_TAG + 1)
    assert _from_rows(ctx, [pid], now) == {}
    x = ctx.store.read(lambda s: feature_matrix_many(s, [pid], now, CATALOGUE))
    assert np.array_equal(x, assemble_matrix(_oracle(ctx, [pid], now), CATALOGUE), equal_nan=True)
