"""Backup and verified restore of a 10,000-patient store with two years of history.

The store is filled with bulk SQL (fortnightly PHQ-9 + GAD-7, encounters and signed notes for
two years per patient: about 1.3 million rows) because the ORM demo generator would take an
hour at this size. NOVAMIND_BENCH_PATIENTS changes the size.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta

import keyring

from app.core.config import load_settings
from app.core.store.engine import connect_raw
from app.services import backup
from app.services.context import AppContext, cli_actor
from tests.support.keyring_backends import MemoryKeyring

VISITS = 52  # fortnightly for two years


def _fill(ctx: AppContext, n: int) -> int:
    key = ctx.store._key  # noqa: SLF001 — a benchmark may fill the file directly
    conn = connect_raw(ctx.settings.db_path, key)
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = 0
    conn.execute("BEGIN")
    for i in range(n):
        pid = str(uuid.uuid4())
        conn.execute(
            "INSERT INTO patients (id, created_at, updated_at, version, mrn, given_name,"
            " family_name, birth_date, sex, status, is_synthetic)"
            " VALUES (?,?,?,1,?,?,?,?,?,?,1)",
            (
                pid,
                now,
                now,
                f"B-{i:06d}",
                f"Given{i}",
                f"Family{i % 997}",
                "1970-01-01",
                "other",
                "active",
            ),
        )
        a, e, notes = [], [], []
        for v in range(VISITS):
            when = now - timedelta(days=14 * v)
            eid = str(uuid.uuid4())
            e.append((eid, now, now, pid, "follow-up", when))
            answers = json.dumps(
                {"answers": {f"q{k}": (v + k) % 4 for k in range(1, 10)}, "parameters": {}}
            )
            a.append(
                (str(uuid.uuid4()), now, now, pid, "phq9", "1.0", when, answers, 12.0, "moderate")
            )
            a.append((str(uuid.uuid4()), now, now, pid, "gad7", "1.0", when, answers, 8.0, "mild"))
            notes.append(
                (
                    str(uuid.uuid4()),
                    now,
                    now,
                    pid,
                    eid,
                    f"Visit {v}",
                    "Synthetic benchmark note. " * 8,
                    "signed",
                    when,
                )
            )
        conn.executemany(
            "INSERT INTO encounters (id, created_at, updated_at, version, patient_id, kind, start)"
            " VALUES (?,?,?,1,?,?,?)",
            e,
        )
        conn.executemany(
            "INSERT INTO assessment_responses (id, created_at, updated_at, version, patient_id,"
            " instrument, instrument_version, administered_at, mode, answers_json, total, band,"
            " critical, scoring_rule) VALUES (?,?,?,1,?,?,?,?,'self-report',?,?,?,0,'')",
            a,
        )
        conn.executemany(
            "INSERT INTO clinical_notes (id, created_at, updated_at, version, patient_id,"
            " encounter_id, title, body, status, signed_at) VALUES (?,?,?,1,?,?,?,?,?,?)",
            notes,
        )
        rows += 1 + len(a) + len(e) + len(notes)
    conn.execute("COMMIT")
    conn.close()
    return rows


def main() -> None:
    n = int(os.environ.get("NOVAMIND_BENCH_PATIENTS", "10000"))
    keyring.set_keyring(MemoryKeyring())
    with tempfile.TemporaryDirectory() as d:
        settings = load_settings({"NOVAMIND_DATA_DIR": d, "NOVAMIND_POLICY": d + "/none.toml"})
        ctx = AppContext.open(settings)
        t0 = time.perf_counter()
        rows = _fill(ctx, n)
        fill = time.perf_counter() - t0
        size = settings.db_path.stat().st_size + sum(
            p.stat().st_size for p in settings.data_dir.glob("novamind.db-wal")
        )
        t0 = time.perf_counter()
        m = backup.create_backup(ctx, cli_actor())  # includes the verification pass
        take = time.perf_counter() - t0
        ctx.close()
        manifest = settings.backups_path / m.file.replace(backup.SUFFIX, ".json")
        t0 = time.perf_counter()
        backup.verify(settings, manifest)
        verify = time.perf_counter() - t0
        t0 = time.perf_counter()
        backup.restore(settings, manifest, cli_actor())
        restore = time.perf_counter() - t0
    print("| step | seconds |\n| --- | ---: |")
    print(
        f"| fill {n:,} patients, {rows:,} rows, {size / 1e6:.0f} MB "
        f"(bulk SQL, setup only) | {fill:.1f} |"
    )
    print(f"| backup (online export + verification) | {take:.1f} |")
    print(f"| verify an existing backup | {verify:.1f} |")
    print(f"| restore (verify, export into a new store, migrate, check, switch) | {restore:.1f} |")
    print(f"\nbackup file {m.size / 1e6:.0f} MB, {sum(m.counts.values()):,} records")


if __name__ == "__main__":
    main()
