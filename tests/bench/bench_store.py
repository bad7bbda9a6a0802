"""What encryption costs on one SQLite build, and how fast a clinic migrates in from FHIR.

`python -m tests.bench store`. Sizes: NOVAMIND_BENCH_PATIENTS (ORM workload, 10,000),
NOVAMIND_BENCH_REPEATS (3), NOVAMIND_BENCH_MIGRATE_PATIENTS (100) and
NOVAMIND_BENCH_MIGRATE_RESPONSES (130 per patient: five years, fortnightly).

Encryption cost: both sides open their file with sqlcipher3 (SQLCipher 4 and the SQLite it
bundles), the encrypted side keyed as the store keys it (raw 256-bit key, no KDF:
`engine.connect_raw`), the plain side the same library with no key, which writes an ordinary
SQLite file (checked by its header). Python's own sqlite3 is a different SQLite (another
version, other compile options) and is not used, so the ratio is encryption alone. Both sides
share pragmas (WAL, synchronous=FULL, foreign keys), the pool and BEGIN handling of
`make_engine`, and the page cache size, stated per row (`PRAGMA cache_size`; the store sets
none, so the app runs with the build's default). Files live in the OS page cache either way:
what the encrypted side pays is AES + HMAC per page moved between SQLite's cache and the file.
Runs are interleaved (the order of plain/encrypted swaps every repeat; a fresh file per run);
figures are medians.

Migration: N patients created through the patient service, then each patient's own FHIR bundle
(PHQ-9 responses + Observations, generated as `bench_fhir_import` does) imported through
`fhir_exchange.import_assessments`, the path of the user's import, into a real encrypted store.
Rows are all rows the store gained (every table, audit and outbox included).
"""

from __future__ import annotations

import os
import platform
import random
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import keyring
import sqlcipher3
from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import QueuePool

from app.core.config import load_settings
from app.core.domain import Role
from app.core.store import migrate
from app.core.store.engine import connect_raw, enable_wal
from app.core.store.models import Encounter, Patient, utcnow
from app.services import fhir_exchange, patients
from app.services.context import AppContext
from tests.bench.bench_fhir_import import make_bundle
from tests.support.keyring_backends import MemoryKeyring
from tests.support.records import make_user

N_PATIENTS = int(os.environ.get("NOVAMIND_BENCH_PATIENTS", "10000"))
REPEATS = int(os.environ.get("NOVAMIND_BENCH_REPEATS", "3"))
MIGRATE_PATIENTS = int(os.environ.get("NOVAMIND_BENCH_MIGRATE_PATIENTS", "100"))
MIGRATE_RESPONSES = int(os.environ.get("NOVAMIND_BENCH_MIGRATE_RESPONSES", "130"))
BATCH = 100  # ORM: patients per transaction
ENCOUNTERS = 2
RAW_PER_PATIENT = 20  # raw SQL: rows per patient
RAW_TXN = 10_000  # raw SQL: rows per executemany transaction
RAW_LOOKUPS = 10_000
# KiB (negative cache_size): SQLite's compiled-in default; SQLCipher's build default, which the
# store runs with (it sets none); large enough to hold every file here.
CACHES_KIB = (2_000, 8_000, 262_144)
MODES = ("plain", "encrypted")
SQLITE_MAGIC = b"SQLite format 3\x00"


