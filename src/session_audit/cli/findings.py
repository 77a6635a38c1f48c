"""`session-audit findings`: list the findings of the detection rules; `findings ack ID`;
`findings evaluate --full | --since-id N`.

Listing reads the database read-only; ``ack`` and ``evaluate`` write (the database is migrated
first, as ingest does).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from session_audit.cli.app import app
from session_audit.errors import ConfigError

findings_app = typer.Typer(
    help="Findings of the detection rules (sql/rules): list, acknowledge, re-evaluate.",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(findings_app, name="findings")

DbOption = Annotated[Path | None, typer.Option("--db", help="DuckDB file (default: settings)")]


@findings_app.callback()
def findings(
    ctx: typer.Context,
    db: DbOption = None,
    since: Annotated[
        datetime | None, typer.Option("--since", help="last seen at or after (UTC)")
    ] = None,
    severity: Annotated[
        str | None, typer.Option("--severity", help="at least: info, low, medium or high")
    ] = None,
    rule: Annotated[str | None, typer.Option("--rule", help="one rule, e.g. shared_ip")] = None,
    user: Annotated[int | None, typer.Option("--user", help="findings about this user id")] = None,
    org: Annotated[str | None, typer.Option("--org", help="one organisation")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
) -> None:
    """List findings: open ones first, then by severity, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    from session_audit.analysis.findings import list_findings
    from session_audit.analysis.query import QUERY_FORMATS
    from session_audit.cli.query import echo_result
    from session_audit.db.connection import connect
    from session_audit.settings import load_settings

    if fmt not in QUERY_FORMATS:
        raise ConfigError(f"--format {fmt!r}: use one of {', '.join(QUERY_FORMATS)}")
    settings = load_settings(db=db)
    if not settings.db.exists():
        raise ConfigError(f"no database at {settings.db}")
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    with connect(settings.db, read_only=True) as conn:
        result = list_findings(conn, org=org, since=since, severity=severity, rule=rule, user=user)
    echo_result(
        result,
        fmt,
        columns=("id", "rule", "severity", "user_ids", "last_seen", "summary", "acknowledged_by"),
        null="",
        noun="finding(s)",
    )


@findings_app.command("ack")
def ack(
    finding_id: Annotated[str, typer.Argument(help="finding id (or a unique prefix, 6+ chars)")],
    by: Annotated[str, typer.Option("--by", help="who acknowledges it")],
    note: Annotated[str, typer.Option("--note", help="why")] = "",
    db: DbOption = None,
) -> None:
    """Acknowledge a finding; re-evaluation keeps the acknowledgement."""
    from session_audit.analysis.findings import acknowledge
    from session_audit.db.connection import connect
    from session_audit.db.migrations import migrate
    from session_audit.settings import load_settings

    settings = load_settings(db=db)
    if not settings.db.exists():
        raise ConfigError(f"no database at {settings.db}")
    with connect(settings.db, lock_timeout=settings.lock_timeout) as conn:
        migrate(conn)
        full_id = acknowledge(conn, finding_id, by=by, note=note)
    typer.echo(f"acknowledged {full_id} by {by.strip()}")


@findings_app.command("evaluate")
def evaluate(
    full: Annotated[bool, typer.Option("--full", help="re-evaluate every session")] = False,
    since_id: Annotated[
        int | None, typer.Option("--since-id", help="only sessions with id >= N")
    ] = None,
    db: DbOption = None,
    org: Annotated[
        str | None, typer.Option("--org", help="organisation (default: settings)")
    ] = None,
) -> None:
    """Run the detection rules and store their findings (new ones are listed)."""
    from session_audit.analysis.findings import evaluate_findings
    from session_audit.db.connection import connect
    from session_audit.db.migrations import migrate
    from session_audit.settings import load_settings

    if full == (since_id is not None):
        raise ConfigError("give exactly one of --full or --since-id N")
    settings = load_settings(db=db, org=org)
    if not settings.db.exists():
        raise ConfigError(f"no database at {settings.db}")
    with connect(settings.db, lock_timeout=settings.lock_timeout) as conn:
        migrate(conn)
        summary = evaluate_findings(conn, settings, org=settings.org, since_session_id=since_id)
    for message in summary.messages:
        typer.echo(message)
    typer.echo(
        f"{len(summary.rules_run)} rules run: {summary.new_count} new finding(s), "
        f"{summary.updated} already known; {summary.ip_lookups} IP(s) looked up"
    )
    for finding in summary.new:
        typer.echo(f"  {finding.id}  {finding.severity:<6} {finding.rule}: {finding.summary}")
    if summary.new_count > len(summary.new):
        typer.echo(
            f"  ... and {summary.new_count - len(summary.new)} more new finding(s) of lower "
            "severity: `session-audit findings` lists them all"
        )
