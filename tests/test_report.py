"""`session-audit report`: one self-contained HTML page whose charts draw in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from session_audit.analysis.report import adoption_series, collect, render_html, write_report
from session_audit.cli import run_app
from test_views_data import make_db, sample_db

CHROMIUM = Path("/usr/bin/chromium")
CHARTS = 4


def _report(tmp_path: Path) -> Path:
    db = tmp_path / "s.duckdb"
    sample_db(db).close()
    out = tmp_path / "site" / "report.html"
    assert run_app(["report", "--db", str(db), "--out", str(out)]) == 0
    return out


def test_report_is_self_contained_with_every_section(tmp_path: Path) -> None:
    page = _report(tmp_path).read_text()
    assert page.count('<svg class="chart"') == CHARTS
    for section in ("logins", "adoption", "shared-ips", "concurrency", "risk"):
        assert f'<section id="{section}">' in page
    # no asset at all: nothing is fetched (the data text may contain URLs, escaped)
    for loader in ("<link", " src=", "href=", "url(", "@import", "fetch(", "XMLHttpRequest"):
        assert loader not in page, loader
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
    app, days, series = adoption_series(data.adoption)
    assert app == "Trader" and days[0] == date(2024, 3, 1)
    assert [name for name, _ in series] == ["1.0", "1.9", "1.10", "2.0-beta", "2.0", "(empty)"]
    for i in range(len(days)):  # shares of one day add up to 1
        assert sum(values[i] for _, values in series) == pytest.approx(1.0)


def test_empty_database_still_renders(tmp_path: Path) -> None:
    out = write_report(make_db(), tmp_path / "empty.html")
    page = out.read_text()
    assert page.count('<svg class="chart"') == CHARTS and "no data yet" in page
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
