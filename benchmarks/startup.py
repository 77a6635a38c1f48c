"""Start-up: what a user waits for before any work, and what the plain path imports."""

from __future__ import annotations

import sys

from benchmarks.contenders.runner import session_audit_cmd
from benchmarks.measure import clean_env, run_child
from benchmarks.results import Log, Results

STARTUP = "start-up"

CHECK_HELP_IMPORTS = (
    "import sys\n"
    "from session_audit.cli.app import run_app\n"
    "import session_audit.cli\n"
    "run_app(['ingest', '--help'])\n"
    "heavy = [m for m in ('prefect', 'polars', 'duckdb', 'dlt') if m in sys.modules]\n"
    "print('HEAVY:' + ','.join(heavy))\n"
)


def _best_seconds(cmd: list[str], repeats: int) -> float:
    env = clean_env()
    return min(run_child(cmd, env=env).seconds for _ in range(repeats))


def run_startup(results: Results, repeats: int, log: Log) -> None:
    help_s = _best_seconds(session_audit_cmd("ingest", "--help"), repeats)
    import_s = _best_seconds([sys.executable, "-c", "import session_audit.cli"], repeats)
    bare_s = _best_seconds([sys.executable, "-c", "pass"], repeats)
    prefect_s = _best_seconds([sys.executable, "-c", "import prefect"], 1)
    log(f"help {help_s:.2f} s, import {import_s:.2f} s, prefect {prefect_s:.2f} s")
    note = f"best of {repeats}; bare interpreter {bare_s:.2f} s"
    results.add(STARTUP, "session-audit ingest --help", help_s, "s", note=note)
    results.add(STARTUP, 'python -c "import session_audit.cli"', import_s, "s", note=note)
    results.add(STARTUP, 'python -c "import prefect" (avoided on the plain path)', prefect_s, "s")
    run = run_child([sys.executable, "-c", CHECK_HELP_IMPORTS], env=clean_env())
    marker = [line for line in run.stdout.splitlines() if line.startswith("HEAVY:")]
    heavy = marker[-1].removeprefix("HEAVY:").strip() if marker else "?"
    results.check(
        STARTUP,
        "ingest --help imports no prefect/polars/duckdb/dlt",
        heavy == "",
        shown=heavy or "none",
        note="sys.modules after the help text",
    )
