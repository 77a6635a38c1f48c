"""`session-audit ingest`: fetch sessions into DuckDB, exactly once, resumable after any crash."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from session_audit.cli.app import app, fail
from session_audit.cli.progress import ingest_progress
from session_audit.errors import Interrupted, SessionAuditError

if TYPE_CHECKING:
    from session_audit.ingest.prepare import PreparedWriter
    from session_audit.ingest.runner import IdSource, IngestSummary
    from session_audit.scale.executors import ExecutionPlan
    from session_audit.settings import Settings


@app.command("ingest")
def ingest(
    db: Annotated[Path | None, typer.Option(help="DuckDB file [env SESSION_AUDIT_DB]")] = None,
    base_url: Annotated[
        str | None, typer.Option(help="API root, e.g. https://live.tradovateapi.com/v1")
    ] = None,
    start_id: Annotated[
        int | None,
        typer.Option(min=1, help="first session id to scan from (first run; else the cursor)"),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="first run: scan from the first session that started at or after this UTC "
            "date or datetime (ISO 8601), found by probing the id space"
        ),
    ] = None,
    ids_file: Annotated[
        str | None,
        typer.Option(help="fetch these session ids instead of a range scan (txt/csv/parquet, -)"),
    ] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="ids per items call")] = None,
    gap_tolerance: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="safety net: empty batches past the newest session after which a scan that "
            "has not found its own login session ends incomplete [default 2000]",
        ),
    ] = None,
    concurrency: Annotated[int | None, typer.Option(min=1, help="requests in flight")] = None,
    org: Annotated[str | None, typer.Option(help="organisation label stored with rows")] = None,
    lock_timeout: Annotated[
        float | None, typer.Option(min=0, help="seconds to wait for another writer")
    ] = None,
    progress: Annotated[
        bool | None, typer.Option("--progress/--no-progress", help="progress bar (default: tty)")
    ] = None,
    tenants: Annotated[
        Path | None,
        typer.Option(help="TOML file of tenants: one run per tenant [env SESSION_AUDIT_TENANTS]"),
    ] = None,
    executor: Annotated[
        str,
        typer.Option(help="inline (one loop), threads or dask: chunks staged as Parquet"),
    ] = "inline",
    dask_address: Annotated[
        str | None, typer.Option(help="Dask scheduler, e.g. tcp://host:8786 (else a local one)")
    ] = None,
    dask_workers: Annotated[
        int | None, typer.Option(min=1, help="worker processes (threads) of the local pool")
    ] = None,
    staging_dir: Annotated[
        str | None,
        typer.Option(help="shared Parquet staging dir or fsspec URL (default: <db dir>/staging)"),
    ] = None,
    lake: Annotated[
        str | None,
        typer.Option(help="also mirror sessions to a Parquet lake (dir or URL) by org and month"),
    ] = None,
) -> None:
    """Fetch login sessions from the API into the DuckDB file.

    Every run refreshes users and their stats, re-fetches sessions still open, then scans session
    ids from the stored cursor (first run: --since DATE or --start-id N) up to the session its own
    login opened, or fetches the ids in --ids-file.

    Exit codes: 0 completed; 1 failed; 2 usage or settings error; 3 incomplete (the scan did not
    reach its own login session: the next run continues from the cursor); 75 rate limited (the
    API locked the user out: the next run after the lockout resumes); 130/143 interrupted.
    """
    from session_audit.settings import load_settings

    sources = [
        flag
        for flag, value in (("--start-id", start_id), ("--since", since), ("--ids-file", ids_file))
        if value is not None
    ]
    if len(sources) > 1:
        fail(f"{' and '.join(sources)} exclude each other: give one of them", 2)
    since_at = _parse_since(since) if since is not None else None
    plan = _plan(executor, dask_workers, dask_address, staging_dir)
    settings = load_settings(
        db=db,
        base_url=base_url,
        batch_size=batch_size,
        gap_tolerance=gap_tolerance,
        concurrency=concurrency,
        org=org,
        lock_timeout=lock_timeout,
        tenants=tenants,
    )
    prepared = _prepare(settings, plan, ids_file)
    try:
        codes = _ingest_runs(
            settings, org, base_url, start_id, since_at, ids_file, progress, plan, lake, prepared
        )
    finally:
        if prepared is not None:
            prepared.close()  # a writer no run took: its lock released
    code = max(codes, default=0)
    if code:
        raise typer.Exit(code)


def _prepare(
    settings: Settings, plan: ExecutionPlan, ids_file: str | None
) -> PreparedWriter | None:
    """The database of a plain run (one org, a scan, inline, no Prefect) opened and migrated in
    a worker thread while this process imports the run's modules (``ingest.prepare``); None on
    every other path (an ids file is read before the database is touched)."""
    from session_audit.orchestration import should_use_prefect

    if settings.tenants is not None or ids_file is not None or plan.executor != "inline":
        return None
    if should_use_prefect(os.environ):
        return None
    from session_audit.ingest.prepare import PreparedWriter

    return PreparedWriter(settings)


def _ingest_runs(
    settings: Settings,
    org: str | None,
    base_url: str | None,
    start_id: int | None,
    since_at: datetime | None,
    ids_file: str | None,
    progress: bool | None,
    plan: ExecutionPlan,
    lake: str | None,
    prepared: PreparedWriter | None,
) -> list[int]:
    """Every run of the command (one, or one per tenant), summaries printed; their exit codes."""
    from session_audit.ingest.runner import IdSource

    if settings.tenants is not None:
        if since_at is not None:
            fail("--since cannot be combined with --tenants (set start_id per tenant)", 2)
        runs = _tenant_runs(settings, org, base_url, start_id, ids_file)
    else:
        runs = [(None, settings, IdSource.of(start_id=start_id, since=since_at, ids_file=ids_file))]

    show_progress = sys.stderr.isatty() if progress is None else progress
    codes: list[int] = []
    for tenant, tenant_settings, source in runs:
        try:
            summary = _run(tenant_settings, source, show_progress, plan, prepared)
        except Interrupted as exc:
            fail(str(exc), 128 + exc.signal_number)
        except SessionAuditError as exc:
            if tenant is None:
                raise
            typer.echo(f"error: tenant {tenant}: {exc}", err=True)
            codes.append(EXIT_CODES["failed"])
            continue
        _print_summary(summary)
        if lake is not None:
            _sync_lake(tenant_settings, lake)
        codes.append(EXIT_CODES.get(summary.status, 1))
        if summary.status != "completed":
            typer.echo(f"error: run {summary.run_id} {summary.status}: {summary.error}", err=True)
    return codes


# The exit code of a run, by its status (the README lists them).
EXIT_CODES = {
    "completed": 0,
    "failed": 1,
    "incomplete": 3,
    "rate_limited": 75,
    "interrupted": 130,  # 128 + the signal: 130 for SIGINT, 143 for SIGTERM
}


def _parse_since(text: str) -> datetime:
    """``--since``: an ISO date (midnight UTC) or datetime (UTC unless it names an offset)."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        fail(f"--since {text!r} is not an ISO date or datetime (e.g. 2026-07-01)", 2)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _plan(
    executor: str, workers: int | None, address: str | None, staging_dir: str | None
) -> ExecutionPlan:
    """The run's execution plan, validated once here: a bad combination is a usage error."""
    from session_audit.errors import ConfigError
    from session_audit.scale.executors import ExecutionPlan

    try:
        return ExecutionPlan(
            executor,  # type: ignore[arg-type]  # checked by ExecutionPlan itself
            workers=workers,
            address=address,
            staging_dir=staging_dir,
        )
    except ConfigError as exc:
        fail(str(exc), 2)


