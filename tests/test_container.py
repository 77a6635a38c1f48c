"""The container recipe, read (issue 11, item 7): no container runtime runs in the tests, so the
Dockerfile and compose.yaml are checked for the promises docs/container.md makes. What they run
(prefect server start, prefect deploy of prefect.yaml, a process worker) is exercised for real in
tests/test_serve.py and tests/test_serve_workers.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[1]


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_installs_the_lock_as_a_non_root_user_with_a_data_volume() -> None:
    steps = _instructions()
    runs = " ".join(args for word, args in steps if word == "RUN")
    assert runs.count("uv sync --frozen --no-dev") == 2  # dependencies layer, then the project
    assert "uv lock" not in runs  # never re-resolved
    # pip installs nothing but the pinned uv: every other package comes from uv.lock
    assert runs.count("pip install") == 1 and 'pip install --no-cache-dir "uv==' in runs
    copies = [args for word, args in steps if word == "COPY"]
    assert "pyproject.toml uv.lock README.md ./" in copies[0]  # the lock before any source
    users = [args for word, args in steps if word == "USER"]
    assert users and users[-1] == "app"
    last_user = max(i for i, (word, _) in enumerate(steps) if word == "USER")
    assert all(word != "RUN" for word, _ in steps[last_user:])  # nothing runs as root after it
    assert ("VOLUME", '["/app/data"]') in steps
    env = " ".join(args for word, args in steps if word == "ENV")
    assert "SESSION_AUDIT_DB=/app/data/sessions.duckdb" in env
    # the server copies its UI bundle: without a directory `app` may write, no UI is served
    assert "PREFECT_UI_STATIC_DIRECTORY=/app/prefect-home/ui" in env
    lock_pin = re.search(r'UV_VERSION = "([^"]+)"', (ROOT / "scripts/bootstrap.py").read_text())
    assert lock_pin is not None and ("ARG", f"UV_VERSION={lock_pin.group(1)}") in steps


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    ignored = set((ROOT / ".dockerignore").read_text(encoding="utf-8").split())
    assert {".env", "data", ".venv", ".git"} <= ignored
    for needed in ("pyproject.toml", "uv.lock", "README.md", "src", "flows", "sql", "prefect.yaml"):
        assert needed not in ignored


def test_compose_has_a_server_a_worker_and_a_data_volume() -> None:
    config: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    services = config["services"]
    assert set(services) == {"prefect-server", "setup", "worker"}
    server, setup, worker = services["prefect-server"], services["setup"], services["worker"]
    assert "prefect server start" in server["command"] and "--port 4200" in server["command"]
    assert server["environment"]["PREFECT_UI_API_URL"] == "http://localhost:4200/api"
    assert server["ports"] == ["127.0.0.1:4200:4200"]
    assert "prefect worker start --pool session-audit" in worker["command"]
    assert worker["environment"]["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    assert "data:/app/data" in worker["volumes"] and "data" in config["volumes"]
    assert worker["depends_on"]["setup"]["condition"] == "service_completed_successfully"
    script = " ".join(setup["command"])
    assert "work-queue create db-writer --pool session-audit --limit 1" in script
    assert "deploy --all" in script
    assert all(service.get("build") == "." for service in services.values())


def test_prefect_yaml_puts_both_writers_on_the_limited_queue() -> None:
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    queues = {d["name"]: d["work_pool"]["work_queue_name"] for d in config["deployments"]}
    assert queues == {
        "ingest-sessions": "db-writer",
        "daily-audit": "db-writer",
        "export-compliance": "default",
    }
    assert "work-queue create db-writer --pool session-audit --limit 1" in (
        ROOT / "prefect.yaml"
    ).read_text(encoding="utf-8")
