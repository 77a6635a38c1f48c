"""``python -m benchmarks [--quick] [--only SECTIONS] [--json FILE] [--markdown FILE]``

Runs every benchmark of issues 6, 10, 13 and 14 and prints one table of figures, ratios and targets
(progress lines go to stderr). Sections: load, e2e, sparse, ordinary, memory, startup, queries,
findings.
``--quick`` uses tiny sizes (about a minute; the CI smoke test). Exit code 0 even when a target is
missed: the table says so; a contender that fails is an error (exit 1).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import orjson

from benchmarks.machine import describe
from benchmarks.results import Results, log_stderr
from benchmarks.sizes import FULL, QUICK

SECTIONS = ("load", "e2e", "sparse", "ordinary", "memory", "startup", "queries", "findings")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections (default all: {','.join(SECTIONS)})",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where databases go (default: a temporary directory, removed)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write results as JSON")
    parser.add_argument(
        "--markdown", type=Path, default=None, help="also write the table as Markdown"
    )
    args = parser.parse_args(argv)
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(wanted) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown sections: {', '.join(unknown)} (known: {', '.join(SECTIONS)})")
    args.sections = wanted
    return args


def run(argv: list[str] | None = None) -> Results:
    args = parse_args(argv)
    sizes = QUICK if args.quick else FULL
    results = Results(meta={**describe(), "mode": "quick" if args.quick else "full"})
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="session-audit-bench-"))
    started = time.perf_counter()
    try:
        from benchmarks.measure import PYCACHE, warm_bytecode

        log_stderr(f"bytecode cache {PYCACHE}: warmed in {warm_bytecode():.1f} s")
        for section in args.sections:
            section_started = time.perf_counter()
            log_stderr(f"section {section} ...")
            if section == "load":
                from benchmarks.load_path import run_load_path

                run_load_path(results, sizes, workdir / "load", log_stderr)
            elif section == "e2e":
                from benchmarks.end_to_end import run_end_to_end

                run_end_to_end(results, sizes, workdir, log_stderr)
            elif section == "sparse":
                from benchmarks.end_to_end import run_sparse

                run_sparse(results, sizes, workdir, log_stderr)
            elif section == "ordinary":
                from benchmarks.end_to_end import run_ordinary

                run_ordinary(results, sizes, workdir, log_stderr)
            elif section == "memory":
                from benchmarks.end_to_end import run_memory

                run_memory(results, sizes, workdir, log_stderr)
            elif section == "startup":
                from benchmarks.startup import run_startup

                run_startup(results, max(1, sizes.repeats), log_stderr)
            elif section == "queries":
                from benchmarks.queries import run_queries

                run_queries(
                    results,
                    sizes.query_sessions,
                    sizes.query_users,
                    workdir / "queries",
                    log_stderr,
                )
            elif section == "findings":
                from benchmarks.findings import run_findings

                queries_db = workdir / "queries" / "queries.duckdb"  # reused when built
                run_findings(results, sizes, workdir / "findings", log_stderr, queries_db)
            log_stderr(f"section {section}: {time.perf_counter() - section_started:.1f} s")
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    results.meta["total seconds"] = f"{time.perf_counter() - started:.0f}"
    if args.json is not None:
        args.json.write_bytes(orjson.dumps(results.to_json(), option=orjson.OPT_INDENT_2))
    if args.markdown is not None:
        args.markdown.write_text(render_markdown_report(results), encoding="utf-8")
    return results


def render_markdown_report(results: Results) -> str:
    meta = "\n".join(f"- {k}: {v}" for k, v in results.meta.items())
    return f"{meta}\n\n{results.render_markdown()}\n"


def main() -> None:
    results = run(sys.argv[1:])
    for key, value in results.meta.items():
        print(f"# {key}: {value}")
    print(results.render_text())


if __name__ == "__main__":
    main()
