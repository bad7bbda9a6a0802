"""Benchmark: 10,000-patient caseload scoring (assembly included) vs bare inplace_predict.

Run: python -m tests.bench.bench_xgb
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

from engines.xgb.demo import bundled_registry
from engines.xgb.features import assemble_matrix
from engines.xgb.predict import contributions, explain, score_caseload
from engines.xgb.synthetic import generate_cohort

N = 10_000
REPEATS = 15


def _median_ms(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    """Print a markdown table of measured numbers (all measured in this one run)."""
    reg = bundled_registry()
    model = reg.load("relapse_6m")
    rows = generate_cohort(N, seed=7)
    x = assemble_matrix(rows, model.card.features)
    booster = model.booster

    t_assemble = _median_ms(lambda: assemble_matrix(rows, model.card.features))
    t_bare = _median_ms(lambda: booster.inplace_predict(x, missing=np.nan))
    t_caseload = _median_ms(lambda: score_caseload(model, rows))
    models = [reg.load(n) for n in reg.names()]
    t_all = _median_ms(lambda: [score_caseload(m, rows) for m in models], repeats=5)
    t_contrib_batch = _median_ms(lambda: contributions(model, x), repeats=5)
    sample = rows[:200]
    t_explain_one = _median_ms(lambda: [explain(model, [r]) for r in sample], repeats=3) / len(
        sample
    )

    print(f"| measure ({N:,} patients, relapse_6m, {len(model.card.features)} features) | value |")
    print("| --- | --- |")
    print(f"| feature assembly from per-patient dicts | {t_assemble:.1f} ms |")
    print(f"| bare Booster.inplace_predict on the same matrix | {t_bare:.1f} ms |")
    print(
        f"| score_caseload (assembly + margin + calibration + interval + band) | "
        f"{t_caseload:.1f} ms |"
    )
    print(f"| ratio score_caseload / bare inplace_predict | {t_caseload / t_bare:.1f}x |")
    print(
        f"| ratio (score_caseload - assembly) / bare inplace_predict | "
        f"{(t_caseload - t_assemble) / t_bare:.2f}x |"
    )
    print(f"| all {len(models)} models over the caseload | {t_all:.1f} ms |")
    print(
        f"| TreeSHAP contributions, batch of {N:,} | {t_contrib_batch:.1f} ms "
        f"({t_contrib_batch / N * 1000:.1f} us per patient) |"
    )
    print(
        f"| explain() one patient at a time (full Prediction) | "
        f"{t_explain_one:.2f} ms per patient |"
    )


if __name__ == "__main__":
    main()
