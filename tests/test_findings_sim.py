"""Findings end to end: the simulator's planted patterns through the real ingest path, the
bundled demo MMDB files, the exact findings per planted user; the alert through a Prefect
webhook block to a local HTTP server (127.0.0.1); the `findings` commands."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from findings_support import found
from session_audit.analysis.findings import evaluate_findings, evaluate_new_findings
from session_audit.analysis.geo import bundled_demo_databases
from session_audit.cli import run_app
from session_audit.db.connection import connect
from session_audit.ingest.runner import IdSource, run_ingest
from session_audit.orchestration.artifacts import alert_new_findings, findings_rows
from session_audit.settings import Settings
from session_audit.simulator import Simulator
from support import make_sim, sim_settings


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Simulator, Path, Settings]:
    sim = make_sim(users=120, sessions=1500, seed=7, plant_findings=True)
    db = tmp_path_factory.mktemp("planted") / "s.duckdb"
    geo = bundled_demo_databases()
    settings = sim_settings(sim, db, geoip_city_db=geo.city, geoip_asn_db=geo.asn)
    summary = run_ingest(
        settings, IdSource("scan", start_id=sim.table.ids[0]), transport=sim.transport()
    )
    assert summary.status == "completed"
    return sim, db, settings


def test_planted_patterns_fire_exactly(planted: tuple[Simulator, Path, Settings]) -> None:
    sim, db, settings = planted
    assert sim.planted is not None
    user, tag = sim.planted.users, sim.planted.tagged

    def one(role: str, name: str) -> tuple[int, ...]:
        return tuple(tag[(role, name)])

    travel = one("traveller", "from") + one("traveller", "to")
    expected = {
        ("impossible_travel", "high", (user["traveller"],), travel),
        ("new_country", "medium", (user["traveller"],), one("traveller", "to")),
        ("new_asn", "low", (user["traveller"],), one("traveller", "to")),
        # the near miss: London -> Paris in an hour is no impossible travel
        ("new_country", "medium", (user["commuter"],), one("commuter", "to")),
        ("new_asn", "low", (user["commuter"],), one("commuter", "to")),
        ("hosting_asn", "high", (user["cloud"],), one("cloud", "datacenter")),
        ("new_asn", "low", (user["cloud"],), one("cloud", "datacenter")),
        ("new_country", "medium", (user["cloud"],), one("cloud", "datacenter")),
        ("dormant_reactivated", "medium", (user["sleeper"],), one("sleeper", "wake")),
        ("new_ip_burst", "medium", (user["burst"],), one("burst", "burst")),
        (
            "shared_ip",
            "medium",
            tuple(user[r] for r in ("household_a", "household_b", "household_c")),
            tuple(tag[(r, "home")][0] for r in ("household_a", "household_b", "household_c")),
        ),
    }
    planted_users = set(user.values())
    with connect(db) as conn:
        summary = evaluate_findings(conn, settings, org="default")
        assert summary.skipped == ()
        mine = {f for f in found(conn) if set(f[2]) & planted_users}
        # the geo rules fire for the planted users only: the demo databases place nothing else
        geo_rules = {"impossible_travel", "new_country", "new_asn", "hosting_asn"}
        assert {f for f in found(conn) if f[0] in geo_rules} <= mine
    assert mine == expected


def test_ingest_then_incremental_evaluation_finds_the_new_sessions_only(
    planted: tuple[Simulator, Path, Settings], tmp_path: Path
) -> None:
    sim, _, settings = planted
    assert sim.planted is not None
    db = tmp_path / "inc.duckdb"
    settings = settings.with_overrides(db=db)
    cut = sim.planted.tagged[("traveller", "to")][0]  # everything from the jump to New York on
    run_ingest(settings, IdSource("ids", ids=tuple(i for i in sim.table.ids if i < cut)),
               transport=sim.transport())  # fmt: skip
    with connect(db) as conn:
        evaluate_findings(conn, settings, org="default")
        assert not found(conn, "impossible_travel")
    # the ingest itself evaluates the rules over the sessions it stored (ids from `cut` on)
    second = run_ingest(settings, IdSource("ids", ids=tuple(i for i in sim.table.ids if i >= cut)),
                        transport=sim.transport())  # fmt: skip
    summary = second.findings
    assert summary is not None and summary.since_session_id == cut
    travel = [f for f in summary.new if f.rule == "impossible_travel"]
    assert [f.session_ids for f in travel] == [(sim.planted.tagged[("traveller", "from")][0], cut)]
    assert all(max(f.session_ids, default=cut) >= cut or not f.session_ids
               for f in summary.new)  # fmt: skip
    with connect(db) as conn:  # evaluating again finds nothing new: no duplicates
        again = evaluate_new_findings(conn, "default", cut, settings=settings)
    assert again.new == ()


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Hook", (_Hook,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/alerts", received
    finally:
        server.shutdown()
        server.server_close()


def test_alert_one_post_per_run_with_exactly_the_new_high_and_medium(
    planted: tuple[Simulator, Path, Settings],
    tmp_path: Path,
    hook: tuple[str, list[dict[str, Any]]],
) -> None:
    from prefect.blocks.webhook import Webhook

    _, source, settings = planted
    url, received = hook
    db = tmp_path / "copy.duckdb"
    db.write_bytes(source.read_bytes())
    with connect(db) as conn:
        conn.execute("DELETE FROM findings")
        first = evaluate_findings(conn, settings, org="default")
        second = evaluate_findings(conn, settings, org="default")
    sent = asyncio.run(alert_new_findings(Webhook(url=url), first))
    assert len(received) == 1
    wanted = {f.id for f in first.new if f.severity in ("high", "medium")}
    assert sent == len(wanted) > 0
    assert {row["id"] for row in received[0]["findings"]} == wanted
    assert received[0]["subject"].startswith(f"session-audit: {len(wanted)} new")
    assert second.new == ()
    assert asyncio.run(alert_new_findings(Webhook(url=url), second)) == 0
    assert len(received) == 1  # no findings, no message
    rows = findings_rows(first.new)
    assert [r["severity"] for r in rows] == sorted(
        (r["severity"] for r in rows), key=["high", "medium", "low", "info"].index
    )


def test_findings_commands(
    planted: tuple[Simulator, Path, Settings],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, source, _ = planted
    db = tmp_path / "cli.duckdb"
    db.write_bytes(source.read_bytes())
    assert run_app(["findings", "evaluate", "--db", str(db)]) == 2
    assert "exactly one of --full or --since-id" in capsys.readouterr().err
    assert run_app(["findings", "evaluate", "--full", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert out.count("skipped: no GeoIP database") == 1  # no files configured here
    assert run_app(["findings", "--db", str(db), "--rule", "shared_ip", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and {r["rule"] for r in rows} == {"shared_ip"}
    fid = rows[0]["id"]
    assert (
        run_app(["findings", "ack", fid, "--by", "alice", "--note", "office", "--db", str(db)]) == 0
    )
    assert f"acknowledged {fid} by alice" in capsys.readouterr().out
    assert run_app(["findings", "evaluate", "--full", "--db", str(db)]) == 0
    capsys.readouterr()
    assert run_app(["findings", "--db", str(db), "--severity", "low", "--format", "csv"]) == 0
    csv_out = capsys.readouterr().out
    line = next(x for x in csv_out.splitlines() if x.startswith(fid))
    assert ",alice,office" in line
    assert run_app(["findings", "--db", str(db), "--severity", "urgent"]) == 2
    assert "--severity 'urgent'" in capsys.readouterr().err
