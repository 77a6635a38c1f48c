"""Checkpoint buffering: consecutive fetched windows stored together, in fewer transactions.

A window (``checkpoint_ids`` ids of a scan, or a chunk of listed ids) stays the unit of fetching
and normalizing. :class:`CheckpointBuffer` holds the windows received, in the order the plan
handed them out, until they are due to be stored: their rows reach ``rows`` (sessions plus
rejected objects), or ``seconds`` have passed since the buffer was last emptied (a local duration
on the injected monotonic clock, never compared with an API timestamp). The caller also empties it
when its plan ends and when the run stops for any reason (rate limited, incomplete, interrupted, a
failure), so every window received is either committed or, after a kill -9, re-fetched from the
stored cursor by the next run.

:func:`combine_batches` makes ONE :class:`NormalizedBatch` of the buffered windows (frames
concatenated in window order, a session id repeated across windows keeps its last occurrence, as
within a window; every rejected object kept; ``fetched`` and ``duplicates`` added).
:func:`combined_cursor` is the cursor of the combined checkpoint: the highest *requested* id any
of its scan windows returned, plus one (None when none did), so the cursor still moves only in the
transaction that stores the rows it passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import polars as pl

from session_audit.ingest.normalize import NormalizedBatch
from session_audit.ingest.scan_plan import ChunkSpec, WindowOutcome


@dataclass(frozen=True)
class Window:
    """One fetched and normalized window, with what it told the plan."""

    spec: ChunkSpec
    batch: NormalizedBatch
    outcome: WindowOutcome = field(default_factory=WindowOutcome)

    @property
    def rows(self) -> int:
        return self.batch.sessions.height + self.batch.rejected.height


def combine_batches(batches: Sequence[NormalizedBatch]) -> NormalizedBatch:
    """One batch of consecutive windows' batches (see the module docstring)."""
    if not batches:
        raise ValueError("combine_batches needs at least one batch")
    if len(batches) == 1:
        return batches[0]
    org = batches[0].org
    if any(b.org != org for b in batches):
        raise ValueError("combine_batches: batches of different orgs")
    sessions = pl.concat([b.sessions for b in batches], how="vertical", rechunk=False)
    dropped = 0
    if sessions["id"].n_unique() != sessions.height:  # last occurrence wins, as within a window
        unique = sessions.unique(subset=["id"], keep="last", maintain_order=True)
        dropped = sessions.height - unique.height
        sessions = unique
    rejected = pl.concat([b.rejected for b in batches], how="vertical", rechunk=False)
    seen = [b.max_id for b in batches if b.max_id is not None]
    return NormalizedBatch(
        org=org,
        sessions=sessions,
        rejected=rejected,
        max_id=max(seen) if seen else None,
        fetched=sum(b.fetched for b in batches),
        duplicates=sum(b.duplicates for b in batches) + dropped,
    )


def combined_cursor(windows: Sequence[Window]) -> int | None:
    """The cursor a checkpoint of ``windows`` stores: the highest requested id that came back in
    its scan windows, plus one; None when none did (or none is a scan window)."""
    returned = [
        w.outcome.returned_max
        for w in windows
        if w.spec.advances_cursor and w.outcome.returned_max is not None
    ]
    return max(returned) + 1 if returned else None


class CheckpointBuffer:
    """Windows received and not yet stored, in plan order (see the module docstring).

    ``add`` refuses a window out of order (``seq`` not increasing, or a scan window that does not
    start where the previous one stopped): only a contiguous, in-order run of windows may share a
    transaction with the cursor. ``take`` empties the buffer and restarts the clock.
    """

    def __init__(
        self, *, rows: int, seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rows < 1 or seconds < 0:
            raise ValueError("rows must be >= 1 and seconds >= 0")
        self.max_rows = rows
        self.max_seconds = seconds
        self._clock = clock
        self._since = clock()
        self._windows: list[Window] = []
        self._rows = 0

    def __len__(self) -> int:
        return len(self._windows)

    @property
    def rows(self) -> int:
        """Rows buffered: sessions plus rejected objects."""
        return self._rows

    def add(self, window: Window) -> None:
        if self._windows:
            last = self._windows[-1].spec
            spec = window.spec
            if spec.seq <= last.seq or (
                spec.step == "scan" and last.step == "scan" and spec.start != last.stop
            ):
                raise ValueError(
                    f"window {spec.seq} ({spec.step}) does not follow window {last.seq} "
                    f"({last.step}) in the buffer"
                )
        self._windows.append(window)
        self._rows += window.rows

    def seconds_left(self) -> float:
        """Seconds until the buffer is due by time (<= 0: it is)."""
        return self.max_seconds - (self._clock() - self._since)

    def due(self) -> bool:
        """True when the buffer holds windows and they are due to be stored."""
        if not self._windows:
            return False
        return self._rows >= self.max_rows or self.seconds_left() <= 0

    def take(self) -> list[Window]:
        """The buffered windows (in order); the buffer is empty again and its clock restarts."""
        windows, self._windows, self._rows = self._windows, [], 0
        self._since = self._clock()
        return windows
