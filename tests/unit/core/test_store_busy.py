"""Another process holding the store's write lock: writes wait for it, then fail clearly.

The "other process" is a second keyed connection on the same file (SQLite's locks are the
same across connections and processes) that takes the write lock with BEGIN IMMEDIATE.
"""

from __future__ import annotations

import secrets
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from app.core.config import ConfigError, load_settings
from app.core.errors import StoreError
from app.core.store.engine import connect_raw
from app.core.store.models import Meta
from app.core.store.store import Store, UnitOfWork
from app.services.context import AppContext


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(tmp_path / "busy.db", secrets.token_bytes(32),
                   audit_key=secrets.token_bytes(32), busy_timeout_s=2)  # fmt: skip
    yield s
    s.close()


def _read_then_write(value: str):  # noqa: ANN202
    def do(uow: UnitOfWork) -> None:
        uow.session.get(Meta, "probe")  # services read first (RBAC, audit head), then write
        uow.session.merge(Meta(key="probe", value=value))

    return do


def _other_process_holds_lock(store: Store):  # noqa: ANN202
    other = connect_raw(store.path, store._key)  # the test stands in for another process
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('other', '1')")
    return other


def test_a_write_waits_for_the_other_process_then_commits(store: Store) -> None:
    store.write(_read_then_write("0"))  # the write's read now sees an older snapshot
    other = _other_process_holds_lock(store)
    threading.Timer(0.7, lambda: other.execute("COMMIT")).start()
    started = time.monotonic()
    store.write(_read_then_write("1"))  # old code: "database is locked" at once
    assert time.monotonic() - started >= 0.5  # it waited for the other commit
    other.close()
    got = store.read(lambda s: dict(s.execute(select(Meta.key, Meta.value)).all()))
    assert got["probe"] == "1" and got["other"] == "1"  # both writes kept


def test_a_lock_held_past_the_timeout_is_a_clear_store_error(store: Store) -> None:
    store.write(_read_then_write("0"))
    other = _other_process_holds_lock(store)
    try:
        started = time.monotonic()
        with pytest.raises(StoreError, match=r"the store is busy: another Novamind process "
                           r"held it for 2 s"):  # fmt: skip
            store.write(_read_then_write("lost?"))
        assert 1.8 <= time.monotonic() - started < 10
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert store.read(lambda s: s.get(Meta, "probe").value) == "0"  # nothing half-written
    store.write(_read_then_write("2"))  # and the store works on once the lock is free
    assert store.read(lambda s: s.get(Meta, "probe").value) == "2"


def test_reads_do_not_wait_for_a_writer(store: Store) -> None:
    store.write(_read_then_write("0"))
    other = _other_process_holds_lock(store)
    try:
        started = time.monotonic()
        assert store.read(lambda s: s.get(Meta, "probe").value) == "0"  # WAL snapshot
        assert time.monotonic() - started < 1
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_a_write_inside_a_write_joins_it(store: Store) -> None:
    """A nested write shares the outer transaction instead of waiting on its own lock."""

    def outer(uow: UnitOfWork) -> None:
        uow.session.merge(Meta(key="outer", value="1"))
        store.write(lambda inner: inner.session.merge(Meta(key="inner", value="1")))

    store.write(outer)
    got = store.read(lambda s: dict(s.execute(select(Meta.key, Meta.value)).all()))
    assert got["outer"] == got["inner"] == "1"


def test_rekey_while_another_process_has_the_store_open_fails_clearly(store: Store) -> None:
    store.write(_read_then_write("0"))
    other = connect_raw(store.path, store._key)
    other.execute("SELECT count(*) FROM meta").fetchone()  # open, as a sync from cron is
    old_key = store._key
    try:
        with pytest.raises(StoreError, match="the store is busy"):
            store.rekey(secrets.token_bytes(32))
    finally:
        other.close()
    assert store._key == old_key
    connect_raw(store.path, old_key).close()  # still opens with the old key
    assert store.read(lambda s: s.get(Meta, "probe").value) == "0"


def test_busy_timeout_setting_is_validated_and_reaches_the_store(tmp_path: Path) -> None:
    env = {"NOVAMIND_DATA_DIR": str(tmp_path), "NOVAMIND_POLICY": str(tmp_path / "none.toml")}
    assert load_settings(env).store_busy_timeout_s == 30
    assert load_settings({**env, "NOVAMIND_STORE_BUSY_TIMEOUT_S": "5"}).store_busy_timeout_s == 5
    ctx = AppContext.open(load_settings({**env, "NOVAMIND_STORE_BUSY_TIMEOUT_S": "5"}))
    try:
        assert ctx.store.busy_timeout_s == 5
    finally:
        ctx.close()
    policy = tmp_path / "policy.toml"
    policy.write_text("[policy]\nstore_busy_timeout_s = 0\n")
    with pytest.raises(ConfigError, match="store_busy_timeout_s' must be between 1 and 600"):
        load_settings({**env, "NOVAMIND_POLICY": str(policy)})
