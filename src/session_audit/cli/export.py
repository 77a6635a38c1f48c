"""`session-audit export`: a table or view to CSV/Parquet files with a verifiable manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from session_audit.cli.app import app


@app.command("export")
def export(
    dataset: Annotated[str, typer.Option("--dataset", help="table or view, e.g. login_history")],
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet")],
    out: Annotated[Path, typer.Option("--out", help="directory (must be empty, or --force)")],
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="period from UTC date/time (incl.); aggregate views are computed over it",
        ),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="period before UTC date/time (excl.)")
    ] = None,
    user: Annotated[int | None, typer.Option("--user", help="only this user id")] = None,
    org: Annotated[str | None, typer.Option("--org", help="only this organisation")] = None,
    force: Annotated[bool, typer.Option("--force", help="replace an earlier export")] = False,
    partition_rows: Annotated[
        int, typer.Option("--partition-rows", min=1, help="above this many rows, a file per month")
    ] = 1_000_000,
    db: Annotated[Path | None, typer.Option("--db", help="DuckDB file (default: settings)")] = None,
    sign_key: Annotated[
        Path | None,
        typer.Option("--sign-key", help="Ed25519 private key (keygen): sign the manifest"),
    ] = None,
) -> None:
    """Export a dataset; files are ordered deterministically and listed in manifest.json.

    With --since/--until, aggregate views (shared_ips, concurrent_sessions, app_version_usage,
    user_risk_summary, ...) are computed over the sessions of the period; other datasets keep
    the rows whose time column lies in it. The manifest's "period" records which."""
    from session_audit.analysis.export import export_dataset
    from session_audit.analysis.filters import ExportFilters, parse_when
    from session_audit.analysis.manifest import MANIFEST_NAME, sha256_file
    from session_audit.db.connection import connect
    from session_audit.db.views import use_open_session_hours
    from session_audit.settings import load_settings

    key = None
    if sign_key is not None:
        from session_audit.analysis.signing import key_id, load_private_key

        key = load_private_key(sign_key)
    filters = ExportFilters(
        since=parse_when(since, "--since"),
        until=parse_when(until, "--until"),
        user_id=user,
        org=org,
    )
    settings = load_settings(db=db)
    conn = connect(settings.db, read_only=True)
    try:
        use_open_session_hours(conn, settings.open_session_hours)
        result = export_dataset(
            conn,
            dataset=dataset,
            fmt=fmt,
            out_dir=out,
            filters=filters,
            force=force,
            partition_rows=partition_rows,
            source=settings.db,
            sign_key=key,
        )
    finally:
        conn.close()
    typer.echo(
        f"exported {result.row_count} row(s) of {dataset} to {result.directory} "
        f"in {len(result.files)} file(s)"
    )
    typer.echo(f"{MANIFEST_NAME} sha256 {sha256_file(result.directory / MANIFEST_NAME)}")
    if key is not None:
        typer.echo(f"signed with key {key_id(key.public_key())}")
