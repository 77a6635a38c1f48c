"""Faults: a deterministic queue for tests plus random faults at ``fault_rate``."""

from __future__ import annotations

import enum
import random
from collections import deque
from dataclasses import dataclass


class Fault(enum.Enum):
    """What the next request(s) get instead of a normal answer."""

    SERVER_ERROR = "server_error"  # 500 with a plain-text body
    RATE_LIMITED = "rate_limited"  # 429, empty body, Retry-After header
    RATE_LIMITED_NO_RETRY_AFTER = "rate_limited_no_retry_after"  # 429, empty body, no header
    SLOW = "slow"  # the normal answer, after ``slow_seconds``
    TOKEN_EXPIRED = "token_expired"  # noqa: S105 — 401; the token used really expires
    AUTH_SERVER_ERROR = "auth_server_error"  # 500 on the next login or renewal

    @property
    def hits_auth(self) -> bool:
        """Auth faults hit login/renew requests; all others hit data requests."""
        return self is Fault.AUTH_SERVER_ERROR


# The faults ``fault_rate`` draws from. A bare 429 is not among them: on the real API it means a
# lockout of up to an hour (``rate_limit_per_hour`` models that, and tests inject it), never a
# passing hiccup that the next request gets past.
RANDOM_FAULTS = (
    Fault.SERVER_ERROR,
    Fault.RATE_LIMITED,
    Fault.SLOW,
)


@dataclass(frozen=True)
class PlannedFault:
    fault: Fault
    retry_after: str | None = None


class FaultPlan:
    """Injected faults first (in order), then random ones at ``rate`` (seeded)."""

    def __init__(self, rate: float, seed: int) -> None:
        self.rate = rate
        self._rng = random.Random(seed * 7919 + 17)
        self._data: deque[PlannedFault] = deque()
        self._auth: deque[PlannedFault] = deque()

    def inject(self, fault: Fault, times: int = 1, retry_after: str | None = None) -> None:
        if fault is Fault.RATE_LIMITED and retry_after is None:
            retry_after = "1"
        queue = self._auth if fault.hits_auth else self._data
        queue.extend(PlannedFault(fault, retry_after) for _ in range(times))

    def pending(self) -> int:
        return len(self._data) + len(self._auth)

    def next_data_fault(self) -> PlannedFault | None:
        if self._data:
            return self._data.popleft()
        if self.rate and self._rng.random() < self.rate:
            fault = self._rng.choice(RANDOM_FAULTS)
            return PlannedFault(fault, "1" if fault is Fault.RATE_LIMITED else None)
        return None

    def next_auth_fault(self) -> PlannedFault | None:
        return self._auth.popleft() if self._auth else None
