"""The HTML report: one self-contained file (inline CSS, inline SVG, a few lines of inline JS).

Sections: headline figures with the coverage verdict (:mod:`.coverage`: "all N users covered
up to <time>" or the users not covered), logins per day, app-version adoption over time, top
shared IPs, concurrent-session incidents and users at risk. Data comes from the analysis views
through ``sql/queries/report_*.sql``; charts are drawn in Python (:mod:`.charts`).

Open sessions follow the one rule of the views (``data_horizon``): a session the API still
reports open counts for at most ``open_session_hours`` (setting, default 24; pass it to
:func:`collect`/:func:`write_report`) after its start and never beyond the newest data. "Now" is
the newest data, never the local clock: an incident whose sessions are open but started long
before reads "open, started N days ago", not "open now". The page loads no
network asset, so it opens offline; its script only marks how many charts were drawn
(``<body data-charts-drawn="N">``), which the rendering test checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from html import escape
from pathlib import Path
from typing import Any

import duckdb

from session_audit import __version__
from session_audit.analysis import charts
from session_audit.analysis.coverage import coverage_line, read_coverage
from session_audit.db.sqlfiles import load_sql
from session_audit.db.views import use_open_session_hours
from session_audit.errors import ExportError, StorageError

TOP_ROWS = 15
MAX_VERSIONS = 8
Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class ReportData:
    """Everything the page shows, already queried."""

    generated_at: datetime
    source: str
    org: str | None
    summary: dict[str, Any]
    logins: Rows
    adoption: Rows
    shared_ips: Rows
    concurrency_days: Rows
    concurrency_latest: Rows
    users_at_risk: Rows
    coverage: str = ""
    findings: Rows = field(default_factory=list)  # open findings, most severe first


def _rows(conn: duckdb.DuckDBPyConnection, name: str, **params: Any) -> Rows:
    try:
        cursor = conn.execute(load_sql(f"queries/{name}"), params)
        columns = [d[0] for d in cursor.description or []]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    except duckdb.Error as exc:
        raise StorageError(f"report query {name} failed: {exc}") from exc


def collect(
    conn: duckdb.DuckDBPyConnection,
    *,
    org: str | None = None,
    source: str = "",
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    open_session_hours: float | None = None,
) -> ReportData:
    """Query every figure of the report (read-only). ``open_session_hours`` (the setting)
    applies to ``conn``; None keeps the connection's rule (default 24 h)."""
    if open_session_hours is not None:
        use_open_session_hours(conn, open_session_hours)
    summary = _rows(conn, "report_summary", org=org)
    return ReportData(
        generated_at=clock(),
        source=source,
        org=org,
        summary=summary[0] if summary else {},
        logins=_rows(conn, "report_logins_per_day", org=org),
        adoption=_rows(conn, "report_version_adoption", org=org),
        shared_ips=_rows(conn, "report_top_shared_ips", org=org, limit=TOP_ROWS),
        concurrency_days=_rows(conn, "report_concurrency_per_day", org=org),
        concurrency_latest=_rows(conn, "report_concurrency_latest", org=org, limit=TOP_ROWS),
        users_at_risk=_rows(conn, "report_users_at_risk", org=org, limit=25),
        coverage=coverage_line(read_coverage(conn, org=org)),
        findings=_findings(conn, org),
    )


def _findings(conn: duckdb.DuckDBPyConnection, org: str | None) -> Rows:
    """Open findings (none on a database older than schema version 5)."""
    from session_audit.analysis.findings import has_findings_table

    if not has_findings_table(conn):
        return []
    return _rows(conn, "report_findings", org=org, limit=TOP_ROWS)


def findings_section(rows: Rows) -> str:
    """The findings section at the top of the page: open findings by severity, then the most
    severe and newest ones (``session-audit findings`` lists them all)."""
    counts = {str(r["severity"]): int(r["open_of_severity"]) for r in rows}
    badges = ", ".join(f"{counts[s]} {s}" for s in ("high", "medium", "low", "info") if s in counts)
    note = (
        f"Open findings of the detection rules: {badges or 'none'} (most severe and newest "
        f"below; acknowledged ones are left out)."
    )
    table = '<p class="none">No open findings.</p>' if not rows else _table(
        rows,
        [("severity", "severity"), ("rule", "rule"), ("user_ids", "users"),
         ("session_ids", "sessions"), ("last_seen", "last seen"), ("summary", "finding"),
         ("id", "id")],
    )  # fmt: skip
    return (
        f'<section id="findings"><h2>Findings</h2><p class="note">{escape(note)}</p>'
        f"{table}</section>"
    )


