"""A Prefect API for a command: the configured one, or a local server started and stopped cleanly.

With ``PREFECT_API_URL`` set, that server is used as is. Otherwise both uses start Prefect's
public ``prefect server start`` as a subprocess on 127.0.0.1, its state under ``PREFECT_HOME``,
its output in ``<PREFECT_HOME>/server.log`` (never the user's terminal), in its own session (a
Ctrl-C in the terminal reaches us first), and wait until ``/api/health`` answers; while the block
runs, ``PREFECT_API_URL`` points at it in this process and in what it starts. At the end the
client's buffered logs and events are drained, and the server is stopped (SIGTERM, then SIGKILL
after :data:`STOP_TIMEOUT_SECONDS`):

:func:`prefect_api` serves both:

* one command (the demo, an in-process flow run): a free port, no UI, no
  scheduler; before stopping it waits until the server recorded every task run the block started
  (Prefect's own ephemeral server, stopped from ``atexit``, interrupts its task-run recorder
  mid-write and prints errors).
* ``session-audit serve`` (``port=``): a server a person opens and next to which
  Prefect's CLI works: a fixed port (``SESSION_AUDIT_PREFECT_PORT``, default 4200; one in use is
  one ConfigError line), the UI's API URL set to that same address (``/api/ui-settings`` names
  the API that answers), every service on (the scheduler creates the cron runs).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_HOME,
    PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
    PREFECT_UI_URL,
    temporary_settings,
)

from session_audit.errors import ConfigError
from session_audit.orchestration.tasks import TaskRunTally

#: How long to wait at shutdown for the server to record the last task runs.
SETTLE_TIMEOUT_SECONDS = 15.0
#: How long a local server may take to stop after SIGTERM before it is killed.
STOP_TIMEOUT_SECONDS = 15.0
#: Where a local server listens (a UI and API for this machine only).
LOCAL_HOST = "127.0.0.1"


@dataclass(frozen=True)
class PrefectEndpoint:
    """Where a Prefect API answers, and its UI (``local``: started by this process)."""

    api_url: str
    ui_url: str | None
    local: bool


@contextlib.contextmanager
def prefect_api(
    *, port: int | None = None, tally: TaskRunTally | None = None
) -> Iterator[PrefectEndpoint]:
    """The Prefect API for the block: the configured one, or ``prefect server start`` on
    127.0.0.1 with this process pointed at it: on ``port`` with its UI (``serve``), else on a
    free port without; stopped once it recorded the task runs ``tally`` counts (those of the
    block). See the module docstring."""
    configured, ui_setting = PREFECT_API_URL.value(), PREFECT_UI_URL.value()
    if configured:
        try:
            yield PrefectEndpoint(str(configured), str(ui_setting) if ui_setting else None, False)
        finally:
            _drain_client_workers()
        return
    ui, port = port is not None, check_port_free(port or 0)
    baseline, since = tally.started if tally else 0, datetime.now(UTC) - timedelta(seconds=1)
    home = Path(PREFECT_HOME.value())
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / "server.log"
    api_url, ui_url = f"http://{LOCAL_HOST}:{port}/api", f"http://{LOCAL_HOST}:{port}"
    with log_path.open("ab") as log_file:
        proc = subprocess.Popen(
            local_server_command(port, ui=ui),
            env=local_server_env(os.environ, port),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        _wait_until_healthy(
            proc, api_url, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value(), log_path
        )
        os.environ["PREFECT_API_URL"] = api_url
        with temporary_settings(updates={PREFECT_API_URL: api_url, PREFECT_UI_URL: ui_url}):
            try:
                yield PrefectEndpoint(api_url, ui_url if ui else None, local=True)
            finally:
                _drain_client_workers()
                if tally is not None:
                    _wait_until_recorded(api_url, tally.started - baseline, since)
    finally:  # it was unset or empty, or the configured server would have been used
        os.environ.pop("PREFECT_API_URL", None)
        _stop_process(proc)


def check_port_free(port: int) -> int:
    """Raise a one-line ConfigError when 127.0.0.1:``port`` cannot be bound (it is in use);
    returns the port (0: one the system picked)."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOCAL_HOST, port))
        except OSError as exc:
            raise ConfigError(
                f"port {port} on {LOCAL_HOST} is in use (a Prefect server left running?): set "
                "SESSION_AUDIT_PREFECT_PORT (or --prefect-port) to a free port, or set "
                f"PREFECT_API_URL=http://{LOCAL_HOST}:{port}/api to use the server already there"
            ) from exc
        bound: int = sock.getsockname()[1]
        return bound


