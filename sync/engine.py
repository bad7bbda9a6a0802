"""The sync cycle: capture and pack local changes, upload them, publish events, pull and merge.

Every step leaves its progress in the store, so a process killed at any point resumes:
sealed bundles wait in `sync_outgoing` until the bucket has them (create-only PUT, so a
repeated upload is harmless), and a pull merges all verified bundles and advances the
cursors in one transaction.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.events import PatientDataUpdated
from app.store.models import (
    ActigraphyChunk,
    OutboxEvent,
    SyncConflict,
    SyncCursor,
    SyncOutgoing,
    SyncQuarantine,
    SyncRecordState,
    utcnow,
)
from app.store.store import Store, UnitOfWork
from sync import capture, merge, state
from sync.envelope import GENESIS, BundleError, Header, KeyWrapper, digest, open_sealed, seal
from sync.hlc import Clock, HybridClock
from sync.transport import Transport, bundle_key, parse_seq, snapshot_key

log = logging.getLogger(__name__)
MAX_RECORDS_PER_BUNDLE = 5000
MAX_BUS_EVENTS = 1000


@dataclass
class SyncReport:
    """What one sync cycle did: counts and ids only."""

    bundles_pushed: int = 0
    records_pushed: int = 0
    events_published: int = 0
    bundles_pulled: int = 0
    records_merged: int = 0
    conflicts: int = 0
    quarantined: list[str] = field(default_factory=list)
    snapshot_used: str = ""


@dataclass(frozen=True)
class Identity:
    clinic_id: str
    device_id: str
    event_bus: str


def enrol(store: Store, clinic_id: str, event_bus: str = "") -> str:
    """Bind this store to a clinic, giving it a device id (kept if it already has one)."""

    def do(uow: UnitOfWork) -> str:
        s = uow.session
        current = state.get(s, state.CLINIC_ID)
        if current and current != clinic_id:
            from app.errors import ValidationError

            raise ValidationError("this workstation is already enrolled in another clinic")
        device = state.get(s, state.DEVICE_ID) or str(uuid.uuid4())
        state.put(s, state.DEVICE_ID, device)
        state.put(s, state.CLINIC_ID, clinic_id)
        state.put(s, state.EVENT_BUS, event_bus)
        return device

    return store.write(do)


def identity(session: Session) -> Identity | None:
    clinic = state.get(session, state.CLINIC_ID)
    device = state.get(session, state.DEVICE_ID)
    if not clinic or not device:
        return None
    return Identity(clinic, device, state.get(session, state.EVENT_BUS))


class SyncEngine:
    """One workstation's sync against one bucket."""

    def __init__(self, store: Store, transport: Transport, wrapper: KeyWrapper) -> None:
        ident = store.read(identity)
        if ident is None:
            from app.errors import ConfigError

            raise ConfigError("This workstation is not enrolled for sync.")
        self.store, self.transport, self.wrapper, self.id = store, transport, wrapper, ident

    # ---- push -------------------------------------------------------------------------

    def _clock(self, s: Session) -> HybridClock:
        return HybridClock(self.id.device_id, state.get(s, state.HLC))

    def pack(self) -> int:
        """Capture local edits and seal them into bundles kept in the store; returns how many."""
        made = 0
        while True:
            n = self.store.write(self._pack_one)
            if n == 0:
                return made
            made += 1

    def _pack_one(self, uow: UnitOfWork) -> int:
        s = uow.session
        clock = self._clock(s)
        capture.capture(s, clock)
        q = (
            select(SyncRecordState)
            .where(SyncRecordState.pending.is_(True))
            .limit(MAX_RECORDS_PER_BUNDLE)
        )
        pending = list(s.scalars(q))
        if not pending:
            return 0
        entries = [self._entry(s, st) for st in pending]
        seq = int(state.get(s, state.HEAD_SEQ, "0")) + 1
        prev = state.get(s, state.HEAD_SHA, GENESIS)
        deps = {c.device_id: c.seq for c in s.scalars(select(SyncCursor))}
        header = Header(
            clinic=self.id.clinic_id,
            device=self.id.device_id,
            seq=seq,
            prev=prev,
            kind="changes",
            deps=deps,
            wrap=self.wrapper.name,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        blob = seal(header, {"records": entries}, self.wrapper)
        sha = digest(blob)
        key = bundle_key(self.id.clinic_id, self.id.device_id, seq)
        s.add(SyncOutgoing(seq=seq, object_key=key, sha256=sha, data=blob, records=len(entries)))
        for st in pending:
            st.pending = False
        state.put(s, state.HEAD_SEQ, str(seq))
        state.put(s, state.HEAD_SHA, sha)
        state.put(s, state.HLC, clock.state())
        return len(entries)

    def _entry(self, s: Session, st: SyncRecordState) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "t": st.table_name,
            "id": st.record_id,
            "v": json.loads(st.values_json),
            "c": json.loads(st.clocks_json),
        }
        if st.table_name == "actigraphy_series":
            q = select(ActigraphyChunk).where(ActigraphyChunk.series_id == st.record_id)
            entry["chunks"] = [
                [c.index, c.n_epochs, c.codec, base64.b64encode(c.data).decode()]
                for c in s.scalars(q.order_by(ActigraphyChunk.index))
            ]
        return entry

    def upload(self) -> tuple[int, int]:
        """Send every sealed bundle the bucket does not have yet; returns (bundles, records)."""
        todo = self.store.read(
            lambda s: [
                (o.seq, o.object_key, o.records)
                for o in s.scalars(
                    select(SyncOutgoing)
                    .where(SyncOutgoing.uploaded_at.is_(None))
                    .order_by(SyncOutgoing.seq)
                )
            ]
        )
        records = 0
        for seq, key, n in todo:
            data = self.store.read(lambda s, q=seq: s.get(SyncOutgoing, q).data)
            self.transport.put_create_only(key, data)
            self.store.write(lambda uow, q=seq: self._mark_uploaded(uow.session, q))
            records += n
        return len(todo), records

    @staticmethod
    def _mark_uploaded(s: Session, seq: int) -> None:
        row = s.get(SyncOutgoing, seq)
        row.uploaded_at = utcnow()
        row.data = b""  # the bucket has it now; keep only its sequence number and hash

    def publish_events(self) -> int:
        """Send the outbox's platform events (ids and codes only) to the clinic's EventBridge."""
        if not self.id.event_bus:
            return 0
        upto = self.store.read(lambda s: int(state.get(s, state.CAPTURE_OUTBOX, "0")))
        rows = self.store.read(
            lambda s: [
                (o.seq, o.event, o.payload_json)
                for o in s.scalars(
                    select(OutboxEvent)
                    .where(OutboxEvent.sent_at.is_(None), OutboxEvent.seq <= upto)
                    .order_by(OutboxEvent.seq)
                )
            ]
        )
        if not rows:
            return 0
        entries = [
            {
                "Source": "novamind.desktop",
                "DetailType": event,
                "Detail": json.dumps(
                    {
                        **json.loads(payload),
                        "clinic_id": self.id.clinic_id,
                        "device_id": self.id.device_id,
                    }
                ),
            }
            for _, event, payload in rows
        ]
        failed = self.transport.put_events(self.id.event_bus, entries)
        if failed:
            log.warning("sync: EventBridge refused %d of %d events", failed, len(entries))
            return 0
        seqs = [seq for seq, _, _ in rows]

        def mark(uow: UnitOfWork) -> None:
            now = utcnow()
            for row in uow.session.scalars(select(OutboxEvent).where(OutboxEvent.seq.in_(seqs))):
                row.sent_at = now

        self.store.write(mark)
        return len(rows)

    # ---- pull -------------------------------------------------------------------------

    def _quarantine(self, key: str, blob: bytes, reason: str) -> None:
        log.warning("sync: bundle %s rejected: %s", key, reason)

        def do(uow: UnitOfWork) -> None:
            sha = digest(blob)
            q = select(SyncQuarantine).where(
                SyncQuarantine.object_key == key, SyncQuarantine.sha256 == sha
            )
            if uow.session.scalars(q).first() is None:
                uow.session.add(
                    SyncQuarantine(object_key=key, sha256=sha, size=len(blob), reason=reason[:200])
                )

        self.store.write(do)

    def _verify(
        self, key: str, blob: bytes, device: str, seq: int, prev: str, kind: str = "changes"
    ) -> tuple[Header, dict[str, Any]]:
        header, body = open_sealed(blob, self.wrapper)
        if header.clinic != self.id.clinic_id:
            raise BundleError("bundle belongs to another clinic")
        if header.device != device:
            raise BundleError("bundle's device does not match its key (swapped)")
        if header.kind != kind:
            raise BundleError(f"expected a {kind} bundle")
        if header.seq != seq:
            raise BundleError(
                f"bundle says sequence {header.seq} but sits at {seq} (replayed or swapped)"
            )
        if kind == "changes" and header.prev != prev:
            raise BundleError("chain broken: previous-bundle hash does not match")
        return header, body

    def fetch(self) -> tuple[list[tuple[str, Header, list[dict[str, Any]], str]], list[str]]:
        """Download and verify new bundles of other devices (nothing merged yet)."""
        clinic = self.id.clinic_id
        cursors = self.store.read(
            lambda s: {c.device_id: (c.seq, c.sha256) for c in s.scalars(select(SyncCursor))}
        )
        good: list[tuple[str, Header, list[dict[str, Any]], str]] = []
        bad: list[str] = []
        for device in self.transport.list_children(f"v1/{clinic}/dev/"):
            if device == self.id.device_id:
                continue
            seq, prev = cursors.get(device, (0, GENESIS))
            start = bundle_key(clinic, device, seq) if seq else ""
            for key, _ in self.transport.list_keys(f"v1/{clinic}/dev/{device}/", start):
                blob = self.transport.get(key)
                try:
                    at = parse_seq(key)
                    if at <= seq:
                        raise BundleError("bundle key is at or before the cursor (replayed)")
                    header, body = self._verify(key, blob, device, seq + 1, prev)
                    entries = merge.validate(body)
                    if at != seq + 1:
                        raise BundleError(f"gap in the chain: expected {seq + 1}, found {at}")
                except (BundleError, ValueError) as exc:
                    self._quarantine(key, blob, str(exc))
                    bad.append(key)
                    break  # the chain of this device stops here until IT looks at it
                seq, prev = header.seq, digest(blob)
                good.append((key, header, entries, prev))
        return good, bad

    def pull(self, report: SyncReport) -> None:
        """Fetch, verify and merge other devices' bundles in causal order, in one transaction."""
        if self.store.read(_is_fresh):
            report.snapshot_used = self.bootstrap()
        good, bad = self.fetch()
        report.quarantined.extend(bad)
        if not good:
            return

        def do(uow: UnitOfWork) -> None:
            s = uow.session
            s.execute(_text("PRAGMA defer_foreign_keys = ON"))
            clock = self._clock(s)
            capture.capture(s, clock)  # local edits get their clocks before anything merges
            applied = {c.device_id: c for c in s.scalars(select(SyncCursor))}
            waiting = list(good)
            changed: list[tuple[str, str]] = []
            progress = True
            while waiting and progress:
                progress = False
                for item in list(waiting):
                    _, header, entries, sha = item
                    if not self._deps_met(header, applied):
                        continue
                    stats = merge.merge(s, entries, clock, self._known(applied))
                    cur = applied.get(header.device)
                    if cur is None:
                        cur = SyncCursor(
                            device_id=header.device, seq=0, sha256=GENESIS, max_clock=""
                        )
                        s.add(cur)
                        applied[header.device] = cur
                    cur.seq, cur.sha256 = header.seq, sha
                    _advance_frontiers(s, applied, entries, self.id.device_id)
                    waiting.remove(item)
                    progress = True
                    report.bundles_pulled += 1
                    report.records_merged += stats.inserted + stats.updated
                    report.conflicts += stats.conflicts
                    changed.extend(stats.changed)
            state.put(s, state.HLC, clock.state())
            # merged rows are already in their sync state: the next capture need not rescan them
            state.put(s, state.CAPTURE_AT, datetime.now(UTC).isoformat())
            for table, rid in changed[:MAX_BUS_EVENTS]:
                uow.events.append(
                    PatientDataUpdated(record_type=table, record_id=rid, change="synced")
                )

        self.store.write(do)

    def _known(self, applied: dict[str, SyncCursor]) -> Callable[[str], bool]:
        """Is a write (by its clock) already in this store's causal past?"""
        me = self.id.device_id

        def known(text: str) -> bool:
            c = Clock.parse(text)
            if c.device == me:
                return True
            cur = applied.get(c.device)
            return bool(cur and cur.max_clock) and text <= cur.max_clock

        return known

    def _deps_met(self, header: Header, applied: dict[str, SyncCursor]) -> bool:
        cur = applied.get(header.device)
        if (cur.seq if cur else 0) + 1 != header.seq:
            return False
        for dev, seq in header.deps.items():
            if dev == self.id.device_id:
                continue
            have = applied.get(dev)
            if (have.seq if have else 0) < seq:
                return False
        return True

    # ---- snapshots --------------------------------------------------------------------

    def publish_snapshot(self) -> str:
        """Upload the full merged state so a new workstation starts from it, not from seq 1."""
        self.pack()
        self.upload()

        def read(s: Session) -> tuple[int, str, bytes]:
            seq = int(state.get(s, state.HEAD_SEQ, "0"))
            cursors = {c.device_id: [c.seq, c.sha256] for c in s.scalars(select(SyncCursor))}
            cursors[self.id.device_id] = [seq, state.get(s, state.HEAD_SHA, GENESIS)]
            entries = [self._entry(s, st) for st in s.scalars(select(SyncRecordState))]
            header = Header(
                clinic=self.id.clinic_id,
                device=self.id.device_id,
                seq=seq,
                prev=cursors[self.id.device_id][1],
                kind="snapshot",
                deps={},
                wrap=self.wrapper.name,
                created=datetime.now(UTC).isoformat(timespec="seconds"),
            )
            return seq, "", seal(header, {"records": entries, "cursors": cursors}, self.wrapper)

        seq, _, blob = self.store.read(read)
        key = snapshot_key(self.id.clinic_id, self.id.device_id, seq)
        self.transport.put_create_only(key, blob)
        return key

    def bootstrap(self) -> str:
        """On a fresh workstation, start from the newest snapshot in the bucket (if any)."""
        listed = self.transport.list_keys(f"v1/{self.id.clinic_id}/snap/")
        for key, _ in sorted(listed, key=lambda kv: kv[1], reverse=True):
            blob = self.transport.get(key)
            try:
                device = key.split("/")[-2]
                _, body = self._verify(key, blob, device, parse_seq(key), "", kind="snapshot")
                entries = merge.validate(body)
                cursors = {str(d): (int(v[0]), str(v[1])) for d, v in dict(body["cursors"]).items()}
            except (BundleError, ValueError, KeyError, TypeError) as exc:
                self._quarantine(key, blob, str(exc))
                continue

            def do(
                uow: UnitOfWork,
                entries: list[dict[str, Any]] = entries,
                cursors: dict[str, tuple[int, str]] = cursors,
            ) -> None:
                s = uow.session
                s.execute(_text("PRAGMA defer_foreign_keys = ON"))
                clock = self._clock(s)
                applied = {c.device_id: c for c in s.scalars(select(SyncCursor))}
                merge.merge(s, entries, clock, self._known(applied))
                for dev, (seq, sha) in cursors.items():
                    if dev == self.id.device_id:
                        continue
                    cur = applied.get(dev)
                    if cur is None:
                        cur = SyncCursor(device_id=dev, seq=0, sha256=GENESIS, max_clock="")
                        s.add(cur)
                        applied[dev] = cur
                    cur.seq, cur.sha256 = seq, sha
                _advance_frontiers(s, applied, entries, self.id.device_id)
                state.put(s, state.HLC, clock.state())

            self.store.write(do)
            return key
        return ""

    # ---- the cycle --------------------------------------------------------------------

    def run(self) -> SyncReport:
        """One full cycle: pack, upload, publish events, pull and merge."""
        report = SyncReport()
        self.pack()
        report.bundles_pushed, report.records_pushed = self.upload()
        report.events_published = self.publish_events()
        self.pull(report)
        self.store.write(
            lambda uow: state.put(uow.session, state.LAST_SYNC, datetime.now(UTC).isoformat())
        )
        return report


