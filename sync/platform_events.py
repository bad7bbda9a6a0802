"""What leaves the workstation for the clinic's EventBridge bus: codes and counts, no PHI.

The outbox's events are summarised, one entry per (event, record type). `Detail` holds
exactly these keys: event, clinic_id, device_id, bundle_key, record_type, count. No patient
id, score, probability or alert rule name ever goes this way.
"""

from __future__ import annotations

import json
from collections import defaultdict

from sync import records

DETAIL_KEYS = ("event", "clinic_id", "device_id", "bundle_key", "record_type", "count")


def record_type(event: str, payload_json: str) -> str:
    """The table an outbox event concerns, from its name or its payload's record type."""
    if event in records.EVENT_ID_FIELDS:
        return records.EVENT_ID_FIELDS[event][0]
    try:
        payload = json.loads(payload_json)
    except ValueError:
        return ""
    return records.RECORD_TYPE_TABLE.get(str(payload.get("record_type", ""))) or ""


def summarise(
    rows: list[tuple[int, str, str]], clinic_id: str, device_id: str, bundle_key: str
) -> list[dict[str, str]]:
    """EventBridge entries for outbox rows (seq, event, payload JSON)."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for _, event, payload in rows:
        counts[(event, record_type(event, payload))] += 1
    out = []
    for (event, table), n in sorted(counts.items()):
        detail = dict(
            zip(DETAIL_KEYS, (event, clinic_id, device_id, bundle_key, table, n), strict=True)
        )
        out.append(
            {"Source": "novamind.desktop", "DetailType": event, "Detail": json.dumps(detail)}
        )
    return out
