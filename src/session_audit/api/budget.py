"""RequestBudget: the one client-side limiter every request of a client passes through.

Three limits, checked in this order when a request asks to be sent:

1. a *penalty gate*: after a 429 the client closes the gate for the back-off, so the other
   concurrent requests wait too instead of extending a lockout;
2. ``requests_per_hour`` over a **trailing** hour, the way Tradovate counts. This is an exact
   sliding window (timestamps of the last hour on the injected clock): a leaky bucket such as
   ``AsyncLimiter(n, 3600)`` admits a burst of ``n`` and then refills, so a trailing hour could
   see up to ``2n`` requests;
3. a per-second pace: requests are spaced at least ``1 / rate`` seconds apart on the injected
   clock (no burst above the cap), where ``rate`` starts at ``requests_per_second`` and adapts.

**Adaptive pacing (AIMD).** The server's own per-second limit is undocumented and may be below
ours. :meth:`RequestBudget.slow_down` (the client calls it after a 429 *with* Retry-After) halves
the rate, never below ``MIN_RATE`` (0.2/s, or the configured rate if lower); a 429 arriving within
a second of the last decrease is the same episode (requests already admitted at the old pace) and
does not halve again. :meth:`RequestBudget.record_success` (every answer that is not a 429) raises
the rate by ``INCREASE_FRACTION`` of the configured rate after each run of ``INCREASE_EVERY``
successes in a row, never above ``requests_per_second``. The rate at which the last 429 came is
remembered as a ceiling: climbing back to ``CEILING_FRACTION`` of it is quick, going beyond it (a
probe) waits for ``PROBE_EVERY`` successes, and each probe that fails near the ceiling doubles that
wait, so a long run against a server slower than us sees a handful of 429s, not one every few
minutes. A 429 without Retry-After is a lockout and ends the run; it does not come here.

Admission of ordinary requests is serialised by one FIFO lock, so they are admitted in arrival
order and the window bookkeeping is exact. Auth calls (login, token renewal) ask with
``reserved=True``: they skip that queue and may use the last ``auth_reserve`` slots of the hour,
which ordinary requests never take. A renewal therefore never waits behind an hour of queued data
requests until the token has expired (which would force a fresh login: one more Tradovate user
session, of which a user may hold two).

A long wait (the hour is used up) must not outlive the token either: ``chore_at()`` tells when the
token is due for renewal; a waiting request wakes at that time, runs ``chore()`` (the renewal,
through the reserved slots) and goes back to waiting.

Concurrency (requests in flight) is bounded separately by the client's semaphore, which is taken
*before* the budget so a request is sent right after it is admitted.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable

HOUR = 3600.0
AUTH_RESERVE = 2
# Adaptive pacing (see the module docstring).
MIN_RATE = 0.2
DECREASE_FACTOR = 0.5
INCREASE_EVERY = 20
INCREASE_FRACTION = 0.05
SAME_EPISODE = 1.0
CEILING_FRACTION = 0.9
PROBE_EVERY = 200


class RequestBudget:
    """Admit one request at a time within the hourly and per-second limits."""

    def __init__(
        self,
        *,
        requests_per_hour: int,
        requests_per_second: float,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_wait: Callable[[], None] | None = None,
        chore_at: Callable[[], float | None] | None = None,
        chore: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        if requests_per_hour < 1 or requests_per_second <= 0:
            raise ValueError("budget limits must be positive")
        self.requests_per_hour = requests_per_hour
        self.requests_per_second = requests_per_second
        self._clock = clock
        self._sleep = sleep
        self._on_wait = on_wait
        self._sent: deque[float] = deque()
        self._rate = requests_per_second
        self._next_slot = float("-inf")
        self._successes = 0
        self._decreased_at: float | None = None
        self._ceiling: float | None = None
        self._probe_every = PROBE_EVERY
        self.rate_decreases = 0
        self._lock = asyncio.Lock()
        self._paused_until = 0.0
        self.auth_reserve = min(AUTH_RESERVE, requests_per_hour // 4)
        self._chore_at = chore_at
        self._chore = chore
        self._last_chore: float | None = None

    def preload(self, sent: Iterable[tuple[float, int]]) -> None:
        """Count requests sent before this budget existed: ``(when, how many)`` pairs, in
        injected-clock seconds. Tradovate counts a user's requests over a trailing hour across
        processes and runs, so a run that starts right after another inherits its usage."""
        earlier = [when for when, count in sent for _ in range(max(count, 0))]
        if earlier:
            self._sent = deque(sorted([*earlier, *self._sent]))
            self._expire(self._clock())

    @property
    def sent_last_hour(self) -> int:
        """Requests admitted within the trailing hour (as of the injected clock)."""
        self._expire(self._clock())
        return len(self._sent)

    @property
    def rate(self) -> float:
        """The current per-second pace (adapted; at most ``requests_per_second``)."""
        return self._rate

    def slow_down(self) -> bool:
        """A 429 with Retry-After: remember the pace as the ceiling and halve it
        (multiplicative decrease). False when the 429 belongs to the episode of the last
        decrease and changed nothing."""
        now = self._clock()
        if self._decreased_at is not None and now - self._decreased_at < SAME_EPISODE:
            return False
        if self._ceiling is not None and self._rate > self._ceiling * CEILING_FRACTION:
            self._probe_every *= 2  # a probe above the known ceiling failed: probe less often
        self._ceiling = self._rate
        floor = min(MIN_RATE, self.requests_per_second)
        self._rate = max(self._rate * DECREASE_FACTOR, floor)
        self._decreased_at = now
        self._successes = 0
        self.rate_decreases += 1
        return True

    def record_success(self) -> None:
        """An answer that was not a 429: after ``INCREASE_EVERY`` in a row (``PROBE_EVERY``,
        doubled per failed probe, to go above ``CEILING_FRACTION`` of the last 429's pace),
        raise the pace by ``INCREASE_FRACTION`` of the configured rate, up to the cap."""
        if self._rate >= self.requests_per_second:
            return
        self._successes += 1
        step = self.requests_per_second * INCREASE_FRACTION
        target = min(self._rate + step, self.requests_per_second)
        probing = self._ceiling is not None and target > self._ceiling * CEILING_FRACTION * (
            1 + 1e-9
        )
        if self._successes >= (self._probe_every if probing else INCREASE_EVERY):
            self._successes = 0
            self._rate = target

    def pause_until(self, when: float) -> None:
        """Close the gate until ``when`` (injected-clock seconds); never shortens a pause."""
        self._paused_until = max(self._paused_until, when)

    def _expire(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - HOUR:
            self._sent.popleft()

    def _hold_for(self, now: float, limit: int) -> float:
        """Seconds until a request may go (0 = now) when at most ``limit`` fit in the hour."""
        if now < self._paused_until:
            return self._paused_until - now
        self._expire(now)
        if len(self._sent) >= limit:
            # the oldest request in the way leaves the window at its time + 1 hour
            blocking = self._sent[len(self._sent) - limit]
            return max(blocking + HOUR - now, 0.0) or 1e-3
        return 0.0

    def _due_chore(self, before: float) -> float | None:
        """When the chore falls due, if that is before ``before`` and it has not run for it."""
        if self._chore_at is None or self._chore is None:
            return None
        due = self._chore_at()
        if due is None or due >= before or due == self._last_chore:
            return None
        return due

    async def acquire(self, *, reserved: bool = False) -> None:
        """Wait until one more request fits every limit, then record it as sent.

        ``reserved``: an auth call, which skips the queue and may use the reserved slots.
        """
        if reserved:
            waited = await self._admit(self.requests_per_hour, chores=False)
        else:
            async with self._lock:
                limit = self.requests_per_hour - self.auth_reserve
                waited = await self._admit(limit, chores=True)
        if waited and self._on_wait is not None:
            self._on_wait()

    def _reserve_slot(self, now: float) -> float:
        """Take the next free send time at the current pace; seconds to wait for it.

        Synchronous (no await between reading and moving the slot), so reserved auth calls that
        skip the FIFO lock still get distinct slots."""
        slot = max(now, self._next_slot)
        self._next_slot = slot + 1.0 / self._rate
        return slot - now

    async def _admit(self, limit: int, *, chores: bool) -> bool:
        waited = False
        while True:
            while (hold := self._hold_for(now := self._clock(), limit)) > 0:
                waited = True
                due = self._due_chore(now + hold) if chores else None
                if due is None:
                    await self._sleep(hold)
                    continue
                if due > now:
                    await self._sleep(due - now)
                assert self._chore is not None
                self._last_chore = due
                await self._chore()
            pace = self._reserve_slot(now)
            if pace > 0:
                waited = True
                await self._sleep(pace)
            # another admission may have slipped in while we awaited our slot
            admitted = self._clock()
            if self._hold_for(admitted, limit) == 0:
                self._sent.append(admitted)
                # a late wake-up pushes the next slot: gaps never shrink below 1 / rate
                self._next_slot = max(self._next_slot, admitted + 1.0 / self._rate)
                return waited