def _tenant_runs(
    settings: Settings,
    org: str | None,
    base_url: str | None,
    start_id: int | None,
    ids_file: str | None,
) -> list[tuple[str | None, Settings, IdSource]]:
    """One (tenant, settings, source) per tenant; every env var is checked before any run."""
    from session_audit.ingest.runner import IdSource
    from session_audit.tenants import all_tenant_settings, load_tenants

    given = [
        flag
        for flag, value in (
            ("--org", org),
            ("--base-url", base_url),
            ("--start-id", start_id),
            ("--ids-file", ids_file),
        )
        if value is not None
    ]
    if given:
        fail(f"{', '.join(given)} cannot be combined with --tenants (set them per tenant)", 2)
    assert settings.tenants is not None
    tenants = load_tenants(settings.tenants)
    return [
        (tenant.name, tenant_settings, IdSource(kind="scan", start_id=tenant.start_id))
        for tenant, tenant_settings in all_tenant_settings(settings, tenants, os.environ)
    ]


def _sync_lake(settings: Settings, lake: str) -> None:
    from session_audit.analysis.lake import sync_lake
    from session_audit.db.connection import connect

    with connect(settings.db, read_only=True) as conn:
        done = sync_lake(conn, settings.org, lake)
    typer.echo(
        f"  lake          {done.months_written} month(s) written ({done.rows_written:,} rows), "
        f"{done.months_unchanged} unchanged: {lake}"
    )


