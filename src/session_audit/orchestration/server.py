"""A Prefect API for one command: the configured server, or an ephemeral one shut down cleanly.

Prefect starts its own ephemeral server lazily (on the first client) and stops it from an
``atexit`` hook with SIGTERM. Two things then print at exit: the server's task-run recorder is
cancelled in the middle of writing the last task-run events ("ERROR ... Error flushing 1 events"
plus a CancelledError traceback), and the client's log and event workers may still be sending to a
server that is going away. :func:`prefect_api` owns the server instead:

1. it starts it with our start-up timeout, its output going to ``<PREFECT_HOME>/server.log``
   (never to the user's terminal);
2. on exit it drains the client's log and event workers, then waits until the server has
   recorded every task run it was sent (the recorder is idle), and only then stops it.
"""

from __future__ import annotations

import contextlib
import inspect
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import prefect
from prefect.server.api.server import SubprocessASGIServer
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_HOME,
    PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
    get_current_settings,
    temporary_settings,
)

from session_audit.errors import ConfigError

#: How long to wait at shutdown for the server to record the last task runs.
SETTLE_TIMEOUT_SECONDS = 15.0


class _LoggedServer(SubprocessASGIServer):
    """Prefect's subprocess server, its output written to a log file instead of our terminal.

    ``ephemeral=False`` runs every server service, the scheduler included (an ephemeral server
    runs only a few, so it never creates the runs of a cron schedule): ``serve`` needs that."""

    log_file: IO[bytes] | None = None
    ephemeral: bool = True

    def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
        server_env = {"PREFECT__SERVER_FINAL": "1"}
        if self.ephemeral:
            server_env.update({"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1"})
        import os  # the server process inherits our environment, as prefect's own does

        env = {
            **os.environ,
            **server_env,
            **get_current_settings().to_environment_variables(exclude_unset=True),
        }
        # The server writes to its own log file: let it log warnings and errors there even when
        # this process keeps Prefect's console quiet.
        env.pop("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", None)
        return subprocess.Popen(
            args=[
                sys.executable,
                "-m",
                "uvicorn",
                "--app-dir",
                str(prefect.__module_path__.parent),
                "--factory",
                "prefect.server.api.server:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "error",
                "--lifespan",
                "on",
            ],
            env=env,
            stdout=self.log_file or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def prefect_api(*, expected_task_runs: Any = None, scheduler: bool = False) -> Iterator[str]:
    """Yield the URL of a Prefect API for the block.

    With ``PREFECT_API_URL`` configured, that server is used as is. Otherwise a local server is
    started (state under ``PREFECT_HOME``) and stopped cleanly when the block ends: an ephemeral
    one, or with ``scheduler`` one that runs all services (cron schedules need the scheduler).
    ``expected_task_runs`` (a zero-argument callable returning an int) tells the shutdown how many
    task runs the block created, so that it can wait for the server to record them all.
    """
    configured = PREFECT_API_URL.value()
    if configured:
        try:
            yield str(configured)
        finally:
            _drain_client_workers()
        return

    home = Path(PREFECT_HOME.value())
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / "server.log"
    server = _LoggedServer(port=_free_port())
    since = datetime.now(UTC) - timedelta(seconds=1)
    previous_default = SubprocessASGIServer._instances.get(None)
    with log_path.open("ab") as log_file:
        server.log_file = log_file
        server.ephemeral = not scheduler
        # Prefect's internals that look for "the" ephemeral server find this one.
        SubprocessASGIServer._instances[None] = server
        try:
            try:
                server.start(timeout=PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value())
            except RuntimeError as exc:
                raise ConfigError(
                    f"the local Prefect server did not start (see {log_path}); set "
                    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS higher or point "
                    "PREFECT_API_URL at a running server"
                ) from exc
            with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
                try:
                    yield server.api_url
                finally:
                    _drain_client_workers()
                    expected = int(expected_task_runs()) if expected_task_runs else 0
                    _wait_until_recorded(server.api_url, expected, since)
        finally:
            server.stop()
            if previous_default is not None:
                SubprocessASGIServer._instances[None] = previous_default
            else:
                SubprocessASGIServer._instances.pop(None, None)


def _drain_client_workers() -> None:
    """Send the logs and events still buffered in this process to the server, and stop the
    workers, while the server is still up."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    async def drain() -> None:
        pending: Any
        with contextlib.suppress(RuntimeError):  # the log worker may never have started
            pending = APILogWorker.instance().drain()
            if inspect.isawaitable(pending):
                await pending
        pending = EventsWorker.drain_all()
        if inspect.isawaitable(pending):
            await pending

    from prefect.utilities.asyncutils import run_coro_as_sync

    run_coro_as_sync(drain())


def _wait_until_recorded(api_url: str, expected: int, since: datetime) -> None:
    """Poll the server until the ``expected`` task runs started since ``since`` are recorded in a
    final state, so that stopping it interrupts no write. Gives up after SETTLE_TIMEOUT_SECONDS
    (the stop is then no worse than prefect's own)."""
    import httpx

    if expected <= 0:
        return
    body = {
        "task_runs": {
            "expected_start_time": {"after_": since.isoformat()},
            "state": {"type": {"any_": ["COMPLETED", "FAILED", "CRASHED", "CANCELLED"]}},
        }
    }
    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    with httpx.Client(base_url=api_url, timeout=5.0) as client:
        while time.monotonic() < deadline:
            try:
                response = client.post("/task_runs/count", json=body)
                response.raise_for_status()
                recorded = int(response.json())
            except (httpx.HTTPError, ValueError):
                return
            if recorded >= expected:
                return
            time.sleep(0.1)
