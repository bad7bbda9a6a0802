"""The in-memory actigraphy recording every PAT metric works on.

One type for all sources (Depresjon, generic CSV), on a regular 60 s grid, so metrics never
have to deal with timestamps: minute ``i`` is ``start + i minutes``. Gaps are NaN; non-wear is
a separate mask so callers can choose whether to exclude it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

EPOCH_S = 60
MINUTES_PER_DAY = 1440


@dataclass(frozen=True)
class DeviceLimits:
    """What a wrist actigraph can plausibly record: the one place the importer's limits live.

    - dates from ``earliest`` to now + ``future_slack`` (a device clock set to 9999 or 0001 is
      a broken file, not a recording);
    - counts from 0 to ``max_counts_per_minute``: 32,767 is the ceiling of ActiGraph's 16-bit
      signed per-epoch count register (NHANES 2003-06 accelerometer documentation treats 32,767
      as device saturation); real wrist data stays far below it (Depresjon's Actiwatch files
      peak at 8,000);
    - epoch lengths the importer resamples to the 60 s grid: ActiGraph (1-60 s), Actiwatch
      (15, 30, 60, 120 s) and 5-minute summaries;
    - at most ``max_days`` of span (a larger span means a stray timestamp).
    """

    earliest: datetime = datetime(1900, 1, 1)
    future_slack: timedelta = timedelta(days=1)
    max_counts_per_minute: float = 32_767.0
    epochs_s: tuple[int, ...] = (1, 2, 5, 10, 15, 30, 60, 120, 300)
    max_days: int = 6 * 366

    def latest(self, now: datetime | None = None) -> datetime:
        """The latest plausible (naive, local) timestamp: now + the slack."""
        now = now or datetime.now(UTC).replace(tzinfo=None)
        return now + self.future_slack

    def max_count(self, epoch_s: int) -> float:
        """Largest count one row of ``epoch_s`` may hold (scaled up for epochs over a minute)."""
        return self.max_counts_per_minute * max(epoch_s, EPOCH_S) / EPOCH_S

    def describe(self) -> str:
        """One line for docs and error hints."""
        return (
            f"dates {self.earliest:%Y-%m-%d}..now+{self.future_slack.days}d, counts "
            f"0..{self.max_counts_per_minute:g} per minute, epochs {self.epochs_s} s, "
            f"span <= {self.max_days} days"
        )


DEVICE_LIMITS = DeviceLimits()


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(arr)
    arr.flags.writeable = False
    return arr


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start indices and lengths of the True runs of a boolean array (vectorised)."""
    m = np.asarray(mask, dtype=bool)
    if m.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    d = np.diff(np.concatenate(([0], m.view(np.int8), [0])))
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1)
    return starts, ends - starts


@dataclass(frozen=True)
class ActigraphyRecording:
    """Minute-level activity counts on a regular grid (no PHI: the source is a hash/label).

    ``counts`` is float64, NaN where no data was recorded (a gap); ``nonwear`` marks minutes
    judged as the device not being worn (see :mod:`engines.pat.nonwear`). Arrays are read-only.
    """

    start: datetime
    counts: np.ndarray
    nonwear: np.ndarray
    source: str
    epoch_s: int = EPOCH_S
    original_epoch_s: int = EPOCH_S
    gaps: tuple[tuple[int, int], ...] = field(default=())
    notes: tuple[str, ...] = ()  # what the importer adjusted (e.g. a DST repeated hour), no PHI

    def __post_init__(self) -> None:
        counts = np.asarray(self.counts, dtype=np.float64)
        nonwear = np.asarray(self.nonwear, dtype=bool)
        if counts.ndim != 1 or nonwear.shape != counts.shape:
            raise ValueError("counts and nonwear must be 1-D arrays of the same length")
        if self.epoch_s != EPOCH_S:
            raise ValueError("recordings are always stored on a 60 s grid")
        object.__setattr__(self, "counts", _frozen(counts))
        object.__setattr__(self, "nonwear", _frozen(nonwear))
        if not self.gaps:
            starts, lengths = runs(np.isnan(counts))
            object.__setattr__(
                self, "gaps", tuple((int(s), int(n)) for s, n in zip(starts, lengths))
            )

    @property
    def n_minutes(self) -> int:
        """Length of the grid in minutes (gaps included)."""
        return int(self.counts.size)

    @property
    def end(self) -> datetime:
        """Timestamp just after the last minute."""
        return self.start + timedelta(minutes=self.n_minutes)

    @property
    def missing_minutes(self) -> int:
        """Number of minutes with no data (gaps)."""
        return int(np.isnan(self.counts).sum())

    def minute_of_day(self) -> np.ndarray:
        """Clock minute (0..1439) of every grid minute, from the (local, naive) start time."""
        offset = self.start.hour * 60 + self.start.minute
        return (np.arange(self.n_minutes) + offset) % MINUTES_PER_DAY

    def masked_counts(self, exclude_nonwear: bool = True) -> np.ndarray:
        """Counts with non-wear minutes set to NaN (a copy), for metrics that should skip them."""
        out = np.array(self.counts, dtype=np.float64)
        if exclude_nonwear:
            out[self.nonwear] = np.nan
        return out

    def slice(self, first_minute: int, n_minutes: int) -> ActigraphyRecording:
        """A sub-recording (used for rolling windows and the one-week PAT input)."""
        a = max(0, int(first_minute))
        b = min(self.n_minutes, a + int(n_minutes))
        return ActigraphyRecording(
            start=self.start + timedelta(minutes=a),
            counts=self.counts[a:b],
            nonwear=self.nonwear[a:b],
            source=self.source,
            original_epoch_s=self.original_epoch_s,
            notes=self.notes,
        )
