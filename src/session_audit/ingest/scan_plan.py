"""Scan plans: which session ids to ask for next, what an answer tells, and when a scan is done.

Pure objects (no I/O, no clock), in the spirit of dlt's paginators: the one ingest loop asks a plan
for the next window, fetches and stores it, and tells the plan what came back. Unit-tested with
plain lists of fake results (``tests/test_scan_plan.py``).

The id space is global: every firm on the platform draws session ids from one sequence, and
``userSession/items`` leaves out the ids we may not see. An organisation sees a sparse subset, and a
quiet weekend leaves tens of thousands of consecutive ids with none of ours. **A gap is never the
end of the data.** What marks the end is the session our own login opened: every login opens a
session of the API user, with an id at the top of the sequence at that moment, and it is visible to
us. :class:`ScanPlan` therefore scans until it has stored a session of the API user that started no
earlier than the login response's ``Date`` (the API's clock) less a margin, then a short tail
beyond it (sessions that opened while we scanned). Gaps below it are crossed: a run of empty ids
ends the scan only when it is longer than ``gap_limit`` AND longer than ``GAP_RATE_FACTOR`` times
the ids the platform would have handed out between the newest session seen and the login (the id
rate measured on what the scan saw: ``(id, startTime)`` pairs, all on the API's clock). A quiet
weekend is crossed, however many ids it holds; an API that hides our session (nothing but void
above the top) ends the scan ``incomplete`` naming the last id reached, never ``completed``.

The cursor is the highest *requested* id that came back, plus one: never the end of a window, never
an id nobody asked for (a stray object in an answer does not move it).

:class:`StartSearch` finds where a first scan for ``--since DATE`` starts, without a known session
id: an exponential then binary search over the id space on the ``startTime`` of what probe
windows return (ids grow with ``startTime``). Its answer is *safe*: every session with a smaller id
was seen to start before DATE, so no session at or after DATE is skipped; empty probe windows (a
quiet stretch, ids below the first session or above the last) never move that bound.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

ScanStatus = Literal["scanning", "completed", "incomplete"]
StepKind = Literal["open", "ids", "scan"]
MAX_SESSION_ID = 2**63 - 1
# How far beyond the newest session seen a scan may find only empty ids before it gives up, in
# multiples of the ids the platform hands out (at the rate the scan measured) until the login.
GAP_RATE_FACTOR = 4.0


@dataclass(frozen=True)
class ChunkSpec:
    """One unit of fetching and storing: a scan window ``[start, stop)`` or an explicit id list
    (``open``: sessions still open, re-fetched; ``ids``: ids the user listed). ``seq`` orders the
    chunks of a run (they are stored in that order)."""

    seq: int
    step: StepKind
    start: int = 0
    stop: int = 0
    id_list: tuple[int, ...] = ()

    @classmethod
    def window(cls, seq: int, start: int, stop: int) -> ChunkSpec:
        return cls(seq, "scan", start=start, stop=stop)

    @classmethod
    def listed(cls, seq: int, step: StepKind, ids: Sequence[int]) -> ChunkSpec:
        return cls(seq, step, id_list=tuple(int(i) for i in ids))

    @property
    def ids(self) -> Sequence[int]:
        return range(self.start, self.stop) if self.step == "scan" else self.id_list

    @property
    def advances_cursor(self) -> bool:
        return self.step == "scan"

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class ScanEnd:
    """What ends a scan: a session of ``user_id`` (the API user) that started at or after
    ``not_before`` (the login response's ``Date``, the API's clock, less a margin)."""

    user_id: int
    not_before: datetime


@dataclass(frozen=True)
class WindowOutcome:
    """What one stored window tells the plan.

    ``returned_max``: the highest id *of the window* that came back (stored or rejected), None
    if none did. ``end_id``: the lowest id of the window that is the end session
    (:class:`ScanEnd`), None if absent. ``oldest``/``newest``: ``(id, startTime)`` of the lowest
    and highest stored session of the window, None if none (they measure the platform's id rate).
    """

    returned_max: int | None = None
    end_id: int | None = None
    oldest: tuple[int, datetime] | None = None
    newest: tuple[int, datetime] | None = None


class WindowPlan(Protocol):
    """What the one ingest loop drives: windows of ids to fetch, told what came back, in order."""

    step: StepKind

    def next_window(self) -> Sequence[int] | None: ...

    def observe(self, window: Sequence[int], outcome: WindowOutcome) -> None: ...


class ListPlan:
    """Listed ids (open sessions, ``--ids-file``) in chunks of ``size``; nothing to observe."""

    def __init__(self, step: StepKind, ids: Sequence[int], size: int) -> None:
        self.step = step
        self._chunks = [tuple(ids[i : i + size]) for i in range(0, len(ids), size)]
        self._next = 0

    def next_window(self) -> Sequence[int] | None:
        if self._next >= len(self._chunks):
            return None
        self._next += 1
        return self._chunks[self._next - 1]

    def observe(self, window: Sequence[int], outcome: WindowOutcome) -> None:
        del window, outcome


class ScanPlan:
    """A range scan from ``start`` in windows of ``window`` ids (see the module docstring).

    ``next_window()`` hands out contiguous windows, possibly several ahead of what was observed
    (fetching overlaps storing); ``observe(window, outcome)`` must be called for every window
    handed out, in the order handed out. ``status`` is ``scanning`` until the end session and
    its tail are observed (``completed``) or ``gap_limit`` ids past the last data were observed
    empty without it (``incomplete``; ``reason`` says why). Windows handed out beyond the point
    where the plan finished may still be stored by the caller (their rows are data), or dropped
    unfetched (the next run scans those ids from the cursor).
    """

    def __init__(
        self,
        start: int,
        *,
        window: int,
        gap_limit: int,
        end: ScanEnd | None,
        tail: int = 0,
        history: tuple[tuple[int, datetime], tuple[int, datetime]] | None = None,
    ) -> None:
        if start < 1 or window < 1 or gap_limit < 1 or tail < 0:
            raise ValueError("start, window and gap_limit must be >= 1, tail >= 0")
        self.step: StepKind = "scan"
        self.start = start
        self.window = window
        self.gap_limit = gap_limit
        self.end = end
        self.tail = tail
        self.cursor: int | None = None  # highest requested id that came back + 1
        self.end_id: int | None = None
        self.status: ScanStatus = "scanning"
        self.reason: str | None = None
        self._handed = start  # the next id to hand out
        self._observed = start  # every id below this was observed
        self._pending: deque[range] = deque()
        # (id, startTime) of the lowest and highest session known: stored by earlier runs
        # (``history``), then what this scan sees. Their slope is the platform's id rate.
        self._oldest: tuple[int, datetime] | None = history[0] if history else None
        self._newest: tuple[int, datetime] | None = history[1] if history else None

    @property
    def scanned_to(self) -> int | None:
        """The highest id observed so far (None before the first window)."""
        return self._observed - 1 if self._observed > self.start else None

    @property
    def _data_mark(self) -> int:
        """Where the current run of empty ids begins."""
        return self.cursor if self.cursor is not None else self.start

    def _limit(self) -> int:
        """Hand out nothing at or beyond this id (the tail's end, or the gap probe's)."""
        if self.end_id is not None:
            return self.end_id + 1 + self.tail
        return self._data_mark + self.allowed_gap()

    def allowed_gap(self) -> int:
        """Consecutive empty ids after the newest data that end the scan as ``incomplete``:
        ``gap_limit``, or more when the measured id rate says the login's session is further."""
        end, oldest, newest = self.end, self._oldest, self._newest
        if end is None or oldest is None or newest is None:
            return self.gap_limit
        seconds = (newest[1] - oldest[1]).total_seconds()
        ahead = (end.not_before - newest[1]).total_seconds()
        if seconds <= 0 or newest[0] <= oldest[0] or ahead <= 0:
            return self.gap_limit
        rate = (newest[0] - oldest[0]) / seconds  # ids per second, the whole platform's
        return max(self.gap_limit, int(GAP_RATE_FACTOR * rate * ahead) + self.gap_limit)

    def next_window(self) -> range | None:
        """The next ids to fetch, or None (done, or waiting for what is in flight)."""
        if self.status != "scanning":
            return None
        stop = min(self._handed + self.window, self._limit(), MAX_SESSION_ID)
        if stop <= self._handed:
            return None
        window = range(self._handed, stop)
        self._handed = stop
        self._pending.append(window)
        return window

    def observe(self, window: Sequence[int], outcome: WindowOutcome) -> None:
        """Take what came back for ``window`` (the oldest window in flight)."""
        if not isinstance(window, range) or not self._pending or self._pending[0] != window:
            raise ValueError(f"observe() out of order: {window} is not the oldest window in flight")
        self._pending.popleft()
        for name, value in (("returned_max", outcome.returned_max), ("end_id", outcome.end_id)):
            if value is not None and value not in window:
                raise ValueError(f"{name} {value} is outside the window {window}")
        if outcome.returned_max is not None:
            self.cursor = max(self.cursor or 0, outcome.returned_max + 1)
        if outcome.end_id is not None and self.end_id is None:
            self.end_id = outcome.end_id
        if outcome.oldest is not None and (
            self._oldest is None or outcome.oldest[0] < self._oldest[0]
        ):
            self._oldest = outcome.oldest
        if outcome.newest is not None and (
            self._newest is None or outcome.newest[0] > self._newest[0]
        ):
            self._newest = outcome.newest
        self._observed = window.stop
        if self.status != "scanning":
            return
        if self.end_id is not None:
            if self._observed >= self.end_id + 1 + self.tail:
                self.status = "completed"
        elif self._observed - self._data_mark >= self.allowed_gap():
            self.status = "incomplete"
            self.reason = self._incomplete_reason()

    def _incomplete_reason(self) -> str:
        last = self._observed - 1
        if self.end is None:
            return (
                f"no end marker (the login answer named no user or had no Date header): the scan "
                f"stopped after {self.gap_limit:,} empty ids at id {last:,}; completeness unproven"
            )
        return (
            f"the session this run's login opened (user {self.end.user_id}, started at or after "
            f"{self.end.not_before.isoformat()}) was not found: the scan gave up at id {last:,} "
            f"after {self._observed - self._data_mark:,} consecutive empty ids"
        )


# --- --since DATE: where a first scan starts -----------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """One probe of :class:`StartSearch`: fetch the ids of ``window``."""

    window: range
    phase: Literal["climb", "bisect", "step", "final"]


class StartSearch:
    """Find a scan start for ``--since DATE`` (see the module docstring).

    ``lo`` is proven: every session with an id below it started before ``since`` (ids grow with
    ``startTime``). ``hi`` is the lowest id seen of a session that started at or after ``since``.

    * Climb: probes from ``floor`` upward over stretches growing exponentially (each probe samples
      its whole stretch at an even stride; an empty sample above data is taken once more at other
      ids), until one returns a session at or after ``since``, or ``climb_empty`` stretches in a
      row above the last data return nothing (above the top, or a very long quiet stretch), or
      the id space ends.
    * Bisect ``[lo, upper)``: a probe in the middle; a session before ``since`` raises ``lo``, one
      at or after it lowers ``upper``. An empty middle is a quiet stretch, ids below the first
      session or above the last: step upward from it (``mid + W``, ``mid + 2W``, ``mid + 4W`` ...)
      until data or ``upper``; if none, the search goes on below ``mid``. Empty probes never move
      ``lo``.

    When ``upper - lo <= precision`` one last probe fetches all of ``[lo, upper)``, so that ``lo``
    lands right after the last session before ``since`` that it holds. It also ends after
    ``max_probes``. The answer is ``lo``.
    """

    def __init__(
        self,
        since: datetime,
        *,
        probe_ids: int,
        floor: int = 1,
        max_probes: int = 100,
        climb_empty: int = 4,
        precision: int | None = None,
    ) -> None:
        if since.tzinfo is None:
            raise ValueError("since must be timezone-aware")
        if probe_ids < 1 or floor < 1 or max_probes < 1:
            raise ValueError("probe_ids, floor and max_probes must be >= 1")
        self.since = since
        self.probe_ids = probe_ids
        self.max_probes = max_probes
        self.climb_empty = climb_empty
        self.precision = precision or probe_ids
        self.lo = floor
        self.hi: int | None = None
        self.probes = 0
        self.found_data = False  # did any probe return a session?
        self._phase: Literal["climb", "bisect", "step", "done"] = "climb"
        self._climb_at = floor
        self._step = probe_ids
        self._empty_since_data = 0
        self._resample = False  # probe the current climb stretch again, at other ids
        self._upper = MAX_SESSION_ID  # the bisection's (unproven) upper end
        self._step_base = 0  # where the current upward stepping started (an empty middle)
        self._last: Probe | None = None

    @property
    def done(self) -> bool:
        return self._phase == "done"

    @property
    def start(self) -> int:
        """Where the scan starts: no session at or after ``since`` has a smaller id."""
        return self.lo

    def next_probe(self) -> Probe | None:
        if self._phase != "done" and self.probes >= self.max_probes:
            self._phase = "done"
        if self._phase == "climb":
            at = self._climb_at = max(self._climb_at, self.lo)
            if self._resample:  # the same stretch, sampled half a stride further on
                at += max(1, -(-self._step // self.probe_ids)) // 2
            if at >= MAX_SESSION_ID:
                self._bisect_below(MAX_SESSION_ID)
            else:
                return self._probe(at, MAX_SESSION_ID, "climb", span=self._step)
        if self._phase == "step":
            at = self._step_base + self._step
            if at >= self._upper:  # stepped up to upper over nothing: search below the middle
                self._bisect_below(self._step_base)
            else:
                return self._probe(at, self._upper, "step")
        if self._phase == "bisect":
            if self._upper - self.lo > self.precision:
                return self._probe(self.lo + (self._upper - self.lo) // 2, self._upper, "bisect")
            if self._upper > self.lo:  # the last few ids, all in one probe: lo becomes exact
                return self._probe(self.lo, self._upper, "final")
            self._phase = "done"
        return None

    def _probe(
        self,
        at: int,
        limit: int,
        phase: Literal["climb", "bisect", "step", "final"],
        *,
        span: int | None = None,
    ) -> Probe:
        """``probe_ids`` ids from ``at``: contiguous, or spread evenly over ``span`` ids (a
        climb probe samples the whole stretch up to the next one, so data between climb points,
        say a short history amid quiet stretches, is not jumped over)."""
        stride = max(1, -(-span // self.probe_ids)) if span is not None else 1
        stop = min(at + (span if span is not None else self.probe_ids), limit)
        probe = Probe(range(at, stop, stride), phase)
        self._last = probe
        return probe

    def observe(self, probe: Probe, sessions: Iterable[tuple[int, datetime]]) -> None:
        """Take the ``(id, startTime)`` of the sessions the probe returned (ids outside the
        probe window are ignored)."""
        if probe != self._last:
            raise ValueError("observe() must follow next_probe() with its probe")
        self._last = None
        self.probes += 1
        seen = [(sid, start) for sid, start in sessions if sid in probe.window]
        self.found_data = self.found_data or bool(seen)
        before = [sid for sid, start in seen if start < self.since]
        after = [sid for sid, start in seen if start >= self.since]
        if before:
            self.lo = max(self.lo, max(before) + 1)
        if after:
            first = min(after)
            self.hi = first if self.hi is None else min(self.hi, first)
            self._upper = min(self._upper, first)
        if probe.phase == "climb":
            self._observe_climb(probe, bool(seen))
        elif probe.phase == "final":
            self._phase = "done"
        elif seen:
            self._phase = "bisect"
        elif probe.phase == "bisect":
            self._phase, self._step_base, self._step = "step", probe.window.start, self.probe_ids
        else:
            self._step *= 2

    def _observe_climb(self, probe: Probe, found: bool) -> None:
        if self.hi is not None:
            self._phase = "bisect"
            return
        if not found and self.found_data and not self._resample and probe.window.step > 1:
            # a sparse sample can miss a thin layer of data: look once more before calling the
            # stretch empty (the top of the data is near)
            self._resample = True
            return
        self._resample = False
        self._empty_since_data = 0 if found else self._empty_since_data + 1
        if self._empty_since_data >= self.climb_empty and self.found_data:
            # above the data (or a very long quiet stretch): search below the first empty
            # probe after the last data; lo stays where the data proved it
            self._bisect_below(self._first_empty_after_data(probe.window.start))
            return
        self._climb_at = self._climb_at + self._step
        self._step *= 2

    def _first_empty_after_data(self, last_probe_start: int) -> int:
        """The start of the first of the trailing empty climb probes."""
        at = last_probe_start
        step = self._step
        for _ in range(self.climb_empty - 1):
            step //= 2
            at -= step
        return max(at, self.lo)

    def _bisect_below(self, upper: int) -> None:
        self._phase = "bisect"
        self._upper = max(self.lo, min(self._upper, upper))
