"""Per-run counters of the API client. Their ledger share (requests, retries, waits, renewals,
bytes: ``session_audit.ingest.counts.LedgerCounts.of_client``) is added to the run's ledger row at
each checkpoint; the rest (retry causes, logins, budget waits, ...) is detail for the summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class RunCounters:
    """What one client did. Mutated only by the client (single event loop, no locking needed).

    ``requests`` counts every HTTP request sent (auth calls, retries and replays included);
    ``retries`` counts retried attempts by cause (``FailureKind`` values plus ``"unauthorized"``
    for a 401 replay); ``penalty_waits``/``penalty_wait_seconds`` are 429 back-offs;
    ``budget_waits`` counts requests the client-side budget held back; ``rows`` counts session
    objects received; ``lockouts`` counts 429s without Retry-After (each ends the run);
    ``rate_decreases`` counts times a 429 with Retry-After slowed the pace down (AIMD).
    """

    requests: int = 0
    retries: dict[str, int] = field(default_factory=dict)
    penalty_waits: int = 0
    penalty_wait_seconds: float = 0.0
    budget_waits: int = 0
    renewals: int = 0
    logins: int = 0
    bytes_received: int = 0
    rows: int = 0
    batch_size_changes: int = 0
    lockouts: int = 0
    rate_decreases: int = 0

    @property
    def total_retries(self) -> int:
        return sum(list(self.retries.values()))  # a copy: safe to read from another thread

    def add_retry(self, cause: str) -> None:
        self.retries[cause] = self.retries.get(cause, 0) + 1

    def merge(self, other: RunCounters) -> None:
        """Add everything ``other`` counted (a worker's client, after its chunk) to these."""
        for item in fields(self):
            if item.name == "retries":
                for cause, n in other.retries.items():
                    self.retries[cause] = self.retries.get(cause, 0) + n
            else:
                setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["retries"] = dict(self.retries)
        data["total_retries"] = self.total_retries
        return data
