"""Serve a Simulator over real HTTP (uvicorn on 127.0.0.1) in a background thread.

uvicorn's own ``Date`` header (the wall clock) is switched off: the simulator's, the API clock,
is the one served.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from session_audit.errors import SessionAuditError
from session_audit.simulator.app import PREFIX, Simulator

HOST = "127.0.0.1"


def start_background_server(
    sim: Simulator, port: int = 0, *, startup_timeout: float = 15.0
) -> tuple[str, Callable[[], None]]:
    """Start uvicorn for ``sim`` on 127.0.0.1:``port`` (0 = a free port) in a daemon thread.

    Returns the base URL (``http://127.0.0.1:PORT/v1``) and a function that stops the server and
    waits for the thread to end.
    """
    import uvicorn

    config = uvicorn.Config(
        sim.app,
        host=HOST,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        date_header=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="session-audit-simulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise SessionAuditError(f"the simulator could not start on {HOST}:{port}")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)

    return f"http://{HOST}:{bound}{PREFIX}", stop
