"""Load path: raw page bytes -> stored rows, ours against the floor, in this process.

Pages are what the simulator serves for ``userSession/items`` calls of ``batch`` ids (malformed
rows included), built once before timing. Both contenders write a fresh DuckDB file.

* floor: ``orjson.loads`` every page -> one polars frame -> ``CREATE TABLE AS`` (timestamps cast
  in DuckDB). No validation, no merge, no lineage.
* ours: as the ingest runs it, with the product's own code: an ``IngestRun`` (writer lock, ledger
  row, the database opened by ``WriterLock.connection`` and closed after the first commit past
  its one-second hold, as in an ingest) driven by ``runner.pump`` over a ``ScanPlan`` of the
  pages' ids in ``checkpoint_ids`` windows, fetched by the ingest's ``InlineFetcher`` whose API
  call is replaced by the pre-built pages (:class:`_ServedPages`; no request is sent). So
  exactly what a real ingest overlaps is overlapped, no more: ``InlineFetcher.slots`` (2)
  windows in flight, each normalized by ``normalize_pages`` in a worker thread as soon as its
  pages are there (two normalizations may run at once); the windows, observed in plan order on
  the event loop, go into the run's ``CheckpointBuffer`` (the default ``checkpoint_rows`` and
  ``checkpoint_seconds``); a due buffer is stored by ``IngestRun.store_windows`` in a worker
  thread, ONE transaction with the cursor, and ``pump`` awaits that store before it hands out
  the next window (one store at a time, in order; only the window already in flight goes on
  meanwhile). In a real ingest that window's fetch is network time; here its pages are already
  there, so the store overlaps at most one normalization. The number of transactions is
  reported. Its time runs from opening the run to closing it (the ledger row finished, the
  database closed, which checkpoints what the last commits left in DuckDB's write-ahead log; the
  floor's ``CREATE TABLE AS`` writes the file directly).

Each contender's CPU seconds (this process, every thread: user + system) are reported beside its
wall time, and the CPU ratio beside the wall ratio: on a shared machine the wall time of either
side swings with the load, its CPU far less; and ours, whose steps overlap, can gain wall time
only where a second core is free.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import httpx
import orjson
import polars as pl

from benchmarks.results import Log, Results, ratio
from benchmarks.sizes import Sizes
from benchmarks.sqlfiles import bench_sql
from session_audit.ingest.normalize import NormalizedBatch, normalize_pages
from session_audit.ingest.runner import IdSource, IngestRun, InlineFetcher, pump
from session_audit.ingest.scan_plan import ChunkSpec, ScanPlan

RAW_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.Int64(),
    "userId": pl.Int64(),
    "startTime": pl.String(),
    "endTime": pl.String(),
    "clientAppId": pl.Int64(),
    "ipAddress": pl.String(),
    "appId": pl.String(),
    "appVersion": pl.String(),
}


@dataclass(frozen=True)
class LoadTiming:
    seconds: float
    rows: int
    cpu_seconds: float = 0.0
    transactions: int = 0  # checkpoints written (ours)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def build_pages(sessions: int, *, batch: int = 100, seed: int = 0) -> list[bytes]:
    """The raw answers of a scan over every id of a simulator with ``sessions`` sessions (a dense
    id space)."""
    from session_audit.simulator import Simulator, SimulatorConfig

    # Dense ids (no other firm's sessions): every page holds ~batch sessions, as before.
    sim = Simulator(
        SimulatorConfig(
            users=max(50, sessions // 200), sessions=sessions, seed=seed, foreign_share=0.0
        )
    )
    table = sim.table
    first, last = table.ids[0], table.ids[-1]
    return [
        orjson.dumps(table.lookup(range(start, min(start + batch, last + 1))))
        for start in range(first, last + 1, batch)
    ]


def load_floor(pages: Sequence[bytes], path: Path) -> LoadTiming:
    gc.collect()
    started, cpu = time.perf_counter(), _cpu()
    rows: list[object] = []
    for page in pages:
        rows.extend(orjson.loads(page))
    frame = pl.DataFrame(rows, schema=RAW_SCHEMA, strict=False)
    del rows
    with duckdb.connect(str(path)) as conn:
        conn.register("raw_sessions", frame.to_arrow())
        conn.execute(bench_sql("floor_create_table"))
        conn.unregister("raw_sessions")
        seconds, cpu = time.perf_counter() - started, _cpu() - cpu
        row = conn.execute(bench_sql("floor_row_count")).fetchone()
    return LoadTiming(seconds, int(row[0]) if row else 0, cpu)


def default_buffering() -> tuple[int, float]:
    """``(checkpoint_rows, checkpoint_seconds)`` as an ingest has them by default."""
    from session_audit.settings import Settings

    fields = Settings.model_fields
    return int(fields["checkpoint_rows"].default), float(fields["checkpoint_seconds"].default)


def load_ours(
    pages: Sequence[bytes],
    path: Path,
    *,
    pages_per_window: int,
    batch: int,
    org: str = "default",
) -> LoadTiming:
    """The load path as ``drive`` runs a scan (see the module docstring): the product's
    ``IngestRun`` and ``pump`` over a ``ScanPlan`` of the pages' ids, the fetch answered from
    ``pages`` by :class:`_ServedPages`. Timed from opening the run to closing its database."""
    return asyncio.run(
        _load_ours(pages, path, pages_per_window=pages_per_window, batch=batch, org=org)
    )


async def _load_ours(
    pages: Sequence[bytes], path: Path, *, pages_per_window: int, batch: int, org: str
) -> LoadTiming:
    from session_audit.db.connection import connect
    from session_audit.settings import Settings

    rows, seconds = default_buffering()
    first = _first_id(pages)
    settings = Settings(
        db=path,
        org=org,
        username="load-path",  # never used: no request is sent (see _refuse)
        password="load-path",
        batch_size=batch,
        checkpoint_ids=pages_per_window * batch,
        checkpoint_rows=rows,
        checkpoint_seconds=seconds,
    )
    # The ingest's own range scan over the pages' ids, without an end marker (that needs a
    # login). It hands out ids up to gap_limit past the cursor: 4 windows never cut one short
    # (at most 2 are in flight beyond the one observed last), and it ends after about 4 empty
    # windows past the last session.
    window = settings.checkpoint_ids
    plan = ScanPlan(first, window=window, gap_limit=4 * window, end=None)
    for module in _RUN_IMPORTS:  # start-up is the startup section's figure, not this one's
        importlib.import_module(module)
    gc.collect()
    started, cpu = time.perf_counter(), _cpu()
    async with IngestRun(
        settings, IdSource(start_id=first), transport=httpx.MockTransport(_refuse)
    ) as run:
        await pump(run, _ServedPages(run, pages, first=first, batch=batch), plan)
    # the run is closed: ledger row finished, database closed (its WAL checkpointed)
    seconds_taken, cpu = time.perf_counter() - started, _cpu() - cpu
    assert run.summary is not None
    with connect(path, read_only=True) as conn:
        row = conn.execute(bench_sql("session_row_count")).fetchone()
    return LoadTiming(seconds_taken, int(row[0]) if row else 0, cpu, run.summary.checkpoints)


# What IngestRun imports when a run is entered (imported before timing).
_RUN_IMPORTS = (
    "session_audit.api.auth",
    "session_audit.api.client",
    "session_audit.db.connection",
    "session_audit.db.migrations",
    "session_audit.ingest.store",
)


def _refuse(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"the load path sends no request ({request.url.path})")


class _ServedPages(InlineFetcher):
    """The ingest's :class:`InlineFetcher` (its slots, its task per window, normalize in a
    worker thread) with the API call replaced by the pre-built pages of the window's ids."""

    def __init__(self, run: IngestRun, pages: Sequence[bytes], *, first: int, batch: int) -> None:
        super().__init__(run)
        self._pages, self._first, self._batch = pages, first, batch
        self._last = first + len(pages) * batch  # the first id no page answers

    async def _fetch(self, spec: ChunkSpec) -> NormalizedBatch:
        # one page per call of ``batch`` ids; past the last session the API answers ``[]``
        offset, size = spec.start - self._first, spec.stop - spec.start
        if offset % self._batch or (size % self._batch and spec.stop <= self._last):
            # a page holds the ids of one call: a window must be whole calls to be answered
            raise ValueError(f"window {spec.start}..{spec.stop} does not fall on page bounds")
        calls = range(offset // self._batch, -(-(offset + size) // self._batch))
        pages = [self._pages[i] if i < len(self._pages) else b"[]" for i in calls]
        return await asyncio.to_thread(normalize_pages, pages, org=self.run.settings.org)


def _first_id(pages: Sequence[bytes]) -> int:
    """The first id of the scan the pages answer (their pages start there, ``batch`` apart)."""
    for page in pages:
        ids = [o["id"] for o in orjson.loads(page) if isinstance(o, dict) and "id" in o]
        ints = [i for i in ids if isinstance(i, int) and not isinstance(i, bool)]
        if ints:
            return min(ints)
    return 1


LOAD = "load path"


def run_load_path(results: Results, sizes: Sizes, workdir: Path, log: Log) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    pages = build_pages(sizes.load_rows, batch=sizes.batch)
    log(f"load path: {len(pages):,} pages built in {time.perf_counter() - started:.1f} s")
    per_window = max(1, sizes.checkpoint_ids // sizes.batch)
    rows, seconds = default_buffering()
    floors: list[LoadTiming] = []
    ours: list[LoadTiming] = []
    for k in range(max(1, min(sizes.repeats, 2))):
        floors.append(load_floor(pages, _fresh(workdir / f"floor{k}.duckdb")))
        ours.append(
            load_ours(
                pages,
                _fresh(workdir / f"ours{k}.duckdb"),
                pages_per_window=per_window,
                batch=sizes.batch,
            )
        )
        log(
            f"load path: floor {floors[-1].seconds:.2f} s (CPU {floors[-1].cpu_seconds:.2f} s),"
            f" ours {ours[-1].seconds:.2f} s (CPU {ours[-1].cpu_seconds:.2f} s,"
            f" {ours[-1].transactions} transactions)"
        )
    floor = min(floors, key=lambda t: t.seconds)
    best = min(ours, key=lambda t: t.seconds)
    label = f"{sizes.load_rows:,} sessions"
    results.add(
        LOAD,
        f"floor: orjson -> polars -> CREATE TABLE AS, {label}",
        floor.seconds,
        "s",
        note=f"best of {len(floors)}; CPU {floor.cpu_seconds:.2f} s; {floor.rows:,} rows",
    )
    results.add(
        LOAD,
        f"ours: IngestRun + pump (normalize and store threads as the ingest), {label}",
        best.seconds,
        "s",
        note=f"best of {len(ours)}; CPU {best.cpu_seconds:.2f} s; {best.rows:,} rows; "
        f"{sizes.checkpoint_ids:,}-id windows stored per {rows:,} rows or {seconds:g} s",
    )
    results.add(
        LOAD,
        "load path transactions (checkpoints with the cursor)",
        best.transactions,
        "",
        note=f"{-(-len(pages) // per_window):,} windows",
    )
    cpu_floor = min(t.cpu_seconds for t in floors)
    cpu_ours = min(t.cpu_seconds for t in ours)
    results.add(LOAD, "load path / floor (CPU)", ratio(cpu_ours, cpu_floor), "x")
    results.at_most(LOAD, "load path / floor", ratio(best.seconds, floor.seconds), "x", 1.5)
    results.add(
        LOAD, "load path throughput", best.rows / best.seconds if best.seconds else None, "rows/s"
    )


def _fresh(path: Path) -> Path:
    for leftover in path.parent.glob(path.name + "*"):
        leftover.unlink()
    return path
