"""What an ingest flow run publishes in Prefect: a markdown summary and a table of counts.

The texts are built by pure functions (tested without a server); :func:`publish_ingest_artifacts`
only hands them to Prefect. Nothing secret is in them: counts, ids, the org and the database path.
"""

from __future__ import annotations

import re
from typing import Any

from session_audit.ingest.runner import IngestSummary


def artifact_key(prefix: str, org: str) -> str:
    """A Prefect artifact key (lowercase letters, digits, dashes) for ``prefix`` and ``org``."""
    slug = re.sub(r"[^a-z0-9-]+", "-", org.lower()).strip("-") or "default"
    return f"{prefix}-{slug}"


def count_rows(summary: IngestSummary) -> list[dict[str, Any]]:
    """The table artifact: one row per count, as stored in ``ingest_runs`` plus the run's shape."""
    counts: dict[str, Any] = {
        "users": summary.users,
        "open_refetched": summary.open_refetched,
        **summary.ledger_counts(),
        "chunks": summary.chunks,
        "open_sessions": summary.open_sessions,
    }
    return [{"count": name, "value": value} for name, value in counts.items()]


def summary_markdown(summary: IngestSummary, *, db: str) -> str:
    """The markdown artifact: a short human summary of one run."""
    counts = summary.ledger_counts()
    lines = [
        f"# Ingest run {summary.run_id} ({summary.org}): {summary.status}",
        "",
        f"- database: `{db}`",
        f"- source: {summary.source}, ids {summary.first_id} .. {summary.last_id}",
        f"- users refreshed: {summary.users:,}",
        f"- sessions fetched: {summary.fetched:,} ({summary.open_refetched:,} open re-fetched)",
        f"- stored: {summary.inserted:,} new, {summary.updated:,} changed, "
        f"{summary.unchanged:,} unchanged, {summary.rejected:,} rejected",
        f"- requests: {counts['requests']:,}, retries: {counts['retries']:,}, "
        f"rate-limit waits: {counts['penalty_waits']:,}, token renewals: {counts['renewals']:,}",
        f"- cursor: next id {summary.next_id}, {summary.open_sessions:,} sessions still open",
        f"- time: {summary.seconds:.1f} s in {summary.chunks} chunks",
    ]
    if summary.error:
        lines.append(f"- error: {summary.error}")
    return "\n".join(lines) + "\n"


async def publish_ingest_artifacts(summary: IngestSummary, *, db: str) -> None:
    """Create the two artifacts of an ingest flow run (call inside the flow run)."""
    from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact

    await acreate_markdown_artifact(
        key=artifact_key("ingest-summary", summary.org),
        markdown=summary_markdown(summary, db=db),
        description=f"ingest run {summary.run_id}: {summary.status}",
    )
    await acreate_table_artifact(
        key=artifact_key("ingest-counts", summary.org),
        table=count_rows(summary),
        description=f"counts of ingest run {summary.run_id}",
    )
