"""GPU check: caseload prediction for 1,000,000 rows with XGBoost on CUDA vs the CPU.

`python -m tests.bench.gpu_xgb [--dry-run] [--rows N]` (normally run by gpu.sh).

The bundled relapse_6m model scores an assembled matrix through the engine's
`engines.xgb.predict.score_matrix` (inplace_predict margin -> calibration -> interval -> band),
the part of caseload scoring that runs on the device; the matrix is the synthetic cohort's,
assembled once and tiled to N rows (assembly is CPU work, measured elsewhere). Rows: CPU with the
app's scoring threads (SCORING_THREADS), CPU with every core, CUDA with a host (NumPy) matrix as
the app passes it (the copy to the GPU included), and bare `inplace_predict` on a matrix already
on the GPU (CuPy) for the kernel alone. Margins must agree with the CPU's to 1e-4.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from tests.bench.gpu_common import dry_run, table, write_result

ROWS = 1_000_000
REPS = 7


def _median_ms(fn: Callable[[], object], reps: int) -> float:
    fn()  # warm-up (and the model's first copy to the device)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    """Time each device; print the table; write gpu_xgb.json."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="small matrix, CPU only")
    ap.add_argument("--rows", type=int, default=ROWS)
    ap.add_argument("--reps", type=int, default=REPS)
    args = ap.parse_args(argv)
    dry = args.dry_run or dry_run([])
    n = 50_000 if dry else args.rows
    reps = 3 if dry else args.reps

    import xgboost as xgb

    from engines.xgb.demo import bundled_registry
    from engines.xgb.device import detect_device
    from engines.xgb.features import assemble_matrix
    from engines.xgb.predict import score_matrix
    from engines.xgb.registry import SCORING_THREADS
    from engines.xgb.synthetic import generate_cohort

    model = bundled_registry().load("relapse_6m")
    base = assemble_matrix(generate_cohort(20_000, seed=7), model.card.features)
    x = np.ascontiguousarray(np.resize(base, (n, base.shape[1])), dtype=np.float32)
    booster = model.booster
    rows: list[list[Any]] = []
    figs: dict[str, Any] = {"rows": n, "features": x.shape[1], "xgboost": xgb.__version__}

    def predict() -> object:
        return booster.inplace_predict(x, predict_type="margin", missing=np.nan)

    def timed(label: str, key: str) -> tuple[float, float]:
        t_pred = _median_ms(predict, reps)
        t_score = _median_ms(lambda: score_matrix(model, x), reps)
        rows.append([label, t_pred, t_score])
        figs[key] = {"inplace_predict_ms": t_pred, "score_matrix_ms": t_score}
        return t_pred, t_score

    booster.set_param({"device": "cpu", "nthread": SCORING_THREADS})
    ref = score_matrix(model, x)[0]
    app = timed(f"CPU, {SCORING_THREADS} thread (the app's setting)", "cpu_app")
    cores = os.cpu_count() or 1
    booster.set_param({"nthread": cores})
    allc = timed(f"CPU, {cores} threads", "cpu_all")
    figs["cores"] = cores
    dev = detect_device()
    figs["device_report"] = dev.summary()
    fallback = ""
    if dev.device == "cuda":
        booster.set_param({"device": "cuda"})
        got = score_matrix(model, x)[0]
        # with no visible GPU XGBoost only warns (once a process) and runs on the CPU
        used = json.loads(booster.save_config())["learner"]["generic_param"]["device"]
        fallback = "" if used.startswith("cuda") else f"the booster ran on {used!r}"
    if dev.device == "cuda" and fallback:
        rows.append([f"CUDA: not run (no visible GPU: {fallback})", "n/a", "n/a"])
        figs["cuda_fallback"] = fallback
    elif dev.device == "cuda":
        diff = float(np.max(np.abs(got - ref)))
        if diff > 1e-4:
            raise RuntimeError(f"CUDA margins differ from the CPU's by {diff}")
        figs["max_margin_diff"] = diff
        gpu = timed("CUDA, host (NumPy) matrix, copy included", "cuda")
        try:
            import cupy  # type: ignore[import-not-found]

            xg = cupy.asarray(x)
            t_bare = _median_ms(
                lambda: (
                    booster.inplace_predict(xg, predict_type="margin", missing=np.nan),
                    cupy.cuda.Device().synchronize(),
                ),
                reps,
            )
            rows.append(["CUDA, matrix already on the GPU (CuPy)", t_bare, "n/a"])
            figs["cuda_device_matrix_ms"] = t_bare
        except ImportError:
            figs["cuda_device_matrix_ms"] = None
    else:
        rows.append([f"CUDA: not run ({dev.reason})", "n/a", "n/a"])
    head = [f"device ({n:,} rows, relapse_6m)", "inplace_predict ms", "score_matrix ms"]
    print(table(head, rows))
    if "cuda" in figs:
        print(
            f"\ninplace_predict on CUDA vs the app's CPU setting: {app[0] / gpu[0]:.1f}x, "
            f"vs {cores} CPU threads: {allc[0] / gpu[0]:.1f}x; score_matrix (calibration and "
            f"bands stay on the CPU): {app[1] / gpu[1]:.1f}x / {allc[1] / gpu[1]:.1f}x"
        )
    print(f"mode: {'dry run (CPU, 50,000 rows)' if dry else 'GPU'}; median of {reps}")
    print(f"results: {write_result('xgb', {'dry_run': dry, **figs})}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