def _connect(path: Path, key: bytes | None, cache_kib: int) -> Any:
    """A DB-API connection from sqlcipher3: keyed as the store does, or with no key at all."""
    if key is not None:
        conn = connect_raw(path, key)
    else:
        conn = sqlcipher3.connect(str(path), check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = FULL")
    conn.execute(f"PRAGMA cache_size = -{cache_kib}")
    return conn


def _engine(path: Path, key: bytes | None, cache_kib: int) -> Engine:
    """`make_engine`'s pool and BEGIN over `_connect` (its plain=True is stdlib sqlite3)."""
    engine = create_engine(
        "sqlite://",
        creator=lambda: _connect(path, key, cache_kib),
        module=sqlcipher3,
        poolclass=QueuePool,
        pool_size=5,
        max_overflow=10,
        hide_parameters=True,
    )

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")

    return engine


def _new_file(path: Path, key: bytes | None) -> None:
    if key is not None:
        enable_wal(path, key)
    else:
        conn = sqlcipher3.connect(str(path), isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL").fetchone()
        conn.close()


def _check_file(path: Path, key: bytes | None) -> None:
    """The plain file must be ordinary SQLite and the encrypted one must not be."""
    plain = path.read_bytes()[:16] == SQLITE_MAGIC
    if plain != (key is None):
        raise RuntimeError(f"{path.name}: plain={plain} but key given={key is not None}")


def _orm(path: Path, key: bytes | None, cache_kib: int) -> dict[str, float]:
    _new_file(path, key)
    engine = _engine(path, key, cache_kib)
    with engine.begin() as conn:
        migrate.upgrade(conn)
    t: dict[str, float] = {}
    start = time.perf_counter()
    ids: list[str] = []
    for b in range(0, N_PATIENTS, BATCH):
        with Session(engine) as s, s.begin():
            rows = [
                Patient(
                    mrn=f"B-{i}",
                    given_name=f"G{i}",
                    family_name=f"F{i % 997}",
                    birth_date=date(1950 + i % 50, 1, 1),
                    sex="other",
                )
                for i in range(b, min(b + BATCH, N_PATIENTS))
            ]
            s.add_all(rows)
            s.flush()
            s.add_all(
                Encounter(patient_id=p.id, kind="visit", start=utcnow())
                for p in rows
                for _ in range(ENCOUNTERS)
            )
            ids += [p.id for p in rows]
    t[f"ORM: insert {N_PATIENTS:,} patients + {N_PATIENTS * ENCOUNTERS:,} encounters"] = (
        time.perf_counter() - start
    )
    start = time.perf_counter()
    with Session(engine) as s:
        listed = s.scalars(select(Patient).order_by(Patient.family_name, Patient.given_name)).all()
        counts = s.execute(
            select(Encounter.patient_id, func.count()).group_by(Encounter.patient_id)
        ).all()
    if len(listed) != N_PATIENTS or len(counts) != N_PATIENTS:
        raise RuntimeError("ORM workload: wrong row counts")
    t["ORM: list all patients + group encounter counts"] = time.perf_counter() - start
    start = time.perf_counter()
    with Session(engine) as s:
        for pid in ids[::10]:
            s.get(Patient, pid)
    t[f"ORM: {len(ids[::10]):,} point lookups (Session.get)"] = time.perf_counter() - start
    with engine.connect() as conn:
        cache = conn.execute(text("PRAGMA cache_size")).scalar()
    engine.dispose()
    if cache != -cache_kib:
        raise RuntimeError(f"cache_size is {cache}, wanted -{cache_kib}")
    _check_file(path, key)
    return t


def _raw_rows(n: int) -> Iterator[tuple[int, int, str, str, int, str]]:
    rng = random.Random(7)
    for i in range(n):
        yield (
            i + 1,
            i % N_PATIENTS,
            ("phq9", "gad7", "visit", "note")[i % 4],
            f"20{20 + i % 6}-{1 + i % 12:02d}-{1 + i % 28:02d}T10:00:00",
            rng.randrange(28),
            f"free text {rng.getrandbits(160):040x}",
        )


def _raw(path: Path, key: bytes | None, cache_kib: int) -> dict[str, float]:
    _new_file(path, key)
    conn = _connect(path, key, cache_kib)
    conn.execute(
        "CREATE TABLE obs (id INTEGER PRIMARY KEY, patient INTEGER NOT NULL, kind TEXT NOT NULL,"
        " at TEXT NOT NULL, score INTEGER NOT NULL, note TEXT NOT NULL)"
    )
    conn.execute("CREATE INDEX obs_patient_at ON obs (patient, at)")
    n = N_PATIENTS * RAW_PER_PATIENT
    rows = list(_raw_rows(n))
    t: dict[str, float] = {}
    start = time.perf_counter()
    for b in range(0, n, RAW_TXN):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO obs VALUES (?,?,?,?,?,?)", rows[b : b + RAW_TXN])
        conn.execute("COMMIT")
    t[f"raw: executemany {n:,} rows ({RAW_TXN:,} per txn)"] = time.perf_counter() - start
    start = time.perf_counter()
    conn.execute("BEGIN")
    listed = conn.execute("SELECT * FROM obs ORDER BY patient, at").fetchall()
    groups = conn.execute(
        "SELECT patient, count(*), avg(score), max(at) FROM obs GROUP BY patient"
    ).fetchall()
    conn.execute("COMMIT")
    if len(listed) != n or len(groups) != N_PATIENTS:
        raise RuntimeError("raw workload: wrong row counts")
    t["raw: list all rows by (patient, at) + group by patient"] = time.perf_counter() - start
    probe = random.Random(11).sample(range(1, n + 1), min(RAW_LOOKUPS, n))
    start = time.perf_counter()
    conn.execute("BEGIN")
    for rid in probe:
        conn.execute("SELECT * FROM obs WHERE id = ?", (rid,)).fetchone()
    conn.execute("COMMIT")
    t[f"raw: {len(probe):,} point lookups by id"] = time.perf_counter() - start
    conn.close()
    _check_file(path, key)
    return t


def _ratio_table() -> None:
    runs: dict[tuple[str, int, str], list[float]] = {}
    keys: list[tuple[str, int]] = []
    for rep in range(REPEATS):
        for cache in CACHES_KIB:
            for mode in MODES if rep % 2 == 0 else MODES[::-1]:
                for work in (_orm, _raw):
                    with tempfile.TemporaryDirectory() as d:
                        key = secrets.token_bytes(32) if mode == "encrypted" else None
                        timings = work(Path(d) / "b.db", key, cache)
                    for name, v in timings.items():
                        runs.setdefault((name, cache, mode), []).append(v)
                        if (name, cache) not in keys:
                            keys.append((name, cache))
    print("| workload | page cache | plain s (min–max) | encrypted s (min–max) | ratio |")
    print("| --- | ---: | ---: | ---: | ---: |")
    totals: dict[tuple[str, int], list[float]] = {}
    names = list(dict.fromkeys(k[0] for k in keys))
    for name, cache in sorted(keys, key=lambda k: (names.index(k[0]), k[1])):
        ps, cs = runs[(name, cache, "plain")], runs[(name, cache, "encrypted")]
        p, c = statistics.median(ps), statistics.median(cs)
        tot = totals.setdefault((name[:3], cache), [0.0, 0.0])
        tot[0], tot[1] = tot[0] + p, tot[1] + c
        print(
            f"| {name} | {cache:,} KiB | {p:.3f} ({min(ps):.3f}–{max(ps):.3f}) "
            f"| {c:.3f} ({min(cs):.3f}–{max(cs):.3f}) | {c / p:.2f}× |"
        )
    for (kind, cache), (p, c) in sorted(totals.items()):
        print(f"| **{kind} total** | {cache:,} KiB | {p:.3f} | {c:.3f} | **{c / p:.2f}×** |")
    print(f"\n(median of {REPEATS} interleaved runs per cell, a fresh file each)\n")


def _table_rows(ctx: AppContext) -> int:
    with ctx.store.engine.connect() as conn:
        names = conn.execute(
            text("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")
        ).scalars()
        return sum(
            conn.execute(text(f'SELECT count(*) FROM "{n}"')).scalar() or 0 for n in list(names)
        )


@contextmanager
def _clinic_context() -> Iterator[AppContext]:
    keyring.set_keyring(MemoryKeyring())
    with tempfile.TemporaryDirectory() as d:
        ctx = AppContext.open(load_settings({"NOVAMIND_DATA_DIR": d, "NOVAMIND_POLICY": d + "/p"}))
        try:
            yield ctx
        finally:
            ctx.close()


def migrate_clinic(n_patients: int, per_patient: int, bundles: Path) -> dict[str, float]:
    """Create `n_patients` and import each one's FHIR bundle through the service; figures."""
    paths = []
    for i in range(n_patients):  # generated before the clock starts
        paths.append(bundles / f"p{i}.json")
        make_bundle(paths[-1], per_patient, seed=i)
    size = sum(p.stat().st_size for p in paths)
    with _clinic_context() as ctx:
        doc = make_user(ctx, "dr", Role.CLINICIAN)
        rows0 = _table_rows(ctx)
        imported, t_import = 0, 0.0
        start = time.perf_counter()
        for i, path in enumerate(paths):
            pid = patients.create_patient(
                ctx,
                doc,
                mrn=f"M-{i:06d}",
                given_name=f"G{i}",
                family_name=f"F{i % 997}",
                birth_date=date(1950 + i % 50, 1, 1),
                sex="other",
            )
            t0 = time.perf_counter()
            imported += len(fhir_exchange.import_assessments(ctx, doc, pid, path).assessment_ids)
            t_import += time.perf_counter() - t0
        total = time.perf_counter() - start
        rows = _table_rows(ctx) - rows0
    if imported != n_patients * per_patient:
        raise RuntimeError(f"imported {imported}, expected {n_patients * per_patient}")
    return {
        "patients": n_patients,
        "responses": imported,
        "rows": rows,
        "bundle_mb": size / 1e6,
        "seconds": total,
        "import_seconds": t_import,
    }


def _migration_table() -> None:
    with tempfile.TemporaryDirectory() as d:
        f = migrate_clinic(MIGRATE_PATIENTS, MIGRATE_RESPONSES, Path(d))
    s = f["seconds"]
    print(
        f"Clinic migration: {f['patients']:,} patients × {MIGRATE_RESPONSES} PHQ-9 responses "
        f"(one bundle each, {f['bundle_mb']:.1f} MB of FHIR JSON in all), encrypted store\n"
    )
    print("| figure | value |\n| --- | ---: |")
    print(f"| wall time (create patient + import bundle, per patient) | {s:.1f} s |")
    print(f"| of which `import_assessments` | {f['import_seconds']:.1f} s |")
    print(f"| rows the store gained (all tables) | {f['rows']:,} |")
    print(f"| rows/s | {f['rows'] / s:,.0f} |")
    print(f"| responses/s | {f['responses'] / s:,.0f} |")
    print(f"| patients/s | {f['patients'] / s:.2f} |")
    print(
        f"| 10,000 such patients, extrapolated at this rate | "
        f"{10_000 / (f['patients'] / s) / 3600:.1f} h |"
    )
    print()


def _service_listing() -> None:
    with _clinic_context() as ctx:
        sup = make_user(ctx, "sup", Role.SUPERVISOR)
        with Session(ctx.store.engine) as s, s.begin():
            s.add_all(
                Patient(
                    mrn=f"L-{i}",
                    given_name=f"G{i}",
                    family_name=f"F{i}",
                    birth_date=date(1980, 1, 1),
                    sex="other",
                )
                for i in range(N_PATIENTS)
            )
        times = []
        for _ in range(5):
            start = time.perf_counter()
            rows = patients.list_patients(ctx, sup)
            times.append(time.perf_counter() - start)
        if len(rows) != N_PATIENTS:
            raise RuntimeError("list_patients: wrong count")
    print("| service call | median (ms) |\n| --- | ---: |")
    print(
        f"| list_patients, {N_PATIENTS:,} visible (scoped query + alerts + risk + audit) | "
        f"{statistics.median(times) * 1000:.0f} |"
    )


def _versions() -> str:
    conn = sqlcipher3.connect(":memory:")
    try:
        sqlite_v = conn.execute("SELECT sqlite_version()").fetchone()[0]
        cipher_v = conn.execute("PRAGMA cipher_version").fetchone()[0]
        default_cache = conn.execute("PRAGMA cache_size").fetchone()[0]
    finally:
        conn.close()
    return (
        f"sqlcipher3 (SQLCipher {cipher_v}, SQLite {sqlite_v}; build default cache_size "
        f"{default_cache}), page size 4,096 B, HMAC-SHA512, raw key (no KDF)"
    )


def _timed(label: str, fn: Callable[[], None]) -> None:
    load0 = os.getloadavg()[0]
    start = time.perf_counter()
    fn()
    print(
        f"({label}: {time.perf_counter() - start:.0f} s, load average {load0:.1f} → "
        f"{os.getloadavg()[0]:.1f})\n"
    )


def main() -> None:
    print(f"{_versions()}; {platform.machine()}, {os.cpu_count()} CPUs\n")
    _timed("encryption cost", _ratio_table)
    _timed("migration", _migration_table)
    _timed("listing", _service_listing)


if __name__ == "__main__":
    main()
