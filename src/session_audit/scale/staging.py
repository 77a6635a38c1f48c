"""Parquet staging of extracted chunks: the hand-off from Dask workers to the one loader.

A worker fetches one chunk of ids, normalizes the pages with polars (the same
:func:`~session_audit.ingest.normalize.normalize_pages` as the plain path) and writes the two
frames as Parquet files under the run's staging directory, a local path or any fsspec URL that
every worker and the driver can reach (``s3://bucket/staging``, ``file:///shared/staging``)::

    <root>/run-<run_id>-<token>/chunk-<seq>.sessions.parquet
    <root>/run-<run_id>-<token>/chunk-<seq>.rejected.parquet

Each file is written under a temporary name and then moved into place, so the loader never reads
a half-written file, and a chunk extracted twice (a worker died and Dask ran it again) simply
rewrites the same names with the same content. The loader merges the staged chunks of its own run
only, in chunk order, each in ONE transaction with the cursor, and deletes the run's directory at
the end. A directory left by a killed run is never loaded (the rerun starts from the committed
cursor and stages afresh) and may be deleted at any time.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from typing import Any

import fsspec  # type: ignore[import-untyped]
import polars as pl

from session_audit.api.counters import RunCounters
from session_audit.errors import StorageError
from session_audit.ingest.normalize import REJECTED_SCHEMA, SESSION_SCHEMA, NormalizedBatch
from session_audit.ingest.scan_plan import ChunkSpec


@dataclass(frozen=True)
class StagedChunk:
    """What a worker returns: where the frames are and what the API answered."""

    spec: ChunkSpec
    sessions_url: str | None
    rejected_url: str | None
    batch: NormalizedBatch  # its frames left empty: they are in the files
    batch_size: int  # the worker's ids-per-call after any shrinking
    counters: RunCounters = field(default_factory=RunCounters)  # what the worker's client did


@dataclass(frozen=True)
class StagingArea:
    """The staging directory of one run (local path or fsspec URL)."""

    url: str

    @classmethod
    def for_run(cls, root: str, run_id: int) -> StagingArea:
        token = uuid.uuid4().hex[:8]
        return cls(f"{root.rstrip('/')}/run-{run_id}-{token}")

    def _fs(self) -> tuple[Any, str]:
        fs, path = fsspec.core.url_to_fs(self.url)
        return fs, str(path)

    def write(
        self, spec: ChunkSpec, batch: NormalizedBatch, counters: RunCounters, batch_size: int
    ) -> StagedChunk:
        """Stage ``batch`` (the normalized frames of ``spec``); empty frames write no file."""
        fs, base = self._fs()
        try:
            fs.makedirs(base, exist_ok=True)
            urls = [
                self._put(fs, base, f"chunk-{spec.seq:06d}.{kind}.parquet", frame)
                for kind, frame in (("sessions", batch.sessions), ("rejected", batch.rejected))
            ]
        except OSError as exc:
            raise StorageError(f"cannot write staging files under {self.url}: {exc}") from exc
        empty = dataclasses.replace(
            batch, sessions=batch.sessions.clear(), rejected=batch.rejected.clear()
        )
        return StagedChunk(spec, urls[0], urls[1], empty, batch_size, counters)

    def _put(self, fs: Any, base: str, name: str, frame: pl.DataFrame) -> str | None:
        if frame.height == 0:
            return None
        final = f"{base}/{name}"
        tmp = f"{base}/.{name}.{uuid.uuid4().hex[:8]}.tmp"
        with fs.open(tmp, "wb") as out:
            frame.write_parquet(out, compression="zstd", statistics=False)
        fs.mv(tmp, final)
        return final

    def read(self, staged: StagedChunk) -> NormalizedBatch:
        """The :class:`NormalizedBatch` a worker staged, exactly as it normalized it."""
        fs, _ = self._fs()
        try:
            sessions = _read(fs, staged.sessions_url, SESSION_SCHEMA)
            rejected = _read(fs, staged.rejected_url, REJECTED_SCHEMA)
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise StorageError(f"cannot read staged chunk {staged.spec.seq}: {exc}") from exc
        return dataclasses.replace(staged.batch, sessions=sessions, rejected=rejected)

    def remove(self) -> None:
        """Delete the run's staging directory (after the run; missing is fine)."""
        fs, base = self._fs()
        try:
            if fs.exists(base):
                fs.rm(base, recursive=True)
        except OSError as exc:
            raise StorageError(f"cannot remove staging directory {self.url}: {exc}") from exc


def _read(fs: Any, path: str | None, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    if path is None:
        return pl.DataFrame(schema=schema)
    with fs.open(path, "rb") as src:
        frame = pl.read_parquet(src)
    return frame.select(list(schema)).cast(schema)  # type: ignore[arg-type]