def _advance_frontiers(
    s: Session, applied: dict[str, SyncCursor], entries: list[dict[str, Any]], me: str
) -> None:
    """Remember the newest clock seen from each device (writes up to it are known here)."""
    newest: dict[str, str] = {}
    for e in entries:
        for rc, _ in e["c"].values():
            dev = rc.split("-", 2)[2]
            if dev and rc > newest.get(dev, ""):
                newest[dev] = rc
    for dev, rc in newest.items():
        if dev == me:
            continue
        cur = applied.get(dev)
        if cur is None:
            cur = SyncCursor(device_id=dev, seq=0, sha256=GENESIS, max_clock="")
            s.add(cur)
            applied[dev] = cur
        if rc > (cur.max_clock or ""):
            cur.max_clock = rc


def _text(sql: str) -> Any:  # noqa: ANN401
    from sqlalchemy import text

    return text(sql)


def _is_fresh(s: Session) -> bool:
    """No cursor yet: a new workstation that has merged nothing from the clinic."""
    return not (s.scalar(select(func.count()).select_from(SyncCursor)) or 0)


def status_counts(s: Session) -> dict[str, Any]:
    """Counts for the status bar: pending changes, unsent bundles, open conflicts, quarantine."""

    def count(model: type, *where: Any) -> int:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    return {
        "pending_records": capture.pending_count(s),
        "unsent_bundles": count(SyncOutgoing, SyncOutgoing.uploaded_at.is_(None)),
        "open_conflicts": count(SyncConflict, SyncConflict.resolved_at.is_(None)),
        "quarantined": count(SyncQuarantine),
        "last_sync_at": state.get(s, state.LAST_SYNC),
        "last_error": state.get(s, state.LAST_ERROR),
    }
