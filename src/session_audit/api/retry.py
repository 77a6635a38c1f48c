"""The pure retry policy: given a failure and how many attempts were made, wait how long or stop.

No I/O, no clock, no randomness here: :func:`decide` is a plain function of its arguments, and
:func:`jitter` takes its random source as an argument. The client sleeps (with its injected sleep).

Rules (``attempt`` is the number of attempts already made, the failed one included):

* Never more than ``max_attempts`` attempts: at ``attempt >= max_attempts`` the answer is stop.
* ``REJECTED`` (a 4xx other than 401/429) stops at once: the same request cannot succeed.
* ``RATE_LIMITED`` (429):

  - **without** ``Retry-After`` it is a lockout (:func:`is_lockout`): the real API locks the user
    out for up to an hour and every request during the lockout extends it. Stop at once, on the
    first attempt: no retry, no sleep. The caller raises ``RateLimitedError(lockout=True)`` and
    the run ends; the next run resumes;
  - with ``Retry-After`` (already turned into seconds by :func:`parse_retry_after`) wait at least
    that long. A tiny or zero value is raised to a floor that doubles per attempt
    (``penalty_floor * 2**(attempt-1)``, capped at ``cap``), so ``Retry-After: 0`` from a server
    still throttling us cannot burn every attempt in a burst. A value above
    ``max_retry_after`` stops (the caller gets a RateLimitedError carrying the value).

* ``SERVER`` (5xx), ``TIMEOUT`` and ``CONNECTION``: ``base * 2**(attempt-1)`` capped at ``cap``;
  the client adds :func:`jitter` so concurrent requests do not retry in lockstep.
"""

from __future__ import annotations

import email.utils
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from session_audit.settings import Settings


class FailureKind(StrEnum):
    """Why an attempt failed; also the key of ``RunCounters.retries``."""

    RATE_LIMITED = "rate_limited"
    SERVER = "server"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Failure:
    """One failed attempt. ``retry_after`` is in seconds from now (429 only), None if absent."""

    kind: FailureKind
    status: int | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds of the policy; :meth:`from_settings` derives them from :class:`Settings`."""

    max_attempts: int = 6
    base: float = 1.0
    cap: float = 300.0
    penalty_floor: float = 1.0
    max_retry_after: float = 7200.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            max_attempts=settings.max_attempts,
            base=settings.backoff_base,
            cap=settings.backoff_cap,
            penalty_floor=settings.backoff_base,
        )


def _exponential(start: float, attempt: int, cap: float) -> float:
    # 2**(attempt-1) overflows float for absurd attempt counts; the cap is reached long before.
    exponent = min(max(attempt - 1, 0), 60)
    return min(start * math.pow(2, exponent), cap)


def is_lockout(failure: Failure) -> bool:
    """A 429 without ``Retry-After``: the API locked the user out (up to an hour); never retry."""
    return failure.kind is FailureKind.RATE_LIMITED and failure.retry_after is None


def decide(failure: Failure, attempt: int, *, policy: RetryPolicy) -> float | None:
    """Seconds to wait before the next attempt, or None to stop and raise."""
    if failure.kind is FailureKind.REJECTED or attempt >= policy.max_attempts:
        return None
    if is_lockout(failure):
        return None
    if failure.kind is FailureKind.RATE_LIMITED:
        assert failure.retry_after is not None
        if failure.retry_after > policy.max_retry_after:
            return None
        floor = _exponential(policy.penalty_floor, attempt, policy.cap)
        return max(failure.retry_after, floor)
    return _exponential(policy.base, attempt, policy.cap)


def jitter(delay: float, rng: random.Random, *, spread: float = 0.5) -> float:
    """``delay`` stretched by a random factor in ``[1, 1 + spread)``; never shorter.

    Only ever longer than decided, so a server's Retry-After is still honoured.
    """
    return delay * (1.0 + spread * rng.random())


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """``Retry-After`` as seconds from ``now`` (epoch seconds): delta-seconds or an HTTP date.

    Returns None when absent or unparseable; a date in the past gives 0.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    when = parse_http_date(text)
    if when is None:
        return None
    return max(when.timestamp() - now, 0.0)


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP date (``Date``, ``Retry-After``: ``Wed, 04 Mar 2026 15:00:00 GMT``) as an aware
    UTC datetime; None when absent, unparseable or without a zone."""
    if value is None or not value.strip():
        return None
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; "-0000" means "zone unknown"
        return None
    return when.astimezone(UTC)
