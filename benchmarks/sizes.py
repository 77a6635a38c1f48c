"""How big each benchmark is: the full run (< 15 min on 2 cores) and ``--quick`` (< 1 min)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    load_rows: int  # load path: sessions normalised and merged from raw pages
    e2e_sessions: int  # end to end: sessions served by the simulator
    repeats: int  # runs of each fast contender; the best counts (noise on a shared machine)
    memory_sessions: int  # peak RSS of our ingest at this size
    dlt_memory: bool  # run tuned dlt on the memory_sessions simulator too (same work)
    query_sessions: int  # rows of the synthetic query database
    query_users: int
    naive_dlt: bool  # run the naive dlt pipeline (slow)
    prefect: bool  # run the Prefect flow (an ephemeral server: ~30 s)
    batch: int = 100
    concurrency: int = 8
    checkpoint_ids: int = 5000
    gap_tolerance: int = 20


FULL = Sizes(
    load_rows=1_000_000,
    e2e_sessions=60_000,
    repeats=3,
    memory_sessions=2_000_000,
    dlt_memory=True,
    query_sessions=10_000_000,
    query_users=20_000,
    naive_dlt=True,
    prefect=True,
)

QUICK = Sizes(
    load_rows=20_000,
    e2e_sessions=3_000,
    repeats=1,
    memory_sessions=5_000,
    dlt_memory=False,
    query_sessions=50_000,
    query_users=500,
    naive_dlt=True,
    prefect=False,
)
