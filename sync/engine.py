"""The sync cycle: capture and pack local changes, upload them, publish events, pull and merge.

Every step leaves its progress in the store, so a process killed at any point resumes:
sealed bundles wait in `sync_outgoing` until the bucket has them (create-only PUT, so a
repeated upload is harmless), and a pull merges all verified bundles and advances the
cursors in one transaction.

Nothing from the bucket is trusted: the device registry is verified against the IT key
pinned at enrolment; every bundle's signature against its device's certificate (and its
revocation cut-off) before it is decrypted; its clocks against the drift bound; its records
against the device's authority (sync.authority) before anything is written. A failure
quarantines the bundle (audited, reason without PHI) and stops that device's chain.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.core.errors import ConfigError
from app.core.events import Change, PatientDataUpdated
from app.core.store.models import (
    ActigraphyChunk,
    OutboxEvent,
    SyncConflict,
    SyncCursor,
    SyncOutgoing,
    SyncQuarantine,
    SyncRecordState,
    utcnow,
)
from app.core.store.store import SYSTEM, Store, UnitOfWork
from sync import (
    audit_share,
    authority,
    capture,
    collisions,
    feed,
    merge,
    platform_events,
    records,
    state,
)
from sync.envelope import (
    DEFAULT_MAX_INFLATED,
    GENESIS,
    BundleError,
    ClinicKeyRing,
    Header,
    digest,
    open_sealed,
    read_header,
    seal,
    signed_part,
)
from sync.hlc import Clock, HybridClock
from sync.identity import DeviceKeys, TrustError, fingerprint, verify_raw
from sync.membership import require_identity
from sync.registry import MAX_ENTRY, Registry, registry_key, registry_prefix
from sync.transport import (
    MissingError,
    TooLargeError,
    Transport,
    bundle_key,
    device_prefix,
    feed_key,
    parse_seq,
    snapshot_key,
    snapshots_prefix,
)

log = logging.getLogger(__name__)
MAX_RECORDS_PER_BUNDLE = 5000
MAX_BUS_EVENTS = 1000
MAX_ANNOUNCED_PER_CYCLE = 10_000
# a verified bundle: (key, header, records, its sha256, the device's roles, its audit events)
Fetched = tuple[str, Header, list[dict[str, Any]], str, frozenset[str], list[dict[str, Any]]]


@dataclass(frozen=True)
class Limits:
    """What a bundle from the bucket may cost (from IT policy)."""

    max_skew_ms: int = 5 * 60 * 1000
    max_download: int = 32 * 1024 * 1024
    max_inflated: int = DEFAULT_MAX_INFLATED


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
    audit_received: int = 0
    anchored: str = ""  # object key of the audit-chain anchor written this cycle


class SyncEngine:
    """One workstation's sync against one bucket."""

    def __init__(
        self,
        store: Store,
        transport: Transport,
        device_keys: DeviceKeys,
        limits: Limits | None = None,
        now_ms: Callable[[], int] | None = None,
    ) -> None:
        ident = require_identity(store)
        self.store, self.transport, self.keys, self.id = store, transport, device_keys, ident
        self.limits = limits or Limits()
        self._now_ms = now_ms or (lambda: int(time.time() * 1000))
        self._registry: Registry | None = None
        self._ring: ClinicKeyRing | None = None

    # ---- the registry -----------------------------------------------------------------

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            text = self.store.read(lambda s: state.get(s, state.REGISTRY))
            self._registry = Registry.from_meta(self.id.clinic_id, self.id.it_public, text)
        return self._registry

    def refresh_registry(self, report: SyncReport | None = None) -> Registry:
        """Read new registry entries from the bucket (verified, chained, never forgotten)."""
        reg = self.registry
        prefix = registry_prefix(self.id.clinic_id)
        start = registry_key(self.id.clinic_id, reg.seq) if reg.seq else ""
        grew = False
        for key, _ in self.transport.list_keys(prefix, start):
            blob = b""
            try:
                if parse_seq(key) != reg.seq + 1:
                    raise TrustError("registry chain has a gap")
                blob = self.transport.get(key, MAX_ENTRY)
                reg.apply(blob)
            except (TrustError, TooLargeError, ValueError) as exc:
                self._quarantine(key, blob, str(exc))
                if report is not None:
                    report.quarantined.append(key)
                break  # keep what verified; nothing after a bad entry is believed
            grew = True
        if grew:
            self.store.write(lambda uow: state.put(uow.session, state.REGISTRY, reg.to_meta()))
            self._ring = None  # a new grant or rotation may have come
        return reg

    def my_cert_roles(self) -> frozenset[str]:
        """The roles IT certified this device for; a clear error until IT has approved it."""
        reg = self.registry
        me = self.id.device_id
        if me in reg.revoked:
            raise ConfigError(
                "This workstation's sync certificate was revoked by IT.",
                hint="Ask IT to enrol it again as a new device.",
            )
        cert = reg.devices.get(me)
        if cert is None or cert.sign_key != self.keys.sign_public:
            raise ConfigError(
                "IT has not approved this workstation for sync yet "
                f"(device {me}, key fingerprint {fingerprint(self.keys.sign_public)}).",
                hint="IT runs 'novamind it enrol-device' with this workstation's request file.",
            )
        return cert.roles

    @property
    def ring(self) -> ClinicKeyRing:
        """The clinic-key versions IT sealed for this device."""
        if self._ring is None:
            self.my_cert_roles()
            reg = self.registry
            try:
                versions = reg.clinic_keys(self.id.device_id, self.keys.box)
            except TrustError as exc:
                raise ConfigError(f"The clinic key sealed for this workstation: {exc}.") from None
            if reg.current_version not in versions:
                raise ConfigError(
                    "IT has not yet sealed the current clinic key for this workstation.",
                    hint="IT runs 'novamind it enrol-device' again or rotates the key.",
                )
            self._ring = ClinicKeyRing(versions, reg.current_version)
        return self._ring

    # ---- push -------------------------------------------------------------------------

    def _clock(self, s: Session) -> HybridClock:
        return HybridClock(self.id.device_id, state.get(s, state.HLC))

    def pack(self) -> int:
        """Capture local edits and seal them into bundles kept in the store; returns how many."""
        roles = self.my_cert_roles()
        ring = self.ring
        made = 0
        while True:
            n = self.store.write(lambda uow: self._pack_one(uow, roles, ring))
            if n == 0:
                return made
            made += 1

    def _pack_one(self, uow: UnitOfWork, roles: frozenset[str], ring: ClinicKeyRing) -> int:
        s = uow.session
        clock = self._clock(s)
        closed: list[SyncConflict] = []
        capture.capture(s, clock, closed)
        collisions.audit_closed(uow, closed)
        local_only = [t for t in records.TABLES if not authority.may_send(roles, t)]
        if local_only:  # accounts on a clinical-only workstation stay on it
            for st in s.scalars(
                select(SyncRecordState).where(
                    SyncRecordState.pending.is_(True), SyncRecordState.table_name.in_(local_only)
                )
            ):
                values = json.loads(st.values_json)
                if not authority.may_send_record(s, roles, st.table_name, values):
                    st.pending = False
        q = (
            select(SyncRecordState)
            .where(SyncRecordState.pending.is_(True))
            .limit(MAX_RECORDS_PER_BUNDLE)
        )
        pending = list(s.scalars(q))
        audit_events, audit_upto = audit_share.pending(s)
        if not pending and not audit_events:
            return 0
        entries = [self._entry(s, st) for st in pending]
        seq = int(state.get(s, state.HEAD_SEQ) or "0") + 1
        prev = state.get(s, state.HEAD_SHA) or GENESIS
        deps = {c.device_id: c.seq for c in s.scalars(select(SyncCursor)) if c.seq}
        header = self._header(seq, prev, "changes", deps, ring.current)
        body = {"records": entries, "audit": audit_events}
        blob = seal(header, body, ring.wrapper(ring.current), self.keys.sign)
        sha = digest(blob)
        key = bundle_key(self.id.clinic_id, self.id.device_id, seq)
        s.add(SyncOutgoing(seq=seq, object_key=key, sha256=sha, data=blob, records=len(entries)))
        for st in pending:
            st.pending = False
        state.put(s, state.HEAD_SEQ, str(seq))
        state.put(s, state.HEAD_SHA, sha)
        state.put(s, state.HLC, clock.state())
        audit_share.mark_sent(s, audit_upto)
        return max(1, len(entries))

    def _header(self, seq: int, prev: str, kind: str, deps: dict[str, int], kv: int) -> Header:
        return Header(
            clinic=self.id.clinic_id,
            device=self.id.device_id,
            seq=seq,
            prev=prev,
            kind=kind,
            deps=deps,
            wrap="clinic-aesgcm",
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            kv=kv,
        )

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
        records_sent = 0
        for seq, key, n in todo:
            data = self.store.read(partial(self._outgoing_data, seq=seq))
            self.transport.put_create_only(key, data)
            marker = feed_key(self.id.clinic_id, self._now_ms(), self.id.device_id, seq)
            self.transport.put_create_only(marker, b"")  # before marking: a crash re-sends it
            self.store.write(partial(self._mark_uploaded, seq=seq))
            records_sent += n
        return len(todo), records_sent

    @staticmethod
    def _outgoing_data(s: Session, seq: int) -> bytes:
        return s.get_one(SyncOutgoing, seq).data

    @staticmethod
    def _mark_uploaded(uow: UnitOfWork, seq: int) -> None:
        row = uow.session.get_one(SyncOutgoing, seq)
        row.uploaded_at = utcnow()
        row.data = b""  # the bucket has it now; keep only its sequence number and hash

    def publish_events(self) -> int:
        """Tell the clinic's EventBridge what changed (sync.platform_events: codes, counts)."""
        if not self.id.event_bus:
            return 0
        upto = self.store.read(lambda s: int(state.get(s, state.CAPTURE_OUTBOX) or "0"))
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
        head = self.store.read(lambda s: int(state.get(s, state.HEAD_SEQ) or "0"))
        key = bundle_key(self.id.clinic_id, self.id.device_id, head) if head else ""
        entries = platform_events.summarise(rows, self.id.clinic_id, self.id.device_id, key)
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
        return len(entries)

    # ---- pull -------------------------------------------------------------------------

    def _quarantine(self, key: str, blob: bytes, reason: str, size: int | None = None) -> None:
        self.store.write(lambda uow: self._quarantine_in(uow, key, blob, reason, size))

    @staticmethod
    def _quarantine_in(
        uow: UnitOfWork, key: str, blob: bytes, reason: str, size: int | None = None
    ) -> None:
        """Record a refused object once (key, hash, size, reason: no PHI) and audit it."""
        sha = digest(blob)
        q = select(SyncQuarantine).where(
            SyncQuarantine.object_key == key, SyncQuarantine.sha256 == sha
        )
        if uow.session.scalars(q).first() is not None:
            return
        log.warning("sync: object %s rejected: %s", key, reason)
        uow.session.add(
            SyncQuarantine(
                object_key=key,
                sha256=sha,
                size=len(blob) if size is None else size,
                reason=reason[:200],
            )
        )
        uow.audit(
            SYSTEM,
            "sync.quarantine",
            record_type="bundle",
            record_id=_key_device(key),
            detail={"object_key": key, "reason": reason[:200]},
        )

    def _signed_by(self, blob: bytes, device: str, seq: int) -> tuple[Header, frozenset[str]]:
        """The clear header, after checking it names this position and that the device's
        certificate (within its revocation cut-off) verifies the signature."""
        header, _ = read_header(blob)
        if header.clinic != self.id.clinic_id:
            raise BundleError("bundle belongs to another clinic")
        if header.device != device:
            raise BundleError("bundle's device does not match its key (swapped)")
        if header.seq != seq:
            raise BundleError(
                f"bundle says sequence {header.seq} but sits at {seq} (replayed or swapped)"
            )
        try:
            cert = self.registry.cert_for_bundle(device, header.seq)
            signed, signature = signed_part(blob)
            verify_raw(cert.sign_key, signature, signed)
        except TrustError as exc:
            raise BundleError(str(exc)) from None
        return header, cert.roles

    def verify(
        self, blob: bytes, device: str, seq: int, kind: str = "changes"
    ) -> tuple[Header, dict[str, Any], frozenset[str]]:
        """Signature first, then decryption, then every record: (header, body, cert roles)."""
        header, roles = self._signed_by(blob, device, seq)
        if header.kind != kind:
            raise BundleError(f"expected a {kind} bundle")
        header, body = open_sealed(blob, self.ring.wrapper(header.kv), self.limits.max_inflated)
        entries = merge.validate(body)
        self._check_clocks(entries)
        body["records"] = entries
        if kind == "changes":
            body["audit"] = audit_share.validate(body.get("audit"))
        return header, body, roles

    def _check_clocks(self, entries: list[dict[str, Any]]) -> None:
        """Refuse clocks beyond the drift bound (they would win every later conflict)."""
        limit = self._now_ms() + self.limits.max_skew_ms
        for e in entries:
            for rc, _ in e["c"].values():
                if Clock.parse(rc).ms > limit:
                    raise BundleError(
                        "a clock is beyond the drift bound (device clock too far ahead)"
                    )

    def _download(self, key: str) -> bytes:
        return self.transport.get(key, self.limits.max_download)

    def fetch(
        self,
    ) -> tuple[list[Fetched], list[str]]:
        """Download and verify new bundles of other devices (nothing merged yet)."""
        clinic = self.id.clinic_id
        cursors = self.store.read(
            lambda s: {c.device_id: (c.seq, c.sha256) for c in s.scalars(select(SyncCursor))}
        )
        good: list[Fetched] = []
        bad: list[str] = []
        refreshed = False
        to_list = feed.devices_to_list(
            self.store,
            self.transport,
            clinic,
            self.id.device_id,
            {d: seq for d, (seq, _) in cursors.items()},
            max(2 * self.limits.max_skew_ms, 60_000),
            self._now_ms,
        )
        for device, head in to_list.items():
            if device not in self.registry.devices and not refreshed:
                self.refresh_registry()  # approved since this cycle began?
                refreshed = True
            seq, prev = cursors.get(device, (0, GENESIS))
            for key in self._new_keys(device, seq, head):
                blob = b""
                try:
                    at = parse_seq(key)
                    if at <= seq:
                        raise BundleError("bundle key is at or before the cursor (replayed)")
                    if at != seq + 1:
                        raise BundleError(f"gap in the chain: expected {seq + 1}, found {at}")
                    self.registry.cert_for_bundle(device, at)  # before downloading a byte
                    blob = self._download(key)
                    header, body, roles = self.verify(blob, device, seq + 1)
                    if header.prev != prev:
                        raise BundleError("chain broken: previous-bundle hash does not match")
                except TooLargeError as exc:
                    self._quarantine(key, b"", str(exc), size=exc.size)
                    bad.append(key)
                    break
                except MissingError:
                    break  # announced but not (yet) there: the full scan settles it
                except (BundleError, TrustError, ValueError) as exc:
                    self._quarantine(key, blob, str(exc))
                    bad.append(key)
                    break  # the chain of this device stops here until IT looks at it
                seq, prev = header.seq, digest(blob)
                good.append((key, header, body["records"], prev, roles, body["audit"]))
        return good, bad

    def _new_keys(self, device: str, seq: int, head: int | None) -> Iterator[str]:
        """Keys of a device's bundles after `seq`: listed (full scan), or named up to the
        announced `head` — lazily and at most MAX_ANNOUNCED_PER_CYCLE, since a marker can lie."""
        clinic = self.id.clinic_id
        if head is not None:
            last = min(head, seq + MAX_ANNOUNCED_PER_CYCLE)
            return (bundle_key(clinic, device, n) for n in range(seq + 1, last + 1))
        start = bundle_key(clinic, device, seq) if seq else ""
        return (k for k, _ in self.transport.list_keys(device_prefix(clinic, device), start))

    def pull(self, report: SyncReport) -> None:
        """Fetch, verify and merge other devices' bundles in causal order, in one transaction."""
        if self.store.read(_is_fresh):
            report.snapshot_used = self.bootstrap(report)
        good, bad = self.fetch()
        report.quarantined.extend(bad)
        if not good:
            return

        def do(uow: UnitOfWork) -> None:
            s = uow.session
            s.execute(text("PRAGMA defer_foreign_keys = ON"))
            clock = self._clock(s)
            closed: list[SyncConflict] = []
            capture.capture(s, clock, closed)  # local edits get their clocks before any merge
            collisions.audit_closed(uow, closed)
            applied = {c.device_id: c for c in s.scalars(select(SyncCursor))}
            waiting = list(good)
            changed: list[tuple[str, str, str]] = []
            blocked: set[str] = set()
            progress = True
            while waiting and progress:
                progress = False
                for item in list(waiting):
                    key, header, entries, sha, roles, audit_events = item
                    if header.device in blocked:
                        waiting.remove(item)
                        continue
                    if not self._deps_met(header, applied):
                        continue
                    waiting.remove(item)
                    progress = True
                    try:
                        authority.check(s, entries, roles)
                        audit_share.check_links(s, header.device, audit_events)
                    except BundleError as exc:
                        self._quarantine_in(uow, key, b"", str(exc))
                        report.quarantined.append(key)
                        blocked.add(header.device)
                        continue
                    stats = merge.merge(s, entries, clock, self._known(applied))
                    collisions.audit_closed(uow, stats.closed)
                    report.audit_received += audit_share.store(s, header.device, audit_events)
                    cur = _cursor(s, applied, header.device)
                    cur.seq, cur.sha256 = header.seq, sha
                    _advance_frontiers(s, applied, entries, self.id.device_id)
                    report.bundles_pulled += 1
                    report.records_merged += stats.inserted + stats.updated
                    report.conflicts += stats.conflicts
                    changed.extend(stats.changed)
            state.put(s, state.HLC, clock.state())
            # merged rows are already in their sync state: the next capture need not rescan them
            state.put(s, state.CAPTURE_AT, datetime.now(UTC).isoformat())
            for table, rid, pid in changed[:MAX_BUS_EVENTS]:
                uow.events.append(
                    PatientDataUpdated(
                        patient_id=pid, record_type=table, record_id=rid, change=Change.SYNCED
                    )
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
            return cur is not None and bool(cur.max_clock) and text <= cur.max_clock

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
        """Upload the full merged state, signed, so a new workstation starts from it.

        Only an admin-certified workstation (IT's) publishes snapshots: a snapshot relays
        accounts and care teams, which only such a device may author.
        """
        self.refresh_registry()
        if not authority.may_send(self.my_cert_roles(), "users"):
            raise ConfigError(
                "Snapshots are published from an admin-certified workstation.",
                hint="Run 'novamind sync snapshot' on IT's workstation.",
            )
        self.pack()
        self.upload()
        ring = self.ring

        def read(s: Session) -> tuple[int, bytes]:
            seq = int(state.get(s, state.HEAD_SEQ) or "0")
            head = state.get(s, state.HEAD_SHA) or GENESIS
            cursors = {
                c.device_id: [c.seq, c.sha256] for c in s.scalars(select(SyncCursor)) if c.seq
            }
            cursors[self.id.device_id] = [seq, head]
            entries = [self._entry(s, st) for st in s.scalars(select(SyncRecordState))]
            header = self._header(seq, head, "snapshot", {}, ring.current)
            audit_held = audit_share.held_by_device(s)
            audit_held[self.id.device_id] = audit_share.own_events(s)
            body = {"records": entries, "cursors": cursors, "audit": audit_held}
            return seq, seal(header, body, ring.wrapper(ring.current), self.keys.sign)

        seq, blob = self.store.read(read)
        key = snapshot_key(self.id.clinic_id, self.id.device_id, seq)
        self.transport.put_create_only(key, blob)
        return key

    def _verify_snapshot(
        self, key: str, blob: bytes
    ) -> tuple[
        list[dict[str, Any]],
        dict[str, tuple[int, str]],
        frozenset[str],
        dict[str, list[dict[str, Any]]],
    ]:
        device = key.split("/")[-2]
        header, body, roles = self.verify(blob, device, parse_seq(key), kind="snapshot")
        if "admin" not in roles:
            raise BundleError("snapshot from a device not certified for admin")
        try:
            cursors = {str(d): (int(v[0]), str(v[1])) for d, v in dict(body["cursors"]).items()}
        except (KeyError, TypeError, ValueError, IndexError):
            raise BundleError("snapshot cursors are malformed") from None
        if cursors.get(device, (-1, ""))[0] != header.seq:
            raise BundleError("snapshot does not name its own chain head")
        for dev, (seq, sha) in cursors.items():
            self._check_chain_head(dev, seq, sha)
        raw = body.get("audit") or {}
        if not isinstance(raw, dict):
            raise BundleError("snapshot audit history is malformed")
        audit_by_device = {str(d): audit_share.validate(v) for d, v in raw.items()}
        return body["records"], cursors, roles | {"clinical"}, audit_by_device

    def _check_chain_head(self, device: str, seq: int, sha: str) -> None:
        """A snapshot's cursor must name a real, signed bundle of a certified device."""
        if seq == 0:
            return
        try:
            self.registry.cert_for_bundle(device, seq)
            blob = self._download(bundle_key(self.id.clinic_id, device, seq))
        except TrustError as exc:
            raise BundleError(f"snapshot cursor: {exc}") from None
        except Exception:  # noqa: BLE001 — missing object or transport refusal
            raise BundleError("snapshot cursor names a bundle the bucket does not have") from None
        if digest(blob) != sha:
            raise BundleError("snapshot cursor does not match that device's chain head")
        try:
            self._signed_by(blob, device, seq)
        except BundleError as exc:
            raise BundleError(f"snapshot cursor: {exc}") from None

    def bootstrap(self, report: SyncReport | None = None) -> str:
        """On a fresh workstation, start from the newest verified snapshot in the bucket."""
        listed = self.transport.list_keys(snapshots_prefix(self.id.clinic_id))
        for key, _ in sorted(listed, key=lambda kv: kv[1], reverse=True):
            blob = b""
            try:
                blob = self._download(key)
                entries, cursors, roles, audit_by_device = self._verify_snapshot(key, blob)
            except TooLargeError as exc:
                self._quarantine(key, b"", str(exc), size=exc.size)
                continue
            except (BundleError, TrustError, ValueError) as exc:
                self._quarantine(key, blob, str(exc))
                if report is not None:
                    report.quarantined.append(key)
                continue

            def do(
                uow: UnitOfWork,
                key: str = key,
                entries: list[dict[str, Any]] = entries,
                cursors: dict[str, tuple[int, str]] = cursors,
                roles: frozenset[str] = roles,
                audit_by_device: dict[str, list[dict[str, Any]]] = audit_by_device,
            ) -> bool:
                s = uow.session
                s.execute(text("PRAGMA defer_foreign_keys = ON"))
                try:
                    authority.check(s, entries, roles)
                    relayed = {d: e for d, e in audit_by_device.items() if d != self.id.device_id}
                    for dev, events in relayed.items():  # never into our own chain
                        audit_share.check_links(s, dev, events)
                except BundleError as exc:
                    self._quarantine_in(uow, key, b"", str(exc))
                    return False
                for dev, events in relayed.items():
                    audit_share.store(s, dev, events)
                clock = self._clock(s)
                applied = {c.device_id: c for c in s.scalars(select(SyncCursor))}
                stats = merge.merge(s, entries, clock, self._known(applied))
                collisions.audit_closed(uow, stats.closed)
                for dev, (seq, sha) in cursors.items():
                    if dev == self.id.device_id:
                        continue
                    cur = _cursor(s, applied, dev)
                    cur.seq, cur.sha256 = seq, sha
                _advance_frontiers(s, applied, entries, self.id.device_id)
                state.put(s, state.HLC, clock.state())
                return True

            if self.store.write(do):
                return key
            if report is not None:
                report.quarantined.append(key)
        return ""

    # ---- the cycle --------------------------------------------------------------------

    def run(self) -> SyncReport:
        """One full cycle: registry, pack, upload, publish events, pull and merge."""
        report = SyncReport()
        self.refresh_registry(report)
        self.pack()
        report.bundles_pushed, report.records_pushed = self.upload()
        report.events_published = self.publish_events()
        self.pull(report)
        self.store.write(
            lambda uow: state.put(uow.session, state.LAST_SYNC, datetime.now(UTC).isoformat())
        )
        return report


def _key_device(key: str) -> str:
    """The device id in a bundle or snapshot key ('' for registry entries)."""
    parts = key.split("/")
    return parts[-2] if len(parts) >= 5 and parts[2] in {"dev", "snap"} else ""


def _cursor(s: Session, applied: dict[str, SyncCursor], device: str) -> SyncCursor:
    cur = applied.get(device)
    if cur is None:
        cur = SyncCursor(device_id=device, seq=0, sha256=GENESIS, max_clock="")
        s.add(cur)
        applied[device] = cur
    return cur


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
        cur = _cursor(s, applied, dev)
        if rc > (cur.max_clock or ""):
            cur.max_clock = rc


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
