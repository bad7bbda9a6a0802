"""The audit chain's HMAC key lives in the OS keyring, never in the store (issue 17).

The attack: someone holding the store (and its key) edits an audit event and recomputes the
chain with whatever key the store itself holds. Before issue 17 the store held the chain key,
so this went undetected.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from sqlalchemy import select, text

from app.core.security import audit, keys
from app.core.store.models import AuditEvent, Meta
from app.core.store.store import AUDIT_KEY, Actor, Store
from app.services import admin
from app.services.context import AppContext, cli_actor
from tests.support.keyring_backends import MemoryKeyring


def _events(store: Store, n: int = 5) -> None:
    for i in range(n):
        store.write(lambda uow, i=i: uow.audit(Actor(f"u{i}", "clinician"), "patient.read"))


def rewrite_chain(store: Store, key: bytes, seq: int, action: str) -> None:
    """The attacker: edit event `seq`, recompute every hash after it and the head with `key`."""
    with store.engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_events SET action=:a WHERE seq=:s"), {"a": action, "s": seq}
        )
    from sqlalchemy.orm import Session

    with Session(store.engine) as session, session.begin():
        prev = audit.GENESIS
        for ev in session.scalars(select(AuditEvent).order_by(AuditEvent.seq)):
            ev.prev_hash = prev
            ev.hash = audit._digest(key, ev)
            prev = ev.hash
        session.merge(Meta(key=audit.HEAD_KEY, value=f"{ev.seq}:{prev}"))


def test_the_audit_key_is_in_the_keyring_not_in_the_store(
    ctx: AppContext, memory_keyring: MemoryKeyring
) -> None:
    settings = ctx.settings
    assert ctx.store.read(lambda s: s.get(Meta, AUDIT_KEY)) is None
    entry = keys.audit_entry(settings.db_path)
    held = memory_keyring.entries[(settings.keyring_service, entry)]
    assert bytes.fromhex(held) == ctx.store.audit_key
    # nothing in the whole encrypted file equals the key
    raw = ctx.store.read(lambda s: [r[0] for r in s.execute(text("SELECT value FROM meta")).all()])
    assert held not in raw


def test_rewriting_the_chain_with_what_the_store_holds_is_detected(ctx: AppContext) -> None:
    """Attack: take the chain key from the store if it is there (else the store key itself),
    edit an event and recompute the whole chain and its head: verification still fails."""
    _events(ctx.store)
    store_key = keys.load_db_key(ctx.settings.keyring_service, ctx.settings.db_path, create=False)
    row = ctx.store.read(lambda s: s.get(Meta, AUDIT_KEY))
    attacker_key = bytes.fromhex(row.value) if row is not None else store_key
    rewrite_chain(ctx.store, attacker_key, 2, "nothing.happened")
    report = admin.verify_audit(ctx, cli_actor())
    assert not report.ok
    assert report.problems and all(p.startswith("seq ") for p in report.problems)
    assert all("nothing.happened" not in p for p in report.problems)  # no content in reports


def test_an_old_store_s_key_moves_to_the_keyring_once_and_the_chain_still_verifies(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    path, db_key = tmp_path / "old.db", secrets.token_bytes(32)
    store = Store.open(path, db_key)
    _events(store)
    legacy = store.audit_key
    store.close()
    # make it look like a store from before issue 17: key in the meta table, none in the keyring
    memory_keyring.entries.pop(("novamind", keys.audit_entry(path)))
    old = Store.open(path, db_key, audit_key=legacy)
    old.write(lambda uow: uow.session.add(Meta(key=AUDIT_KEY, value=legacy.hex())))
    old.close()
    memory_keyring.entries.pop(("novamind", keys.audit_entry(path)), None)

    reopened = Store.open(path, db_key)
    try:
        assert reopened.audit_key == legacy
        assert reopened.read(lambda s: s.get(Meta, AUDIT_KEY)) is None
        assert memory_keyring.entries[("novamind", keys.audit_entry(path))] == legacy.hex()
        assert reopened.read(lambda s: audit.verify(s, reopened.audit_key)).ok
    finally:
        reopened.close()


def test_a_keyring_key_that_disagrees_with_the_store_s_is_refused(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    """Someone plants their own key in the meta table of a migrated store: refused loudly."""
    import pytest

    from app.core.errors import StoreError

    path, db_key = tmp_path / "s.db", secrets.token_bytes(32)
    store = Store.open(path, db_key)
    store.write(lambda uow: uow.session.add(Meta(key=AUDIT_KEY, value=secrets.token_hex(32))))
    store.close()
    with pytest.raises(StoreError, match="audit key"):
        Store.open(path, db_key)


def test_hmac_needs_the_keyring_key(ctx: AppContext) -> None:
    """The chain hashes are not derivable from the store key (sanity for the attack above)."""
    store_key = keys.load_db_key(ctx.settings.keyring_service, ctx.settings.db_path, create=False)
    assert ctx.store.audit_key != store_key
    assert ctx.store.audit_key != hmac.new(store_key, b"audit", hashlib.sha256).digest()
