"""The simulator's own request counters: what the server saw, independent of any client."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class SimulatorStats:
    """Counters since construction. ``request_log`` holds (clock time, path) per request."""

    total: int = 0
    by_path: Counter[str] = field(default_factory=Counter)  # path after /v1, e.g. /auth/me
    by_status: Counter[int] = field(default_factory=Counter)
    login_attempts: int = 0
    logins: int = 0  # logins that returned a token
    p_tickets: int = 0
    renewals: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    lockouts: int = 0  # 429s from the enforced rate limit
    in_flight: int = 0
    max_in_flight: int = 0
    request_log: list[tuple[float, str]] = field(default_factory=list)

    @property
    def request_times(self) -> list[float]:
        return [t for t, _ in self.request_log]

    def times(self, paths: Iterable[str] | None = None) -> list[float]:
        """Clock times of the requests to ``paths`` (all requests if None), ascending."""
        wanted = None if paths is None else set(paths)
        return sorted(t for t, p in self.request_log if wanted is None or p in wanted)

    def max_in_window(self, seconds: float, paths: Iterable[str] | None = None) -> int:
        """Most requests in any window [t, t + seconds) — e.g. 3600 for a trailing hour."""
        times = self.times(paths)
        best = 0
        lo = 0
        for hi, t in enumerate(times):
            while t - times[lo] >= seconds:
                lo += 1
            best = max(best, hi - lo + 1)
        return best
