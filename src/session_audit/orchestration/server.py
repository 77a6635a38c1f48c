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

``session-audit serve`` needs more than that: a server whose UI a person opens and next to which
Prefect's own CLI works. :func:`served_prefect_api` uses ``PREFECT_API_URL`` when it is set, and
otherwise runs Prefect's public ``prefect server start`` as a subprocess on 127.0.0.1 at a fixed
port (``SESSION_AUDIT_PREFECT_PORT``, default 4200; a port already in use is one ConfigError
line), with the UI's API URL set to that same address (``/api/ui-settings`` names the API that
answers), all services on (the scheduler creates the cron runs), and its output in
``<PREFECT_HOME>/server.log``. The server runs in its own session so that a Ctrl-C in the
terminal reaches ``serve`` first; ``serve`` stops it (SIGTERM, then SIGKILL after
:data:`STOP_TIMEOUT_SECONDS`) when it ends.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import prefect
from prefect.server.api.server import SubprocessASGIServer
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_HOME,
    PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
    PREFECT_UI_URL,
    get_current_settings,
    temporary_settings,
)

from session_audit.errors import ConfigError

#: How long to wait at shutdown for the server to record the last task runs.
SETTLE_TIMEOUT_SECONDS = 15.0
#: How long ``serve``'s local server may take to stop after SIGTERM before it is killed.
STOP_TIMEOUT_SECONDS = 15.0
#: Where ``serve``'s local server listens (a UI and API for this machine only).
LOCAL_HOST = "127.0.0.1"


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


@dataclass(frozen=True)
class PrefectEndpoint:
    """Where a Prefect API answers, and its UI (``local``: started by this process)."""

    api_url: str
    ui_url: str | None
    local: bool


def check_port_free(port: int, host: str = LOCAL_HOST) -> None:
    """Raise a one-line ConfigError when ``host:port`` cannot be bound (it is in use)."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"port {port} on {host} is in use (a Prefect server left running?): set "
                "SESSION_AUDIT_PREFECT_PORT (or --prefect-port) to a free port, or set "
                f"PREFECT_API_URL=http://{host}:{port}/api to use the server already there"
            ) from exc


def local_server_command(port: int, host: str = LOCAL_HOST) -> list[str]:
    """The ``prefect server start`` command line of ``serve``'s local server."""
    return [
        sys.executable,
        "-m",
        "prefect",
        "server",
        "start",
        "--host",
        host,
        "--port",
        str(port),
        "--analytics-off",
    ]


def local_server_env(
    environ: Mapping[str, str], port: int, host: str = LOCAL_HOST
) -> dict[str, str]:
    """The environment of the local server: ours, with the API address fixed so that the UI's
    settings (``/api/ui-settings``) name the API it actually serves."""
    api_url = f"http://{host}:{port}/api"
    env = {k: v for k, v in environ.items() if k not in ("PREFECT_API_URL", "PREFECT_API_KEY")}
    # The server writes to its own log file: let it log warnings and errors there.
    env.pop("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", None)
    env.update(
        {
            "PREFECT_SERVER_API_HOST": host,
            "PREFECT_SERVER_API_PORT": str(port),
            "PREFECT_UI_API_URL": api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
    )
    return env


@contextlib.contextmanager
def served_prefect_api(*, port: int) -> Iterator[PrefectEndpoint]:
    """The Prefect API of ``session-audit serve`` for the block.

    With ``PREFECT_API_URL`` set, that server. Otherwise ``prefect server start`` on
    127.0.0.1:``port`` (all services, UI on), waited for until ``/api/health`` answers; while the
    block runs, ``PREFECT_API_URL`` points at it in this process and in the flow runs it starts.
    """
    configured = PREFECT_API_URL.value()
    if configured:
        ui = PREFECT_UI_URL.value()
        try:
            yield PrefectEndpoint(
                api_url=str(configured), ui_url=str(ui) if ui else None, local=False
            )
        finally:
            _drain_client_workers()
        return

    check_port_free(port)
    home = Path(PREFECT_HOME.value())
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / "server.log"
    api_url = f"http://{LOCAL_HOST}:{port}/api"
    ui_url = f"http://{LOCAL_HOST}:{port}"
    with log_path.open("ab") as log_file:
        proc = subprocess.Popen(
            local_server_command(port),
            env=local_server_env(os.environ, port),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    previous = os.environ.get("PREFECT_API_URL")
    try:
        _wait_until_healthy(
            proc, api_url, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value(), log_path
        )
        os.environ["PREFECT_API_URL"] = api_url
        with temporary_settings(updates={PREFECT_API_URL: api_url, PREFECT_UI_URL: ui_url}):
            try:
                yield PrefectEndpoint(api_url=api_url, ui_url=ui_url, local=True)
            finally:
                _drain_client_workers()
    finally:
        if previous is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous
        _stop_process(proc)


def _wait_until_healthy(
    proc: subprocess.Popen[bytes], api_url: str, timeout: float, log_path: Path
) -> None:
    """Return once ``<api_url>/health`` answers 200; ConfigError when the server exits first or
    does not answer within ``timeout`` seconds."""
    import httpx

    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while True:
            if proc.poll() is not None:
                raise ConfigError(
                    f"the local Prefect server exited with code {proc.returncode} (see {log_path})"
                )
            try:
                if client.get(f"{api_url}/health").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise ConfigError(
                    f"the local Prefect server did not answer within {timeout:.0f} s (see "
                    f"{log_path}); set PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS higher "
                    "or point PREFECT_API_URL at a running server"
                )
            time.sleep(0.25)


def _stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (uvicorn shuts down gracefully), then SIGKILL after STOP_TIMEOUT_SECONDS."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
