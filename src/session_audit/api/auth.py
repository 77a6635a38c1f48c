"""TokenManager: log in once, renew ahead of expiry, recover from a 401 once, single-flight.

* Login (``POST /auth/accesstokenrequest``) happens lazily on the first request. The API answers
  HTTP 200 in three shapes: ``errorText`` -> :class:`AuthError` naming the cause (the password
  and secret are scrubbed from it); a ``p-ticket`` -> wait ``p-time`` seconds with the injected
  sleep and resend the *same* body plus ``p-ticket`` (at most ``MAX_TICKETS`` rounds);
  ``p-captcha: true`` -> :class:`CaptchaRequiredError` at once (a person must log in).
* The first successful login is recorded as :class:`LoginInfo`: the API user id (``userId``) and
  the HTTP ``Date`` of that answer (the server's clock, aware UTC; None when absent). A later
  re-login does not replace it.
* Every login opens a user session on Tradovate (two at most), so the manager logs in once and
  then renews (``GET /auth/renewaccesstoken``). Renewal falls due when the remaining life drops
  below ``min(renew_margin, RENEW_FRACTION * lifetime)`` (but never later than ``use margin``
  before expiry, see below), so a short-lived token is not renewed before every request. Only when
  renewal is refused (the token already expired) does it log in again.
* A token is never sent with less than ``min(USE_MARGIN, USE_FRACTION * lifetime)`` seconds left.
* Token life is ``expirationTime - Date`` (the server's clock) or ``expirationTime - now`` (the
  injected clock), whichever is shorter among the believable ones (see :func:`_token_life`), so a
  local clock behind the server's cannot make a token look longer-lived than it is.
* :meth:`TokenManager.token` is the one way to get a token to send: it waits for a login or
  renewal in progress (one :class:`asyncio.Lock`) and the old token stays in place until its
  replacement is accepted, so no request ever reads a cleared token.
* After a 401 the caller hands back the token *generation* it used; under the same lock the first
  caller renews (or logs in again) and every other caller that saw the same old token simply
  reuses the new one (single-flight).

The token lives in a :class:`~pydantic.SecretStr` and is never logged or put in a message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx
import orjson
from pydantic import SecretStr, ValidationError

from session_audit.api.counters import RunCounters
from session_audit.api.models import AccessTokenRequest, AccessTokenResponse
from session_audit.api.retry import parse_http_date
from session_audit.errors import (
    ApiError,
    AuthError,
    CaptchaRequiredError,
    ConfigError,
    TokenExpiredError,
)
from session_audit.settings import Settings

LOGIN_PATH = "/auth/accesstokenrequest"
RENEW_PATH = "/auth/renewaccesstoken"
MAX_TICKETS = 5
# A token this close to its expiry is not sent; it is renewed first (capped at USE_FRACTION of
# the token's lifetime, so a token living 10 s is still usable for 9.5 s).
USE_MARGIN = 30.0
USE_FRACTION = 0.05
# Renewal is due ``min(renew_margin, RENEW_FRACTION * lifetime)`` before expiry.
RENEW_FRACTION = 0.15
# Used only when an answer lacks expirationTime: the shortest token life Tradovate documents.
DEFAULT_TOKEN_LIFE = 80 * 60.0
# A Date-based token life outside (0, this] is not believed (then expirationTime is compared with
# the injected clock, as without a Date header).
MAX_BELIEVED_LIFE = 2 * 86_400.0


@dataclass(frozen=True)
class LoginInfo:
    """What the first successful login of a client told: the API user (``userId``) and the
    answer's HTTP ``Date`` (the server's clock, aware UTC; None when absent or unparseable)."""

    user_id: int
    server_date: datetime | None


log = logging.getLogger("session_audit.api")


class Caller(Protocol):
    """The client's send path (budget + retry of 429/5xx/transport); returns any other answer."""

    def __call__(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        token: str | None = None,
    ) -> Awaitable[httpx.Response]: ...


def build_login_request(settings: Settings) -> AccessTokenRequest:
    """The login body from settings; a missing or over-long field is a ConfigError."""
    if not settings.username or not settings.password.get_secret_value():
        raise ConfigError(
            "no Tradovate credentials: set SESSION_AUDIT_USERNAME and SESSION_AUDIT_PASSWORD"
        )
    try:
        return AccessTokenRequest(
            name=settings.username,
            password=settings.password,
            app_id=settings.app_id,
            app_version=settings.app_version,
            device_id=settings.device_id,
            cid=settings.cid or None,
            sec=settings.secret if settings.secret.get_secret_value() else None,
        )
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in err["loc"]) for err in exc.errors())
        raise ConfigError(f"invalid login settings ({fields}): too long or malformed") from exc


