"""Reader threads and the serial writer on one real SQLCipher file, all at the same time.

The UI once sent every service call to a single thread to dodge "closed database" errors. Their
cause was the engine's pool, not SQLCipher: a "sqlite://" URL makes SQLAlchemy pick
SingletonThreadPool (meant for :memory:), which closes other threads' connections once more
threads than its size use it. The store now uses a QueuePool whose creator opens and keys a
connection per checkout (``check_same_thread=False``: a pooled connection moves between threads,
one thread at a time). These tests hold that: reads run truly concurrently, each on its own keyed
connection, while the writer commits, and every read sees a whole transaction or none of it.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import QueuePool

from app.core.store.models import Meta
from app.core.store.store import Store, UnitOfWork

READERS = 6
PAIRS = 60


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "c.db", secrets.token_bytes(32), audit_key=secrets.token_bytes(32))
    yield s
    s.close()


def _pairs(session: Session) -> int:
    return session.scalar(select(func.count()).where(Meta.key.like("pair-%"))) or 0


def test_pool_gives_each_thread_its_own_keyed_connection(store: Store) -> None:
    assert isinstance(store.engine.pool, QueuePool)
    barrier = threading.Barrier(READERS, timeout=20)
    seen: list[int] = []
    errors: list[BaseException] = []

    def reader() -> None:
        def inside(session: Session) -> None:
            _pairs(session)  # opens the connection (and runs under its key)
            seen.append(id(session.connection().connection.dbapi_connection))
            barrier.wait()  # every reader holds its connection at once

        try:
            store.read(inside)
        except BaseException as exc:  # noqa: BLE001 — collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(READERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(seen)) == READERS  # concurrent reads never share a connection


def test_concurrent_readers_and_serial_writer_see_whole_transactions(store: Store) -> None:
    errors: list[BaseException] = []
    done = threading.Event()
    reads = [0] * READERS

    def write_pair(i: int) -> None:
        def fn(uow: UnitOfWork) -> None:  # two rows in one transaction
            uow.session.add(Meta(key=f"pair-{i}-a", value="a"))
            uow.session.add(Meta(key=f"pair-{i}-b", value="b"))

        store.write(fn)

    def reader(n: int) -> None:
        last = 0
        try:
            while not done.is_set() or reads[n] == 0:
                count = store.read(_pairs)
                assert count % 2 == 0, f"a read saw half a transaction ({count} rows)"
                assert count >= last, "a later read saw fewer committed rows"
                last = count
                reads[n] += 1
        except BaseException as exc:  # noqa: BLE001 — collected and asserted below
            errors.append(exc)

    def writer() -> None:
        try:
            for i in range(PAIRS):
                write_pair(i)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            done.set()

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(READERS)]
    threads.append(threading.Thread(target=writer))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert all(reads)
    assert store.read(_pairs) == 2 * PAIRS
    assert store.integrity_check() == "ok"
