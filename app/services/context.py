"""The running core: settings, the open store and the event bus, built once per process."""

from __future__ import annotations

import getpass
import logging
from dataclasses import dataclass

from app.core.config import Settings, load_settings
from app.core.domain import Principal
from app.core.events import EventBus
from app.core.security import keys
from app.core.store.store import Actor, Store

log = logging.getLogger(__name__)


@dataclass
class AppContext:
    settings: Settings
    store: Store
    bus: EventBus

    @classmethod
    def open(cls, settings: Settings | None = None, *, create: bool = True) -> AppContext:
        """Open the configured store with its key from the OS keyring (creating both if new)."""
        settings = settings or load_settings()
        db_path = settings.db_path
        if not create and not db_path.exists():
            from app.core.errors import StoreError

            raise StoreError(
                f"No Novamind store at {db_path}.",
                hint="Run 'novamind demo' for the demo clinic or 'novamind admin create-user'.",
            )
        from app.services import site_rules

        site_rules.install(settings)  # a bad policy rule stops here, before the store opens
        key = _key_with_recovery(settings)
        bus = EventBus()
        store = Store.open(
            db_path,
            key,
            bus=bus,
            keyring_service=settings.keyring_service,
            busy_timeout_s=settings.store_busy_timeout_s,
        )
        return cls(settings=settings, store=store, bus=bus)

    def close(self) -> None:
        self.store.close()


def _key_with_recovery(settings: Settings) -> bytes:
    """The store key; if an interrupted rotation left a pending key that works, adopt it."""
    from app.core.errors import StoreKeyError
    from app.core.store.engine import connect_raw

    db_path = settings.db_path
    key = keys.load_db_key(settings.keyring_service, db_path, create=not db_path.exists())
    if not db_path.exists():
        return key
    try:
        connect_raw(db_path, key).close()
        return key
    except StoreKeyError:
        pending = keys.pending_db_key(settings.keyring_service, db_path)
        if pending is None:
            raise
        connect_raw(db_path, pending).close()
        keys.commit_rotated_key(settings.keyring_service, db_path, pending)
        log.warning("completed an interrupted store key rotation")
        return pending


def actor_of(principal: Principal) -> Actor:
    return Actor(id=principal.user_id, role=principal.role.value, via=principal.via)


def cli_actor() -> Actor:
    """IT at the workstation's OS account (it can reach the keyring, hence the store)."""
    return Actor(id=f"os:{getpass.getuser()}", role="it")
