"""`prefect.yaml` on a process work pool (issue 11, item 5): the two deployments that write the
DuckDB file share the work queue ``db-writer`` (limit 1), so two runs started at once both
complete, one after the other, on one worker.

Everything goes through Prefect's own CLI against ``prefect server start``, the way the README
and docs/container.md tell a platform team to do it.
"""

from __future__ import annotations

import signal
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
from session_audit.ingest.runner import IdSource, run_ingest
from session_audit.simulator import Simulator
from session_audit.simulator.server import start_background_server
from support import make_sim, sim_env, sim_settings
from test_serve import _clean_env, _free_port

ROOT = Path(__file__).resolve().parents[1]
PREFECT = [sys.executable, "-m", "prefect"]
FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


@pytest.fixture
def served_sim() -> Iterator[tuple[Simulator, str]]:
    sim = make_sim(users=20, sessions=300, seed=12)
    url, stop = start_background_server(sim)
    try:
        yield sim, url
    finally:
        stop()


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_writer_deployments_on_a_process_pool_take_turns(
    served_sim: tuple[Simulator, str], tmp_path: Path
) -> None:
    from session_audit.orchestration.prefect_server import local_server_command, local_server_env

    sim, url = served_sim
    db = tmp_path / "data" / "s.duckdb"
    source = IdSource("scan", start_id=sim.table.ids[0])
    first = run_ingest(sim_settings(sim, db, base_url=url), source)
    assert first.status == "completed", first.error

    # The project as a worker sees it: prefect.yaml and flows/ (the package is installed).
    project = tmp_path / "project"
    project.mkdir()
    (project / "prefect.yaml").write_text((ROOT / "prefect.yaml").read_text())
    (project / "flows").symlink_to(ROOT / "flows")

    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    home = str(tmp_path / "prefect-home")
    base = _clean_env(PREFECT_HOME=home, PREFECT_SERVER_ANALYTICS_ENABLED="false")
    env = {**base, **sim_env(sim, url, db), "PREFECT_API_URL": api,
           "SESSION_AUDIT_EXPORT_DIR": str(tmp_path / "exports")}  # fmt: skip
    server_log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        local_server_command(port),
        env=local_server_env(base, port),
        stdout=server_log,
        stderr=subprocess.STDOUT,
    )
    worker: subprocess.Popen[Any] | None = None
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.5)

        def prefect(*args: str) -> str:
            done = subprocess.run(
                [*PREFECT, *args], env=env, cwd=project, capture_output=True, text=True
            )
            assert done.returncode == 0, (args, done.stdout, done.stderr)
            return done.stdout

        prefect("work-pool", "create", "session-audit", "--type", "process")
        prefect("work-queue", "create", "db-writer", "--pool", "session-audit", "--limit", "1")
        prefect("--no-prompt", "deploy", "--all")

        deployments = httpx.post(f"{api}/deployments/filter", json={}, timeout=10).json()
        by_name = {d["name"]: d for d in deployments}
        assert by_name["ingest-sessions"]["work_queue_name"] == "db-writer"
        assert by_name["daily-audit"]["work_queue_name"] == "db-writer"
        assert by_name["export-compliance"]["work_queue_name"] == "default"
        # Both writers started at the same moment, before any worker is there.
        runs = []
        for name in ("ingest-sessions", "daily-audit"):
            created = httpx.post(
                f"{api}/deployments/{by_name[name]['id']}/create_flow_run", json={}, timeout=10
            )
            created.raise_for_status()
            runs.append(created.json()["id"])

        worker_log = (tmp_path / "worker.log").open("w")
        worker = subprocess.Popen(
            [*PREFECT, "worker", "start", "--pool", "session-audit", "--prefetch-seconds", "5"],
            env={**env, "PREFECT_WORKER_QUERY_SECONDS": "2"},
            cwd=project,
            stdout=worker_log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 300
        while True:
            states = [httpx.get(f"{api}/flow_runs/{run}", timeout=10).json() for run in runs]
            if all(s["state_type"] in FINAL for s in states):
                break
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            assert time.monotonic() < deadline, (states, (tmp_path / "worker.log").read_text())
            time.sleep(2)
    finally:
        if worker is not None:
            _stop(worker)
        _stop(server)
        server_log.close()
    log = (tmp_path / "worker.log").read_text()
    assert all(s["state_type"] == "COMPLETED" for s in states), log
    one, two = sorted(states, key=lambda s: _when(s["start_time"]))
    assert _when(one["end_time"]) <= _when(two["start_time"]), log  # one after the other
    with connect(db, read_only=True) as conn:
        statuses = conn.execute("SELECT status FROM ingest_runs").fetchall()
    assert len(statuses) == 3 and {s for (s,) in statuses} == {"completed"}
