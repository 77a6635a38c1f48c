"""What an ingest flow run publishes in Prefect: a markdown summary and a table of counts; the
new findings of the run as a table; an alert listing the new high/medium findings.

The evaluation hands back at most ``NEW_LIMIT`` new findings (most severe first) and counts them
all (``FindingsSummary.new_count`` / ``alertable_count``): the artifact and the alert list
those and say how many more there are.

The texts are built by pure functions (tested without a server); :func:`publish_ingest_artifacts`
and :func:`publish_findings` only hand them to Prefect. Nothing secret is in them:
counts, ids, the org, the database path, the findings' sentences.

Alerts: when the setting ``alert_block`` (``SESSION_AUDIT_ALERT_BLOCK``) names a Prefect block
("<block-type-slug>/<block-name>", e.g. ``webhook/compliance-alerts`` or
``slack-webhook/risk-team``), :func:`alert_new_findings` sends ONE message per run listing the
run's new findings of severity high or medium, and nothing when there are none. A notification
block (Slack, Teams, custom webhook...) gets ``notify(body, subject)``; a generic
``Webhook`` block gets ``call(payload)``: JSON of the subject, the text, the org and the rows.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from session_audit.analysis.findings import Finding, FindingsSummary
from session_audit.errors import ConfigError
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


def findings_rows(findings: tuple[Finding, ...] | list[Finding]) -> list[dict[str, Any]]:
    """The findings table artifact: one row per new finding, in the evaluation's order (most
    severe first, then rule and id: ``FindingsSummary.new``)."""
    return [
        {
            "id": f.id,
            "severity": f.severity,
            "rule": f.rule,
            "users": ", ".join(map(str, f.user_ids)),
            "sessions": ", ".join(map(str, f.session_ids)),
            "last_seen": f.last_seen.isoformat() if f.last_seen is not None else "",
            "summary": f.summary,
        }
        for f in findings
    ]


def alert_text(
    findings: tuple[Finding, ...] | list[Finding], *, org: str, total: int
) -> tuple[str, str]:
    """(subject, body) of the alert message listing ``findings`` (of ``total`` new ones)."""
    total = max(total, len(findings))
    subject = f"session-audit: {total} new high/medium finding(s) in {org}"
    lines = [
        f"[{row['severity']}] {row['rule']} {row['id']}: {row['summary']}"
        for row in findings_rows(findings)
    ]
    if total > len(findings):
        lines.append(f"... and {total - len(findings)} more: `session-audit findings`")
    return subject, "\n".join(lines)


async def alert_new_findings(block: Any, summary: FindingsSummary) -> int:
    """Send one message listing the new high/medium findings of ``summary`` through ``block``
    (a NotificationBlock: ``notify(body, subject)``; a Webhook block: ``call`` with the JSON of
    subject, text, org and the findings as rows); none when there are none. Returns the number
    of findings sent."""
    findings = summary.alertable
    if not findings:
        return 0
    from prefect.blocks.abstract import NotificationBlock

    subject, body = alert_text(findings, org=summary.org, total=summary.alertable_count)
    if isinstance(block, NotificationBlock):
        result = block.notify(body, subject)
        if inspect.isawaitable(result):  # notify is async in some Prefect versions
            await result
    else:
        rows = findings_rows(findings)
        payload = {"subject": subject, "text": body, "org": summary.org, "findings": rows}
        response = await block.call(payload)
        response.raise_for_status()
    return len(findings)


async def publish_findings(summary: FindingsSummary, *, alert_block: str | None) -> int:
    """After an ingest flow run's evaluation: the findings table artifact, then the alert
    through the block named ``alert_block`` ("type-slug/block-name", the setting; None: no
    alert; an unknown one is a ConfigError). Returns the number of findings alerted."""
    from prefect.artifacts import acreate_table_artifact
    from prefect.blocks.core import Block

    note = f"; {'; '.join(summary.messages)}" if summary.messages else ""
    shown = (
        f" (the {len(summary.new)} most severe listed)"
        if summary.new_count > len(summary.new)
        else ""
    )
    await acreate_table_artifact(
        key=artifact_key("new-findings", summary.org),
        table=findings_rows(summary.new),
        description=f"{summary.new_count} new finding(s) in {summary.org}{shown}{note}",
    )
    if not alert_block:
        return 0
    if "/" not in alert_block:
        raise ConfigError(
            f"alert block {alert_block!r}: use '<block-type-slug>/<block-name>', e.g. "
            "webhook/alerts"
        )
    try:
        block = await Block.aload(alert_block)
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"cannot load the alert block {alert_block!r}: {exc}") from exc
    return await alert_new_findings(block, summary)
