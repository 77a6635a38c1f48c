"""LedgerCounts: the counters of one ingest run, declared once.

The ledger row of a run (``ingest_runs``) is the only total of its counters. Each checkpoint
adds a :class:`LedgerCounts` to it in the same transaction as its rows (``add_run_counts`` in
``sql/queries/store.sql``: what the merge did plus what the API client did since the previous
checkpoint); the end of the run adds what the client did after the last checkpoint and changes
no total. The summary printed at the end and the progress line are the row as read back, never
a sum kept in Python, so a kill -9 leaves counts that match exactly what the committed
checkpoints stored.

The fields are the ledger's counter columns, in table order: :meth:`LedgerCounts.names` is the
column list, and a test checks that the SQL adds and returns exactly these columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from session_audit.api.counters import RunCounters


@dataclass(frozen=True, slots=True)
class LedgerCounts:
    """The counters of a run (a total: the ledger row) or of a part of it (one checkpoint)."""

    requests: int = 0  # HTTP requests sent: logins, renewals, retries and replays included
    fetched: int = 0  # session objects received
    inserted: int = 0  # sessions stored for the first time
    updated: int = 0  # stored sessions that changed
    unchanged: int = 0  # stored sessions received again as they were
    rejected: int = 0  # malformed objects set aside in rejected_sessions
    retries: int = 0  # retried attempts, all causes
    penalty_waits: int = 0  # back-offs after a 429 with Retry-After
    renewals: int = 0  # access tokens renewed
    bytes: int = 0  # response bytes received

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The counter columns of ``ingest_runs``, in order."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> LedgerCounts:
        """The counters of a ledger row (a mapping of column names: extra columns ignored)."""
        return cls(**{name: int(row[name] or 0) for name in cls.names()})

    @classmethod
    def from_values(cls, values: tuple[Any, ...]) -> LedgerCounts:
        """The counters from a row of exactly :meth:`names` (e.g. ``RETURNING``), in order."""
        return cls(*(int(v or 0) for v in values))

    @classmethod
    def of_client(cls, counters: RunCounters) -> LedgerCounts:
        """The API client's share of the counters (requests, retries, waits, renewals, bytes)
        so far; the other counters are the store's and stay 0."""
        return cls(
            requests=counters.requests,
            retries=counters.total_retries,
            penalty_waits=counters.penalty_waits,
            renewals=counters.renewals,
            bytes=counters.bytes_received,
        )

    def as_dict(self) -> dict[str, int]:
        """``{column: value}``: the query parameters of the counters."""
        return {name: getattr(self, name) for name in self.names()}

    def __add__(self, other: LedgerCounts) -> LedgerCounts:
        return LedgerCounts(*(getattr(self, name) + getattr(other, name) for name in self.names()))

    def __sub__(self, other: LedgerCounts) -> LedgerCounts:
        return LedgerCounts(*(getattr(self, name) - getattr(other, name) for name in self.names()))
