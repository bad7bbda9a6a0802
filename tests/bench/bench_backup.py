"""Backup and verified restore of a 10,000-patient store with two years of history.

The store is filled with bulk SQL (fortnightly PHQ-9 + GAD-7, encounters and signed notes for
two years per patient: about 1.3 million rows) because the ORM demo generator would take an
hour at this size. NOVAMIND_BENCH_PATIENTS changes the size.
"""

from __future__ import annotations

import os
import tempfile
import time

import keyring

from app.core.config import load_settings
from app.services import backup
from app.services.context import AppContext, cli_actor
from tests.bench.filler import fill as _fill
from tests.support.keyring_backends import MemoryKeyring


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
