"""`session-audit serve` on Prefect's public pieces (issue 11, items 3 and 5).

The slow test runs the real command in a subprocess, against the API simulator over HTTP: its
local server is ``prefect server start`` on a fixed port, the UI's settings name the API that
answers, and the two deployments, both due every minute, are started by the schedule at the
same moment; both complete, one after the other (they share one concurrency slot), and the
ledger shows every ingest completed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from session_audit.db.connection import connect
from session_audit.errors import ConfigError
from session_audit.ingest.runner import IdSource, run_ingest
from session_audit.simulator import Simulator
from session_audit.simulator.server import start_background_server
from support import make_sim, sim_env, sim_settings

EVERY_MINUTE = "* * * * *"
FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SESSION_AUDIT_", "PREFECT_"))}
    env.update(extra)
    return env


def test_the_local_server_is_prefect_server_start_with_the_ui_pointing_at_it() -> None:
    from session_audit.orchestration.prefect_server import local_server_command, local_server_env

    command = local_server_command(4321)
    assert command[1:5] == ["-m", "prefect", "server", "start"]
    assert command[command.index("--port") + 1] == "4321"
    env = local_server_env({"PREFECT_API_URL": "http://elsewhere/api", "HOME": "/h"}, 4321)
    assert "PREFECT_API_URL" not in env and env["HOME"] == "/h"
    assert env["PREFECT_UI_API_URL"] == "http://127.0.0.1:4321/api"
    assert env["PREFECT_SERVER_API_PORT"] == "4321"


def test_a_port_in_use_is_one_line_naming_the_setting() -> None:
    from session_audit.orchestration.prefect_server import check_port_free

    with contextlib.closing(socket.socket()) as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        with pytest.raises(ConfigError, match=f"port {port} .*SESSION_AUDIT_PREFECT_PORT"):
            check_port_free(port)
    check_port_free(port)  # free again once released


def test_serve_on_a_taken_port_exits_2_without_traceback(tmp_path: Path) -> None:
    with contextlib.closing(socket.socket()) as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "session_audit", "serve", "--prefect-port", str(port)],
            env=_clean_env(SESSION_AUDIT_DB=str(tmp_path / "s.duckdb")),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"port {port}" in errors[0]


@pytest.fixture
def served_sim() -> Iterator[tuple[Simulator, str]]:
    sim = make_sim(users=20, sessions=300, seed=11)
    url, stop = start_background_server(sim)
    try:
        yield sim, url
    finally:
        stop()


def _flow_runs(api: str, deployment_ids: list[str]) -> list[dict[str, Any]]:
    body = {"deployments": {"id": {"any_": deployment_ids}}, "sort": "EXPECTED_START_TIME_ASC"}
    response = httpx.post(f"{api}/flow_runs/filter", json=body, timeout=10)
    response.raise_for_status()
    runs: list[dict[str, Any]] = response.json()
    return runs


def _finished_pair(runs: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The first two runs (one per deployment) due at the same time that have both finished."""
    by_time: dict[str, dict[str, dict[str, Any]]] = {}
    for run in runs:
        by_time.setdefault(run["expected_start_time"], {})[run["deployment_id"]] = run
    for due in sorted(by_time, key=_when):
        group = list(by_time[due].values())
        if len(group) == 2 and all(r["state_type"] in FINAL for r in group):
            return group
    return None


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_serve_ui_points_at_its_api_and_scheduled_writers_take_turns(
    served_sim: tuple[Simulator, str], tmp_path: Path
) -> None:
    sim, url = served_sim
    db = tmp_path / "data" / "s.duckdb"
    source = IdSource("scan", start_id=sim.table.ids[0])
    first = run_ingest(sim_settings(sim, db, base_url=url), source)
    assert first.status == "completed", first.error

    port = _free_port()
    env = _clean_env(
        **sim_env(sim, url, db),
        SESSION_AUDIT_PREFECT_PORT=str(port),
        SESSION_AUDIT_INGEST_CRON=EVERY_MINUTE,
        SESSION_AUDIT_DAILY_AUDIT_CRON=EVERY_MINUTE,
        SESSION_AUDIT_EXPORT_DIR=str(tmp_path / "exports"),
        # a run that finds the slot taken looks again after 2 s (default 30 s)
        PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS="2",
        PREFECT_RUNNER_POLL_FREQUENCY="2",
    )
    log = (tmp_path / "serve.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "session_audit", "serve"],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 240
        while f"export PREFECT_API_URL={api}" not in (tmp_path / "serve.log").read_text():
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.5)
        output = (tmp_path / "serve.log").read_text()
        assert f"Prefect UI: http://127.0.0.1:{port}" in output

        # The UI's settings name the API that answers.
        ui_settings = httpx.get(f"http://127.0.0.1:{port}/ui-settings", timeout=10).json()
        assert ui_settings["api_url"] == api
        assert httpx.get(f"{ui_settings['api_url']}/health", timeout=10).status_code == 200

        response = httpx.post(f"{api}/deployments/filter", json={}, timeout=10)
        deployments = {d["name"]: d for d in response.json()}
        assert set(deployments) == {"ingest-sessions", "daily-audit"}
        limits = {d["global_concurrency_limit"]["name"] for d in deployments.values()}
        assert limits == {"session-audit-db-writer"}  # one slot shared by both writers
        ids = [d["id"] for d in deployments.values()]

        # Both fall due every minute; wait until both runs due at one minute have finished.
        deadline = time.monotonic() + 300
        while (pair := _finished_pair(_flow_runs(api, ids))) is None:
            assert time.monotonic() < deadline, _flow_runs(api, ids)
            time.sleep(2)
        second = max(pair, key=lambda r: _when(r["start_time"]))
        states = httpx.get(
            f"{api}/flow_run_states/", params={"flow_run_id": second["id"]}, timeout=10
        ).json()
        waits = {state["name"] for state in states}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        log.close()
    assert code == 0, (tmp_path / "serve.log").read_text()
    httpx_error = pytest.raises(httpx.HTTPError)
    with httpx_error:  # the local server stopped with serve
        httpx.get(f"{api}/health", timeout=2)

    assert {r["deployment_id"] for r in pair} == set(ids)
    assert all(r["state_type"] == "COMPLETED" for r in pair), pair
    assert all(r["auto_scheduled"] for r in pair)  # started by the schedule
    # scheduled for the same minute, and yet run one after the other
    one, two = sorted(pair, key=lambda r: _when(r["start_time"]))
    assert _when(one["end_time"]) <= _when(two["start_time"])
    assert "AwaitingConcurrencySlot" in waits  # the second waited for the first's slot

    with connect(db, read_only=True) as conn:
        statuses = conn.execute("SELECT status FROM ingest_runs ORDER BY run_id").fetchall()
    assert len(statuses) >= 3  # the first run, and one ingest in each deployment's run
    assert {s for (s,) in statuses} == {"completed"}
