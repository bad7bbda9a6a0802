"""A five-year clinic for benchmarks, built with bulk SQL and cached under /tmp.

On top of ``tests.bench.filler.fill`` (fortnightly PHQ-9/GAD-7, encounters and signed notes for
``years`` years, with medications, admissions, note findings and short actigraphy recordings
for a realistic share), a ``acti_share`` of the patients get ``acti_days`` of minute actigraphy
stored as the actigraphy service stores it (one series, one zlib chunk per day) plus nightly and
circadian results over the whole span. Day chunks are compressed once from a pool of synthetic
days and reused, so the build pays for the writes, not for zlib.

``clinic_5y(n)`` returns a cached store: the data directory, the keyring file holding its keys
(tests.support FileKeyring) and the clinician who sees every patient; the cache is keyed by
size, the schema's head migration and this file's own content, so a changed filler rebuilds.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from app.core.config import Settings, load_settings
from app.core.store import blobs
from app.core.store.engine import connect_raw
from app.services import feature_rows
from app.services.context import AppContext
from tests.bench import filler
from tests.bench.filler import fill

YEARS = 5
VISITS_PER_YEAR = 26  # fortnightly
ACTI_SHARE = 0.1
ACTI_DAYS = 365
POOL_DAYS = 28
FILLER_VERSION = 2  # bump when what this module writes changes (part of the cache key)
USERNAME = "bench.clinician"
PASSWORD = "bench-clinic-5y-passphrase"  # noqa: S105 — a synthetic benchmark account

_SERIES = (
    "INSERT INTO actigraphy_series (id, created_at, updated_at, version, patient_id, start,"
    " epoch_s, n_epochs, chunk_epochs, source, content_sha256)"
    " VALUES (?,?,?,1,?,?,60,?,?,'bench',?)"
)
_CHUNK = (
    'INSERT INTO actigraphy_chunks (series_id, "index", n_epochs, codec, data) VALUES (?,?,?,?,?)'
)
_RESULT = (
    "INSERT INTO actigraphy_results (id, created_at, updated_at, version, series_id, patient_id,"
    " kind, engine_version, data_json) VALUES (?,?,?,1,?,?,?,'bench',?)"
)


@dataclass(frozen=True)
class Clinic:
    """A built store: where it lives and who may sign in to it."""

    data_dir: Path
    keyring_file: Path
    username: str
    password: str
    patients: int
    rows: int
    build_s: float
    store_bytes: int


def _day_pool(seed: int) -> list[np.ndarray]:
    """Synthetic minute counts: quiet nights, active days with bursts (compresses like real)."""
    rng = np.random.default_rng(seed)
    minutes = np.arange(1440)
    awake = (minutes >= 7 * 60) & (minutes < 23 * 60)
    days = []
    for _ in range(POOL_DAYS):
        level = np.where(awake, rng.gamma(2.0, 120.0, 1440), rng.gamma(0.3, 5.0, 1440))
        level[rng.random(1440) < 0.25] = 0.0
        days.append(np.round(level).astype(np.float32))
    return days


def add_actigraphy_years(
    ctx: AppContext, *, share: float = ACTI_SHARE, days: int = ACTI_DAYS, seed: int = 5
) -> int:
    """Give ``share`` of the patients ``days`` of minute actigraphy ending now (series, daily
    chunks, nightly and circadian results), in one transaction; the rows written."""
    key = ctx.store._key  # noqa: SLF001 — a benchmark may fill the file directly
    conn = connect_raw(ctx.settings.db_path, key)
    pids = [r[0] for r in conn.execute("SELECT id FROM patients ORDER BY mrn")]
    chosen = pids[:: max(1, round(1 / share))] if share > 0 else []
    pool = _day_pool(seed)
    blobs_pool = [next(blobs.chunk_array(d))[2] for d in pool]
    now = datetime.now(UTC).replace(tzinfo=None)
    start = (now - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    rng = random.Random(seed)
    rows = 0
    conn.execute("BEGIN")
    for k, pid in enumerate(chosen):
        order = [(k + d) % POOL_DAYS for d in range(days)]
        sha = blobs.content_sha256(np.concatenate([pool[i] for i in order]))
        sid = str(uuid.uuid4())
        conn.execute(_SERIES, (sid, now, now, pid, start, days * 1440, 1440, sha))
        conn.executemany(_CHUNK, [(sid, d, 1440, blobs.CODEC, blobs_pool[i])
                                  for d, i in enumerate(order)])  # fmt: skip
        nightly = [
            {"night_of": (start + timedelta(days=d)).date().isoformat(),
             "tst_min": rng.uniform(300, 480), "sleep_efficiency": rng.uniform(0.7, 0.95),
             "waso_min": rng.uniform(10, 90)}
            for d in range(days)
        ]  # fmt: skip
        weekly = [
            {"first_day": w, "days": 7, "IS": rng.uniform(0.3, 0.9), "IV": rng.uniform(0.3, 1.2),
             "RA": rng.uniform(0.5, 0.95)}
            for w in range(0, days - 6, 7)
        ]  # fmt: skip
        circadian = {"binarized": weekly[-1], "weekly": weekly}
        conn.execute(_RESULT, (str(uuid.uuid4()), now, now, sid, pid, "nightly",
                               json.dumps(nightly)))  # fmt: skip
        conn.execute(_RESULT, (str(uuid.uuid4()), now, now, sid, pid, "circadian",
                               json.dumps(circadian)))  # fmt: skip
        rows += 3 + days
    conn.execute("COMMIT")
    conn.close()
    return rows


def fill_5y(
    ctx: AppContext,
    n: int,
    *,
    years: int = YEARS,
    acti_share: float = ACTI_SHARE,
    acti_days: int = ACTI_DAYS,
    assign_to: str | None = None,
    interleaved: bool = False,
) -> int:
    """``n`` patients with ``years`` of fortnightly care and a year of actigraphy for a share.

    ``interleaved`` writes the visits in time order across patients, as a clinic accrues them
    (a patient's rows spread over the file), instead of patient by patient; fill()'s note
    findings, which need a note written with the patient, are then left out."""
    visits = years * VISITS_PER_YEAR
    if interleaved:
        rows = fill(ctx, n, visits=0, inputs=True, assign_to=assign_to)
        rows += _visits_in_time_order(ctx, visits)
    else:
        rows = fill(ctx, n, visits=visits, inputs=True, assign_to=assign_to)
    _date_nights(ctx)
    rows += add_actigraphy_years(ctx, share=acti_share, days=acti_days)
    # the bulk SQL after fill() left feature rows stale: rebuild them, so no measured write
    # (nor the first AppContext.open) pays for it
    ctx.store.write(lambda uow: feature_rows.rebuild(uow.session))
    return rows


def _visits_in_time_order(ctx: AppContext, visits: int, every_days: int = 14) -> int:
    """fill()'s encounters, PHQ-9/GAD-7 and signed notes, oldest visit first for everyone."""
    conn = connect_raw(ctx.settings.db_path, ctx.store._key)  # noqa: SLF001
    pids = [r[0] for r in conn.execute("SELECT id FROM patients ORDER BY mrn")]
    now = datetime.now(UTC).replace(tzinfo=None)
    answers = json.dumps({"answers": {f"q{k}": k % 4 for k in range(1, 10)}, "parameters": {}})
    rows = 0
    conn.execute("BEGIN")
    for v in reversed(range(visits)):
        when = now - timedelta(days=every_days * v)
        e, a, notes = [], [], []
        for i, pid in enumerate(pids):
            eid = str(uuid.uuid4())
            e.append((eid, now, now, pid, "follow-up", when, None))
            a.append((str(uuid.uuid4()), now, now, pid, "phq9", "1.0", when, answers,
                      float((i + v) % 27), "moderate"))  # fmt: skip
            a.append((str(uuid.uuid4()), now, now, pid, "gad7", "1.0", when, answers,
                      float((i + 2 * v) % 22), "mild"))  # fmt: skip
            notes.append((str(uuid.uuid4()), now, now, pid, eid, f"Visit {v}",
                          "Synthetic benchmark note. " * 8, "signed", when))  # fmt: skip
        conn.executemany(filler._ENCOUNTER, e)  # noqa: SLF001
        conn.executemany(filler._ASSESSMENT, a)  # noqa: SLF001
        conn.executemany(filler._NOTE, notes)  # noqa: SLF001
        rows += len(e) + len(a) + len(notes)
    conn.execute("COMMIT")
    conn.close()
    return rows


def _date_nights(ctx: AppContext) -> None:
    """Give fill()'s short recordings' nights the ``night_of`` date that the actigraphy service
    stores and the twin reads (fill() leaves it out, so the twin of those patients failed)."""
    conn = connect_raw(ctx.settings.db_path, ctx.store._key)  # noqa: SLF001
    rows = conn.execute(
        "SELECT r.id, s.start, r.data_json FROM actigraphy_results r JOIN actigraphy_series s"
        " ON s.id = r.series_id WHERE r.kind = 'nightly'"
    ).fetchall()
    fixed = []
    for rid, start, data in rows:
        nights = json.loads(data)
        if nights and "night_of" not in nights[0]:
            first = datetime.fromisoformat(str(start)).date()
            for d, night in enumerate(nights):
                night["night_of"] = (first + timedelta(days=d)).isoformat()
            fixed.append((json.dumps(nights), rid))
    conn.execute("BEGIN")
    conn.executemany("UPDATE actigraphy_results SET data_json = ? WHERE id = ?", fixed)
    conn.execute("COMMIT")
    conn.close()


def _cache_key(n: int, acti_share: float, acti_days: int, interleaved: bool = False) -> str:
    versions = Path(__file__).resolve().parents[2] / "app/core/store/migrations/versions"
    head = max(p.name for p in versions.glob("0*.py"))
    digest = hashlib.sha256(Path(__file__).with_name("filler.py").read_bytes())
    layout = "-interleaved" if interleaved else ""
    return (
        f"{n}-{acti_share:g}-{acti_days}-{head[:4]}-v{FILLER_VERSION}-{digest.hexdigest()[:8]}"
        f"{layout}"
    )


def _use_keyring_file(path: Path) -> None:
    import keyring  # noqa: PLC0415 — only a cached clinic needs the file keyring

    from tests.support.keyring_backends import FileKeyring  # noqa: PLC0415

    os.environ["NOVAMIND_TEST_KEYRING_FILE"] = str(path)
    keyring.set_keyring(FileKeyring())


def settings_for(clinic: Clinic) -> Settings:
    """Settings that open the cached store (and select its keyring file)."""
    _use_keyring_file(clinic.keyring_file)
    return load_settings(
        {"NOVAMIND_DATA_DIR": str(clinic.data_dir),
         "NOVAMIND_POLICY": str(clinic.data_dir.parent / "none.toml")}
    )  # fmt: skip


def clinic_5y(
    n: int,
    *,
    acti_share: float = ACTI_SHARE,
    acti_days: int = ACTI_DAYS,
    root: Path = Path("/tmp/novamind-bench"),
    interleaved: bool = False,
) -> Clinic:
    """The cached five-year clinic of ``n`` patients, built on first use."""
    base = root / f"clinic5y-{_cache_key(n, acti_share, acti_days, interleaved)}"
    manifest = base / "clinic.json"
    if manifest.exists():
        meta = json.loads(manifest.read_text())
        return Clinic(base / "data", base / "keyring.json", USERNAME, PASSWORD, n,
                      meta["rows"], meta["build_s"], meta["store_bytes"])  # fmt: skip
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    clinic = Clinic(base / "data", base / "keyring.json", USERNAME, PASSWORD, n, 0, 0.0, 0)
    settings = settings_for(clinic)
    from app.core.domain import Role  # noqa: PLC0415
    from tests.support.records import make_user  # noqa: PLC0415

    ctx = AppContext.open(settings)
    try:
        me = make_user(ctx, USERNAME, Role.CLINICIAN, PASSWORD)
        t0 = time.perf_counter()
        rows = fill_5y(
            ctx,
            n,
            acti_share=acti_share,
            acti_days=acti_days,
            assign_to=me.user_id,
            interleaved=interleaved,
        )
        build_s = time.perf_counter() - t0
    finally:
        ctx.close()
    size = sum(p.stat().st_size for p in clinic.data_dir.rglob("*") if p.is_file())
    manifest.write_text(json.dumps({"rows": rows, "build_s": build_s, "store_bytes": size}))
    return Clinic(clinic.data_dir, clinic.keyring_file, USERNAME, PASSWORD, n, rows, build_s, size)
