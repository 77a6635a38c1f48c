"""One login per user, lent to every worker: the driver logs in and renews, workers borrow.

Tradovate allows two concurrent user sessions per user and a third login revokes the oldest, so
Dask workers must not log in on their own. The driving process (the one holding the DuckDB
writer) owns the only login: before it dispatches a chunk it makes sure its token has at least
``renew_margin`` seconds left (renewing it centrally, single-flight, when due) and hands the
token to the worker as a :class:`TokenLease`. A worker's client uses the lease as is and never
logs in or renews: if the token is refused (401) or runs out, the chunk fails with
:class:`~session_audit.errors.TokenExpiredError` and the driver recovers the token once and
sends the chunk again.

This module is the only place that reaches into the client's token manager (``client._auth``):
``TradovateClient`` has no public seam to read or inject a token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from session_audit.api.auth import USE_MARGIN, TokenManager
from session_audit.errors import TokenExpiredError


@dataclass(frozen=True)
class TokenLease:
    """An access token lent by the driver: the secret (masked in every repr), its expiry
    (epoch seconds) and its generation (to recover it once after a 401)."""

    token: SecretStr
    expires_at: float
    generation: int


async def lend_token(client: Any) -> TokenLease:
    """Log the driver's client in (first call) or renew its token when due, then lend it."""
    await client.login()
    token, generation = client._auth.current()
    return TokenLease(SecretStr(token), float(client.token_expires_at), int(generation))


async def recover_token(client: Any, lease: TokenLease) -> None:
    """After a worker saw ``lease`` refused: renew (or log in again) once, single-flight."""
    await client._auth.recover(lease.generation)


class BorrowedTokenManager(TokenManager):
    """A token manager holding a lent token: it never logs in and never renews."""

    def __init__(self, lease: TokenLease, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._token = lease.token
        self._expires_at = lease.expires_at
        self._generation = lease.generation

    def _renewal_due(self) -> bool:
        return self._clock() >= self._expires_at - USE_MARGIN

    async def _login(self) -> None:
        raise TokenExpiredError(
            "the lent access token was refused or ran out; the driver renews it and resends "
            "the chunk",
            status=401,
        )

    async def _renew_or_login(self) -> None:
        await self._login()


def borrow_token(client: Any, lease: TokenLease) -> None:
    """Make a freshly built worker ``TradovateClient`` use ``lease`` instead of logging in."""
    old: TokenManager = client._auth
    client._auth = BorrowedTokenManager(
        lease,
        old._settings,
        old._call,
        clock=old._clock,
        sleep=old._sleep,
        counters=old._counters,
    )
