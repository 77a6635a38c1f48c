"""End to end over HTTP, memory at scale, API economy and orchestration overhead; the sparse id
space; an ordinary server.

Every contender runs in its own process against one simulator process (no faults, no rate
limit), with the same batch size, concurrency and login; ratios compare runs of the same
simulator in the same benchmark run. The end-to-end, memory and ordinary-server figures use a
dense id space (``foreign_share=0``) and a fixed batch size (no discovery), so they measure the
load path and the per-request cost; the sparse section uses the real id space and the
product's defaults. The fetch floor and dlt scan the id range our scan asked for (our scan ends
at its own login's session plus ``scan_tail`` ids), unless a section says otherwise.
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
        ours_runs, floor_runs = _ours_and_floor(results, E2E, c, sizes, log, label)
        floor = best(floor_runs)
        ours = best(ours_runs)
        rerun = c.ours("rerun", db=Path(ours_runs[0].extra["db"]) if ours_runs[0].extra else None)
        tuned = c.dlt("tuned")
        log(f"dlt tuned: {tuned.seconds:.2f} s")
        naive = c.dlt("naive") if sizes.naive_dlt else None
        if naive is not None:
            log(f"dlt naive: {naive.seconds:.2f} s")

        _dlt_rows(results, E2E, "dlt tuned (parallelized, deferred, parquet)", tuned)
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
            _dlt_rows(results, E2E, "dlt naive (one page after another)", naive)
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


def _ours_and_floor(
    results: Results, section: str, c: Contenders, sizes: Sizes, log: Log, label: str
) -> tuple[list[Measured], list[Measured]]:
    """Ours and the fetch floor, ``sizes.repeats`` times each, alternated so that load from
    elsewhere on the machine hits both alike; the best of each and their ratios are added to
    ``section``. Returns every run of each."""
    ours_runs: list[Measured] = []
    floor_runs: list[Measured] = []
    for k in range(sizes.repeats):
        ours_runs.append(c.ours(f"ours{k}"))
        floor_runs.append(c.fetch_floor())
    ours = best(ours_runs)
    floor = best(floor_runs)
    prefix = "" if section == E2E else f"{section}: "
    log(f"{prefix}ours {[round(m.seconds, 2) for m in ours_runs]} s")
    log(f"{prefix}fetch floor {[round(m.seconds, 2) for m in floor_runs]} s")
    results.add(
        section,
        f"session-audit ingest, {label}",
        ours.seconds,
        "s",
        note=f"best of {len(ours_runs)}; in-run {ours.inner_seconds} s; "
        f"CPU {ours.cpu_seconds:.2f} s; {ours.rows:,} rows stored",
    )
    results.add(
        section,
        "fetch floor (async httpx, same pages)",
        floor.seconds,
        "s",
        note=f"best of {len(floor_runs)}; in-run {floor.inner_seconds} s; "
        f"CPU {floor.cpu_seconds:.2f} s",
    )
    results.at_most(
        section, "ingest / fetch floor (wall)", ratio(ours.seconds, floor.seconds), "x", 1.25
    )
    results.add(
        section,
        "ingest / fetch floor (in-run, no start-up)",
        ratio(ours.inner_seconds, floor.inner_seconds),
        "x",
    )
    return ours_runs, floor_runs


def _dlt_rows(results: Results, section: str, name: str, m: Measured) -> None:
    results.add(
        section,
        name,
        m.seconds,
        "s",
        note=f"in-run {m.inner_seconds} s; CPU {m.cpu_seconds:.2f} s; {m.rows:,} rows stored",
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


SPARSE = "sparse id space"
ORDINARY = "ordinary server"
SPARSE_SHARE = 0.95
QUIET_IDS = 50_000


def run_sparse(results: Results, sizes: Sizes, workdir: Path, log: Log) -> None:
    """The real id space: 95% of ids belong to other firms and every Saturday adds a quiet
    stretch of 50,000 foreign ids. session-audit runs with its defaults (batch-size discovery
    on, its own end rule); tuned dlt is handed the range [first id, true last id + tail] and the
    batch size our discovery found (two head starts); naive dlt stops after ``gap_tolerance``
    empty pages, as a paginator does."""
    n = sizes.e2e_sessions
    with SimulatorProcess(
        sessions=n, users=_users(n), foreign_share=SPARSE_SHARE, quiet_ids=QUIET_IDS
    ) as sim:
        c = Contenders(sim, sizes, workdir / "sparse", product_defaults=True)
        label = f"{c.sessions:,} sessions"
        ours = c.ours("ours")
        run = (ours.extra or {}).get("run", {})
        batch = int((ours.extra or {}).get("run", {}).get("batch_size") or sizes.batch)
        scanned = int(run["last_id"]) - c.first_id + 1 if run.get("last_id") else 0
        log(f"sparse: ours {ours.seconds:.2f} s, {ours.requests} requests, batch {batch}")
        tail = 1000  # Settings.scan_tail's default: what our scan reads past its own login
        true_last = sim.stats().max_session_id or c.max_id
        tuned = c.dlt("tuned", last=true_last + tail, batch=batch)
        log(f"sparse: dlt tuned {tuned.seconds:.2f} s, {tuned.requests} requests")
        naive = c.dlt("naive", batch=sizes.batch, gap=sizes.gap_tolerance)
        log(f"sparse: dlt naive {naive.seconds:.2f} s, {naive.rows} rows")

        results.add(
            SPARSE,
            f"session-audit ingest, default settings, {label}",
            ours.seconds,
            "s",
            note=f"in-run {ours.inner_seconds} s; CPU {ours.cpu_seconds:.2f} s; "
            f"{ours.rows:,} rows stored; {scanned:,} ids scanned; batch {batch} discovered; "
            f"status {run.get('status')}",
        )
        results.add(
            SPARSE,
            "requests per stored session, session-audit",
            ratio(ours.requests, ours.rows),
            "req",
            note=f"{ours.requests:,} requests for {ours.rows:,} rows",
        )
        results.add(
            SPARSE,
            "dlt tuned, given [first id, true last id + 1,000]",
            tuned.seconds,
            "s",
            note=f"in-run {tuned.inner_seconds} s; CPU {tuned.cpu_seconds:.2f} s; "
            f"{tuned.rows:,} rows stored; batch {batch} (ours, discovered)",
        )
        results.add(
            SPARSE,
            "requests per stored session, dlt tuned",
            ratio(tuned.requests, tuned.rows),
            "req",
            note=f"{tuned.requests:,} requests for {tuned.rows:,} rows",
        )
        results.at_least(
            SPARSE, "dlt tuned / ingest (time, sparse)", ratio(tuned.seconds, ours.seconds), "x", 2
        )
        lost = max(0, ours.rows - naive.rows)
        results.add(
            SPARSE,
            f"dlt naive, stops after {sizes.gap_tolerance} empty {sizes.batch}-id pages: "
            "rows stored",
            naive.rows,
            "rows",
            note=f"{lost:,} of {ours.rows:,} sessions lost; crossing a {QUIET_IDS:,}-id quiet "
            f"stretch needs >= {QUIET_IDS // sizes.batch:,} empty {sizes.batch}-id pages "
            "(each run then reads 50,000 ids past the end)",
        )


def run_ordinary(results: Results, sizes: Sizes, workdir: Path, log: Log) -> None:
    """Issue 14: the dense 60k workload against a server that costs what an ordinary framework
    app does per request (benchmarks.ordinary_server), the fetch floor against the same server,
    client CPU seconds beside wall time."""
    n = sizes.e2e_sessions
    with SimulatorProcess(sessions=n, users=_users(n), server="ordinary") as sim:
        c = Contenders(sim, sizes, workdir / "ordinary")
        label = f"{c.sessions:,} sessions"
        ours_runs, floor_runs = _ours_and_floor(results, ORDINARY, c, sizes, log, label)
        ours = best(ours_runs)
        tuned = c.dlt("tuned")
        log(f"ordinary: dlt tuned {tuned.seconds:.2f} s")
        per_10k = 10_000 / ours.rows if ours.rows else 0.0
        cpu_ours = min(m.cpu_seconds for m in ours_runs)
        cpu_floor = min(m.cpu_seconds for m in floor_runs)
        results.add(
            ORDINARY,
            "client CPU per 10,000 sessions, session-audit ingest",
            cpu_ours * per_10k,
            "s",
            note=f"least of {len(ours_runs)} runs: {cpu_ours:.2f} s for {ours.rows:,} rows; "
            "start-up included",
        )
        results.add(
            ORDINARY,
            "client CPU per 10,000 sessions, fetch floor",
            cpu_floor * per_10k,
            "s",
            note=f"{cpu_floor:.2f} s",
        )
        _dlt_rows(results, ORDINARY, "dlt tuned (parallelized, deferred, parquet)", tuned)
        results.add(
            ORDINARY,
            "client CPU per 10,000 sessions, dlt tuned",
            tuned.cpu_seconds * per_10k,
            "s",
        )
        results.at_least(
            ORDINARY, "dlt tuned / ingest (time)", ratio(tuned.seconds, ours.seconds), "x", 2
        )
