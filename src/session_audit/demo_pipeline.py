"""The demo pipeline behind ``session-audit demo`` (``cli/demo.py`` is only its command line):
the whole tool on a simulated Tradovate account, end to end.

1. a seeded simulator of the API is served on 127.0.0.1 (1,500 users, ~40,000 sessions, a few
   malformed rows, 1% faults, at most 50 ids per call);
2. the real ``ingest_sessions`` Prefect flow loads it into a fresh ``data/demo.duckdb`` (each chunk
   of ids one task run, the flow run recorded in ``ingest_runs``);
3. the compliance set is exported as CSV and Parquet with manifests to ``data/demo-exports/``;
4. the HTML report is written to ``data/demo-report.html``;
5. a short summary is read back from the analysis views, with the coverage verdict ("all N
   users covered up to <time>" or the users not covered, :mod:`session_audit.analysis.coverage`).

Every output of an earlier demo run is replaced; nothing else in ``data/`` is touched.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from session_audit.analysis.compliance import ExportedSet
from session_audit.ingest.runner import IdSource, IngestSummary, ProgressSink
from session_audit.settings import Settings

StepSink = Callable[[str], None]


@dataclass(frozen=True)
class DemoOptions:
    """Size and shape of the demo."""

    data_dir: Path = Path("data")
    users: int = 1500
    sessions: int = 40_000
    seed: int = 2024
    fault_rate: float = 0.01
    max_ids: int = 500  # the simulated API's undocumented ceiling: the ingest discovers it
    span_days: int = 60
    since_days: int = 30  # the first run fetches the sessions of the last 30 days (--since)

    @property
    def db(self) -> Path:
        return self.data_dir / "demo.duckdb"

    @property
    def exports(self) -> Path:
        return self.data_dir / "demo-exports"

    @property
    def report(self) -> Path:
        return self.data_dir / "demo-report.html"


@dataclass(frozen=True)
class DemoFacts:
    """What the demo prints about the data, read from the views."""

    sessions: int
    users: int
    session_users: int
    open_sessions: int
    rejected: int
    shared_ips: int
    shared_networks: int
    concurrent_incidents: int
    concurrent_users: int
    top_versions: tuple[tuple[str, str, int, int, bool], ...]
    coverage: str = ""


@dataclass
class DemoOutcome:
    options: DemoOptions
    summary: IngestSummary
    facts: DemoFacts
    exports: list[ExportedSet] = field(default_factory=list)
    flow_run_id: str | None = None
    timings: dict[str, float] = field(default_factory=dict)


def demo_settings(base_url: str, credentials: Any, options: DemoOptions) -> Settings:
    """Settings for the simulator: its credentials, a budget it allows, short back-offs. The
    batch size is left to discovery (the simulator rejects calls above ``max_ids`` ids)."""
    from session_audit.analysis.geo import bundled_demo_databases

    geo = bundled_demo_databases()  # they place only the simulator's planted addresses
    return Settings(
        base_url=base_url,
        geoip_city_db=geo.city,
        geoip_asn_db=geo.asn,
        username=credentials.username,
        password=credentials.password,
        cid=credentials.cid,
        secret=credentials.sec,
        db=options.db,
        requests_per_hour=1_000_000,
        requests_per_second=2_000,
        concurrency=8,
        checkpoint_ids=10_000,
        backoff_base=0.02,
        backoff_cap=2.0,
        timeout=10.0,
    )


def findings_line(db: Path) -> str:
    """One line saying which detection rules fired: the ingest evaluated them over the sessions
    it stored (the demo settings point at the bundled tiny test MMDB files)."""
    from session_audit.db.connection import connect

    conn = connect(db, read_only=True)
    try:
        rows = conn.execute(
            "SELECT f.rule, count(*) FROM findings AS f GROUP BY f.rule ORDER BY f.rule"
        ).fetchall()
    finally:
        conn.close()
    rules = ", ".join(f"{rule} {n}" for rule, n in rows)
    return f"findings: {sum(n for _, n in rows)} ({rules or 'none'}); see `findings`"


def reset_outputs(options: DemoOptions) -> None:
    """Remove the outputs of an earlier demo run (database, exports, report) and nothing else."""
    for path in (options.db, options.db.with_name(options.db.name + ".wal"), options.report):
        path.unlink(missing_ok=True)
    shutil.rmtree(options.exports, ignore_errors=True)
    options.data_dir.mkdir(parents=True, exist_ok=True)


def read_facts(db: Path, *, top: int = 5) -> DemoFacts:
    """The demo's headline figures from the database (read-only)."""
    from session_audit.analysis.coverage import coverage_line, read_coverage
    from session_audit.db.connection import connect
    from session_audit.db.sqlfiles import query_sql

    conn = connect(db, read_only=True)
    try:
        row = conn.execute(query_sql("demo", "summary")).fetchone()
        versions = conn.execute(query_sql("demo", "top_versions"), {"limit": top}).fetchall()
        coverage = coverage_line(read_coverage(conn))
    finally:
        conn.close()
    assert row is not None
    counts = [int(v) for v in row]
    return DemoFacts(
        sessions=counts[0],
        users=counts[1],
        session_users=counts[2],
        open_sessions=counts[3],
        rejected=counts[4],
        shared_ips=counts[5],
        shared_networks=counts[6],
        concurrent_incidents=counts[7],
        concurrent_users=counts[8],
        top_versions=tuple(
            (str(app), str(ver), int(s), int(u), bool(old)) for app, ver, s, u, old in versions
        ),
        coverage=coverage,
    )


