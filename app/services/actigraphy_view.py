"""Read models and a staged import for the actigraphy panel.

The import is split so the panel can show progress and cancel it: `prepare_import` reads,
validates and analyses the file without touching the store (cancellable between stages; a bad
file raises the engine's ValidationError naming line and column), then `store_prepared` writes
the series and every result in one transaction. Nothing is stored unless every line was valid.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from app.core.config import Settings
from app.core.domain import Principal
from app.core.errors import ValidationError
from app.services import actigraphy, pat
from app.services._engine_errors import translates_engine_errors
from app.services.context import AppContext
from engines.pat.daily import double_plot
from engines.pat.importer import DEPRESJON, ColumnMapping, import_csv
from engines.pat.recording import ActigraphyRecording
from engines.pat.weights import find_weights

RESEARCH_LABEL = "research data, 41 subjects, not validated for clinical use"
PAT_UNAVAILABLE = "PAT weights not installed — embedding unavailable"
BIN_MINUTES = 5


class ImportCancelled(Exception):  # noqa: N818 — a state, like asyncio.CancelledError
    """The user cancelled the import before anything was stored."""


@dataclass(frozen=True)
class ColumnPreview:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    delimiter: str


@dataclass(frozen=True)
class PreparedImport:
    recording: ActigraphyRecording
    results: dict[str, Any]


@dataclass(frozen=True)
class Actogram:
    """Double-plotted rows of 48 h (day d beside d+1) in BIN_MINUTES bins, NaN = no data."""

    start: datetime
    day_labels: tuple[str, ...]
    activity: np.ndarray  # (n_days, 2880 / BIN_MINUTES) mean counts per minute
    sleep: np.ndarray  # same shape, fraction of the bin scored asleep (0..1)
    nonwear: np.ndarray  # same shape, fraction of the bin judged not worn


@dataclass(frozen=True)
class ActigraphyView:
    series_id: str
    start: datetime
    minutes: int
    nightly: list[dict[str, Any]]
    circadian: dict[str, Any]
    daily: list[dict[str, Any]]
    screen: dict[str, Any]
    actogram: Actogram
    pat_status: str


def preview_columns(path: Path | str, delimiter: str = ",", n_rows: int = 5) -> ColumnPreview:
    """Header and first rows of a delimited file (plain or gzip) for the column mapping."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            head = fh.read(65536)
        if head[:2] == b"\x1f\x8b":
            with gzip.open(p, "rb") as fh:
                head = fh.read(65536)
        text = head.decode("utf-8-sig")
    except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile) as exc:
        raise ValidationError(f"{p.name}: cannot read the file ({type(exc).__name__})") from None
    lines = text.splitlines()[: n_rows + 1]
    if not lines:
        raise ValidationError(f"{p.name}: the file is empty")
    rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter))
    return ColumnPreview(tuple(rows[0]), tuple(tuple(r) for r in rows[1:]), delimiter)


