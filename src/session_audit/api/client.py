"""TradovateClient: the async client every part of session-audit uses to talk to the API.

One client = one login (renewed as needed), one :class:`RequestBudget`, one concurrency bound,
one :class:`RunCounters`. Use it as an async context manager::

    async with TradovateClient(settings) as client:
        pages = await client.session_item_pages(range(1, 501))

Batching of ``/userSession/items`` (and ``/userSessionStats/ldeps``): ids go comma separated in one
``ids=`` parameter, at most :attr:`TradovateClient.batch_size` per call, calls run concurrently (at
most ``settings.concurrency`` in flight) and pages come back in request order. The maximum number
of ids per call is undocumented, so when a multi-id call is rejected with 400/404/413/414 the
working size is halved, those ids are fetched again in smaller calls, and the smaller size is kept
for the rest of the client's life. A **single-id call answered 404 is taken as "no such id"** and
yields an empty page (the API leaves unknown ids out of a multi-id answer, and a one-id call has
nothing smaller to fall back to).

The client can start from a size remembered by an earlier run (``TradovateClient(...,
batch_size=n)``) and can look for a bigger one: :meth:`TradovateClient.discover_batch_size` doubles
the size with one real call per step until the API rejects a call (or ``cap``), refines between the
last accepted and the first rejected size with at most two more calls, and keeps the largest
accepted size (:class:`BatchSizeFinding`). :attr:`TradovateClient.smallest_rejected_size` and
:attr:`TradovateClient.forced_batch_size` tell what rejections taught during the client's life.

Rate limits. A 429 **without** Retry-After means the API locked the user out for up to an hour and
every request meanwhile extends the lockout: the client raises ``RateLimitedError(lockout=True)``
at once (no retry, no sleep) and every later request of the same client raises it again without
being sent (:attr:`TradovateClient.lockout`). A 429 with Retry-After is waited out (all concurrent
requests pause) and slows the client's pace down (AIMD, see :mod:`session_audit.api.budget`).

Per-request CPU. Without an injected transport, requests go over kept-alive HTTP/1.1 connections
on asyncio streams (:func:`session_audit.api.transport.build_transport`); a GET is built from a
URL parsed once per route, the client's headers with the current token (built once per token)
and its timeouts, then handed to the transport directly (:func:`session_audit.api.transport.send`).
The requests on the wire are those ``httpx.AsyncClient`` would send.

Login. :meth:`TradovateClient.login` logs in (once) and returns :class:`LoginInfo` (the API user id
and the server's ``Date``), also kept as :attr:`TradovateClient.login_info`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

import httpx
import msgspec
import orjson
from pydantic import SecretStr

from session_audit.api import transport
from session_audit.api.auth import BorrowedTokenManager, LoginInfo, TokenLease, TokenManager
from session_audit.api.budget import RequestBudget
from session_audit.api.counters import RunCounters
from session_audit.api.retry import (
    Failure,
    FailureKind,
    RetryPolicy,
    decide,
    is_lockout,
    jitter,
    parse_retry_after,
)
from session_audit.api.transport import build_transport
from session_audit.errors import (
    ApiError,
    AuthError,
    RateLimitedError,
    RequestRejectedError,
    ServerError,
    TokenExpiredError,
    TransportError,
)
from session_audit.settings import Settings

SESSION_ITEMS_PATH = "/userSession/items"
USER_LIST_PATH = "/user/list"
STATS_LDEPS_PATH = "/userSessionStats/ldeps"
SHRINK_STATUSES = frozenset({400, 404, 413, 414})
EMPTY_PAGE = b"[]"
DISCOVERY_CAP = 1000
DISCOVERY_REFINE_CALLS = 2
T = TypeVar("T")

log = logging.getLogger("session_audit.api")


def _quiet_http_loggers() -> None:
    """httpcore's DEBUG trace prints raw response headers; keep it at INFO unless configured.

    httpx itself logs method, URL and status only; our URLs never carry a credential or token.
    """
    for name in ("httpcore",):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)


@dataclass(frozen=True)
class BatchSizeFinding:
    """What :meth:`TradovateClient.discover_batch_size` found: the size now in use (the largest
    accepted), the smallest size the API rejected (None: nothing was rejected up to the cap), and
    the HTTP requests the discovery sent (retries included; a first login not)."""

    size: int
    rejected_at: int | None
    requests: int


class TradovateClient:
    """Async client of the Tradovate REST API (async context manager)."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        counters: RunCounters | None = None,
        rng: random.Random | None = None,
        token_lease: TokenLease | None = None,
        batch_size: int | None = None,
    ) -> None:
        """``token_lease``: use a token lent by another client (see :meth:`lend_token`) instead
        of logging in; such a client never logs in or renews. ``batch_size``: start with this
        many ids per ``userSession/items`` call instead of ``settings.batch_size`` (e.g. a size
        an earlier run found)."""
        _quiet_http_loggers()
        if batch_size is not None and batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.settings = settings
        self.counters = counters if counters is not None else RunCounters()
        self.batch_size = batch_size if batch_size is not None else settings.batch_size
        self.smallest_rejected_size: int | None = None
        self.forced_batch_size: int | None = None
        self.lockout: RateLimitedError | None = None
        self._stats_batch_size = settings.batch_size
        self._sleep = sleep
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._policy = RetryPolicy.from_settings(settings)
        https = settings.base_url.startswith("https://")
        if transport is None:
            # HTTP/1.1 keep-alive on asyncio streams (see api/netio.py): same TLS checks.
            transport = build_transport(verify=https)
        self._http = httpx.AsyncClient(
            base_url=settings.base_url,
            transport=transport,
            timeout=settings.timeout,
            headers={"Accept": "application/json"},
            follow_redirects=False,
            # TLS verification is always on for https. A plain-http base URL (the simulator on
            # 127.0.0.1) never opens TLS (no redirects are followed), so it skips building an SSL
            # context, which costs about 0.3 s per client.
            verify=https,
        )
        self._route_urls: dict[str, httpx.URL] = {}  # path -> parsed absolute URL (see _url)
        # Per request, built once: the timeout extension, the headers with the current token.
        self._extensions = {"timeout": self._http.timeout.as_dict()}
        self._token_headers: tuple[str, httpx.Headers] | None = None
        self._inflight = asyncio.Semaphore(settings.concurrency)
        self._budget = RequestBudget(
            requests_per_hour=settings.requests_per_hour,
            requests_per_second=settings.requests_per_second,
            clock=clock,
            sleep=sleep,
            on_wait=self._count_budget_wait,
            chore_at=lambda: self._auth.renewal_due_at,
            chore=lambda: self._auth.keep_alive(),
        )
        self._auth: TokenManager
        if token_lease is None:
            self._auth = TokenManager(
                settings, self._auth_call, clock=clock, sleep=sleep, counters=self.counters
            )
        else:
            self._auth = BorrowedTokenManager(
                token_lease,
                settings,
                self._auth_call,
                clock=clock,
                sleep=sleep,
                counters=self.counters,
            )

    # ------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> TradovateClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def budget(self) -> RequestBudget:
        return self._budget

    @property
    def token_expires_at(self) -> float:
        """Expiry of the current token (injected-clock seconds; 0 before login)."""
        return self._auth.expires_at

    @property
    def login_info(self) -> LoginInfo | None:
        """The first successful login of this client (API user id, server ``Date``); None before
        it. A client on a lent token has its lender's."""
        return self._auth.login_info

    async def lend_token(self) -> TokenLease:
        """Log in (first call) or renew when due, then lend the token to a worker's client
        (``TradovateClient(..., token_lease=lease)``), so workers never log in themselves."""
        token, generation = await self._auth.token()
        return TokenLease(
            SecretStr(token),
            self._auth.expires_at,
            generation,
            lifetime=self._auth.lifetime,
            login=self._auth.login_info,
        )

    async def recover_token(self, lease: TokenLease) -> None:
        """After a borrower saw ``lease`` refused: renew (or log in again) once, single-flight."""
        await self._auth.recover(lease.generation)

    # ------------------------------------------------------------ endpoints
    async def login(self) -> LoginInfo:
        """Log in now (otherwise the first request does) and return what the first login told.
        No request when already logged in."""
        self._raise_if_locked_out()
        await self._auth.token()
        info = self._auth.login_info
        if info is None:  # a client on a lease from a lender that never logged in
            raise AuthError("no login information: the lent token carries none")
        return info

    async def discover_batch_size(
        self, start_id: int, *, cap: int = DISCOVERY_CAP
    ) -> BatchSizeFinding:
        """Find how many ids one ``userSession/items`` call may carry, with a few real calls.

        From the current :attr:`batch_size`, double (100 -> 200 -> 400 -> 800 -> ``cap``), one
        call over ids ``[start_id, start_id + size)`` per step (the answers are discarded), until
        a call is rejected (400/404/413/414) or ``cap`` is accepted. If the starting size itself
        is rejected, halve until a call is accepted. Then at most ``DISCOVERY_REFINE_CALLS`` more
        calls bisect between the largest accepted and the smallest rejected size. Sets and
        returns the largest accepted size; other errors (429 lockout, 5xx given up) propagate.
        """
        if cap < 1:
            raise ValueError("cap must be >= 1")
        await self.login()
        sent_before = self.counters.requests
        size = min(self.batch_size, cap)
        accepted: int | None = None
        rejected: int | None = None
        while True:
            if await self._probe(start_id, size):
                accepted = size
                if rejected is not None or size >= cap:
                    break
                size = min(size * 2, cap)
            else:
                rejected = size
                if accepted is not None or size == 1:
                    break
                size = max(1, size // 2)
        best = accepted if accepted is not None else 1
        if rejected is not None:
            for _ in range(DISCOVERY_REFINE_CALLS):
                if rejected - best <= 1:
                    break
                middle = (best + rejected) // 2
                if await self._probe(start_id, middle):
                    best = middle
                else:
                    rejected = middle
        if best != self.batch_size:
            self.counters.batch_size_changes += 1
            log.info("ids per userSession/items call: %d -> %d (discovered)", self.batch_size, best)
        self.batch_size = best
        return BatchSizeFinding(
            size=best, rejected_at=rejected, requests=self.counters.requests - sent_before
        )

    async def _probe(self, start_id: int, size: int) -> bool:
        """One discovery call over ``size`` ids from ``start_id``: accepted (True) or rejected
        for its length (False). The answer is read and dropped."""
        ids = ",".join(map(str, range(start_id, start_id + size)))
        response = await self._get(f"{SESSION_ITEMS_PATH}?ids={ids}")
        if response.is_success:
            self._checked_page(response)
            return True
        if response.status_code in SHRINK_STATUSES and size > 1:
            self._note_rejected(size)
            log.info(
                "%s rejected a %d-id call (HTTP %d) during discovery",
                SESSION_ITEMS_PATH,
                size,
                response.status_code,
            )
            return False
        raise self._rejected(response)

    def _note_rejected(self, size: int) -> None:
        if self.smallest_rejected_size is None or size < self.smallest_rejected_size:
            self.smallest_rejected_size = size

    async def session_item_pages(self, ids: Sequence[int]) -> list[bytes]:
        """Raw JSON arrays of ``/userSession/items``, one per call, in request order."""
        pages = await self._batched(SESSION_ITEMS_PATH, "ids", list(map(int, ids)), stats=False)
        return pages

    async def session_items(self, ids: Sequence[int]) -> list[dict[str, Any]]:
        """The sessions the API has among ``ids`` (unknown ids are simply absent)."""
        return _concat(await self.session_item_pages(ids))

    async def users(self) -> list[dict[str, Any]]:
        """Every user of ``/user/list``."""
        response = await self._get(USER_LIST_PATH)
        if not response.is_success:
            raise self._rejected(response)
        return _concat([self._checked_page(response)])

    async def user_session_stats(self, user_ids: Sequence[int]) -> list[dict[str, Any]]:
        """``/userSessionStats/ldeps?masterids=...`` for ``user_ids``, batched."""
        ids = [int(i) for i in user_ids]
        return _concat(await self._batched(STATS_LDEPS_PATH, "masterids", ids, stats=True))

    # -------------------------------------------------------------- batching
    async def _batched(self, path: str, param: str, ids: list[int], *, stats: bool) -> list[bytes]:
        if not ids:
            return []
        size = self._stats_batch_size if stats else self.batch_size
        return await self._split(path, param, ids, size, stats=stats)

    async def _chunk(self, path: str, param: str, ids: list[int], *, stats: bool) -> list[bytes]:
        size = self._stats_batch_size if stats else self.batch_size
        if len(ids) > size:  # the working size shrank while this chunk waited
            return await self._split(path, param, ids, size, stats=stats)
        query = f"{path}?{param}=" + ",".join(map(str, ids))
        response = await self._get(query)
        if response.is_success:
            page = self._checked_page(response)
            if not stats:
                self.counters.rows += _count_rows(page)
            return [page]
        status = response.status_code
        if status in SHRINK_STATUSES and len(ids) > 1:
            if not stats:
                self._note_rejected(len(ids))
            new_size = max(1, len(ids) // 2)
            self._shrink(len(ids), new_size, status=status, path=path, stats=stats)
            return await self._split(path, param, ids, new_size, stats=stats)
        if status == 404 and len(ids) == 1:
            return [EMPTY_PAGE]
        raise self._rejected(response)

    async def _split(
        self, path: str, param: str, ids: list[int], size: int, *, stats: bool
    ) -> list[bytes]:
        parts = [ids[i : i + size] for i in range(0, len(ids), size)]
        results = await _all_or_first_error(
            [self._chunk(path, param, part, stats=stats) for part in parts]
        )
        return [page for pages in results for page in pages]

    def _shrink(self, rejected: int, new_size: int, *, status: int, path: str, stats: bool) -> None:
        current = self._stats_batch_size if stats else self.batch_size
        if new_size >= current:
            return
        if stats:
            self._stats_batch_size = new_size
        else:
            self.batch_size = new_size
            if self.forced_batch_size is None or new_size < self.forced_batch_size:
                self.forced_batch_size = new_size
        self.counters.batch_size_changes += 1
        log.warning(
            "%s rejected a %d-id call (HTTP %d): ids per call now %d",
            path,
            rejected,
            status,
            new_size,
        )

    def _checked_page(self, response: httpx.Response) -> bytes:
        page = response.content
        stripped = page.strip()
        if not (stripped.startswith(b"[") and stripped.endswith(b"]")):
            raise ApiError(
                f"{response.request.url.path}: answer is not a JSON array",
                status=response.status_code,
                path=response.request.url.path,
            )
        return page

    def _rejected(self, response: httpx.Response) -> RequestRejectedError:
        path = response.request.url.path
        detail = self._auth.scrub(response.text.strip()[:200])
        return RequestRejectedError(
            f"{response.request.method} {path} rejected: HTTP {response.status_code}"
            + (f": {detail}" if detail else ""),
            status=response.status_code,
            path=path,
        )

    # ------------------------------------------------------------ send path
    async def _get(self, path: str) -> httpx.Response:
        """GET with the token; on 401 renew (or log in again) once and replay.

        Returns 2xx and 4xx answers other than 401; raises for the rest.
        """
        response, generation = await self._call("GET", path, authed=True)
        if response.status_code != 401:
            return response
        log.info("GET %s: 401, renewing the token and replaying once", response.request.url.path)
        self.counters.add_retry("unauthorized")
        await self._auth.recover(generation)
        response, _ = await self._call("GET", path, authed=True)
        if response.status_code == 401:
            raise TokenExpiredError(
                f"GET {response.request.url.path}: token refused after renewal/login (HTTP 401)",
                status=401,
                path=response.request.url.path,
            )
        return response

    async def _auth_call(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        token: str | None = None,
    ) -> httpx.Response:
        """The send path of the TokenManager (login, renewal): budget and retries, no token
        management of its own."""
        response, _ = await self._call(method, path, json=json, bearer=token, reserved=True)
        return response

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        bearer: str | None = None,
        authed: bool = False,
        reserved: bool = False,
    ) -> tuple[httpx.Response, int]:
        """One logical request through the budget with the retry policy for 429, 5xx and
        transport failures. Returns every other answer (2xx, 401, other 4xx) to the caller,
        with the token generation used (``authed``: the client's own token, fetched *after*
        the budget admitted the attempt, so a long budget wait cannot send an expired token).
        """
        attempt = 0
        generation = 0
        while True:
            self._raise_if_locked_out()
            if authed:
                await self._auth.token()  # log in or renew ahead of expiry, holding nothing
            headers = self._bearer_headers(bearer) if bearer else None
            request: httpx.Request | None = None
            try:
                # Auth calls skip the concurrency bound: a request holding a slot may be the one
                # waiting for the renewal (a deadlock otherwise). They are rare and sequential.
                async with contextlib.nullcontext() if reserved else self._inflight:
                    await self._budget.acquire(reserved=reserved)
                    self._raise_if_locked_out()  # another request met a lockout meanwhile
                    if authed:
                        # After a budget wait the token may be due: renew now, or wait for the
                        # renewal another request started (never read a half-replaced token).
                        token, generation = await self._auth.token()
                        headers = self._bearer_headers(token)
                    attempt += 1
                    request = self._request(method, path, json, headers)
                    self.counters.requests += 1
                    response = await transport.send(self._http, request)
            except transport.TransportFailure as exc:
                if exc.kind is None:
                    raise
                delay = decide(Failure(exc.kind), attempt, policy=self._policy)
                if delay is None:
                    raise TransportError(
                        f"{exc} (gave up after {attempt} attempts)", path=exc.path
                    ) from exc
                what = f"{method} {exc.path}"
                await self._retry_wait(exc.kind, what, attempt, jitter(delay, self._rng))
                continue

            self.counters.bytes_received += len(response.content)
            status = response.status_code
            if status < 400:
                self._budget.record_success()
                return response, generation
            what = f"{method} {request.url.path}"
            if status == 429:
                retry_after = parse_retry_after(
                    response.headers.get("Retry-After"), now=self._clock()
                )
                failure = Failure(FailureKind.RATE_LIMITED, status, retry_after)
                if is_lockout(failure):
                    self.counters.lockouts += 1
                    self.lockout = RateLimitedError(
                        f"{what}: HTTP 429 without Retry-After: the API locked user "
                        f"{self.settings.username!r} out for up to an hour (every request "
                        "meanwhile extends it); stopped without retrying, the next run resumes "
                        "where this one stopped",
                        path=request.url.path,
                        lockout=True,
                    )
                    log.error("%s", self.lockout)
                    raise self.lockout
                if self._budget.slow_down():
                    self.counters.rate_decreases += 1
                    log.warning(
                        "%s: 429 with Retry-After; pacing down to %.2f requests/s",
                        what,
                        self._budget.rate,
                    )
                delay = decide(failure, attempt, policy=self._policy)
                if delay is None:
                    raise RateLimitedError(
                        f"{what}: HTTP 429 rate limited (gave up after {attempt} attempts"
                        + (f"; server asks to wait {retry_after:.0f} s" if retry_after else "")
                        + ")",
                        path=request.url.path,
                        retry_after=retry_after,
                    )
                delay = jitter(delay, self._rng)
                self.counters.penalty_waits += 1
                self.counters.penalty_wait_seconds += delay
                self._budget.pause_until(self._clock() + delay)
                await self._retry_wait(FailureKind.RATE_LIMITED, what, attempt, delay)
                continue
            if status >= 500:
                delay = decide(Failure(FailureKind.SERVER, status), attempt, policy=self._policy)
                if delay is None:
                    body = self._auth.scrub(response.text.strip()[:200])
                    raise ServerError(
                        f"{what}: HTTP {status} (gave up after {attempt} attempts): {body}",
                        status=status,
                        path=request.url.path,
                    )
                await self._retry_wait(FailureKind.SERVER, what, attempt, jitter(delay, self._rng))
                continue
            self._budget.record_success()
            return response, generation

    def _request(
        self,
        method: str,
        path: str,
        json: dict[str, Any] | None,
        headers: httpx.Headers | None,
    ) -> httpx.Request:
        """The request of one attempt. A GET is built directly from its parsed URL, the client's
        headers (with the token) and timeouts, which is what ``AsyncClient.build_request`` makes
        of it; a body (login, renewal) or cookies in the jar go through ``build_request``."""
        url = self._url(path)
        if json is None and not self._http.cookies:
            return httpx.Request(
                method,
                url,
                headers=headers if headers is not None else self._http.headers,
                extensions=self._extensions,
            )
        return self._http.build_request(method, url, json=json, headers=headers)

    def _bearer_headers(self, token: str) -> httpx.Headers:
        """The client's headers plus ``Authorization: Bearer <token>``, built once per token."""
        cached = self._token_headers
        if cached is not None and cached[0] == token:
            return cached[1]
        headers = httpx.Headers(self._http.headers)
        headers["Authorization"] = f"Bearer {token}"
        self._token_headers = (token, headers)
        return headers

    def _url(self, path: str) -> httpx.URL:
        """The absolute URL of ``path`` (relative to the base URL, with an optional query).

        A route's URL is parsed once and kept; a URL with a query is parsed by httpx in full
        (about 70 us for a 100-id ``ids=`` list), which percent-encodes what needs it."""
        route, sep, query = path.partition("?")
        base = self._route_urls.get(route)
        if base is None:
            base = self._route_urls[route] = httpx.URL(self.settings.base_url + route)
        if not sep:
            return base
        return httpx.URL(f"{base}?{query}")

    def _raise_if_locked_out(self) -> None:
        if self.lockout is not None:
            raise RateLimitedError(
                str(self.lockout), path=self.lockout.path, retry_after=None, lockout=True
            )

    async def _retry_wait(self, kind: FailureKind, what: str, attempt: int, delay: float) -> None:
        self.counters.add_retry(kind.value)
        log.warning(
            "%s: %s, attempt %d/%d; retrying in %.1f s",
            what,
            kind.value,
            attempt,
            self._policy.max_attempts,
            delay,
        )
        await self._sleep(delay)

    def _count_budget_wait(self) -> None:
        self.counters.budget_waits += 1


async def _all_or_first_error(coros: list[Coroutine[Any, Any, T]]) -> list[T]:
    """Run ``coros`` concurrently; results in order. On a failure the others are cancelled and
    the first error is raised as itself (not wrapped in an ExceptionGroup)."""
    if len(coros) == 1:
        return [await coros[0]]
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(coro) for coro in coros]
    except BaseExceptionGroup as errors:
        first: BaseException = errors
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from first.__cause__
    return [task.result() for task in tasks]


# A JSON array whose elements are skipped, not built: counting a page's objects costs about a
# third of parsing it (normalize parses it once, later).
_RAW_ARRAY = msgspec.json.Decoder(list[msgspec.Raw])


def _count_rows(page: bytes) -> int:
    """Elements of a ``userSession/items`` page (a JSON array, checked by ``_checked_page``).
    Anything msgspec cannot read as an array goes through orjson, which decides as before."""
    try:
        return len(_RAW_ARRAY.decode(page))
    except msgspec.DecodeError:
        pass
    try:
        rows = orjson.loads(page)
    except orjson.JSONDecodeError as exc:
        raise ApiError("userSession/items answer is not valid JSON") from exc
    return len(rows) if isinstance(rows, list) else 0


def _concat(pages: Sequence[bytes]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for page in pages:
        try:
            data = orjson.loads(page)
        except orjson.JSONDecodeError as exc:
            raise ApiError("answer is not valid JSON") from exc
        if not isinstance(data, list):
            raise ApiError("answer is not a JSON array")
        rows.extend(item for item in data if isinstance(item, dict))
    return rows