def local_server_command(port: int, *, ui: bool = True) -> list[str]:
    """The ``prefect server start`` command line of a local server on 127.0.0.1 (``ui=False``: a
    one-command server, without UI, scheduler or late-runs service)."""
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", LOCAL_HOST]
    command += ["--port", str(port), "--analytics-off"]
    return command if ui else [*command, "--no-ui", "--no-scheduler", "--no-late-runs"]


def local_server_env(environ: Mapping[str, str], port: int) -> dict[str, str]:
    """The environment of the local server: ours, with the API address fixed so that the UI's
    settings (``/api/ui-settings``) name the API it actually serves; its console log level is
    Prefect's own (it logs to its file); analytics are off by the command's ``--analytics-off``."""
    dropped = ("PREFECT_API_URL", "PREFECT_API_KEY", "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL")
    env = {k: v for k, v in environ.items() if k not in dropped}
    env.update(
        {
            "PREFECT_SERVER_API_HOST": LOCAL_HOST,
            "PREFECT_SERVER_API_PORT": str(port),
            "PREFECT_UI_API_URL": f"http://{LOCAL_HOST}:{port}/api",
        }
    )
    return env


def _drain_client_workers() -> None:
    """Send the logs and events still buffered in this process to the server, and stop the
    workers, while the server is still up (called outside any event loop: it blocks)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all()
    EventsWorker.drain_all()


def _poll(ready: Callable[[], bool], timeout: float, interval: float) -> bool:
    """Call ``ready`` every ``interval`` seconds until it is true (True) or ``timeout`` passed."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def _wait_until_recorded(api_url: str, expected: int, since: datetime) -> None:
    """Poll the server until the ``expected`` task runs started since ``since`` are recorded in a
    final state, so that stopping it interrupts no write. Gives up after SETTLE_TIMEOUT_SECONDS
    or on an error (the stop is then no worse than prefect's own)."""
    import httpx

    if expected <= 0:
        return
    body = {
        "task_runs": {
            "expected_start_time": {"after_": since.isoformat()},
            "state": {"type": {"any_": ["COMPLETED", "FAILED", "CRASHED", "CANCELLED"]}},
        }
    }
    with httpx.Client(base_url=api_url, timeout=5.0) as client:

        def recorded() -> bool:
            try:
                response = client.post("/task_runs/count", json=body)
                response.raise_for_status()
                return int(response.json()) >= expected
            except (httpx.HTTPError, ValueError):
                return True

        _poll(recorded, SETTLE_TIMEOUT_SECONDS, 0.1)


def _wait_until_healthy(
    proc: subprocess.Popen[bytes], api_url: str, timeout: float, log_path: Path
) -> None:
    """Return once ``<api_url>/health`` answers 200; ConfigError when the server exits first or
    does not answer within ``timeout`` seconds."""
    import httpx

    with httpx.Client(timeout=2.0) as client:

        def healthy() -> bool:
            if proc.poll() is not None:
                raise ConfigError(
                    f"the local Prefect server exited with code {proc.returncode} (see {log_path})"
                )
            try:
                return client.get(f"{api_url}/health").status_code == 200
            except httpx.HTTPError:
                return False

        if not _poll(healthy, timeout, 0.25):
            raise ConfigError(
                f"the local Prefect server did not answer within {timeout:.0f} s (see "
                f"{log_path}); set PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS higher "
                "or point PREFECT_API_URL at a running server"
            )


def _stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (uvicorn shuts down gracefully; none to a process that exited), then SIGKILL
    after STOP_TIMEOUT_SECONDS."""
    proc.terminate()
    try:
        proc.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
