"""The simulator over real HTTP: the background server and `session-audit simulate`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from session_audit.simulator import Simulator, start_background_server
from support import sim_config


def test_background_server_answers_401_without_token_and_error_text_for_bad_login() -> None:
    sim = Simulator(sim_config(users=20, sessions=200, seed=1))
    base_url, stop = start_background_server(sim, port=0)
    try:
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        assert not base_url.endswith(":0/v1")
        with httpx.Client(base_url=base_url, timeout=10) as http:
            assert http.get("/userSession/items", params={"ids": "100001"}).status_code == 401
            bad = http.post("/auth/accesstokenrequest", json={"name": "demo", "password": "no"})
            assert bad.status_code == 200 and bad.json()["errorText"]
            creds = sim.credentials
            good = http.post(
                "/auth/accesstokenrequest",
                json={
                    "name": creds.username,
                    "password": creds.password,
                    "cid": creds.cid,
                    "sec": creds.sec,
                },
            ).json()
            items = http.get(
                "/userSession/items",
                params={"ids": str(sim.truth_sessions()[0]["id"])},
                headers={"Authorization": f"Bearer {good['accessToken']}"},
            )
            assert items.json() == [sim.truth_sessions()[0]]
    finally:
        stop()
    assert sim.stats.by_status[401] == 1
    with pytest.raises(httpx.TransportError):
        httpx.get(base_url + "/auth/me", timeout=2)


@pytest.mark.slow
def test_simulate_command_prints_settings_and_serves(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    out = (tmp_path / "out.txt").open("w+")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "session_audit",
            "simulate",
            "--port",
            "0",
            "--users",
            "20",
            "--sessions",
            "300",
            "--seed",
            "3",
            "--max-ids",
            "50",
        ],
        stdout=out,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        lines: dict[str, str] = {}
        deadline = time.monotonic() + 30
        while "SESSION_AUDIT_SECRET" not in lines:
            assert proc.poll() is None and time.monotonic() < deadline, "simulate did not start"
            time.sleep(0.1)
            out.seek(0)
            lines = dict(
                line.strip().split("=", 1) for line in out if line.startswith("SESSION_AUDIT_")
            )
        base_url = lines["SESSION_AUDIT_BASE_URL"]
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        with httpx.Client(base_url=base_url, timeout=10) as http:
            assert http.get("/userSession/items", params={"ids": "100001"}).status_code == 401
            bad = http.post("/auth/accesstokenrequest", json={"name": "x", "password": "y"})
            assert bad.json()["errorText"]
            good = http.post(
                "/auth/accesstokenrequest",
                json={
                    "name": lines["SESSION_AUDIT_USERNAME"],
                    "password": lines["SESSION_AUDIT_PASSWORD"],
                    "cid": lines["SESSION_AUDIT_CID"],
                    "sec": lines["SESSION_AUDIT_SECRET"],
                },
            ).json()
            auth = {"Authorization": f"Bearer {good['accessToken']}"}
            ids = ",".join(str(i) for i in range(100001, 100052))
            assert (
                http.get("/userSession/items", params={"ids": ids}, headers=auth).status_code == 404
            )
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        out.close()
    assert proc.returncode == 0
