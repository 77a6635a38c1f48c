"""The ingest progress bar shared by `ingest` and `demo`: a rich bar fed by each stored chunk,
showing the run's ledger row as that chunk's checkpoint left it (``IngestSummary.counts``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from session_audit.ingest.counts import LedgerCounts
    from session_audit.ingest.runner import ChunkResult, IngestSummary, ProgressSink


def progress_stats(counts: LedgerCounts) -> str:
    """The counts of the progress line."""
    return (
        f"fetched {counts.fetched:,}  new {counts.inserted:,}  changed {counts.updated:,}  "
        f"rejected {counts.rejected:,}  requests {counts.requests:,}  retries {counts.retries:,}"
    )


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
                stats=progress_stats(summary.counts),
            )

        yield on_chunk
