"""This store's membership of a clinic: enrolment, its identity, and restarting its chain.

Kept in the store's meta table (sync.state): clinic id, device id, event bus, the IT key
pinned at enrolment, and the format version. A device IT revoked, enrolled again, becomes a
new device; a store that synced with format version 1 restarts under version 2.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.errors import ConfigError, ValidationError
from app.core.store.models import SyncCursor, SyncOutgoing, SyncRecordState
from app.core.store.store import Store, UnitOfWork
from sync import state
from sync.envelope import GENESIS
from sync.identity import ENROL_HINT, TrustError, fingerprint
from sync.registry import Registry


@dataclass(frozen=True)
class Identity:
    clinic_id: str
    device_id: str
    event_bus: str
    it_public: bytes


def enrol(store: Store, clinic_id: str, event_bus: str, it_public: bytes) -> tuple[str, bool]:
    """Bind this store to a clinic and its IT key; returns (device id, whether it is new).

    The device id is kept, except when IT revoked it: a revoked workstation that is enrolled
    again becomes a new device, its own chain restarts and every record is sent once more
    under the new identity (and checked like any other device's). A store that synced with
    format version 1 keeps its records and device id; its chains start again under version 2.
    """

    def do(uow: UnitOfWork) -> tuple[str, bool]:
        s = uow.session
        _check(s, clinic_id, it_public)
        current = state.get(s, state.CLINIC_ID)
        device = state.get(s, state.DEVICE_ID)
        revoked = bool(device) and _revoked_here(s, device, clinic_id, it_public)
        if current and state.get(s, state.FORMAT) != "2":
            _upgrade_from_v1(s)
        elif revoked:
            _restart_own_chain(s)
        fresh = not device or revoked
        if fresh:
            device = str(uuid.uuid4())
        state.put(s, state.DEVICE_ID, device)
        state.put(s, state.CLINIC_ID, clinic_id)
        state.put(s, state.EVENT_BUS, event_bus)
        state.put(s, state.IT_PUBLIC, it_public.hex())
        state.put(s, state.FORMAT, "2")
        return device, fresh

    return store.write(do)


class EnrolmentRefusedError(ValidationError):
    """This store cannot join that clinic (another clinic, another IT key); nothing changed."""


def check_can_enrol(store: Store, clinic_id: str, it_public: bytes) -> None:
    """Refuse, before anything is written anywhere, an enrolment this store must not accept."""
    store.read(lambda s: _check(s, clinic_id, it_public))


def _check(s: Session, clinic_id: str, it_public: bytes) -> None:
    current = state.get(s, state.CLINIC_ID)
    if current and current != clinic_id:
        raise EnrolmentRefusedError(
            "this workstation is already enrolled in another clinic; enrolment refused, "
            "nothing was changed"
        )
    pinned = state.get(s, state.IT_PUBLIC)
    if pinned and pinned != it_public.hex():
        raise EnrolmentRefusedError(
            "this workstation is enrolled under another IT key "
            f"(pinned {fingerprint(bytes.fromhex(pinned))}); enrolment refused, nothing was changed"
        )


def _revoked_here(s: Session, device: str, clinic_id: str, it_public: bytes) -> bool:
    """Does the registry this workstation has verified say IT revoked `device`?"""
    try:
        reg = Registry.from_meta(clinic_id, it_public, state.get(s, state.REGISTRY))
    except (TrustError, ValueError):
        return False
    return device in reg.revoked


def _restart_own_chain(s: Session) -> None:
    """Start this workstation's chain again at 1 and mark every record to be sent once more."""
    for key in (state.HEAD_SEQ, state.HEAD_SHA, state.AUDIT_SENT, state.AUDIT_ANCHOR):
        state.put(s, key, "")  # a new device id ships (and anchors) its audit chain from 1
    for row in s.scalars(select(SyncOutgoing)):
        s.delete(row)  # the old chain's bookkeeping; unsent ones' records go again below
    for st in s.scalars(select(SyncRecordState)):
        st.pending = True


def _upgrade_from_v1(s: Session) -> None:
    """Version-1 chains are not read any more: forget their positions, restart ours."""
    state.put(s, state.REGISTRY, "")
    for cur in s.scalars(select(SyncCursor)):
        cur.seq, cur.sha256 = 0, GENESIS  # keep max_clock: what we merged stays known
    _restart_own_chain(s)


def require_identity(store: Store) -> Identity:
    """This workstation's sync identity; a clear error (naming version 1 if so) when none."""
    ident = store.read(identity)
    if ident is not None:
        return ident
    v1 = store.read(lambda s: bool(state.get(s, state.CLINIC_ID)))
    raise ConfigError(
        "This workstation synced with format version 1 and is not enrolled for version 2."
        if v1
        else "This workstation is not enrolled for sync.",
        hint=ENROL_HINT,
    )


def identity(session: Session) -> Identity | None:
    clinic = state.get(session, state.CLINIC_ID)
    device = state.get(session, state.DEVICE_ID)
    pinned = state.get(session, state.IT_PUBLIC)
    if not clinic or not device or not pinned or state.get(session, state.FORMAT) != "2":
        return None
    return Identity(clinic, device, state.get(session, state.EVENT_BUS), bytes.fromhex(pinned))
