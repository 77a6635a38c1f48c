"""`session-audit report`: one self-contained HTML page whose charts draw in headless Chromium;
period-true figures, names next to ids, truncated cells with tooltips, a firm's template."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from session_audit.analysis.period import bind_period
from session_audit.analysis.report import (
    USERS_SHOWN,
    adoption_by_app,
    adoption_series,
    collect,
    render_html,
    write_report,
)
from session_audit.cli import run_app
from session_audit.errors import ConfigError
from test_views_data import T0, add_sessions, add_users, make_db, sample_db

CHROMIUM = Path("/usr/bin/chromium")
CHARTS = 5  # logins, adoption of the two apps, shared IPs, concurrency
EMPTY_CHARTS = 4  # one placeholder adoption chart
LONG_NAME = "Maximilian-Alexander von Hohenzollern-Sigmaringen Trading Desk Seven"
LONG_IP_TEXT = "2001:0db8:85a3:0000:0000:8a2e:0370:7334"
Q_SINCE = datetime(2024, 3, 1, tzinfo=UTC)
Q_UNTIL = datetime(2024, 3, 15, tzinfo=UTC)


def _report(tmp_path: Path) -> Path:
    db = tmp_path / "s.duckdb"
    sample_db(db).close()
    out = tmp_path / "site" / "report.html"
    assert run_app(["report", "--db", str(db), "--out", str(out)]) == 0
    return out


def audit_db(path: Path | str = ":memory:") -> duckdb.DuckDBPyConnection:
    """sample_db plus what an auditor's quarter holds: an IP shared by six users (names, one of
    them very long), a second app, and one concurrency incident across two apps with a long
    IPv6 spelling."""
    conn = sample_db(path)
    add_users(conn, [(5, LONG_NAME), (6, "frank"), (7, "grace")])
    rows: list[dict[str, Any]] = []
    for n, user in enumerate((1, 2, 3, 5, 6, 7)):
        start = T0 + timedelta(days=2, hours=n)
        rows.append(
            {"id": 2000 + n, "user_id": user, "start": start,
             "end": start + timedelta(minutes=30), "ip": "10.9.9.9",
             "app": "Mobile", "version": "3.1" if n % 2 else "3.2"}
        )  # fmt: skip
    start = T0 + timedelta(days=3)
    rows.append({"id": 2100, "user_id": 5, "start": start, "end": start + timedelta(hours=2),
                 "ip": LONG_IP_TEXT, "app": "Trader", "version": "2.0"})  # fmt: skip
    rows.append({"id": 2101, "user_id": 5, "start": start + timedelta(minutes=30),
                 "end": start + timedelta(hours=1), "ip": "10.7.7.7", "app": "Mobile",
                 "version": "3.2"})  # fmt: skip
    add_sessions(conn, rows)
    return conn


def test_report_is_self_contained_with_every_section(tmp_path: Path) -> None:
    page = _report(tmp_path).read_text()
    assert page.count('<svg class="chart"') == CHARTS
    for section in ("logins", "adoption", "shared-ips", "concurrency", "risk"):
        assert f'<section id="{section}">' in page
    # no asset at all: nothing is fetched (the data text may contain URLs, escaped)
    for loader in ("<link", " src=", "url(", "@import", "fetch(", "XMLHttpRequest"):
        assert loader not in page, loader
    # links stay inside the page
    assert all(h.startswith("#") for h in re.findall(r'href="([^"]*)"', page))
    assert set(re.findall(r'xmlns="([^"]+)"', page)) == {"http://www.w3.org/2000/svg"}
    # stored text is escaped, never markup
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_report_figures_come_from_the_views() -> None:
    conn = sample_db()
    data = collect(conn, clock=lambda: datetime(2024, 5, 1, tzinfo=UTC))
    assert data.summary["sessions"] == 123 and data.summary["users"] == 4
    assert [r["address"] for r in data.shared_ips] == ["10.0.1.0"]
    assert data.shared_ips[0]["user_ids"] == [1, 3, 4]
    # 900 and 901 overlap, but 901's IP text ('=HYPERLINK(...)') is not an IP address: no incident
    assert data.concurrency_latest == []
    assert {r["user_id"] for r in data.users_at_risk} == {1, 2, 3, 4}
    assert [a for a, _, _ in adoption_by_app(data.adoption)] == ["Trader", "+cmd"]
    app, days, series = adoption_series([r for r in data.adoption if r["app_rank"] == 1])
    assert app == "Trader" and days[0] == date(2024, 3, 1)
    assert [name for name, _ in series] == ["1.0", "1.9", "1.10", "2.0-beta", "2.0", "(empty)"]
    for i in range(len(days)):  # shares of one day add up to 1
        assert sum(values[i] for _, values in series) == pytest.approx(1.0)


def test_empty_database_still_renders(tmp_path: Path) -> None:
    out = write_report(make_db(), tmp_path / "empty.html")
    page = out.read_text()
    assert page.count('<svg class="chart"') == EMPTY_CHARTS and "no data yet" in page
    assert render_html(collect(make_db())).count("None found.") == 3


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
def test_report_draws_its_charts_in_headless_chromium_without_console_errors(
    tmp_path: Path,
) -> None:
    page = _report(tmp_path)
    profile = tmp_path / "profile"
    proc = subprocess.run(
        [
            str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--no-first-run",
            "--disable-sync", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
            "--dump-dom", page.as_uri(),
        ],
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    shutil.rmtree(profile, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert f'data-charts-drawn="{CHARTS}"' in dom, dom[:500]
    assert f'data-charts-total="{CHARTS}"' in dom
    assert f"{CHARTS} of {CHARTS} charts drawn" in dom
    assert dom.count("<polyline") >= 2 and dom.count("<polygon") >= 5
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    assert console == [], console
    assert "Uncaught" not in proc.stderr


def test_a_period_report_computes_every_figure_over_the_period() -> None:
    conn = audit_db()
    data = collect(conn, since=Q_SINCE, until=Q_UNTIL)
    bind_period(conn, Q_SINCE, Q_UNTIL)
    period_sessions = conn.execute("SELECT count(*) FROM period_sessions").fetchone()
    assert period_sessions is not None and data.summary["sessions"] == period_sessions[0]
    shared = conn.execute(
        "SELECT address, user_ids FROM period_shared_ips WHERE kind = 'ip' ORDER BY ALL"
    ).fetchall()
    assert sorted((r["address"], r["user_ids"]) for r in data.shared_ips) == shared
    assert ("10.9.9.9", [1, 2, 3, 5, 6, 7]) in shared
    assert all(Q_SINCE.date() <= r["day"] < Q_UNTIL.date() for r in data.logins)
    assert len(data.logins) == 14
    # all-time figures differ: the whole 40 days
    assert collect(conn).summary["sessions"] > data.summary["sessions"]
    # a later period without the six-user IP
    later = collect(conn, since=datetime(2024, 3, 20, tzinfo=UTC), until=Q_UNTIL + timedelta(30))
    assert "10.9.9.9" not in {r["address"] for r in later.shared_ips}
    with pytest.raises(ConfigError, match="--since"):
        collect(conn, since=Q_UNTIL, until=Q_SINCE)


def test_names_next_to_ids_and_a_few_users_per_shared_ip_with_a_link_to_all() -> None:
    conn = audit_db()
    page = render_html(collect(conn, since=Q_SINCE, until=Q_UNTIL))
    rows = re.findall(r"<tr><td>10\.9\.9\.9</td>.*?</tr>", page)
    assert len(rows) == 1  # the top table; the detail row carries an id
    assert "alice (#1), bob (#2), carol (#3)" in rows[0]
    assert f'<a href="#shared-ip-1">+{6 - USERS_SHOWN} more</a>' in rows[0]
    detail = re.search(r'<tr id="shared-ip-1">(.*?)</tr>', page)
    assert detail is not None and "frank (#6), grace (#7)" in detail.group(1)
    assert 'id="shared-ip-detail"' in page
    assert "bob (#2)" in page.split('id="risk"')[1]  # users at risk: name and id


def test_incidents_show_both_ips_both_apps_and_the_overlap_window() -> None:
    conn = audit_db()
    data = collect(conn, since=Q_SINCE, until=Q_UNTIL)
    (incident,) = data.concurrency_latest
    assert (incident["app"], incident["other_app"]) == ("Trader 2.0", "Mobile 3.2")
    start = T0 + timedelta(days=3)
    assert incident["overlap_start"] == start + timedelta(minutes=30)
    assert incident["overlap_end"] == start + timedelta(hours=1)
    section = render_html(data).split('id="concurrency"')[1].split("</section>")[0]
    for text in ("10.7.7.7", "Trader 2.0", "Mobile 3.2", "2024-03-04 09:30 UTC",
                 "to 2024-03-04 10:00 UTC (30 min)", "closed"):  # fmt: skip
        assert text in section, text


def test_long_text_is_cut_with_the_full_value_in_a_tooltip() -> None:
    page = render_html(collect(audit_db(), since=Q_SINCE, until=Q_UNTIL))
    full = f"{LONG_NAME} (#5)"
    assert f'<span class="clip" title="{full}">' in page
    assert f">{full}<" not in page  # never printed uncut in a table cell
    assert f'title="{LONG_IP_TEXT}"' in page
    cut = re.findall(r'<span class="clip" title="[^"]*">([^<]*)</span>', page)
    assert cut and all(len(text) <= 40 and text.endswith("\u2026") for text in cut)


def test_one_adoption_chart_per_busiest_app_and_a_print_stylesheet() -> None:
    page = render_html(collect(audit_db(), since=Q_SINCE, until=Q_UNTIL))
    adoption = page.split('id="adoption"')[1].split("</section>")[0]
    assert re.findall(r"<h3>([^<]*)</h3>", adoption) == ["Trader", "Mobile"]
    assert adoption.count('<svg class="chart"') == 2
    assert page.count('<svg class="chart"') == CHARTS  # in the period: Trader and Mobile
    assert "@media print" in page and "break-inside" in page
    assert '<p class="period" id="period">Period: 2024-03-01 to 2024-03-14</p>' in page


def test_a_firm_template_adds_its_letterhead(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "a.duckdb"
    audit_db(db).close()
    firm = tmp_path / "firm.html.j2"
    firm.write_text(
        '{% extends "report.html.j2" %}'
        '{% block letterhead %}<div class="letterhead">Example &amp; Co. Compliance</div>'
        "{% endblock %}{% block extra_styles %}.letterhead { font-weight: 700; }{% endblock %}"
    )
    out = tmp_path / "q1.html"
    code = run_app(["report", "--db", str(db), "--out", str(out), "--since", "2024-03-01",
                    "--until", "2024-03-15", "--template", str(firm)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    page = out.read_text()
    assert page.index('<div class="letterhead">Example &amp; Co. Compliance</div>') < page.index(
        "<h1>"
    )
    assert ".letterhead { font-weight: 700; }" in page and 'id="shared-ip-detail"' in page
    broken = tmp_path / "broken.html.j2"
    broken.write_text('{% extends "report.html.j2" %}{% block letterhead %}{{ oops( }}')
    code = run_app(["report", "--db", str(db), "--out", str(tmp_path / "x.html"),
                    "--template", str(broken)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--template" in err
    code = run_app(["report", "--db", str(db), "--out", str(tmp_path / "x.html"),
                    "--template", str(tmp_path / "missing.j2")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "is not a file" in err and not (tmp_path / "x.html").exists()


_OVERFLOW_PROBE = """<script>
(function () {
  var bad = [];
  var tables = document.querySelectorAll("table");
  for (var i = 0; i < tables.length; i++) {
    var card = tables[i].closest("section");
    if (tables[i].scrollWidth > card.clientWidth || card.scrollWidth > card.clientWidth) {
      bad.push(card.id + ":" + tables[i].scrollWidth + ">" + card.clientWidth);
    }
  }
  document.body.setAttribute("data-tables", String(tables.length));
  document.body.setAttribute("data-overflow", bad.join(" ") || "none");
})();
</script></body>"""


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
@pytest.mark.parametrize("width", [1280, 800])
def test_a_quarter_report_has_no_table_wider_than_its_card_in_chromium(
    tmp_path: Path, width: int
) -> None:
    db = tmp_path / "a.duckdb"
    audit_db(db).close()
    page = tmp_path / "q.html"
    assert run_app(["report", "--db", str(db), "--out", str(page), "--since", "2024-03-01",
                    "--until", "2024-03-15"]) == 0  # fmt: skip
    probe = tmp_path / "probe.html"  # the page as written, plus the measuring script
    probe.write_text(page.read_text().replace("</body>", _OVERFLOW_PROBE))
    dom, stderr = _chromium(tmp_path, probe, f"--window-size={width},2000")
    tables = re.search(r'data-tables="(\d+)"', dom)
    assert tables is not None and int(tables.group(1)) >= 4
    assert 'data-overflow="none"' in dom, re.search(r'data-overflow="[^"]*"', dom)
    assert f'data-charts-drawn="{CHARTS}"' in dom
    assert [line for line in stderr.splitlines() if "CONSOLE" in line] == []


def _chromium(tmp_path: Path, page: Path, *flags: str) -> tuple[str, str]:
    profile = tmp_path / "profile"
    proc = subprocess.run(
        [
            str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--no-first-run",
            "--disable-sync", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
            *flags, "--dump-dom", page.as_uri(),
        ],
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    shutil.rmtree(profile, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, proc.stderr
