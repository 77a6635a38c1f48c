"""Measuring a child process: wall time, CPU and peak RSS, with nothing shared with the parent.

Each contender runs in its own process so that its memory is its own. Peak RSS is the larger of

* the kernel's high-water mark of the child (``VmHWM`` in ``/proc/<pid>/status``, read every
  20 ms while it runs; the kernel keeps the maximum, so sampling misses at most the last 20 ms),
* the largest sum of RSS over the child's whole process tree, sampled with psutil at the same
  time (catches worker processes that run at the same time, e.g. a process pool).

``ru_maxrss`` from ``wait4`` is NOT used: Linux carries the parent's high-water mark across
fork+exec into it, so a child of a big parent would report the parent's size.

CPU seconds are user + system time of the child and of every descendant it waited for, from the
``wait4`` resource usage of the child (per child, so the parent's own CPU never counts).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

SAMPLE_SECONDS = 0.02
MB = 1024 * 1024


class ChildFailedError(RuntimeError):
    """A measured child exited with a non-zero code (its stderr tail is in the message)."""


@dataclass(frozen=True)
class ChildRun:
    """What one measured child did."""

    seconds: float
    peak_rss: int  # bytes
    returncode: int
    stdout: str
    stderr: str
    cpu_seconds: float = 0.0  # user + system, the child and its waited-for descendants

    @property
    def peak_rss_mb(self) -> float:
        return self.peak_rss / MB

    def last_line(self) -> str:
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        return lines[-1] if lines else ""


def python_cmd(module: str, *args: str) -> list[str]:
    """``python -m module args...`` with this interpreter."""
    return [sys.executable, "-m", module, *args]


def run_child(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 900.0,
    check: bool = True,
) -> ChildRun:
    """Run ``cmd`` to completion; measure wall time and peak RSS (see the module docstring)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(cmd), stdout=out, stderr=err, env=dict(env) if env is not None else None, cwd=cwd
        )
        sampled = 0
        hwm = 0
        status = 0
        cpu = 0.0
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                cpu = usage.ru_utime + usage.ru_stime
                break
            hwm = max(hwm, _high_water_mark(proc.pid))
            sampled = max(sampled, _tree_rss(proc.pid))
            if time.perf_counter() > deadline:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                cpu = usage.ru_utime + usage.ru_stime
                break
            time.sleep(SAMPLE_SECONDS)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait again
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    run = ChildRun(seconds, max(hwm, sampled), proc.returncode, stdout, stderr, cpu)
    if check and run.returncode != 0:
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        raise ChildFailedError(f"{' '.join(cmd[:4])} ... exited {run.returncode}:\n{tail}")
    return run


def _high_water_mark(pid: int) -> int:
    """The kernel's peak RSS of ``pid`` so far (bytes), 0 if unknown."""
    try:
        with Path(f"/proc/{pid}/status").open(encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return 0
    return 0


def _tree_rss(pid: int) -> int:
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total


PYCACHE = Path(tempfile.gettempdir()) / "session-audit-bench-pycache"

# What the contenders import: compiled once by warm_bytecode() before anything is timed.
WARM_IMPORTS = (
    "session_audit.cli",
    "session_audit.cli.ingest",
    "session_audit.ingest.runner",
    "session_audit.ingest.store",
    "session_audit.ingest.normalize",
    "session_audit.api.client",
    "session_audit.db.migrations",
    "session_audit.db.views",
    "session_audit.orchestration",
    "benchmarks.contenders.fetch_floor",
    "benchmarks.contenders.dlt_pipeline",
    "benchmarks.contenders.ingest_modes",
    "polars",
    "duckdb",
    "pyarrow",
    "httpx",
    "dlt",
    "dlt.destinations",
    "dlt.sources.helpers.requests",
    "dlt.common.libs.pyarrow",
    "dlt.destinations.impl.duckdb.factory",
    "dlt.pipeline",
    "prefect",
)


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment without any SESSION_AUDIT_/PREFECT_ variables, plus ``extra``.

    Bytecode is cached (``PYTHONPYCACHEPREFIX``, outside the source tree) even where the
    environment says ``PYTHONDONTWRITEBYTECODE``: an installed package has its ``.pyc`` files,
    and compiling every module from source on every start (0.8 s of CPU for the ingest's
    imports on this machine) is not what a user pays."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SESSION_AUDIT_", "PREFECT_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    env.update(extra or {})
    return env


WARM_SCRIPT = """
import importlib, sys
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception:
        pass
"""


def warm_bytecode() -> float:
    """Import every contender's modules once in a child (with :func:`clean_env`), so that no
    timed run compiles source; returns the seconds it took."""
    run = run_child([sys.executable, "-c", WARM_SCRIPT, *WARM_IMPORTS], env=clean_env())
    return run.seconds


class Stopwatch:
    """``with Stopwatch() as sw: ...`` then ``sw.seconds``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start
