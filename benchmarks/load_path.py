"""Load path: raw page bytes -> stored rows, ours against the floor, in this process.

Pages are what the simulator serves for ``userSession/items`` calls of ``batch`` ids (malformed
rows included), built once before timing. Both contenders write a fresh DuckDB file.

* floor: ``orjson.loads`` every page -> one polars frame -> ``CREATE TABLE AS`` (timestamps cast
  in DuckDB). No validation, no merge, no lineage.
* ours: as the ingest runs it: ``normalize_pages`` per fetched window (``checkpoint_ids`` ids =
  ``checkpoint_ids / batch`` pages), the windows buffered by the ingest's own
  :class:`~session_audit.ingest.checkpoints.CheckpointBuffer` (the default ``checkpoint_rows`` and
  ``checkpoint_seconds``) and stored together by ``SessionStore.write_checkpoint``, one
  transaction with the cursor per checkpoint. The number of transactions is reported. Its time
  includes closing the connection, which checkpoints what the last commits left in DuckDB's
  write-ahead log (the floor's ``CREATE TABLE AS`` writes the file directly).

Each contender's CPU seconds (this process, every thread: user + system) are reported beside its
wall time: on a shared machine the wall time of either side swings with the load, its CPU far
less.
"""

from __future__ import annotations

import gc
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import orjson
import polars as pl

from benchmarks.results import Log, Results, ratio
from benchmarks.sizes import Sizes
from benchmarks.sqlfiles import bench_sql

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
    from session_audit.db.connection import connect
    from session_audit.db.migrations import migrate
    from session_audit.ingest.checkpoints import (
        CheckpointBuffer,
        Window,
        combine_batches,
        combined_cursor,
    )
    from session_audit.ingest.normalize import normalize_pages
    from session_audit.ingest.scan_plan import ChunkSpec, WindowOutcome
    from session_audit.ingest.store import SessionStore

    rows, seconds = default_buffering()
    first = _first_id(pages)
    gc.collect()
    started, cpu = time.perf_counter(), _cpu()
    conn = connect(path)
    transactions = 0
    try:
        migrate(conn)
        store = SessionStore(conn, org)
        run_id = store.start_run("scan")
        buffer = CheckpointBuffer(rows=rows, seconds=seconds)

        def flush() -> None:
            nonlocal transactions
            windows = buffer.take()
            if windows:
                combined = combine_batches([w.batch for w in windows])
                store.write_checkpoint(run_id, combined, cursor=combined_cursor(windows))
                transactions += 1

        for seq, i in enumerate(range(0, len(pages), pages_per_window), start=1):
            window = pages[i : i + pages_per_window]
            normalized = normalize_pages(window, org=org)
            lo = first + i * batch
            spec = ChunkSpec.window(seq, lo, lo + len(window) * batch)
            buffer.add(Window(spec, normalized, WindowOutcome(returned_max=normalized.max_id)))
            if buffer.due():
                flush()
        flush()
        store.finish_run(run_id, "completed")
        row = conn.execute(bench_sql("session_row_count")).fetchone()
    finally:
        conn.close()  # timed: it checkpoints what the last commits left in the WAL
    seconds_taken, cpu = time.perf_counter() - started, _cpu() - cpu
    return LoadTiming(seconds_taken, int(row[0]) if row else 0, cpu, transactions)


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
        f"normalize_pages + write_checkpoint as the ingest buffers, {label}",
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
