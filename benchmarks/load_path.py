"""Load path: raw page bytes -> stored rows, ours against the floor, in this process.

Pages are what the simulator serves for ``userSession/items`` calls of ``batch`` ids (malformed
rows included), built once before timing. Both contenders write a fresh DuckDB file.

* floor: ``orjson.loads`` every page -> one polars frame -> ``CREATE TABLE AS`` (timestamps cast
  in DuckDB). No validation, no merge, no lineage.
* ours: ``normalize_pages`` + ``SessionStore.write_checkpoint`` per checkpoint (``checkpoint_ids``
  ids = ``checkpoint_ids / batch`` pages), each one transaction with the cursor, as the ingest does.

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


def load_ours(
    pages: Sequence[bytes], path: Path, *, pages_per_checkpoint: int, org: str = "default"
) -> LoadTiming:
    from session_audit.db.connection import connect
    from session_audit.db.migrations import migrate
    from session_audit.ingest.normalize import normalize_pages
    from session_audit.ingest.store import SessionStore

    gc.collect()
    started, cpu = time.perf_counter(), _cpu()
    conn = connect(path)
    try:
        migrate(conn)
        store = SessionStore(conn, org)
        run_id = store.start_run("scan")
        for i in range(0, len(pages), pages_per_checkpoint):
            batch = normalize_pages(pages[i : i + pages_per_checkpoint], org=org)
            cursor = batch.max_id + 1 if batch.max_id is not None else None
            store.write_checkpoint(run_id, batch, cursor=cursor)
        store.finish_run(run_id, "completed")
        seconds, cpu = time.perf_counter() - started, _cpu() - cpu
        row = conn.execute(bench_sql("session_row_count")).fetchone()
    finally:
        conn.close()
    return LoadTiming(seconds, int(row[0]) if row else 0, cpu)


LOAD = "load path"


def run_load_path(results: Results, sizes: Sizes, workdir: Path, log: Log) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    pages = build_pages(sizes.load_rows, batch=sizes.batch)
    log(f"load path: {len(pages):,} pages built in {time.perf_counter() - started:.1f} s")
    per_checkpoint = max(1, sizes.checkpoint_ids // sizes.batch)
    floors: list[LoadTiming] = []
    ours: list[LoadTiming] = []
    for k in range(max(1, min(sizes.repeats, 2))):
        floors.append(load_floor(pages, _fresh(workdir / f"floor{k}.duckdb")))
        ours.append(
            load_ours(
                pages, _fresh(workdir / f"ours{k}.duckdb"), pages_per_checkpoint=per_checkpoint
            )
        )
        log(
            f"load path: floor {floors[-1].seconds:.2f} s (CPU {floors[-1].cpu_seconds:.2f} s),"
            f" ours {ours[-1].seconds:.2f} s (CPU {ours[-1].cpu_seconds:.2f} s)"
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
        f"normalize_pages + write_checkpoint, {label}",
        best.seconds,
        "s",
        note=f"best of {len(ours)}; CPU {best.cpu_seconds:.2f} s; {best.rows:,} rows; "
        f"{sizes.checkpoint_ids:,}-id checkpoints",
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
