"""SQLCipher store vs plain SQLite on the same workload (ratio), and listing 10,000 patients.

Both engines use identical pragmas (WAL, synchronous=FULL, foreign keys) and the same ORM
code; runs alternate plain/encrypted so machine noise hits both alike.
"""

from __future__ import annotations

import secrets
import sqlite3
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import keyring
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.config import load_settings
from app.core.domain import Role
from app.core.store import migrate
from app.core.store.engine import enable_wal, make_engine
from app.core.store.models import Encounter, Patient, utcnow
from app.services import patients
from app.services.context import AppContext
from tests.support.keyring_backends import MemoryKeyring
from tests.support.records import make_user

N_PATIENTS = 10_000
BATCH = 100
ENCOUNTERS = 2


def _workload(path: Path, key: bytes, plain: bool) -> dict[str, float]:
    if plain:
        sqlite3.connect(path).execute("PRAGMA journal_mode=WAL").fetchone()
    else:
        enable_wal(path, key)
    engine = make_engine(path, key, plain=plain)
    with engine.begin() as conn:
        migrate.upgrade(conn)
    t = {}
    start = time.perf_counter()
    ids = []
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
                for i in range(b, b + BATCH)
            ]
            s.add_all(rows)
            s.flush()
            s.add_all(
                Encounter(patient_id=p.id, kind="visit", start=utcnow())
                for p in rows
                for _ in range(ENCOUNTERS)
            )
            ids += [p.id for p in rows]
    t["insert 10k patients + 20k encounters (100 txns)"] = time.perf_counter() - start
    start = time.perf_counter()
    with Session(engine) as s:
        listed = s.scalars(select(Patient).order_by(Patient.family_name, Patient.given_name)).all()
        counts = s.execute(
            select(Encounter.patient_id, func.count()).group_by(Encounter.patient_id)
        ).all()
    assert len(listed) == N_PATIENTS and len(counts) == N_PATIENTS
    t["query: list all + group counts"] = time.perf_counter() - start
    start = time.perf_counter()
    with Session(engine) as s:
        for pid in ids[::10]:
            s.get(Patient, pid)
    t["1,000 point lookups"] = time.perf_counter() - start
    engine.dispose()
    return t


def _ratio_table(repeats: int = 3) -> None:
    results: dict[str, dict[str, list[float]]] = {"plain": {}, "sqlcipher": {}}
    for _ in range(repeats):
        for mode in ("plain", "sqlcipher"):
            with tempfile.TemporaryDirectory() as d:
                timings = _workload(Path(d) / "b.db", secrets.token_bytes(32), mode == "plain")
            for k, v in timings.items():
                results[mode].setdefault(k, []).append(v)
    print("| workload | plain SQLite (s) | SQLCipher (s) | ratio |\n| --- | ---: | ---: | ---: |")
    total_p = total_c = 0.0
    for k in results["plain"]:
        p, c = statistics.median(results["plain"][k]), statistics.median(results["sqlcipher"][k])
        total_p, total_c = total_p + p, total_c + c
        print(f"| {k} | {p:.3f} | {c:.3f} | {c / p:.2f}× |")
    print(f"| **total** | {total_p:.3f} | {total_c:.3f} | **{total_c / total_p:.2f}×** |")
    print(f"\n(median of {repeats} alternating runs; target ≤ 1.3×)\n")


def _service_listing() -> None:
    keyring.set_keyring(MemoryKeyring())
    with tempfile.TemporaryDirectory() as d:
        ctx = AppContext.open(load_settings({"NOVAMIND_DATA_DIR": d, "NOVAMIND_POLICY": d + "/p"}))
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
        assert len(rows) == N_PATIENTS
        ctx.close()
    print("| service call | median (ms) |\n| --- | ---: |")
    print(
        f"| list_patients, 10,000 visible (scoped query + alerts + risk + audit) | "
        f"{statistics.median(times) * 1000:.0f} |"
    )


def main() -> None:
    _ratio_table()
    _service_listing()


if __name__ == "__main__":
    main()