def ledger_flow_run_id(db: Path, run_id: int) -> str | None:
    from session_audit.db.connection import connect
    from session_audit.db.sqlfiles import query_sql

    conn = connect(db, read_only=True)
    try:
        row = conn.execute(query_sql("demo", "flow_run_id"), {"run_id": run_id}).fetchone()
    finally:
        conn.close()
    return str(row[0]) if row and row[0] else None


def run_demo(
    options: DemoOptions,
    *,
    step: StepSink,
    progress: ProgressSink | None = None,
) -> DemoOutcome:
    """Run the demo; ``step`` receives one line per stage, ``progress`` each stored chunk.

    Prefect's environment must be prepared before this is called (the CLI does it)."""
    from session_audit.analysis.compliance import export_compliance_set
    from session_audit.orchestration.ingest_flow import run_ingest_flow
    from session_audit.orchestration.prefect_server import prefect_api
    from session_audit.orchestration.tasks import TaskRunTally
    from session_audit.simulator import Simulator, SimulatorConfig, start_background_server

    timings: dict[str, float] = {}
    reset_outputs(options)

    started = time.monotonic()
    sim = Simulator(
        SimulatorConfig(
            users=options.users,
            sessions=options.sessions,
            seed=options.seed,
            span_days=options.span_days,
            fault_rate=options.fault_rate,
            max_ids=options.max_ids,
            slow_seconds=0.3,
            plant_findings=True,
        )
    )
    config = sim.config
    step(
        f"simulating a Tradovate organisation: {options.users:,} users, ~{options.sessions:,} "
        f"sessions over {options.span_days} days, sparse in the platform's global id space "
        f"({config.foreign_share:.0%} of ids are other firms', {config.quiet_ids:,} foreign ids "
        f"every weekend), {options.fault_rate:.0%} faults, at most {options.max_ids} ids per call"
    )
    since = datetime.fromtimestamp(sim.now_ms / 1000, UTC) - timedelta(days=options.since_days)
    base_url, stop = start_background_server(sim)
    timings["simulator"] = time.monotonic() - started
    try:
        step(f"simulator serving on {base_url}")
        settings = demo_settings(base_url, sim.credentials, options)
        step("starting Prefect (its local server takes 15-30 s to start on a small machine)")
        started = time.monotonic()
        tally = TaskRunTally()  # the server is stopped once it recorded these task runs
        with prefect_api(tally=tally) as prefect:
            timings["prefect_start"] = time.monotonic() - started
            step(
                f"Prefect API ready at {prefect.api_url}; running the ingest_sessions flow "
                f"(--since {since.date().isoformat()}: no session id needed)"
            )
            started = time.monotonic()
            source = IdSource("scan", since=since)
            summary = run_ingest_flow(settings, source, progress=progress, tally=tally)
            timings["flow"] = time.monotonic() - started
    finally:
        stop()
    step(
        f"ingest run {summary.run_id} {summary.status}: {summary.fetched:,} sessions fetched "
        f"in {summary.counts.requests:,} requests "
        f"({summary.discovery_requests} to find where {since.date().isoformat()} starts, "
        f"{summary.counts.retries} retried after faults), "
        f"{summary.rejected} malformed rows set aside; "
        f"scanned to id {summary.scanned_to}, {summary.note or 'no end marker'}"
    )

    step(findings_line(options.db))
    started = time.monotonic()
    exports = export_compliance_set(
        options.db,
        options.exports,
        on_export=lambda e: step(f"exported {e.dataset} ({e.fmt}, {e.rows:,} rows)"),
    )
    timings["export"] = time.monotonic() - started

    started = time.monotonic()
    write_report(options.db, options.report)
    timings["report"] = time.monotonic() - started
    step(f"wrote the HTML report {options.report}")

    return DemoOutcome(
        options=options,
        summary=summary,
        facts=read_facts(options.db),
        exports=exports,
        flow_run_id=ledger_flow_run_id(options.db, summary.run_id),
        timings=timings,
    )


