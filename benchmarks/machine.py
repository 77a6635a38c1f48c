"""The machine a run happened on (for the results table)."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

import psutil


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def describe() -> dict[str, str]:
    load = os.getloadavg()
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu_model(),
        "ram": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "python": platform.python_version(),
        "os": platform.platform(),
        "load average at start": " ".join(f"{x:.2f}" for x in load),
        "versions": ", ".join(
            f"{n} {_version(n)}" for n in ("duckdb", "polars", "httpx", "dlt", "prefect")
        ),
    }
