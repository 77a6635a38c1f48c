#!/usr/bin/env python3
"""Set up the project's virtual environment from the lock file, then run one job.

    python3 scripts/bootstrap.py demo    # install, then `session-audit demo`
    python3 scripts/bootstrap.py test    # install (bench group too: smoke run), then pytest
    python3 scripts/bootstrap.py check   # install, then ruff + mypy --strict
    python3 scripts/bootstrap.py bench [--quick]  # install with the bench group, run benchmarks
    python3 scripts/bootstrap.py run ARGS...   # install, then `session-audit ARGS...`

Needs only python3 (3.11+) and the package index: it makes `.venv`, installs the pinned `uv`
into it, and `uv sync --frozen` installs exactly what `uv.lock` pins (never re-resolves).
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
UV_VERSION = "0.13.9"


def _run(cmd: list[str], **kwargs: object) -> None:
    result = subprocess.run(cmd, cwd=ROOT, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        sys.exit(result.returncode)


def setup(*groups: str) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this runs on whatever python3 the user has
        sys.exit(f"session-audit needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print("bootstrap: creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    uv = BIN / "uv"
    if not uv.exists():
        print(f"bootstrap: installing uv {UV_VERSION}", flush=True)
        _run([str(BIN / "python"), "-m", "pip", "install", "-q", f"uv=={UV_VERSION}"])
    env = dict(os.environ, UV_PYTHON_DOWNLOADS="never", VIRTUAL_ENV=str(VENV))
    env.pop("UV_PROJECT_ENVIRONMENT", None)
    print("bootstrap: uv sync --frozen (from uv.lock)", flush=True)
    extra = [arg for group in groups for arg in ("--group", group)]
    _run(
        [
            str(uv),
            "sync",
            "--frozen",
            "--inexact",
            "--all-extras",
            *extra,
            "--quiet",
            "--python",
            str(BIN / "python"),
        ],
        env=env,
    )


def main(argv: list[str]) -> None:
    job = argv[0] if argv else "demo"
    setup(*(["bench"] if job in ("bench", "test") else []))
    os.chdir(ROOT)
    if job == "demo":
        cmd = [str(BIN / "session-audit"), "demo", *argv[1:]]
    elif job == "test":
        cmd = [str(BIN / "python"), "-m", "pytest", *argv[1:]]
    elif job == "check":
        _run([str(BIN / "ruff"), "check", "."])
        _run([str(BIN / "ruff"), "format", "--check", "."])
        cmd = [str(BIN / "mypy")]
    elif job == "bench":
        cmd = [str(BIN / "python"), "-m", "benchmarks", *argv[1:]]
    elif job == "run":
        cmd = [str(BIN / "session-audit"), *argv[1:]]
    elif job == "setup":
        return
    else:
        sys.exit(f"unknown job {job!r}: use demo, test, check, bench, run or setup")
    sys.stdout.flush()
    os.execv(cmd[0], cmd)  # noqa: S606 - fixed argv, no shell


if __name__ == "__main__":
    main(sys.argv[1:])
