"""A 20,000-response bundle imports through the service with bounded memory (issue 18).

The bundle (about 68 MB, export-shaped: 20,000 PHQ-9 QuestionnaireResponses + Observations) is
generated here, never committed. The import runs in a child process (tests/bench/
bench_fhir_import.py: a fresh encrypted store, the real import_assessments) so ru_maxrss is the
import's own peak. Before streaming it peaked at 1.8 GB on this bundle (and refused it: > 50 MiB).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench.bench_fhir_import import make_bundle, run_child

N = 20_000
PEAK_RSS_LIMIT_MB = 300


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_twenty_thousand_responses_stream_within_300_mb(tmp_path: Path) -> None:
    path = tmp_path / "big-bundle.json"
    size = make_bundle(path, N)
    assert size > 50 * 1024 * 1024  # larger than the old cap, and than the 51 MB file
    fig = run_child(path)
    assert fig["imported"] == N
    assert fig["peak_rss_mb"] <= PEAK_RSS_LIMIT_MB, fig