def adoption_series(rows: Rows) -> tuple[str | None, list[date], list[tuple[str, list[float]]]]:
    """(app, days, [(version, share per day)]) for the stacked chart; versions in version
    order, the least used beyond MAX_VERSIONS folded into 'other'."""
    if not rows:
        return None, [], []
    days = sorted({r["day"] for r in rows})
    index = {d: i for i, d in enumerate(days)}
    order: list[str] = []
    totals: dict[str, int] = {}
    app_users = {r["day"]: int(r["app_users"]) for r in rows}
    for r in rows:  # rows arrive ordered by day, then version key
        version = _version_label(r["app_version"])
        if version not in totals:
            order.append(version)
            totals[version] = 0
        totals[version] += int(r["users"])
    keep = set(sorted(order, key=lambda v: -totals[v])[:MAX_VERSIONS])
    keys = {_version_label(r["app_version"]): r["version_key"] or "~" for r in rows}
    ranked = sorted((v for v in order if v in keep), key=lambda v: keys[v])
    series: dict[str, list[float]] = {v: [0.0] * len(days) for v in ranked}
    if len(keep) < len(order):
        series["other"] = [0.0] * len(days)
    for r in rows:
        label = _version_label(r["app_version"])
        name = label if label in keep else "other"
        series[name][index[r["day"]]] += int(r["users"]) / max(app_users[r["day"]], 1)
    return str(rows[0]["app_id"]), days, list(series.items())


def _version_label(version: Any) -> str:
    return str(version) if version else "(empty)"


def render_html(data: ReportData) -> str:
    """The whole page as one string."""
    s = data.summary
    days = [r["day"] for r in data.logins]
    logins_svg = charts.line_chart(
        "Logins per day",
        days,
        [
            ("sessions started", [float(r["sessions"]) for r in data.logins]),
            ("distinct users", [float(r["users"]) for r in data.logins]),
        ],
    )
    app, adoption_days, adoption = adoption_series(data.adoption)
    adoption_svg = charts.stacked_share_chart(
        "App-version adoption over time", adoption_days, adoption
    )
    shared_svg = charts.hbar_chart(
        "Top shared IP addresses",
        [
            (
                str(r["address"]),
                float(r["users"]),
                f"{r['address']}: users {', '.join(map(str, r['user_ids']))}; "
                f"{r['sessions']} sessions",
            )
            for r in data.shared_ips
        ],
        "users",
    )
    concurrency_svg = charts.column_chart(
        "Concurrent-session incidents per day",
        [r["day"] for r in data.concurrency_days],
        [float(r["incidents"]) for r in data.concurrency_days],
        "incidents",
    )
    scope = f"organisation {escape(data.org)}" if data.org else "all organisations"
    hours = _hours(s.get("open_session_hours"))
    stale = int(s.get("open_sessions") or 0) - int(s.get("running_sessions") or 0)
    cards = "".join(
        f'<div class="card"><div class="value">{escape(_cell(s.get(key)))}</div>'
        f'<div class="label">{escape(label)}</div></div>'
        for key, label in (
            ("sessions", "sessions"),
            ("users", "users"),
            ("running_sessions", f"open at the newest data ({stale:,} older never closed)"),
            ("ips", "IP addresses"),
            ("first_login", "first login"),
            ("last_login", "last login"),
            ("newest_data", "newest data"),
        )
    )
    return _PAGE.format(
        findings_section=findings_section(data.findings),
        title="Session audit report",
        generated=escape(data.generated_at.astimezone(UTC).isoformat(timespec="seconds")),
        source=escape(data.source or "(in-memory database)"),
        scope=scope,
        version=escape(__version__),
        cards=cards,
        coverage=escape(data.coverage or "coverage unknown"),
        open_rule=escape(
            f"an open session counts for at most {hours} h after its start and never beyond "
            f"the newest data ({_cell(s.get('newest_data'))})"
        ),
        logins_svg=logins_svg,
        adoption_title=escape(f"App-version adoption: {app}" if app else "App-version adoption"),
        adoption_svg=adoption_svg,
        shared_svg=shared_svg,
        shared_table=_table(
            data.shared_ips,
            [("address", "IP"), ("users", "users"), ("user_ids", "user ids"),
             ("sessions", "sessions"), ("first_shared", "shared since"),
             ("last_seen", "last seen")],
        ),
        concurrency_svg=concurrency_svg,
        concurrency_table=_table(
            data.concurrency_latest,
            [("user_id", "user"), ("user_name", "name"), ("session_id", "session"),
             ("other_session_id", "other session"), ("ip_address", "IP"),
             ("other_ip_address", "other IP"), ("overlap_start", "overlap from"),
             ("overlap_seconds", "overlap (s)"), ("state", "state")],
        ),
        risk_table=_table(
            data.users_at_risk,
            [("user_id", "user"), ("user_name", "name"), ("status", "status"),
             ("failed_passwords", "failed passwords"), ("ip_count", "IPs"),
             ("shared_ip_count", "shared IPs"), ("concurrency_incidents", "concurrency"),
             ("last_login", "last login"), ("risk_flags", "flags")],
        ),
    )  # fmt: skip