def _token_life(expires: datetime | None, server_date: datetime | None, now: float) -> float:
    """Seconds the new token lives, from the answer's ``expirationTime``.

    Two estimates: ``expirationTime - Date`` (both the server's clock) and ``expirationTime -
    now`` (the injected clock). Each is believed only within ``(0, MAX_BELIEVED_LIFE]``; the
    shorter believed one wins (renewing early is harmless, late costs a 401 and a login). With
    neither, the documented minimum life is assumed and the disagreement is logged."""
    if expires is None:
        return DEFAULT_TOKEN_LIFE
    estimates = [expires.timestamp() - now]
    if server_date is not None:
        estimates.append((expires - server_date).total_seconds())
    believed = [life for life in estimates if 0 < life <= MAX_BELIEVED_LIFE]
    if believed:
        return min(believed)
    log.warning(
        "token expirationTime disagrees with both the local clock and the server's Date; "
        "assuming the token lives %.0f s",
        DEFAULT_TOKEN_LIFE,
    )
    return DEFAULT_TOKEN_LIFE


class TokenManager:
    """Holds the access token of one client."""

    def __init__(
        self,
        settings: Settings,
        call: Caller,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
        counters: RunCounters,
    ) -> None:
        self._settings = settings
        self._call = call
        self._clock = clock
        self._sleep = sleep
        self._counters = counters
        self._lock = asyncio.Lock()
        self._token: SecretStr | None = None
        self._expires_at = 0.0
        self._lifetime: float | None = None
        self._generation = 0
        self.user_id: int | None = None
        self.login_info: LoginInfo | None = None

    # ------------------------------------------------------------------ public
    @property
    def logged_in(self) -> bool:
        return self._token is not None

    @property
    def expires_at(self) -> float:
        """Expiry of the current token in injected-clock seconds (0 before login)."""
        return self._expires_at

    @property
    def lifetime(self) -> float | None:
        """Life of the current token when it was issued, in seconds (None before login)."""
        return self._lifetime

    def use_margin(self) -> float:
        """A token with less life left than this is not sent."""
        if self._lifetime is None:
            return USE_MARGIN
        return min(USE_MARGIN, USE_FRACTION * self._lifetime)

    def renew_margin(self) -> float:
        """Renewal falls due this long before expiry."""
        margin = self._settings.renew_margin
        if self._lifetime is not None:
            margin = min(margin, RENEW_FRACTION * self._lifetime)
        return max(margin, self.use_margin())

    async def token(self) -> tuple[str, int]:
        """A token fit to send now and its generation; logs in or renews first when needed,
        and waits for a login or renewal already in progress."""
        if self._token is None or self._renewal_due() or self._lock.locked():
            async with self._lock:
                if self._token is None:
                    await self._login()
                elif self._renewal_due():
                    await self._renew_or_login()
        assert self._token is not None
        return self._token.get_secret_value(), self._generation

    @property
    def renewal_due_at(self) -> float | None:
        """When the current token falls due for renewal (None before login)."""
        if self._token is None:
            return None
        return self._expires_at - self.renew_margin()

    async def keep_alive(self) -> None:
        """Renew now if due (a request waiting long for the budget calls this on time)."""
        if self._token is not None and self._renewal_due():
            async with self._lock:
                if self._token is not None and self._renewal_due():
                    await self._renew_or_login()

    def current(self) -> tuple[str, int]:
        """The current token even if it may have expired (the server's 401 then decides)."""
        if self._token is None:
            raise AuthError("not logged in")
        return self._token.get_secret_value(), self._generation

    async def recover(self, seen_generation: int) -> None:
        """After a 401 for the token of ``seen_generation``: renew or log in again, once."""
        async with self._lock:
            if self._generation != seen_generation and self._token is not None:
                return  # another request already replaced that token
            if self._token is None:
                await self._login()
            else:
                await self._renew_or_login()

    def scrub(self, text: str) -> str:
        """``text`` with the password, secret and current token masked."""
        secrets = [
            self._settings.password.get_secret_value(),
            self._settings.secret.get_secret_value(),
            self._token.get_secret_value() if self._token is not None else "",
        ]
        for secret in secrets:
            if secret:
                text = text.replace(secret, "***")
        return text

    # ----------------------------------------------------------------- private
    def _renewal_due(self) -> bool:
        due = self.renewal_due_at
        return due is not None and self._clock() >= due

    def _accept(self, answer: AccessTokenResponse, server_date: datetime | None) -> None:
        assert answer.access_token is not None
        now = self._clock()
        self._lifetime = _token_life(answer.expiration_time, server_date, now)
        self._expires_at = now + self._lifetime
        self._token = answer.access_token
        self._generation += 1
        if answer.user_id is not None:
            self.user_id = answer.user_id

    def _parse(self, response: httpx.Response, what: str) -> AccessTokenResponse:
        path = response.request.url.path
        if response.status_code != 200:
            raise AuthError(
                f"{what} failed: HTTP {response.status_code}",
                status=response.status_code,
                path=path,
            )
        try:
            return AccessTokenResponse.model_validate(orjson.loads(response.content))
        except (orjson.JSONDecodeError, ValidationError) as exc:
            raise ApiError(
                f"{what}: unexpected answer (not an access-token response)",
                status=response.status_code,
                path=path,
            ) from exc

    async def _login(self) -> None:
        request = build_login_request(self._settings)
        ticket: str | None = None
        for _round in range(MAX_TICKETS + 1):
            response = await self._call("POST", LOGIN_PATH, json=request.body(ticket))
            answer = self._parse(response, "login")
            if answer.error_text:
                raise AuthError(
                    f"login refused for user {request.name!r}: {self.scrub(answer.error_text)}",
                    status=200,
                    path=LOGIN_PATH,
                )
            if answer.p_captcha:
                raise CaptchaRequiredError(
                    "login throttled by Tradovate: captcha required; retry in about an hour",
                    status=200,
                    path=LOGIN_PATH,
                )
            if answer.p_ticket:
                wait = max(answer.p_time or 0.0, 0.0)
                log.warning("login throttled (p-ticket): waiting %.0f s before resending", wait)
                await self._sleep(wait)
                ticket = answer.p_ticket
                continue
            if answer.access_token is None or not answer.access_token.get_secret_value():
                raise AuthError("login answer carries no access token", status=200, path=LOGIN_PATH)
            if answer.user_id is None:
                raise ApiError(
                    "login answer carries no userId (not a Tradovate access-token response)",
                    status=200,
                    path=LOGIN_PATH,
                )
            server_date = parse_http_date(response.headers.get("Date"))
            self._accept(answer, server_date)
            if self.login_info is None:
                self.login_info = LoginInfo(user_id=answer.user_id, server_date=server_date)
            self._counters.logins += 1
            log.info(
                "logged in as user id %s; token valid for %.0f s",
                self.user_id,
                self._expires_at - self._clock(),
            )
            return
        raise AuthError(
            f"login throttled {MAX_TICKETS + 1} times in a row (p-ticket); retry later",
            status=200,
            path=LOGIN_PATH,
        )

    async def _renew_or_login(self) -> None:
        assert self._token is not None
        response = await self._call("GET", RENEW_PATH, token=self._token.get_secret_value())
        if response.status_code == 200:
            try:
                answer = AccessTokenResponse.model_validate(orjson.loads(response.content))
            except (orjson.JSONDecodeError, ValidationError):
                answer = None
            if answer is not None and answer.access_token and not answer.error_text:
                self._accept(answer, parse_http_date(response.headers.get("Date")))
                self._counters.renewals += 1
                log.info("token renewed; valid for %.0f s", self._expires_at - self._clock())
                return
        log.warning("token renewal refused (HTTP %s); logging in again", response.status_code)
        # The old token stays in place until the new one is accepted: a request that does not
        # wait for this lock sends it and meets a 401 (recovered), never a missing token.
        await self._login()


@dataclass(frozen=True)
class TokenLease:
    """An access token lent by one client to another (a worker process): the secret (masked in
    every repr), its expiry (injected-clock seconds), its generation (to recover it once
    after a 401), the token's lifetime (for the use margin) and the lender's
    :class:`LoginInfo`. Lending keeps one login per user however many workers fetch."""

    token: SecretStr
    expires_at: float
    generation: int
    lifetime: float | None = None
    login: LoginInfo | None = None


class BorrowedTokenManager(TokenManager):
    """A token manager holding a lent token: it never logs in and never renews. When the token
    is refused or runs out it raises :class:`TokenExpiredError`, and the lender recovers it."""

    def __init__(self, lease: TokenLease, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._token = lease.token
        self._expires_at = lease.expires_at
        self._generation = lease.generation
        self._lifetime = lease.lifetime
        self.login_info = lease.login
        self.user_id = lease.login.user_id if lease.login is not None else None

    def _renewal_due(self) -> bool:
        return self._clock() >= self._expires_at - self.use_margin()

    async def _login(self) -> None:
        raise TokenExpiredError(
            "the lent access token was refused or ran out; the lender renews it and resends "
            "the work",
            status=401,
        )

    async def _renew_or_login(self) -> None:
        await self._login()
