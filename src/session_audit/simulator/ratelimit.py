"""The server side of the rate limits.

* :class:`UserRateLimit`: trailing-hour count per user, then an hour's lockout. Once a user
  exceeds ``limit`` requests in a trailing hour, every request gets a bare 429 (no Retry-After)
  until ``lockout_seconds`` pass with no request: each request during the lockout extends it.
* :class:`PerSecondLimit`: at most ``limit`` admitted requests per user in any trailing second;
  a request above it gets 429 with ``Retry-After: 1`` (:data:`PER_SECOND_RETRY_AFTER`) and is not
  counted. No lockout: the caller is expected to slow down.
"""

from __future__ import annotations

from collections import deque

WINDOW_SECONDS = 3600.0
PER_SECOND_RETRY_AFTER = "1"


class UserRateLimit:
    def __init__(self, limit: int | None, lockout_seconds: float) -> None:
        self.limit = limit
        self.lockout_seconds = lockout_seconds
        self._recent: dict[int, deque[float]] = {}
        self._locked_until: dict[int, float] = {}

    def locked_until(self, user_id: int) -> float | None:
        return self._locked_until.get(user_id)

    def admit(self, user_id: int, now: float) -> bool:
        """Record one request of ``user_id`` at ``now``; False means answer 429."""
        if self.limit is None:
            return True
        until = self._locked_until.get(user_id)
        if until is not None and now < until:
            self._locked_until[user_id] = now + self.lockout_seconds
            return False
        recent = self._recent.setdefault(user_id, deque())
        recent.append(now)
        while recent and recent[0] <= now - WINDOW_SECONDS:
            recent.popleft()
        if len(recent) > self.limit:
            self._locked_until[user_id] = now + self.lockout_seconds
            recent.clear()  # after the lockout the count starts afresh
            return False
        return True


class PerSecondLimit:
    """At most ``limit`` requests per user in a trailing second (None: not enforced)."""

    def __init__(self, limit: float | None) -> None:
        self.limit = limit
        self._recent: dict[int, deque[float]] = {}

    def admit(self, user_id: int, now: float) -> bool:
        """Record one request of ``user_id`` at ``now`` if it fits; False means 429 with
        ``Retry-After: 1``."""
        if self.limit is None:
            return True
        recent = self._recent.setdefault(user_id, deque())
        while recent and recent[0] <= now - 1.0:
            recent.popleft()
        if len(recent) + 1 > self.limit:
            return False
        recent.append(now)
        return True