def write_report(
    conn: duckdb.DuckDBPyConnection,
    out: Path,
    *,
    org: str | None = None,
    source: str = "",
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    open_session_hours: float | None = None,
) -> Path:
    """Query, render and write the report to ``out`` (parent directories created)."""
    data = collect(conn, org=org, source=source, clock=clock, open_session_hours=open_session_hours)
    page = render_html(data)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise ExportError(f"cannot write the report to {out}: {exc}") from exc
    return out


def _hours(value: Any) -> str:
    hours = float(value) if value is not None else 24.0
    return f"{hours:g}"


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, float):
        return f"{value:,.0f}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)


def _table(rows: Rows, columns: list[tuple[str, str]]) -> str:
    if not rows:
        return '<p class="none">None found.</p>'
    head = "".join(f"<th>{escape(label)}</th>" for _, label in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(_cell(r.get(key)))}</td>" for key, _ in columns) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0;
  color: #0f172a; background: #f1f5f9; }}
header {{ background: #0f172a; color: #f8fafc; padding: 20px 32px; }}
header h1 {{ margin: 0 0 4px 0; font-size: 22px; }}
header p {{ margin: 0; color: #cbd5e1; font-size: 13px; }}
main {{ max-width: 840px; margin: 0 auto; padding: 16px 24px 48px; }}
section {{ background: white; border-radius: 8px; padding: 16px 20px; margin: 16px 0;
  box-shadow: 0 1px 2px rgba(15, 23, 42, 0.08); overflow-x: auto; }}
h2 {{ font-size: 17px; margin: 0 0 4px 0; }}
p.note {{ margin: 0 0 12px 0; color: #475569; font-size: 13px; }}
.cards {{ display: flex; flex-wrap: wrap; gap: 12px; }}
.card {{ background: white; border-radius: 8px; padding: 12px 16px; min-width: 110px;
  box-shadow: 0 1px 2px rgba(15, 23, 42, 0.08); }}
.card .value {{ font-size: 18px; font-weight: 600; }}
.card .label {{ font-size: 12px; color: #64748b; }}
svg.chart {{ max-width: 100%; height: auto; font-family: inherit; }}
table {{ border-collapse: collapse; width: 100%; font-size: 12px; margin-top: 12px; }}
th, td {{ text-align: left; padding: 4px 8px; border-bottom: 1px solid #e2e8f0; }}
th {{ color: #475569; font-weight: 600; }}
p.none {{ color: #64748b; font-size: 13px; }}
p.coverage {{ margin: 12px 0 0 0; font-size: 13px; color: #334155; }}
footer {{ color: #64748b; font-size: 12px; text-align: center; }}
</style>
</head>
<body>
<header>
<h1>{title}</h1>
<p>Generated {generated} from {source} &middot; {scope} &middot; session-audit {version}</p>
</header>
<main>
{findings_section}
<div class="cards">{cards}</div>
<p class="coverage" id="coverage">Coverage: {coverage}</p>
<section id="logins"><h2>Logins per day</h2>
<p class="note">Sessions started and distinct users per UTC day.</p>{logins_svg}</section>
<section id="adoption"><h2>{adoption_title}</h2>
<p class="note">Share of each day's users of the busiest app on each version, in version
order (pre-releases before releases).</p>{adoption_svg}</section>
<section id="shared-ips"><h2>Top shared IP addresses</h2>
<p class="note">IP addresses from which two or more users logged in: the account-sharing
signal.</p>{shared_svg}{shared_table}</section>
<section id="concurrency"><h2>Concurrent-session incidents</h2>
<p class="note">Overlapping sessions of one user from different IP addresses ({open_rule}), per
day and the latest ones.</p>{concurrency_svg}{concurrency_table}</section>
<section id="risk"><h2>Users at risk</h2>
<p class="note">Users with failed passwords, shared IPs or concurrent sessions.</p>
{risk_table}</section>
<footer id="render-status">charts not drawn (scripts disabled?)</footer>
</main>
<script>
(function () {{
  var charts = document.querySelectorAll("svg.chart");
  var drawn = 0;
  for (var i = 0; i < charts.length; i++) {{
    var box = charts[i].getBBox();
    if (charts[i].childElementCount > 0 && box.width > 0 && box.height > 0) {{ drawn++; }}
  }}
  document.body.setAttribute("data-charts-drawn", String(drawn));
  document.body.setAttribute("data-charts-total", String(charts.length));
  document.getElementById("render-status").textContent =
    drawn + " of " + charts.length + " charts drawn";
}})();
</script>
</body>
</html>
"""
