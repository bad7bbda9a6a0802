"""Benchmark of the scoring engine, alert rules and FHIR exchange (not a pass/fail test).

Run: python -m tests.bench.bench_scoring
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

from engines.scoring.alerts import evaluate_rules, load_rules
from engines.scoring.definitions import get_instrument
from engines.scoring.engine import observations_from_result, score
from engines.scoring.fhir import AssessmentRecord, export_bundle_json, import_bundle


def _timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    """Print a markdown table of measured timings."""
    rng = random.Random(7)
    phq = get_instrument("phq9")
    responses = [{f"q{i}": rng.randint(0, 3) for i in range(1, 10)} for _ in range(10_000)]
    t_score = _timed(lambda: [score(phq, r) for r in responses])

    now = datetime(2026, 11, 25, tzinfo=UTC)
    observations = []
    for p in range(10_000):
        for k in range(3):
            result = score(phq, responses[(p * 3 + k) % len(responses)])
            observations += observations_from_result(
                result,
                patient_id=f"p{p}",
                assessment_id=f"a{p}-{k}",
                at=now - timedelta(days=20 * k),
            )
    rules = load_rules()
    t_rules = _timed(lambda: evaluate_rules(rules, observations, now))

    records = [
        AssessmentRecord(f"a-{i}", "p-1", now - timedelta(days=i), score(phq, responses[i]))
        for i in range(200)
    ]
    text = export_bundle_json(records)
    t_export = _timed(lambda: export_bundle_json(records))
    t_import = _timed(lambda: import_bundle(text))

    print("| what | n | total (s) | per item (µs) |")
    print("| --- | --- | --- | --- |")
    print(f"| score + band PHQ-9 | 10,000 | {t_score:.3f} | {t_score / 1e4 * 1e6:.1f} |")
    print(
        f"| evaluate built-in rules, 10,000 patients x 3 PHQ-9 ({len(observations):,} obs) "
        f"| 10,000 | {t_rules:.3f} | {t_rules / 1e4 * 1e6:.1f} |"
    )
    print(f"| FHIR export (Bundle JSON) | 200 | {t_export:.3f} | {t_export / 200 * 1e6:.1f} |")
    print(
        f"| FHIR import (validate + re-score) | 200 | {t_import:.3f} | {t_import / 200 * 1e6:.1f} |"
    )


if __name__ == "__main__":
    main()
