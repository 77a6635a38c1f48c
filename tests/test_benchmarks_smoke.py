"""Smoke test of the benchmarks package: the real command at --quick sizes, and its pieces.

Not a timed test: it asserts that every section runs end to end and reports every figure the
issue asks for (with sane values), never how fast anything was.
"""

from __future__ import annotations

import sys

import pytest

# The bench dependency group (uv sync --group bench) brings psutil and dlt.
pytest.importorskip("psutil", reason="benchmarks need the bench group: uv sync --group bench")

from benchmarks.measure import ChildFailedError, run_child
from benchmarks.results import Results, ratio


def test_run_child_measures_the_childs_own_memory() -> None:
    small = run_child([sys.executable, "-c", "pass"])
    big = run_child(
        [sys.executable, "-c", "b = bytearray(200 * 1024 * 1024); import time; time.sleep(0.3)"]
    )
    assert small.returncode == 0 and big.returncode == 0
    assert big.peak_rss_mb >= 200
    assert small.peak_rss_mb < 100  # not the parent's (pytest's) size


def test_run_child_reports_a_failing_child() -> None:
    with pytest.raises(ChildFailedError, match="exited 3"):
        run_child([sys.executable, "-c", "import sys; sys.stderr.write('boom'); sys.exit(3)"])


def test_results_targets_and_rendering() -> None:
    results = Results()
    results.at_most("s", "fast enough", 1.2, "x", 1.25)
    results.at_least("s", "far ahead", 3.0, "x", 10)
    results.check("s", "no prefect", True, shown="none")
    results.add("s", "no value", None, "s")
    verdicts = [f.verdict() for f in results.figures]
    assert verdicts == ["met", "MISSED", "met", ""]
    text = results.render_text()
    assert "1.20x" in text and "MISSED" in text and "n/a" in text
    assert results.render_markdown().count("\n") == len(results.figures) + 1
    assert ratio(3.0, 0) is None and ratio(3.0, 1.5) == 2.0


def test_load_path_pieces_store_what_the_floor_stores(tmp_path: object) -> None:
    from pathlib import Path

    import orjson
    from benchmarks.load_path import build_pages, load_floor, load_ours

    assert isinstance(tmp_path, Path)
    pages = build_pages(2_000, batch=100)
    floor = load_floor(pages, tmp_path / "floor.duckdb")
    ours = load_ours(pages, tmp_path / "ours.duckdb", pages_per_window=5, batch=100)
    served = sum(len(orjson.loads(page)) for page in pages)
    # 2,000 sessions plus the API user's earlier logins (one every ~6 hours of the span)
    assert served >= 2_000
    assert floor.rows == served
    # ours rejects the malformed rows the simulator plants (missing userId, bad startTime ...)
    assert served - 20 <= ours.rows < served
    # ~2,000 rows in windows of 500 ids: one transaction, as the ingest's buffer decides
    assert ours.transactions == 1


