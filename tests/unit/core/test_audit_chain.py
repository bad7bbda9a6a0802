"""Any single edit, deletion or reordering of audit events is detected."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from app.core.security import audit
from app.core.store.store import Actor, Store

N_EVENTS = 12


@pytest.fixture(scope="module")
def chain_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    path: Path = tmp_path_factory.mktemp("audit") / "a.db"
    # module scope runs outside the per-test memory keyring: hand the audit key in directly
    store = Store.open(path, secrets.token_bytes(32), audit_key=secrets.token_bytes(32))
    for i in range(N_EVENTS):
        store.write(
            lambda uow, i=i: uow.audit(
                Actor(f"user-{i % 3}", "clinician"),
                "patient.read",
                patient_id=f"p-{i}",
                record_type="patient",
                record_id=f"p-{i}",
                detail={"i": i},
            )
        )
    return store


def _verify(store: Store) -> audit.AuditReport:
    return store.read(lambda s: audit.verify(s, store.audit_key))


def _tamper(store: Store, sql: str, **params: object) -> None:
    """Apply `sql`, verify, then roll back so each example starts from the intact chain."""
    with store.engine.connect() as conn:
        trans = conn.begin()
        conn.execute(text(sql), params)
        from sqlalchemy.orm import Session

        with Session(bind=conn) as session:
            report = audit.verify(session, store.audit_key)
        trans.rollback()
    assert not report.ok, f"undetected: {sql} {params}"
    assert report.problems


def test_intact_chain_verifies(chain_store: Store) -> None:
    report = _verify(chain_store)
    assert report.ok and report.checked == N_EVENTS


FIELDS = ["actor_id", "action", "patient_id", "record_id", "detail_json", "actor_role"]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seq=st.integers(1, N_EVENTS),
    field=st.sampled_from(FIELDS),
    value=st.text(min_size=1, max_size=8),
)
def test_any_single_edit_is_detected(chain_store: Store, seq: int, field: str, value: str) -> None:
    with chain_store.engine.connect() as conn:
        current = conn.execute(
            text(f"SELECT {field} FROM audit_events WHERE seq=:s"), {"s": seq}
        ).scalar()  # noqa: S608
    if current == value:
        value = value + "x"
    _tamper(chain_store, f"UPDATE audit_events SET {field}=:v WHERE seq=:s", v=value, s=seq)  # noqa: S608


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seq=st.integers(1, N_EVENTS))
def test_any_single_deletion_is_detected(chain_store: Store, seq: int) -> None:
    _tamper(chain_store, "DELETE FROM audit_events WHERE seq=:s", s=seq)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(a=st.integers(1, N_EVENTS), b=st.integers(1, N_EVENTS))
def test_any_reordering_is_detected(chain_store: Store, a: int, b: int) -> None:
    if a == b:
        b = a % N_EVENTS + 1
    _swap(chain_store, a, b)


def _swap(store: Store, a: int, b: int) -> None:
    with store.engine.connect() as conn:
        trans = conn.begin()
        conn.execute(text("UPDATE audit_events SET seq=-1 WHERE seq=:a"), {"a": a})
        conn.execute(text("UPDATE audit_events SET seq=:a WHERE seq=:b"), {"a": a, "b": b})
        conn.execute(text("UPDATE audit_events SET seq=:b WHERE seq=-1"), {"b": b})
        from sqlalchemy.orm import Session

        with Session(bind=conn) as session:
            report = audit.verify(session, store.audit_key)
        trans.rollback()
    assert not report.ok


def test_chain_survives_key_rotation(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "r.db", secrets.token_bytes(32))
    store.write(lambda uow: uow.audit(Actor("u", "it"), "x"))
    store.rekey(secrets.token_bytes(32))
    store.write(lambda uow: uow.audit(Actor("u", "it"), "y"))
    assert _verify(store).ok and _verify(store).checked == 2
    store.close()
