"""The function a worker runs for one chunk: fetch with a lent token, normalize, stage.

:func:`extract_chunk` is synchronous and self-contained (everything it needs comes in its
arguments, which are picklable), so it runs the same in a thread of the driving process or in a
Dask worker process on another machine. It never touches DuckDB: the driver loads what it staged.
"""

from __future__ import annotations

import asyncio

import httpx

from session_audit.api.auth import TokenLease
from session_audit.api.client import TradovateClient
from session_audit.ingest.normalize import normalize_pages
from session_audit.ingest.scan_plan import ChunkSpec
from session_audit.scale.staging import StagedChunk, StagingArea
from session_audit.settings import Settings


def extract_chunk(
    spec: ChunkSpec,
    lease: TokenLease,
    settings: Settings,
    staging: StagingArea,
    batch_size: int,
    transport: httpx.AsyncBaseTransport | None = None,
) -> StagedChunk:
    """Fetch ``spec``'s ids with the lent token and stage the normalized frames.

    ``settings`` are the worker's share (no credentials, its slice of the request budget);
    ``batch_size`` is the driver's current ids-per-call (it only ever shrinks); ``transport``:
    the run's in-process transport (threads only), else the network."""

    async def fetch() -> tuple[list[bytes], TradovateClient]:
        client = TradovateClient(settings, transport=transport, token_lease=lease)
        client.batch_size = min(client.batch_size, batch_size)
        async with client:
            return await client.session_item_pages(spec.ids), client

    pages, client = asyncio.run(fetch())
    batch = normalize_pages(pages, org=settings.org)
    return staging.write(spec, batch, client.counters, client.batch_size)
