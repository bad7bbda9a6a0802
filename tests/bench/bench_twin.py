"""Benchmark of the twin engine: one patient with 2 years of mixed observations, and a cohort.

Run: ``python -m tests.bench.bench_twin``. Prints a markdown table (median of repeats).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, timedelta

import numpy as np

from engines.twin import (
    Observation,
    TwinState,
    estimate_cohort,
    estimate_twin,
    load_observation_model,
    load_region_map,
    project,
)

START = date(2024, 1, 1)
DAYS = 730
PAT_SOURCES = (
    "pat.tst_min",
    "pat.sleep_efficiency",
    "pat.waso_min",
    "pat.m10",
    "pat.mean_activity",
    "pat.is",
    "pat.iv",
    "pat.ra",
)


def two_years(seed: int) -> list[Observation]:
    """2 years: PHQ-9 (total, items 3 and 9) and GAD-7 fortnightly, weekly PAT metrics, monthly
    C-SSRS, MADRS and three NLP findings; latent values drift smoothly."""
    rng = np.random.default_rng(seed)
    model = load_observation_model()
    latent = {
        d: np.clip(0.5 + 0.2 * np.sin(np.arange(DAYS) / (60 + 20 * k) + seed), 0.05, 0.95)
        for k, d in enumerate(model.dimensions)
    }
    obs: list[Observation] = []

    def add(source: str, every: int) -> None:
        spec = model.sources[source]
        for i, day in enumerate(range(int(rng.integers(0, every)), DAYS, every)):
            v = spec.intercept + spec.slope * latent[spec.dimension][day]
            v = float(np.clip(v + rng.normal(0, spec.noise_sd), spec.lo, spec.hi))
            obs.append(Observation(f"{source}-{i}", source, START + timedelta(days=day), v))

    for s in ("phq9.total", "phq9.item3", "phq9.item9", "gad7.total"):
        add(s, 14)
    for s in PAT_SOURCES:
        add(s, 7)
    for s in ("cssrs.ideation_severity", "madrs.total", "nlp.depression", "nlp.anxiety"):
        add(s, 30)
    add("nlp.risk_signal", 30)
    return obs


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``fn`` in milliseconds (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000.0 * float(np.median(times))


def main() -> None:
    """Measure and print the table."""
    model = load_observation_model()
    regions = load_region_map()
    as_of = START + timedelta(days=DAYS - 1)
    one = two_years(0)
    state = estimate_twin(one, as_of=as_of, model=model)
    text = state.to_json()
    mid = START + timedelta(days=400)
    cohort = [two_years(s) for s in range(50)]
    rows = [
        ("load observation model (JSON + validation)", median_ms(load_observation_model, 20)),
        (
            "1 patient, 2 y: estimate (filter + smoother)",
            median_ms(lambda: estimate_twin(one, as_of=as_of, model=model), 20),
        ),
        ("1 patient: to_json", median_ms(state.to_json, 20)),
        ("1 patient: from_json", median_ms(lambda: TwinState.from_json(text), 20)),
        (
            "1 patient: explain depression on one date (exact weights)",
            median_ms(lambda: state.explain("depression", mid), 20),
        ),
        (
            "1 patient: region activity, all 730 days",
            median_ms(lambda: regions.state_activity(state), 50),
        ),
        (
            "1 patient: what-if 12 weeks (dims + regions)",
            median_ms(
                lambda: project(
                    state,
                    option="ssri",
                    p=0.5,
                    p_low=0.35,
                    p_high=0.65,
                    weeks=12,
                    regions=regions,
                    observation_model=model,
                ),
                20,
            ),
        ),
    ]
    vec = median_ms(lambda: estimate_cohort(cohort, as_of=as_of, model=model), 5)
    loop = median_ms(lambda: [estimate_twin(o, as_of=as_of, model=model) for o in cohort], 3)
    rows += [
        ("50 patients, 2 y: estimate_cohort (vectorised)", vec),
        ("50 patients, 2 y: loop of estimate_twin", loop),
    ]
    print(f"observations per patient: {len(one)}; grid days: {state.days}; JSON bytes: {len(text)}")
    print()
    print("| step | median ms |")
    print("| --- | ---: |")
    for name, ms in rows:
        print(f"| {name} | {ms:.2f} |")
    print(f"| ratio loop / vectorised (same run) | {loop / vec:.2f}x |")


if __name__ == "__main__":
    main()