def _run(
    settings: Settings,
    source: IdSource,
    show_progress: bool,
    plan: ExecutionPlan,
    prepared: PreparedWriter | None = None,
) -> IngestSummary:
    """One run: as a Prefect flow run when a Prefect server is configured (PREFECT_API_URL), else
    directly in this process with no prefect import (the inline loop, or the staged driver on
    threads or Dask). ``prepared``: the plain run's database, already being opened."""
    from session_audit.orchestration import prepare_prefect_env, should_use_prefect

    with ingest_progress(show_progress) as sink:
        if should_use_prefect(os.environ):
            # Recorded as a flow run there; threads|dask chunks become its task runs. Prefect
            # reads its environment at import: prepare it first.
            prepare_prefect_env(os.environ, settings.db.parent, quiet=True)
            from session_audit.orchestration.ingest_flow import run_ingest_flow

            return run_ingest_flow(settings, source, plan, progress=sink)
        if plan.executor != "inline":
            from session_audit.scale.driver import run_ingest_staged

            return run_ingest_staged(settings, source, plan, progress=sink)
        from session_audit.ingest.runner import run_ingest

        return run_ingest(settings, source, progress=sink, prepared=prepared)


def _print_summary(summary: IngestSummary) -> None:
    """The run's counts as its ledger row holds them (``summary.counts``, read back), with the
    retry causes of the client's detail."""
    counts = summary.counts
    causes = ", ".join(f"{k} {v}" for k, v in sorted(summary.counters.retries.items()))
    lines = [
        f"ingest run {summary.run_id} ({summary.org}): {summary.status} in {summary.seconds:.1f} s",
        f"  source        {summary.source}, ids {summary.first_id} .. {summary.last_id}",
        f"  users         {summary.users:,}",
        f"  fetched       {counts.fetched:,} sessions ({summary.open_refetched:,} open re-fetched)",
        f"  stored        {counts.inserted:,} new, {counts.updated:,} changed, "
        f"{counts.unchanged:,} unchanged, {counts.rejected:,} rejected",
        f"  requests      {counts.requests:,} ({counts.bytes:,} bytes received), "
        f"{counts.retries:,} retries{f' ({causes})' if causes else ''}",
        f"  penalties     {counts.penalty_waits:,} rate-limit waits, "
        f"{counts.renewals:,} token renewals",
        f"  cursor        next id {summary.next_id}, {summary.open_sessions:,} sessions still open",
    ]
    if summary.scanned_to is not None or summary.note:
        reached = f"scanned to id {summary.scanned_to}" if summary.scanned_to is not None else ""
        lines.append(f"  scan          {'; '.join(t for t in (reached, summary.note) if t)}")
    if summary.resume_at is not None:
        lines.append(f"  resume after  {summary.resume_at.isoformat(timespec='seconds')}")
    if summary.error:
        lines.append(f"  error         {summary.error}")
    typer.echo("\n".join(lines))
