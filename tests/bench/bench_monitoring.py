"""Model monitoring at clinic scale, through the service the weekly check and the dashboard call.

A 10,000-patient, two-year clinic (NOVAMIND_BENCH_PATIENTS) filled with bulk SQL by the backup
benchmark's filler (fortnightly PHQ-9/GAD-7 for two years, encounters, notes, and every model
input family for a realistic share, admissions included), plus 100,000 stored predictions
(NOVAMIND_BENCH_PREDICTIONS; ten per patient, spread over the two years and the eight XGBoost
models, inputs drawn from the synthetic generator and stored in the contributions as the service
stores them). Times: `model_monitoring.run_check` once in a fresh process (it regenerates the
training references from the signed cards, cached afterwards), then the median of 5 of
`run_check` and of `summary`; and how many predictions had an observed outcome.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import keyring
from sqlalchemy import select, text

from app.core.config import load_settings
from app.core.domain import Role
from app.core.store.models import Patient
from app.services import model_monitoring, predictions
from app.services.context import AppContext
from engines.xgb.synthetic import generate_cohort
from tests.bench.filler import fill
from tests.support.keyring_backends import MemoryKeyring
from tests.support.model_history import HistoryWriter, contributions
from tests.support.records import make_user

RUNS = 5
#: The least any check must do without an index on generated_at: read every prediction once.
_SCAN = text("SELECT count(*) FROM predictions WHERE generated_at >= '2000-01-01'")
VISITS = 52  # two years, fortnightly


def _median_ms(fn: Callable[[], Any], runs: int = RUNS) -> tuple[float, float]:
    """Median wall and process-CPU milliseconds (CPU time is what the check costs on an idle
    machine; the wall time also counts waiting for cores other processes hold)."""
    wall, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def add_predictions(ctx: AppContext, n: int, now: datetime, seed: int = 3) -> int:
    """`n` predictions over the store's patients and the last two years (bulk SQL)."""
    rng = random.Random(seed)
    pids = ctx.store.read(lambda s: list(s.scalars(select(Patient.id))))
    models = [
        (name, predictions.active_model(name, ctx.settings).card)
        for name in model_monitoring.XGB_MODELS
    ]
    cohort = generate_cohort(2000, 11)
    w = HistoryWriter()
    for i in range(n):
        name, card = models[i % len(models)]
        rec = cohort[i % len(cohort)]
        names = [f.name for f in card.features]
        option = name.removeprefix("response_") if name.startswith("response_") else None
        when = now - timedelta(days=rng.uniform(0, 730))
        w.prediction(
            pids[i % len(pids)],
            card.target,
            option,
            when,
            rng.uniform(0.02, 0.9),
            card.model_version,
            contributions(names, {f: rec.get(f) for f in names}),
        )
    return w.write(ctx)


def main() -> None:
    n = int(os.environ.get("NOVAMIND_BENCH_PATIENTS", "10000"))
    n_pred = int(os.environ.get("NOVAMIND_BENCH_PREDICTIONS", "100000"))
    keyring.set_keyring(MemoryKeyring())
    with tempfile.TemporaryDirectory() as d:
        settings = load_settings({"NOVAMIND_DATA_DIR": d, "NOVAMIND_POLICY": d + "/none.toml"})
        ctx = AppContext.open(settings)
        sup = make_user(ctx, "bench.supervisor", Role.SUPERVISOR)
        now = datetime.now(UTC)
        t0 = time.perf_counter()
        rows = fill(ctx, n, visits=VISITS, inputs=True)
        rows += add_predictions(ctx, n_pred, now)
        filled = time.perf_counter() - t0
        ctx.close()  # checkpoints the filler's write-ahead log, as a running clinic's store is
        ctx = AppContext.open(settings)

        t0, c0 = time.perf_counter(), time.process_time()
        first = model_monitoring.run_check(ctx, now=now)
        cold = ((time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000)
        check = _median_ms(lambda: model_monitoring.run_check(ctx, now=now))
        summary = _median_ms(lambda: model_monitoring.summary(ctx, sup))
        scan = _median_ms(lambda: ctx.store.read(lambda s: s.execute(_SCAN).all()))
        judged = sum(
            w.calibration.n for r in first.reports for w in r.calibration[-1:] if w.calibration
        )
        windows = sum(
            w.n_predictions
            for r in first.reports
            if r.kind == "xgboost"
            for w in r.calibration[-1:]
        )
        ctx.close()

    print(
        f"store: {n:,} patients, two years; {n_pred:,} predictions; {rows:,} rows in {filled:.0f} s"
    )
    print(
        f"latest calibration windows: {windows:,} predictions, {judged:,} with an observed outcome"
    )
    print(f"load before the timings: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("| operation | wall ms (median) | CPU ms (median) |")
    print("|---|---:|---:|")
    rows_out = (
        ("run_check, first in the process (references regenerated)", cold),
        ("run_check (alerts deduplicated)", check),
        ("summary (dashboard)", summary),
        ("floor: one bare scan of the predictions table", scan),
    )
    for label, (wall, cpu) in rows_out:
        print(f"| {label} | {wall:,.0f} | {cpu:,.0f} |")
    for r in first.reports:
        latest = r.latest
        ece = "-" if latest is None else f"{latest.ece.value:.3f} (n {latest.n:,})"
        psi = "-" if r.worst_psi is None else f"{r.worst_psi:.3f}"
        print(f"  {r.model:<22} {r.status:<18} volume {r.volume:>6,} worst PSI {psi:>6} ECE {ece}")


if __name__ == "__main__":
    main()