def test_load_path_ours_is_an_ingest_run_over_whole_pages(tmp_path: object) -> None:
    """ours goes through the product's run: a completed ledger row whose counts are the rows
    stored and rejected, and the scan cursor just past the last id served; a window that does
    not fall on the pages' bounds is refused rather than answered with ids nobody asked for."""
    import asyncio
    from pathlib import Path
    from types import SimpleNamespace
    from typing import Any, cast

    import orjson
    from benchmarks.load_path import _ServedPages, build_pages, load_ours

    from session_audit.db.connection import connect
    from session_audit.ingest.scan_plan import ChunkSpec

    assert isinstance(tmp_path, Path)
    pages = build_pages(1_000, batch=100)
    ours = load_ours(pages, tmp_path / "ours.duckdb", pages_per_window=3, batch=100)
    objects = [o for page in pages for o in orjson.loads(page)]
    last = max(o["id"] for o in objects if isinstance(o, dict) and isinstance(o.get("id"), int))
    with connect(tmp_path / "ours.duckdb", read_only=True) as conn:
        run = conn.execute("SELECT status, fetched, inserted, rejected FROM ingest_runs").fetchall()
        cursor = conn.execute("SELECT next_id FROM ingest_state").fetchall()
    assert run == [("completed", len(objects), ours.rows, len(objects) - ours.rows)]
    assert cursor == [(last + 1,)]
    # the fetcher answers a window with the pages of its calls; past the last page, with [],
    # as the API does; a window cut inside a page is refused
    first = min(o["id"] for o in objects if isinstance(o, dict) and isinstance(o.get("id"), int))
    fake_run = SimpleNamespace(settings=SimpleNamespace(org="default"))
    fetcher = _ServedPages(cast(Any, fake_run), pages, first=first, batch=100)
    inside = asyncio.run(fetcher._fetch(ChunkSpec.window(1, first + 100, first + 300)))
    assert inside.fetched == sum(len(orjson.loads(p)) for p in pages[1:3])
    end = first + 100 * len(pages)
    beyond = asyncio.run(fetcher._fetch(ChunkSpec.window(2, end, end + 250)))
    assert beyond.fetched == 0 and beyond.max_id is None
    with pytest.raises(ValueError, match="page bounds"):
        asyncio.run(fetcher._fetch(ChunkSpec.window(3, first + 50, first + 250)))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_benchmark_command_reports_every_figure(tmp_path: object) -> None:
    from pathlib import Path

    import orjson

    pytest.importorskip("dlt", reason="the dlt contenders need the bench group")
    assert isinstance(tmp_path, Path)
    out = tmp_path / "results.json"
    run = run_child(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--json",
            str(out),
            "--workdir",
            str(tmp_path / "work"),
        ],
        timeout=280,
    )
    figures = orjson.loads(out.read_bytes())["figures"]
    names = [f["name"] for f in figures]
    sections = {f["section"] for f in figures}
    assert sections == {
        "load path",
        "end to end",
        "sparse id space",
        "ordinary server",
        "memory",
        "API economy",
        "start-up",
        "queries",
        "findings",
    }
    wanted = [
        "load path / floor",
        "ingest / fetch floor (wall)",
        "dlt tuned / ingest (time)",
        "dlt tuned / ingest (peak RSS)",
        "dlt naive / ingest (time)",
        "plain ingest run leaves prefect unimported",
        "session-audit ingest --help",
        "requests per stored session, session-audit",
        "requests per stored session, dlt tuned",
        "client CPU per 10,000 sessions, session-audit ingest",
        "client CPU per 10,000 sessions, fetch floor",
    ]
    for name in wanted:
        assert name in names, name
    by_name = {f["name"]: f for f in figures}
    for f in figures:
        if f["unit"] in ("s", "MB", "x", "ms") and f["name"] != "session-audit ingest --help":
            assert f["value"] is None or f["value"] >= 0, f
    assert by_name["plain ingest run leaves prefect unimported"]["met"] is True
    assert by_name["ingest --help imports no prefect/polars/duckdb/dlt"]["met"] is True
    assert any(n.startswith("requests of a no-change rerun") for n in names)
    assert any(n.startswith("shared_ips") for n in names)
    # findings: a full evaluation of the query data set, and an incremental one after an ingest
    full = next(f for f in figures if f["name"].startswith("findings of the full evaluation"))
    assert full["value"] > 0 and "concurrent_networks" in full["note"]
    assert any(n.startswith("full evaluation") and n.endswith("(peak RSS)") for n in names)
    incremental = next(f for f in figures if f["name"].startswith("incremental evaluation"))
    assert incremental["value"] > 0 and incremental["met"] is not None
    # and over the full evaluation's long history: the newest sessions' findings are found again
    since = next(f for f in figures if f["name"].startswith("incremental evaluation of the newest"))
    assert since["value"] > 0 and " new findings" in since["note"]
    assert int(since["note"].split(" new findings")[0].rsplit("; ", 1)[1].replace(",", "")) > 0
    # the sparse space: our default run crosses the quiet stretches and stores what the dense
    # runs store; a paginator that stops after a few empty pages does not
    sparse_ours = next(f for f in figures if f["name"].startswith("session-audit ingest, default"))
    assert "status completed" in sparse_ours["note"]
    naive = next(f for f in figures if f["name"].startswith("dlt naive, stops after"))
    stored = int(sparse_ours["note"].split(" rows stored")[0].rsplit("; ", 1)[1].replace(",", ""))
    assert naive["value"] < stored
    assert by_name["client CPU per 10,000 sessions, session-audit ingest"]["value"] > 0
    assert "load path / floor" in run.stdout


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_findings_section_alone_builds_its_own_data_set(tmp_path: object) -> None:
    """`--only findings` has no query section to reuse a database from: it builds its own."""
    from pathlib import Path

    import orjson

    assert isinstance(tmp_path, Path)
    out = tmp_path / "results.json"
    run = run_child(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--only",
            "findings",
            "--json",
            str(out),
            "--workdir",
            str(tmp_path / "work"),
        ],
        timeout=280,
    )
    assert run.returncode == 0
    figures = orjson.loads(out.read_bytes())["figures"]
    full = next(f for f in figures if f["name"].startswith("findings of the full evaluation"))
    assert full["value"] > 0