def write_report(db: Path, out: Path) -> Path:
    """The HTML report of the demo database (read-only connection)."""
    from session_audit.analysis.report import write_report as write
    from session_audit.db.connection import connect

    conn = connect(db, read_only=True)
    try:
        return write(conn, out, source=str(db))
    finally:
        conn.close()


def command_name() -> str:
    """How the user can type this tool: `session-audit` when it is on PATH, else the path of
    the running script (e.g. `.venv/bin/session-audit` after the bootstrap)."""

    if shutil.which("session-audit"):
        return "session-audit"
    script = Path(sys.argv[0])
    if script.name == "session-audit" and script.exists():
        try:
            return str(script.resolve().relative_to(Path.cwd().resolve()))
        except ValueError:
            return str(script)
    return "python -m session_audit"


def summary_lines(outcome: DemoOutcome) -> list[str]:
    """The readable summary printed at the end of the demo."""
    f, o = outcome.facts, outcome.options
    cmd = command_name()
    lines = [
        "",
        "What the audit found",
        f"  sessions stored        {f.sessions:,} ({f.rejected} malformed rows kept aside in "
        "rejected_sessions)",
        f"  users                  {f.users:,} ({f.session_users:,} with sessions)",
        f"  open sessions          {f.open_sessions:,}",
        f"  shared IPs             {f.shared_ips:,} IPs and {f.shared_networks:,} networks "
        "used by two or more users",
        f"  concurrent sessions    {f.concurrent_incidents:,} overlapping pairs from different "
        f"IPs, {f.concurrent_users:,} users",
        f"  coverage               {f.coverage}",
        "  top app versions",
    ]
    for app, version, sessions, users, outdated in f.top_versions:
        flag = "  (outdated)" if outdated else ""
        lines.append(f"    {app} {version}: {sessions:,} sessions, {users:,} users{flag}")
    lines += [
        "",
        "Where things are",
        f"  database    {o.db}   (Prefect flow run {outcome.flow_run_id})",
        f"  exports     {o.exports}/   ({len(outcome.exports)} sets, each with manifest.json; "
        f"check one: {cmd} verify {o.exports}/login_history-csv)",
        f"  report      {o.report}   (open it in a browser)",
        "",
        "Try",
        f'  {cmd} query "SELECT * FROM shared_ips ORDER BY users DESC LIMIT 10" --db {o.db}',
    ]
    return lines