@translates_engine_errors
def prepare_import(
    path: Path | str,
    mapping: ColumnMapping = DEPRESJON,
    *,
    progress: Callable[[int, str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> PreparedImport:
    """Read, validate and analyse a file; no store access (runs on a worker thread)."""

    def step(pct: int, msg: str) -> None:
        if cancelled is not None and cancelled():
            raise ImportCancelled()
        if progress is not None:
            progress(pct, msg)

    step(5, "Reading and validating the file")
    rec = import_csv(path, mapping)
    step(45, "Scoring sleep and circadian rhythm")
    results = pat.analyse(rec)
    step(90, "Ready to store")
    return PreparedImport(rec, results)


def prepare_import_task(
    token: Any,  # noqa: ANN401 — a cancel token (thread or child process): .cancelled
    progress: Callable[[int, str], None],
    path: Path | str,
    mapping: ColumnMapping = DEPRESJON,
) -> PreparedImport:
    """``prepare_import`` in the shape of a background task, module level so that it pickles:
    the import dialog runs it through ``TaskManager.run_cpu`` in a child process (parsing and
    the metrics are CPU-bound Python and numpy that would hold the GIL against the UI)."""
    return prepare_import(path, mapping, progress=progress, cancelled=lambda: token.cancelled)


def store_prepared(
    ctx: AppContext, principal: Principal, patient_id: str, prepared: PreparedImport
) -> pat.ImportOutcome:
    """Store a prepared import in one transaction (series, results, AssessmentCompleted)."""
    return pat.store_analysed(ctx, principal, patient_id, prepared.recording, prepared.results)


@translates_engine_errors
def pat_status(settings: Settings) -> str:
    """Whether a PAT encoder is installed in any model directory (the panel shows this)."""
    for d in settings.model_dirs:
        for size in ("M", "S", "L"):
            status = find_weights(d, size)
            if status.available:
                return status.message
    return PAT_UNAVAILABLE


def _mask(n: int, start: datetime, spans: list[tuple[str | None, str | None]]) -> np.ndarray:
    out = np.zeros(n, dtype=np.float64)
    t0 = start.replace(tzinfo=None)
    for a, b in spans:
        if not a or not b:
            continue
        i = int((datetime.fromisoformat(a).replace(tzinfo=None) - t0) / timedelta(minutes=1))
        j = int((datetime.fromisoformat(b).replace(tzinfo=None) - t0) / timedelta(minutes=1))
        out[max(i, 0) : max(min(j, n), 0)] = 1.0
    return out


def _binned(rows: np.ndarray) -> np.ndarray:
    n, m = rows.shape
    with np.errstate(all="ignore"), _quiet():
        return np.nanmean(rows.reshape(n, m // BIN_MINUTES, BIN_MINUTES), axis=2)


class _quiet:  # noqa: N801 — context manager used like a function
    def __enter__(self) -> None:
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc: Any) -> None:  # noqa: ANN401 — the exception triple
        self._w.__exit__(*exc)


@translates_engine_errors
def build_actogram(
    start: datetime, counts: np.ndarray, nightly: list[dict[str, Any]], nonwear_runs: list
) -> Actogram:
    """Double-plot the counts with the scored sleep periods (sleep onset to final wake)."""
    naive = start.replace(tzinfo=None)
    counts = np.asarray(counts, dtype=np.float64)
    rec = ActigraphyRecording(naive, counts, np.zeros(counts.shape, bool), "view")
    sleep = _mask(
        len(counts), naive, [(n.get("sleep_onset"), n.get("final_wake")) for n in nightly]
    )
    nw = np.zeros(len(counts))
    for s, k in nonwear_runs:
        nw[int(s) : int(s) + int(k)] = 1.0
    act = _binned(double_plot(rec))
    slp = np.nan_to_num(_binned(double_plot(rec, sleep)))
    nwb = np.nan_to_num(_binned(double_plot(rec, nw)))
    first = naive.date()
    labels = tuple((first + timedelta(days=d)).strftime("%a %d %b") for d in range(len(act)))
    return Actogram(start, labels, act, slp, nwb)


@translates_engine_errors
def actigraphy_view(
    ctx: AppContext, principal: Principal, patient_id: str
) -> ActigraphyView | None:
    """Everything the panel shows for the newest recording (None when none is stored)."""
    res = pat.latest_results(ctx, principal, patient_id)
    if res is None:
        return None
    start, _epoch, values = actigraphy.load_series(ctx, principal, res["series_id"])
    nightly = res.get("nightly") or []
    gram = build_actogram(start, values, nightly, (res.get("nonwear") or {}).get("runs", []))
    return ActigraphyView(
        res["series_id"],
        start if start.tzinfo else start.replace(tzinfo=UTC),
        int(res["minutes"]),
        nightly,
        res.get("circadian") or {},
        res.get("daily") or [],
        res.get("screen") or {},
        gram,
        pat_status(ctx.settings),
    )
