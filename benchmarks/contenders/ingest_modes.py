"""The same ingest run two ways, in this process: the plain function or the Prefect flow.

``python -m benchmarks.contenders.ingest_modes --mode plain|flow --db F --start-id N``

Settings come from the ``SESSION_AUDIT_*`` environment. ``flow`` runs ``ingest_sessions`` through
:func:`session_audit.orchestration.ingest_flow.run_ingest_flow` (a local Prefect server unless
``PREFECT_API_URL`` is set). Prints one JSON line: the run's own seconds, the seconds from the
first import of the run path to the end, and whether prefect was imported.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import orjson


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.contenders.ingest_modes")
    parser.add_argument("--mode", choices=("plain", "flow"), required=True)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--start-id", type=int, required=True)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    from session_audit.ingest.runner import IdSource, run_ingest
    from session_audit.settings import load_settings

    settings = load_settings(db=args.db)
    source = IdSource(kind="scan", start_id=args.start_id)
    if args.mode == "plain":
        summary = run_ingest(settings, source)
    else:
        from session_audit.orchestration import prepare_prefect_env

        prepare_prefect_env(os.environ, settings.db.parent, quiet=True)  # before prefect's import
        from session_audit.orchestration.ingest_flow import run_ingest_flow

        summary = run_ingest_flow(settings, source)
    total = time.perf_counter() - started
    print(
        orjson.dumps(
            {
                "status": summary.status,
                "fetched": summary.fetched,
                "inserted": summary.inserted,
                "run_seconds": round(summary.seconds, 3),
                "total_seconds": round(total, 3),
                "prefect_imported": "prefect" in sys.modules,
            }
        ).decode()
    )


if __name__ == "__main__":
    main()
