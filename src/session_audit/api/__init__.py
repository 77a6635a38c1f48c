"""The Tradovate API client and its public surface.

* :class:`TradovateClient`: login/renewal, request budget with adaptive pacing, retries, batching,
  batch-size discovery (:class:`BatchSizeFinding`), login facts (:class:`LoginInfo`), token
  lending (:class:`TokenLease`).
* :class:`RunCounters`: what one client did.
* The pure retry policy: :class:`Failure`, :class:`FailureKind`, :class:`RetryPolicy`,
  :func:`decide`, :func:`is_lockout`, :func:`jitter`.

A 429 without Retry-After raises ``session_audit.errors.RateLimitedError`` with ``lockout=True``.
"""

from session_audit.api.auth import LoginInfo, TokenLease
from session_audit.api.client import BatchSizeFinding, TradovateClient
from session_audit.api.counters import RunCounters
from session_audit.api.retry import Failure, FailureKind, RetryPolicy, decide, is_lockout, jitter

__all__ = [
    "BatchSizeFinding",
    "Failure",
    "FailureKind",
    "LoginInfo",
    "RetryPolicy",
    "RunCounters",
    "TokenLease",
    "TradovateClient",
    "decide",
    "is_lockout",
    "jitter",
]
