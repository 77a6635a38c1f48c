"""The ingest progress bar shared by `ingest` and `demo`: a rich bar fed by each stored chunk."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from session_audit.ingest.runner import ChunkResult, IngestSummary, ProgressSink


@contextmanager
def ingest_progress(
    show: bool = True, *, waiting: str = "starting"
) -> Iterator[ProgressSink | None]:
    """Yield a progress sink drawing a bar on the terminal (None when ``show`` is false).
    Lines printed while the bar is live appear above it (rich redirects stdout)."""
    if not show:
        yield None
        return

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("[bold]ingest[/bold] {task.description}"),
        BarColumn(bar_width=30),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(waiting, total=None, stats="")

        def on_chunk(result: ChunkResult, summary: IngestSummary) -> None:
            bar.update(
                task,
                description=f"{result.step} ids {result.first_id}..{result.last_id}",
                stats=(
                    f"fetched {summary.fetched:,}  new {summary.inserted:,}  "
                    f"changed {summary.updated:,}  rejected {summary.rejected:,}"
                ),
            )

        yield on_chunk
