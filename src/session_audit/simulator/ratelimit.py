"""The server side of the rate limit: trailing-hour count per user, then an hour's lockout.

Once a user exceeds ``limit`` requests in a trailing hour, every request gets 429 until
``lockout_seconds`` pass with no request: each request during the lockout extends it.
"""

from __future__ import annotations

from collections import deque

WINDOW_SECONDS = 3600.0


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
