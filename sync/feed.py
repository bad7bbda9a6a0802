"""The clinic's change feed: which devices have new bundles, in one listing per cycle.

After each bundle upload a device writes an empty, create-only marker

    v2/<clinic>/feed/<its wall-clock ms:013d>/<device>/<seq:012d>.nmf

Keys sort by time, so a reader lists only markers after the newest it has seen (or after
its last full scan), less a window for writers whose clocks run behind (twice the drift
bound). It remembers, per device, the highest bundle number a marker announced, and while
that is above the device's cursor it fetches the bundles in between by key (no listing).
Markers are hints, not trusted data: a forged one costs a failed GET, and a missing one
(deleted, or written by a clock further behind than the window) is caught by the full scan
of every device prefix, done at the first sync and then every FULL_SCAN_MS.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from app.core.store.store import Store, UnitOfWork
from sync import state
from sync.transport import Transport, devices_prefix, feed_prefix, parse_feed_key

FULL_SCAN_MS = 30 * 60 * 1000


def devices_to_list(
    store: Store,
    transport: Transport,
    clinic: str,
    me: str,
    cursors: dict[str, int],
    window_ms: int,
    now_ms: Callable[[], int],
) -> dict[str, int | None]:
    """The other devices to read this cycle: {device: highest bundle announced}, or
    {device: None} for every device on a full scan (its prefix is listed)."""
    after, heads, last_full = store.read(
        lambda s: (
            int(state.get(s, state.FEED_AFTER) or "-1"),
            json.loads(state.get(s, state.FEED_HEADS) or "{}"),
            int(state.get(s, state.FULL_SCAN_AT) or "0"),
        )
    )
    known_heads = dict(heads)
    now = now_ms()
    full = after < 0 or now - last_full >= FULL_SCAN_MS
    if full:  # every prefix is listed: the feed starts again from now
        devices: dict[str, int | None] = {
            d: None for d in transport.list_children(devices_prefix(clinic)) if d != me
        }
        newest = now
    else:
        start = f"{feed_prefix(clinic)}{max(0, after - window_ms):013d}"
        newest = after
        for key, _ in transport.list_keys(feed_prefix(clinic), start):
            try:
                ms, device, seq = parse_feed_key(key)
            except ValueError:
                continue
            if ms <= now + window_ms:  # a marker from the far future must not stall the feed
                newest = max(newest, ms)
            if seq > heads.get(device, 0):
                heads[device] = seq
        devices = {
            d: seq for d, seq in sorted(heads.items()) if d != me and seq > cursors.get(d, 0)
        }

    def save(uow: UnitOfWork) -> None:
        state.put(uow.session, state.FEED_AFTER, str(newest))
        state.put(uow.session, state.FEED_HEADS, json.dumps(heads, sort_keys=True))
        if full:
            state.put(uow.session, state.FULL_SCAN_AT, str(now))

    if full or newest != after or heads != known_heads:
        store.write(save)
    return devices
