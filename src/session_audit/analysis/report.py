"""The HTML report: one self-contained file (inline CSS, inline SVG, a few lines of inline JS).

Sections, top to bottom: open findings, headline figures with the coverage verdict
(:mod:`.coverage`), logins per day, one app-version adoption chart per busiest app (at most
:data:`ADOPTION_APPS`), top shared IPs (at most :data:`USERS_SHOWN` users per row, then
"+N more" linking to the detail table at the end), concurrent-session incidents (both IPs,
both apps, the overlap window), users at risk, and the shared-IP detail table. Every user id
is printed with the user's name ("alice (#1)"). Text longer than its column allows is cut with
the full value in a ``title`` tooltip. A print stylesheet (``@media print``) lays it out for
"Save as PDF".

Data comes from the analysis views through the named queries of ``sql/queries/report.sql``;
charts are drawn in Python (:mod:`.charts`). The page is rendered from the Jinja2 template
``session_audit/templates/report.html.j2`` (autoescaped, sandboxed). ``template`` (CLI
``--template FILE``) names a firm's own template, which normally ``{% extends
"report.html.j2" %}`` and overrides blocks such as ``letterhead``, ``extra_styles`` or
``footer``; a missing or broken template is a one-line :class:`ConfigError`.

A period (``since`` inclusive, ``until`` exclusive; a quarter for an audit) makes every figure
period-true (:mod:`.period`): shared IPs, concurrency incidents, users at risk and the headline
figures are computed over the sessions running in the period; logins per day and adoption per
day count the days of the period; findings are those whose span overlaps it. Coverage stays
the coverage of the whole database (a property of the trail, not of a period).

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
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from session_audit import __version__
from session_audit.analysis import charts
from session_audit.analysis.coverage import coverage_line, read_coverage
from session_audit.analysis.period import bind_period, period_sql
from session_audit.db.sqlfiles import query_sql
from session_audit.db.views import use_open_session_hours
from session_audit.errors import ConfigError, ExportError, StorageError

TOP_ROWS = 15
MAX_VERSIONS = 8
ADOPTION_APPS = 3
USERS_SHOWN = 3
CLIP = 40  # characters of a table cell before it is cut (full text in the tooltip)
TEMPLATE = "report.html.j2"
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
    since: datetime | None = None
    until: datetime | None = None
    user_names: dict[tuple[str, int], str] = field(default_factory=dict)


def _rows(conn: duckdb.DuckDBPyConnection, name: str, period: bool = False, **params: Any) -> Rows:
    sql = query_sql("report", name)
    try:
        cursor = conn.execute(period_sql(sql) if period else sql, params)
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
    since: datetime | None = None,
    until: datetime | None = None,
) -> ReportData:
    """Query every figure of the report (read-only). ``open_session_hours`` (the setting)
    applies to ``conn``; None keeps the connection's rule (default 24 h). ``since``/``until``:
    the period (see the module docstring); None on both sides: all data."""
    if since is not None and until is not None and since >= until:
        raise ConfigError(f"--since {since.isoformat()} is not before --until {until.isoformat()}")
    if open_session_hours is not None:
        use_open_session_hours(conn, open_session_hours)
    period = since is not None or until is not None
    if period:
        bind_period(conn, since, until)
    bounds = {"since": since, "until": until}
    summary = _rows(conn, "summary", period, org=org)
    return ReportData(
        generated_at=clock(),
        source=source,
        org=org,
        summary=summary[0] if summary else {},
        logins=_rows(conn, "logins_per_day", period, org=org, **bounds),
        adoption=_rows(conn, "version_adoption", period, org=org, apps=ADOPTION_APPS, **bounds),
        shared_ips=_rows(conn, "top_shared_ips", period, org=org, limit=TOP_ROWS),
        concurrency_days=_rows(conn, "concurrency_per_day", period, org=org, since=since),
        concurrency_latest=_rows(conn, "concurrency_latest", period, org=org, limit=TOP_ROWS),
        users_at_risk=_rows(conn, "users_at_risk", period, org=org, limit=25),
        coverage=coverage_line(read_coverage(conn, org=org)),
        findings=_findings(conn, org, bounds),
        since=since,
        until=until,
        user_names={
            (str(r["org"]), int(r["id"])): str(r["name"])
            for r in _rows(conn, "user_names", org=org)
        },
    )


def _findings(
    conn: duckdb.DuckDBPyConnection, org: str | None, bounds: dict[str, datetime | None]
) -> Rows:
    """Open findings (none on a database older than schema version 5)."""
    from session_audit.analysis.findings import has_findings_table

    if not has_findings_table(conn):
        return []
    return _rows(
        conn,
        "findings",
        org=org,
        limit=TOP_ROWS,
        since=bounds["since"],
        until=bounds["until"],
    )


def adoption_series(rows: Rows) -> tuple[str | None, list[date], list[tuple[str, list[float]]]]:
    """(app, days, [(version, share per day)]) for the stacked chart of one app's rows;
    versions in version order, the least used beyond MAX_VERSIONS folded into 'other'."""
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
    app = rows[0]["app_id"]
    return (str(app) if app is not None else "(no app id)"), days, list(series.items())


def adoption_by_app(
    rows: Rows,
) -> list[tuple[str | None, list[date], list[tuple[str, list[float]]]]]:
    """One :func:`adoption_series` per app, busiest app first (rows carry ``app_rank``)."""
    ranks: dict[int, Rows] = {}
    for r in rows:
        ranks.setdefault(int(r.get("app_rank") or 1), []).append(r)
    return [adoption_series(ranks[rank]) for rank in sorted(ranks)]


def _version_label(version: Any) -> str:
    return str(version) if version else "(empty)"


def _charts(data: ReportData, user: Callable[[Any, Any], str]) -> dict[str, Any]:
    logins = charts.line_chart(
        "Logins per day",
        [r["day"] for r in data.logins],
        [
            ("sessions started", [float(r["sessions"]) for r in data.logins]),
            ("distinct users", [float(r["users"]) for r in data.logins]),
        ],
    )
    adoption = [
        (app, charts.stacked_share_chart(f"App-version adoption: {app}", days, series))
        for app, days, series in adoption_by_app(data.adoption)
    ] or [(None, charts.stacked_share_chart("App-version adoption", [], []))]
    shared = charts.hbar_chart(
        "Top shared IP addresses",
        [
            (
                str(r["address"]),
                float(r["users"]),
                f"{r['address']}: {', '.join(user(r['org'], u) for u in r['user_ids'])}; "
                f"{r['sessions']} sessions",
            )
            for r in data.shared_ips
        ],
        "users",
    )
    concurrency = charts.column_chart(
        "Concurrent-session incidents per day",
        [r["day"] for r in data.concurrency_days],
        [float(r["incidents"]) for r in data.concurrency_days],
        "incidents",
    )
    return {"logins": logins, "adoption": adoption, "shared": shared, "concurrency": concurrency}


def _environment(template: Path | None) -> Any:
    """A sandboxed, autoescaping Jinja2 environment that finds the bundled template."""
    from importlib.resources import files

    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    bundled = Path(str(files("session_audit") / "templates"))
    search = [str(bundled)]
    if template is not None:
        search.insert(0, str(template.parent))
    env = SandboxedEnvironment(
        loader=FileSystemLoader(search),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cell"] = _cell
    env.filters["clip"] = _clip
    env.filters["when"] = _when
    return env


def render_html(data: ReportData, template: Path | None = None) -> str:
    """The whole page as one string, from the bundled template or ``template`` (a file that
    usually extends ``report.html.j2``)."""
    from jinja2 import TemplateError

    def user(org: Any, uid: Any) -> str:
        name = data.user_names.get((str(org), int(uid))) if uid is not None else None
        return f"{name} (#{uid})" if name else f"#{uid}"

    drawn = _charts(data, user)
    s = data.summary
    hours = _hours(s.get("open_session_hours"))
    stale = int(s.get("open_sessions") or 0) - int(s.get("running_sessions") or 0)
    context = {
        "title": "Session audit report",
        "generated": data.generated_at.astimezone(UTC).isoformat(timespec="seconds"),
        "source": data.source or "(in-memory database)",
        "scope": f"organisation {data.org}" if data.org else "all organisations",
        "version": __version__,
        "period": _period_label(data.since, data.until),
        "has_period": data.since is not None or data.until is not None,
        "adoption_apps": ADOPTION_APPS,
        "summary": s,
        "stale_open": f"{stale:,}",
        "coverage": data.coverage or "coverage unknown",
        "open_rule": (
            f"an open session counts for at most {hours} h after its start and never beyond "
            f"the newest data ({_cell(s.get('newest_data'))})"
        ),
        "findings": data.findings,
        "finding_counts": {str(r["severity"]): int(r["open_of_severity"]) for r in data.findings},
        "shared_ips": [{**r, "rank": i} for i, r in enumerate(data.shared_ips, 1)],
        "incidents": data.concurrency_latest,
        "users_at_risk": data.users_at_risk,
        "users_shown": USERS_SHOWN,
        "user": user,
        "charts": {
            "logins": _svg(drawn["logins"]),
            "adoption": [(app, _svg(svg)) for app, svg in drawn["adoption"]],
            "shared": _svg(drawn["shared"]),
            "concurrency": _svg(drawn["concurrency"]),
        },
    }
    try:
        env = _environment(template)
        if template is None:
            page = env.get_template(TEMPLATE)
        else:
            page = env.from_string(template.read_text(encoding="utf-8"))
        return str(page.render(context))
    except OSError as exc:
        raise ConfigError(f"cannot read --template {template}: {exc.strerror or exc}") from exc
    except TemplateError as exc:
        where = f"--template {template}" if template is not None else f"bundled {TEMPLATE}"
        line = getattr(exc, "lineno", None)
        at = f" line {line}" if line else ""
        raise ConfigError(f"{where}{at}: {exc.message or type(exc).__name__}") from exc


def write_report(
    conn: duckdb.DuckDBPyConnection,
    out: Path,
    *,
    org: str | None = None,
    source: str = "",
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    open_session_hours: float | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    template: Path | None = None,
) -> Path:
    """Query, render and write the report to ``out`` (parent directories created)."""
    data = collect(
        conn,
        org=org,
        source=source,
        clock=clock,
        open_session_hours=open_session_hours,
        since=since,
        until=until,
    )
    page = render_html(data, template)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise ExportError(f"cannot write the report to {out}: {exc}") from exc
    return out


def _period_label(since: datetime | None, until: datetime | None) -> str:
    """'2024-07-01 to 2024-09-30' (until exclusive, shown as its last day when at midnight)."""
    if since is None and until is None:
        return "all data"
    start = _when(since) if since is not None else "the first data"
    if until is None:
        return f"{start} to the newest data"
    midnight = until.astimezone(UTC).time() == datetime.min.time()
    end = (until - timedelta(days=1)).date().isoformat() if midnight else f"before {_when(until)}"
    return f"{start} to {end}"


def _when(value: datetime | None) -> str:
    """A date at UTC midnight as YYYY-MM-DD, any other time with hours and minutes."""
    if value is None:
        return "–"
    utc = value.astimezone(UTC)
    if utc.time() == datetime.min.time():
        return utc.date().isoformat()
    return utc.strftime("%Y-%m-%d %H:%M UTC")


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


def _svg(svg: str) -> Any:
    """A chart of :mod:`.charts` as markup the template prints as is: charts.py escapes every
    text it puts in the SVG."""
    from markupsafe import Markup

    return Markup(svg)  # noqa: S704 - built by charts.py from escaped text only


def _clip(value: Any, limit: int = CLIP) -> Any:
    """A cell's text, cut to ``limit`` characters with the full text in a ``title`` tooltip
    (markup built from escaped text only)."""
    from markupsafe import Markup, escape

    text = _cell(value)
    if len(text) <= limit:
        return text
    return Markup('<span class="clip" title="{}">{}</span>').format(
        escape(text), charts.clip(text, limit)
    )
