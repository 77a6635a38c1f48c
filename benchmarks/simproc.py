"""The simulator served over HTTP on 127.0.0.1 in its own process, for the end-to-end benchmarks.

Run as ``python -m benchmarks.simproc --sessions N [--foreign-share S --quiet-ids Q]``: builds a
fault-free, unlimited :class:`~session_audit.simulator.Simulator` (dense ids by default,
``--foreign-share 0``: every id ours, as the load-path and end-to-end figures want; a share such as
0.95 with ``--quiet-ids`` gives the real, sparse id space), serves it with the simulator's own
background server (``--server ordinary``: ``userSession/items`` through the plain Starlette app
of :mod:`benchmarks.ordinary_server`),
prints one JSON line ``{"base_url": ...}`` and serves until SIGTERM. Besides the API under
``/v1`` it answers ``GET /_bench/stats`` with the simulator's own counters (that request is not
counted), so the parent can read requests per contender as differences.

:class:`SimulatorProcess` is the parent's handle: start, ``stats()``, stop.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any

import httpx
import orjson

STATS_PATH = "/_bench/stats"


@dataclass(frozen=True)
class SimStats:
    """A snapshot of the simulator's own counters."""

    total: int
    by_path: dict[str, int]
    logins: int
    renewals: int
    max_in_flight: int
    lockouts: int
    sessions: int
    max_session_id: int | None
    first_session_id: int | None
    malformed: int

    def minus(self, before: SimStats) -> dict[str, int]:
        """Requests between ``before`` and this snapshot, in total and per path."""
        paths = {p: n - before.by_path.get(p, 0) for p, n in self.by_path.items()}
        return {"total": self.total - before.total, **{p: n for p, n in paths.items() if n}}


def _stats_payload(sim: Any) -> dict[str, Any]:
    stats = sim.stats
    table = sim.table
    return {
        "total": stats.total,
        "by_path": dict(stats.by_path),
        "logins": stats.logins,
        "renewals": stats.renewals,
        "max_in_flight": stats.max_in_flight,
        "lockouts": stats.lockouts,
        "sessions": len(table),
        "max_session_id": table.max_id,
        "first_session_id": table.ids[0] if len(table) else None,
        "malformed": sum(len(v) for v in sim.malformed_ids.values()),
    }


def serve(
    sessions: int,
    users: int,
    seed: int,
    foreign_share: float,
    quiet_ids: int,
    server: str = "simulator",
) -> None:
    """Build and serve the simulator until SIGTERM (the child's main)."""
    from session_audit.simulator import Simulator, SimulatorConfig, start_background_server

    sim = Simulator(
        SimulatorConfig(
            users=users,
            sessions=sessions,
            seed=seed,
            fault_rate=0.0,
            foreign_share=foreign_share,
            quiet_ids=quiet_ids,
        )
    )
    inner = sim.app
    if server == "ordinary":
        from benchmarks.ordinary_server import ordinary_app

        inner = ordinary_app(sim)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("path") == STATS_PATH:
            body = orjson.dumps(_stats_payload(sim))
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await inner(scope, receive, send)

    sim.app = app
    base_url, stop = start_background_server(sim, port=0)
    sys.stdout.write(
        orjson.dumps({"base_url": base_url, **sim.settings_overrides(base_url)}).decode() + "\n"
    )
    sys.stdout.flush()

    def on_term(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one stop is enough
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        # The parent holds our stdin open; if it dies without stopping us, stdin ends: stop too.
        threading.Thread(target=_exit_when_parent_gone, daemon=True).start()
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        sys.stdout.flush()
        os._exit(0)  # the stdin watcher may still block in read(): skip interpreter shutdown


def _exit_when_parent_gone() -> None:
    sys.stdin.buffer.read()
    os.kill(os.getpid(), signal.SIGTERM)


class SimulatorProcess:
    """``with SimulatorProcess(sessions=60_000) as sim:`` -> ``sim.base_url``, ``sim.stats()``.

    ``foreign_share=0.0`` (the default) serves a dense id space; pass e.g. 0.95 and
    ``quiet_ids=50_000`` for the sparse one (see :class:`SimulatorConfig`)."""

    def __init__(
        self,
        *,
        sessions: int,
        users: int = 2000,
        seed: int = 0,
        foreign_share: float = 0.0,
        quiet_ids: int = 50_000,
        server: str = "simulator",
    ) -> None:
        self.sessions, self.users, self.seed = sessions, users, seed
        self.foreign_share, self.quiet_ids = foreign_share, quiet_ids
        self.server = server
        self.base_url = ""
        self.credentials: dict[str, str] = {}
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> SimulatorProcess:
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.simproc",
            "--sessions",
            str(self.sessions),
            "--users",
            str(self.users),
            "--seed",
            str(self.seed),
            "--foreign-share",
            repr(self.foreign_share),
            "--quiet-ids",
            str(self.quiet_ids),
            "--server",
            self.server,
        ]
        # stdin stays open (and unused) for the child's life: its end tells the child we died.
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait(timeout=30)
            raise RuntimeError(f"the simulator process exited {self._proc.returncode}")
        info = orjson.loads(line)
        self.base_url = str(info.pop("base_url"))
        self.credentials = {k: str(v) for k, v in info.items()}
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is not None and self._proc.poll() is None:
            if self._proc.stdin is not None:
                self._proc.stdin.close()  # the child's watcher sees EOF and stops it
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.send_signal(signal.SIGTERM)
                try:
                    self._proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()

    @property
    def root_url(self) -> str:
        return self.base_url.rsplit("/v1", 1)[0]

    def stats(self) -> SimStats:
        answer = httpx.get(self.root_url + STATS_PATH, timeout=30)
        answer.raise_for_status()
        data = answer.json()
        return SimStats(**data)

    def env(self, **extra: str) -> dict[str, str]:
        """SESSION_AUDIT_* variables that point a session-audit process at this simulator with
        the benchmark budget (no client-side limit in the way)."""
        values = {
            "SESSION_AUDIT_BASE_URL": self.base_url,
            "SESSION_AUDIT_USERNAME": self.credentials["username"],
            "SESSION_AUDIT_PASSWORD": self.credentials["password"],
            "SESSION_AUDIT_CID": self.credentials["cid"],
            "SESSION_AUDIT_SECRET": self.credentials["secret"],
            "SESSION_AUDIT_REQUESTS_PER_HOUR": "10000000",
            "SESSION_AUDIT_REQUESTS_PER_SECOND": "100000",
        }
        values.update(extra)
        return values


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.simproc")
    parser.add_argument("--sessions", type=int, required=True)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--foreign-share", type=float, default=0.0)
    parser.add_argument("--quiet-ids", type=int, default=50_000)
    parser.add_argument("--server", choices=("simulator", "ordinary"), default="simulator")
    args = parser.parse_args(argv)
    serve(args.sessions, args.users, args.seed, args.foreign_share, args.quiet_ids, args.server)


if __name__ == "__main__":
    main()
