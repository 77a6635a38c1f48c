"""`session-audit demo`: simulator -> Prefect flow -> DuckDB -> exports -> report -> summary."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from session_audit.cli.app import app
from session_audit.cli.progress import ingest_progress

if TYPE_CHECKING:
    from collections.abc import Callable

    from session_audit.demo_pipeline import DemoOptions, DemoOutcome
    from session_audit.ingest.runner import ChunkResult, IngestSummary


@app.command("demo")
def demo(
    data_dir: Annotated[Path, typer.Option(help="where the demo writes its files")] = Path("data"),
    users: Annotated[int, typer.Option(min=1, help="simulated users")] = 1500,
    sessions: Annotated[int, typer.Option(min=0, help="simulated sessions")] = 40_000,
    seed: Annotated[int, typer.Option(help="simulator seed (same seed, same data)")] = 2024,
    fault_rate: Annotated[
        float, typer.Option(min=0.0, max=0.5, help="share of API requests that fail")
    ] = 0.01,
    progress: Annotated[
        bool | None, typer.Option("--progress/--no-progress", help="progress bar (default: tty)")
    ] = None,
) -> None:
    """Run the whole pipeline on a simulated Tradovate account and show what it found.

    Writes data/demo.duckdb, data/demo-exports/ and data/demo-report.html (replacing an earlier
    demo's), and keeps Prefect's state in data/prefect unless PREFECT_HOME or PREFECT_API_URL is
    set.
    """
    from session_audit.orchestration.environment import prepare_prefect_env

    # Before anything imports prefect: its home, start-up timeout, telemetry, console.
    prepare_prefect_env(os.environ, data_dir, quiet=True)

    from session_audit.demo_pipeline import DemoOptions, run_demo, summary_lines

    options = DemoOptions(
        data_dir=data_dir, users=users, sessions=sessions, seed=seed, fault_rate=fault_rate
    )
    show_bar = sys.stdout.isatty() if progress is None else progress
    started = time.monotonic()

    def step(text: str) -> None:
        typer.echo(f"[{time.monotonic() - started:5.1f}s] {text}")

    if show_bar:
        outcome = _with_bar(options, step)
    else:
        last = [0.0]

        def on_chunk(result: ChunkResult, summary: IngestSummary) -> None:
            now = time.monotonic()
            if now - last[0] >= 2.0:
                last[0] = now
                step(f"  ... {summary.fetched:,} sessions stored (ids up to {result.last_id})")

        outcome = run_demo(options, step=step, progress=on_chunk)

    for line in summary_lines(outcome):
        typer.echo(line)
    typer.echo(f"\ndemo finished in {time.monotonic() - started:.0f} s")


def _with_bar(options: DemoOptions, step: Callable[[str], None]) -> DemoOutcome:
    """Run the demo under the ingest progress bar; step lines print above it."""
    from session_audit.demo_pipeline import run_demo

    with ingest_progress(waiting="waiting for Prefect") as on_chunk:
        return run_demo(options, step=step, progress=on_chunk)
