"""End to end over HTTP, memory at scale, API economy and orchestration overhead.

Every contender runs in its own process against one simulator process (no faults, no rate
limit), with the same batch size, concurrency and login; ratios compare runs of the same
simulator in the same benchmark run.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.contenders.runner import Contenders, Measured, best
from benchmarks.results import Log, Results, ratio
from benchmarks.simproc import SimulatorProcess
from benchmarks.sizes import Sizes

E2E = "end to end"
MEMORY = "memory"
ECONOMY = "API economy"
ORCH = "orchestration"
STARTUP = "start-up"


def _users(sessions: int) -> int:
    return max(50, min(20_000, sessions // 30))


def run_end_to_end(results: Results, sizes: Sizes, workdir: Path, log: Log) -> None:
    n = sizes.e2e_sessions
    with SimulatorProcess(sessions=n, users=_users(n)) as sim:
        c = Contenders(sim, sizes, workdir / "e2e")
        label = f"{c.sessions:,} sessions"
        # Alternate the two so that load from elsewhere on the machine hits both alike.
        ours_runs: list[Measured] = []
        floor_runs: list[Measured] = []
        for k in range(sizes.repeats):
            ours_runs.append(c.ours(f"ours{k}"))
            floor_runs.append(c.fetch_floor())
        ours = best(ours_runs)
        floor = best(floor_runs)
        log(f"ours: {[round(m.seconds, 2) for m in ours_runs]} s")
        log(f"fetch floor: {[round(m.seconds, 2) for m in floor_runs]} s")
        rerun = c.ours("rerun", db=Path(ours_runs[0].extra["db"]) if ours_runs[0].extra else None)
        tuned = c.dlt("tuned")
        log(f"dlt tuned: {tuned.seconds:.2f} s")
        naive = c.dlt("naive") if sizes.naive_dlt else None
        if naive is not None:
            log(f"dlt naive: {naive.seconds:.2f} s")

        results.add(
            E2E,
            f"session-audit ingest, {label}",
            ours.seconds,
            "s",
            note=f"best of {len(ours_runs)}; in-run {ours.inner_seconds} s; "
            f"{ours.rows:,} rows stored",
        )
        results.add(
            E2E,
            "fetch floor (async httpx, same pages)",
            floor.seconds,
            "s",
            note=f"best of {len(floor_runs)}; in-run {floor.inner_seconds} s",
        )
        results.at_most(
            E2E, "ingest / fetch floor (wall)", ratio(ours.seconds, floor.seconds), "x", 1.25
        )
        results.add(
            E2E,
            "ingest / fetch floor (in-run, no start-up)",
            ratio(ours.inner_seconds, floor.inner_seconds),
            "x",
        )
        _dlt_rows(results, "dlt tuned (parallelized, deferred, parquet)", tuned)
        results.at_least(
            E2E, "dlt tuned / ingest (time)", ratio(tuned.seconds, ours.seconds), "x", 2
        )
        results.add(E2E, "peak RSS session-audit ingest", ours.peak_rss_mb, "MB")
        results.add(E2E, "peak RSS fetch floor", floor.peak_rss_mb, "MB")
        results.add(E2E, "peak RSS dlt tuned", tuned.peak_rss_mb, "MB")
        results.at_least(
            E2E,
            "dlt tuned / ingest (peak RSS)",
            ratio(tuned.peak_rss_mb, ours.peak_rss_mb),
            "x",
            1.0,
            note="> 1: we use less memory",
        )
        if naive is not None:
            _dlt_rows(results, "dlt naive (one page after another)", naive)
            results.at_least(
                E2E, "dlt naive / ingest (time)", ratio(naive.seconds, ours.seconds), "x", 10
            )
            results.add(E2E, "peak RSS dlt naive", naive.peak_rss_mb, "MB")
            results.add(
                E2E,
                "dlt naive / ingest (peak RSS)",
                ratio(naive.peak_rss_mb, ours.peak_rss_mb),
                "x",
            )

        first = ours_runs[0]
        _add_economy(
            results,
            label,
            first.requests,
            first.rows,
            rerun.requests,
            per_session_note=f", batch {sizes.batch}",
            rerun_note=f"{rerun.rows:,} rows; simulator counters",
        )

        plain = c.ingest_mode("plain")
        imported = bool(plain.extra and plain.extra.get("prefect_imported"))
        results.check(
            STARTUP,
            "plain ingest run leaves prefect unimported",
            not imported,
            shown="no prefect" if not imported else "prefect imported",
            note="sys.modules after run_ingest in a subprocess",
        )
        if sizes.prefect:
            flow = c.ingest_mode("flow")
            log(f"plain {plain.seconds:.2f} s, flow {flow.seconds:.2f} s")
            results.add(
                ORCH,
                f"plain run_ingest, {label} (process)",
                plain.seconds,
                "s",
                note=f"in-run {plain.inner_seconds} s",
            )
            results.add(
                ORCH,
                f"Prefect flow ingest_sessions, {label} (process)",
                flow.seconds,
                "s",
                note=f"in-run {flow.inner_seconds} s; ephemeral server start-up "
                "included in the process time",
            )
            results.add(ORCH, "flow / plain (process)", ratio(flow.seconds, plain.seconds), "x")
            results.add(
                ORCH,
                "flow / plain (in-run, steps as task runs)",
                ratio(flow.inner_seconds, plain.inner_seconds),
                "x",
            )
            results.add(
                ORCH,
                "peak RSS flow / plain",
                ratio(flow.peak_rss_mb, plain.peak_rss_mb),
                "x",
                note=f"{flow.peak_rss_mb:.0f} MB vs {plain.peak_rss_mb:.0f} MB",
            )


def _dlt_rows(results: Results, name: str, m: Measured) -> None:
    results.add(
        E2E, name, m.seconds, "s", note=f"in-run {m.inner_seconds} s; {m.rows:,} rows stored"
    )


def run_memory(results: Results, sizes: Sizes, workdir: Path, log: Log) -> None:
    n = sizes.memory_sessions
    with SimulatorProcess(sessions=n, users=_users(n)) as sim:
        c = Contenders(sim, sizes, workdir / "memory")
        label = f"{c.sessions:,} sessions"
        ours = c.ours("ours")
        log(f"ours at {label}: {ours.seconds:.1f} s, {ours.peak_rss_mb:.0f} MB")
        rerun = c.ours("rerun", db=Path(ours.extra["db"]) if ours.extra else None)
        results.at_most(
            MEMORY,
            f"peak RSS session-audit ingest, {label}",
            ours.peak_rss_mb,
            "MB",
            400,
            note=f"{ours.seconds:.1f} s; {ours.rows:,} rows",
        )
        _add_economy(
            results,
            label,
            ours.requests,
            ours.rows,
            rerun.requests,
            rerun_note=f"{rerun.seconds:.1f} s",
        )
        if sizes.dlt_memory:
            tuned = c.dlt("tuned")
            log(f"dlt tuned at {label}: {tuned.seconds:.1f} s, {tuned.peak_rss_mb:.0f} MB")
            results.add(
                MEMORY,
                f"peak RSS dlt tuned, {label}",
                tuned.peak_rss_mb,
                "MB",
                note=f"{tuned.seconds:.1f} s; {tuned.rows:,} rows",
            )
            results.at_least(
                MEMORY,
                f"dlt tuned / ingest (peak RSS, {label})",
                ratio(tuned.peak_rss_mb, ours.peak_rss_mb),
                "x",
                10,
            )
            results.at_least(
                MEMORY,
                f"dlt tuned / ingest (time, {label})",
                ratio(tuned.seconds, ours.seconds),
                "x",
                2,
            )


def _add_economy(
    results: Results,
    label: str,
    requests: int,
    rows: int,
    rerun_requests: int,
    *,
    per_session_note: str = "",
    rerun_note: str,
) -> None:
    """The two API-economy figures: requests per stored session, and of a no-change rerun."""
    results.add(
        ECONOMY,
        f"requests per stored session ({label})",
        ratio(requests, rows),
        "req",
        note=f"{requests:,} requests for {rows:,} rows{per_session_note}",
    )
    results.add(
        ECONOMY,
        f"requests of a no-change rerun ({label})",
        rerun_requests,
        "req",
        note=rerun_note,
    )
