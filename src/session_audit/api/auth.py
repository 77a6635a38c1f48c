"""TokenManager: log in once, renew ahead of expiry, recover from a 401 once, single-flight.

* Login (``POST /auth/accesstokenrequest``) happens lazily on the first request. The API answers
  HTTP 200 in three shapes: ``errorText`` -> :class:`AuthError` naming the cause (the password
  and secret are scrubbed from it); a ``p-ticket`` -> wait ``p-time`` seconds with the injected
  sleep and resend the *same* body plus ``p-ticket`` (at most ``MAX_TICKETS`` rounds);
  ``p-captcha: true`` -> :class:`CaptchaRequiredError` at once (a person must log in).
* Every login opens a user session on Tradovate (two at most), so the manager logs in once and
  then renews: ``GET /auth/renewaccesstoken`` when the injected clock reaches
  ``expirationTime - renew_margin``. Only when renewal is refused (the token already expired)
  does it log in again.
* After a 401 the caller hands back the token *generation* it used; under one
  :class:`asyncio.Lock` the first caller renews (or logs in again) and every other caller that saw
  the same old token simply reuses the new one (single-flight).

The token lives in a :class:`~pydantic.SecretStr` and is never logged or put in a message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import orjson
from pydantic import SecretStr, ValidationError

from session_audit.api.counters import RunCounters
from session_audit.api.models import AccessTokenRequest, AccessTokenResponse
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
# A token this close to its expirationTime is not sent; it is renewed first.
USE_MARGIN = 30.0
# Used only when an answer lacks expirationTime: the shortest token life Tradovate documents.
DEFAULT_TOKEN_LIFE = 80 * 60.0

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
        self._generation = 0
        self.user_id: int | None = None

    # ------------------------------------------------------------------ public
    @property
    def logged_in(self) -> bool:
        return self._token is not None

    @property
    def expires_at(self) -> float:
        """Expiry of the current token in injected-clock seconds (0 before login)."""
        return self._expires_at

    async def token(self) -> tuple[str, int]:
        """A token fit to send now and its generation; logs in or renews first when needed."""
        if self._token is None or self._renewal_due():
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
        return self._expires_at - max(self._settings.renew_margin, USE_MARGIN)

    async def keep_alive(self) -> None:
        """Renew now if due (a request waiting long for the budget calls this on time)."""
        if self._token is not None and self._renewal_due():
            async with self._lock:
                if self._token is not None and self._renewal_due():
                    await self._renew_or_login()

    def usable(self) -> tuple[str, int] | None:
        """The current token and its generation if it is still valid for ``USE_MARGIN``
        seconds (renewal may be due but need not have happened), else None."""
        if self._token is None or self._clock() >= self._expires_at - USE_MARGIN:
            return None
        return self._token.get_secret_value(), self._generation

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

    def _accept(self, answer: AccessTokenResponse) -> None:
        assert answer.access_token is not None
        self._token = answer.access_token
        if answer.expiration_time is not None:
            self._expires_at = answer.expiration_time.timestamp()
        else:
            self._expires_at = self._clock() + DEFAULT_TOKEN_LIFE
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
            self._accept(answer)
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
                self._accept(answer)
                self._counters.renewals += 1
                log.info("token renewed; valid for %.0f s", self._expires_at - self._clock())
                return
        log.warning("token renewal refused (HTTP %s); logging in again", response.status_code)
        self._token = None
        await self._login()


@dataclass(frozen=True)
class TokenLease:
    """An access token lent by one client to another (a worker process): the secret (masked in
    every repr), its expiry (injected-clock seconds) and its generation (to recover it once
    after a 401). Lending keeps one login per user however many workers fetch."""

    token: SecretStr
    expires_at: float
    generation: int


class BorrowedTokenManager(TokenManager):
    """A token manager holding a lent token: it never logs in and never renews. When the token
    is refused or runs out it raises :class:`TokenExpiredError`, and the lender recovers it."""

    def __init__(self, lease: TokenLease, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._token = lease.token
        self._expires_at = lease.expires_at
        self._generation = lease.generation

    def _renewal_due(self) -> bool:
        return self._clock() >= self._expires_at - USE_MARGIN

    async def _login(self) -> None:
        raise TokenExpiredError(
            "the lent access token was refused or ran out; the lender renews it and resends "
            "the work",
            status=401,
        )

    async def _renew_or_login(self) -> None:
        await self._login()
