"""The Simulator: seeded data + auth + faults + limits behind a Starlette ASGI app under /v1.

Two clocks: ``clock`` (wall time by default) drives tokens, throttling and rate limits; the API
clock is the data's present ``now_ms``, moved only by ``advance``. Every response carries the API
clock as its HTTP ``Date`` header. Each successful login opens a visible session of the API user
(id = the next global id, startTime = the API clock) that closes when its user session is revoked
or when ``advance`` passes its token's expiry (data time, renewals extend it).
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from session_audit.simulator.auth import AuthState, TokenInfo
from session_audit.simulator.config import SimulatorConfig
from session_audit.simulator.faults import Fault, FaultPlan
from session_audit.simulator.generator import SessionGenerator
from session_audit.simulator.malformed import add_malformed
from session_audit.simulator.planted import Planted, plant_findings
from session_audit.simulator.ratelimit import PER_SECOND_RETRY_AFTER, PerSecondLimit, UserRateLimit
from session_audit.simulator.stats import SimulatorStats
from session_audit.simulator.table import App, SessionTable
from session_audit.simulator.timefmt import iso_ms
from session_audit.simulator.users import generate_population

PREFIX = "/v1"
IN_PROCESS_BASE_URL = "http://simulator.invalid/v1"

Handler = Callable[[Request], Awaitable[Response]]


def _json(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json")


def _text(body: str, status: int) -> Response:
    return Response(body, status_code=status, media_type="text/plain")


def _unauthorized() -> Response:
    return _text("Access is denied", 401)


def _too_many(retry_after: str | None = None) -> Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else None
    return Response(b"", status_code=429, headers=headers)


def _bearer(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def http_date(epoch_ms: int) -> str:
    """``1782898212345`` -> ``"Wed, 01 Jul 2026 09:30:12 GMT"`` (seconds; ms dropped)."""
    return format_datetime(datetime.fromtimestamp(epoch_ms // 1000, UTC), usegmt=True)


def _int_like(value: Any) -> int | None:
    """``8`` or ``"8"`` -> 8; anything else -> None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _login_app(body: dict[str, Any]) -> App:
    """The (clientAppId, appId, appVersion) a login's session records from its body."""
    app_id, version = body.get("appId"), body.get("appVersion")
    return (
        _int_like(body.get("cid")),
        app_id if isinstance(app_id, str) else None,
        version if isinstance(version, str) else None,
    )


def _id_list(raw: str | None) -> list[int] | None:
    """``"1,2,3"`` -> [1, 2, 3]; None if absent or not integers (answer 400)."""
    if raw is None:
        return None
    try:
        return [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        return None


class Simulator:
    """A faithful in-process model of the Tradovate endpoints session-audit uses."""

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config = config or SimulatorConfig()
        self.clock = clock
        self.sleep = sleep
        self.credentials = config.credentials
        self.base_url = IN_PROCESS_BASE_URL
        now_ms = (
            round(config.now.timestamp() * 1000)
            if config.now is not None
            else int(clock() // 60) * 60_000
        )
        rng = random.Random(config.seed)
        self._population = generate_population(
            rng,
            config.users,
            username=config.credentials.username,
            created_before_ms=now_ms - config.span_days * 86_400_000,
        )
        self._generator = SessionGenerator(
            rng,
            self._population,
            now_ms=now_ms,
            span_days=config.span_days,
            open_fraction=config.open_fraction,
            foreign_share=config.foreign_share,
            quiet_ids=config.quiet_ids if config.foreign_share > 0 else 0,
            tool_app=(_int_like(config.credentials.cid), "session-audit", "0.1.0"),
        )
        self._generator.initial(config.sessions)
        self.api_user_id = int(self._population.users[0]["id"])
        hidden = set(config.withheld_users)
        if config.hide_own_sessions:
            hidden.add(self.api_user_id)
        self._generator.table.hidden_users = frozenset(hidden)
        self._login_rows: dict[int, int] = {}  # auth user-session number -> table row
        self.malformed_ids: dict[str, list[int]] = (
            add_malformed(rng, self._generator.table) if config.malformed else {}
        )
        self.planted: Planted | None = (
            plant_findings(self._population, self._generator, self.malformed_ids)
            if config.plant_findings
            else None
        )
        self._failed_passwords = {
            uid: (rng.randint(1, 6) if rng.random() < 0.1 else 0)
            for uid in self._population.user_ids
        }
        self._user_list = orjson.dumps(self._population.users)
        self._created = {int(u["id"]): str(u["timestamp"]) for u in self._population.users}
        self._last_starts: dict[int, int] | None = None

        self.stats = SimulatorStats()
        # The data may be advanced from another thread while a background server answers.
        self._lock = threading.RLock()
        self.auth = AuthState(
            config.credentials,
            account=self._population.users[0],
            token_ttl=config.token_ttl,
            p_ticket_logins=config.p_ticket_logins,
            p_time=config.p_time,
            captcha=config.captcha,
            clock=clock,
            on_revoke=self._login_revoked,
        )
        self.faults = FaultPlan(config.fault_rate, config.seed)
        self.rate_limit = UserRateLimit(config.rate_limit_per_hour, config.lockout_seconds)
        self.per_second = PerSecondLimit(config.rate_limit_per_second)
        self.app: ASGIApp = _Instrumented(self._build_app(), self)

    # -- public controls ----------------------------------------------------------------------
    @property
    def table(self) -> SessionTable:
        """The session store (read-only use: tests, benchmarks)."""
        return self._generator.table

    @property
    def now_ms(self) -> int:
        """The data's present (epoch ms): sessions start before it; ``advance`` moves it."""
        return self._generator.now_ms

    @property
    def max_session_id(self) -> int | None:
        """The highest session id the API serves (hidden sessions left out)."""
        return self._generator.table.max_visible_id

    def transport(self) -> httpx.ASGITransport:
        """An in-process httpx transport bound to the app (no sockets)."""
        return httpx.ASGITransport(app=self.app)

    def truth_sessions(self) -> list[dict[str, Any]]:
        """Every session ``userSession/items`` serves now, exactly as served (malformed rows
        included; hidden ones — ``hide_own_sessions``, ``withheld_users`` — left out)."""
        with self._lock:
            table = self._generator.table
            return [table.as_dict(row) for row in table.visible_rows()]

    def all_sessions(self) -> list[dict[str, Any]]:
        """Every session, visible or hidden, in id order (as it would be served)."""
        with self._lock:
            table = self._generator.table
            return [table.as_dict(row) for row in range(len(table))]

    def truth_open_ids(self) -> list[int]:
        """Ids of the visible sessions still open now (``endTime`` absent or null)."""
        with self._lock:
            table = self._generator.table
            return sorted(table.ids[row] for row in table.open_rows if table.visible(row))

    def truth_users(self) -> list[dict[str, Any]]:
        users: list[dict[str, Any]] = orjson.loads(self._user_list)
        return users

    def advance(self, seconds: float) -> None:
        """Time passes in the data: open sessions close, new ones arrive after the highest id."""
        with self._lock:
            self._generator.advance(seconds)
            self._last_starts = None

    def foreign_activity(self, n_ids: int) -> None:
        """Other firms take the next ``n_ids`` ids of the global sequence now (a quiet stretch
        on demand: ``sim.foreign_activity(60_000); sim.advance(3600)``)."""
        if n_ids < 0:
            raise ValueError("n_ids must be >= 0")
        with self._lock:
            self._generator.skip_foreign(n_ids)

    def _login_revoked(self, number: int) -> None:
        """The auth side ended user session ``number``: its session row ends now."""
        row = self._login_rows.pop(number, None)
        if row is not None:
            with self._lock:
                self._generator.close_login(row)

    def _open_login_session(self, request: Request, body: dict[str, Any], token: str) -> None:
        info = self.auth.check(token)
        if info is None:  # a token that is born expired (token_ttl <= 0 is refused by config)
            return
        host = request.client.host if request.client is not None else ""
        with self._lock:
            row = self._generator.open_login(
                host or "127.0.0.1", _login_app(body), self._token_expiry_ms()
            )
            self._login_rows[info.session] = row
            if self._last_starts is not None:
                self._last_starts[self.api_user_id] = self.now_ms

    def _token_expiry_ms(self) -> int:
        """When a token issued now expires on the API clock (data time)."""
        return self.now_ms + round(self.config.token_ttl * 1000)

    def reset_stats(self) -> None:
        """Start the request counters afresh (e.g. after a warm-up)."""
        self.stats = SimulatorStats()

    def expire_tokens(self) -> None:
        """Every token issued so far is expired from now on (401; renewal refused)."""
        self.auth.expire_all()

    def inject(self, fault: Fault, times: int = 1, retry_after: str | None = None) -> None:
        """Queue ``fault`` for the next ``times`` data requests (auth requests for auth faults)."""
        self.faults.inject(fault, times, retry_after)

    def settings_overrides(self, base_url: str | None = None) -> dict[str, str]:
        """Settings fields that point a client at this simulator (for ``with_overrides``)."""
        creds = self.credentials
        return {
            "base_url": base_url or self.base_url,
            "username": creds.username,
            "password": creds.password,
            "cid": creds.cid,
            "secret": creds.sec,
        }

    # -- app ----------------------------------------------------------------------------------
    def _build_app(self) -> Starlette:
        routes = [
            Route("/auth/accesstokenrequest", self._login, methods=["POST"]),
            Route("/auth/renewaccesstoken", self._renew, methods=["GET", "POST"]),
            Route("/auth/me", self._data(self._me), methods=["GET"]),
            Route("/user/list", self._data(self._user_list_route), methods=["GET"]),
            Route("/userSession/items", self._data(self._session_items), methods=["GET"]),
            Route("/userSession/item", self._data(self._session_item), methods=["GET"]),
            Route("/userSessionStats/ldeps", self._data(self._stats_ldeps), methods=["GET"]),
        ]
        return Starlette(routes=[Mount(PREFIX, routes=routes)])

    async def _login(self, request: Request) -> Response:
        self.stats.login_attempts += 1
        fault = self.faults.next_auth_fault()
        if fault is not None:
            self.stats.faults[fault.fault.value] += 1
            return _text("Internal Server Error", 500)
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _text("Bad Request: body is not JSON", 400)
        if not isinstance(body, dict):
            return _text("Bad Request: body is not a JSON object", 400)
        if body.get("name") == self.credentials.username and not self.rate_limit.admit(
            int(self.auth.account["id"]), self.clock()
        ):
            self.stats.lockouts += 1
            return _too_many()
        answer, issued = self.auth.login(body)
        if "p-ticket" in answer:
            self.stats.p_tickets += 1
        if issued:
            self.stats.logins += 1
            self._open_login_session(request, body, str(answer["accessToken"]))
        return _json(answer)

    async def _renew(self, request: Request) -> Response:
        fault = self.faults.next_auth_fault()
        if fault is not None:
            self.stats.faults[fault.fault.value] += 1
            return _text("Internal Server Error", 500)
        token = _bearer(request)
        info = self.auth.check(token)
        if info is None:
            return _unauthorized()
        if not self.rate_limit.admit(info.user_id, self.clock()):
            self.stats.lockouts += 1
            return _too_many()
        if not self.per_second.admit(info.user_id, self.clock()):
            return _too_many(PER_SECOND_RETRY_AFTER)
        answer = self.auth.renew(token)
        if answer is None:
            return _unauthorized()
        row = self._login_rows.get(info.session)
        if row is not None:
            with self._lock:
                self._generator.extend_login(row, self._token_expiry_ms())
        self.stats.renewals += 1
        return _json(answer)

    def _data(self, answer: Callable[[Request, TokenInfo], Response]) -> Handler:
        """Wrap a data endpoint: token check, rate limit, faults, then the answer."""

        async def endpoint(request: Request) -> Response:
            token = _bearer(request)
            info = self.auth.check(token)
            if info is None or token is None:
                return _unauthorized()
            if not self.rate_limit.admit(info.user_id, self.clock()):
                self.stats.lockouts += 1
                return _too_many()
            if not self.per_second.admit(info.user_id, self.clock()):
                return _too_many(PER_SECOND_RETRY_AFTER)
            planned = self.faults.next_data_fault()
            if planned is not None:
                self.stats.faults[planned.fault.value] += 1
                fault = planned.fault
                if fault is Fault.SERVER_ERROR:
                    return _text("Internal Server Error: an unexpected error occurred", 500)
                if fault is Fault.RATE_LIMITED:
                    return _too_many(planned.retry_after)
                if fault is Fault.RATE_LIMITED_NO_RETRY_AFTER:
                    return _too_many()
                if fault is Fault.TOKEN_EXPIRED:
                    self.auth.expire(token)
                    return _unauthorized()
                if fault is Fault.SLOW:
                    await self.sleep(self.config.slow_seconds)
            return answer(request, info)

        return endpoint

    def _me(self, request: Request, info: TokenInfo) -> Response:
        return _json(self.auth.me())

    def _user_list_route(self, request: Request, info: TokenInfo) -> Response:
        return Response(self._user_list, media_type="application/json")

    def _session_items(self, request: Request, info: TokenInfo) -> Response:
        ids = _id_list(request.query_params.get("ids"))
        if ids is None:
            return _text("Bad Request: ids must be comma-separated integers", 400)
        max_ids = self.config.max_ids
        if max_ids is not None and len(ids) > max_ids:
            return _text("Not Found", 404)
        with self._lock:
            found = self._generator.table.lookup(ids)
        return _json(found)

    def _session_item(self, request: Request, info: TokenInfo) -> Response:
        ids = _id_list(request.query_params.get("id"))
        if not ids or len(ids) != 1:
            return _text("Bad Request: id must be an integer", 400)
        with self._lock:
            found = self._generator.table.lookup(ids)
        return _json(found[0]) if found else _text("Not Found", 404)

    def _stats_ldeps(self, request: Request, info: TokenInfo) -> Response:
        ids = _id_list(request.query_params.get("masterids"))
        if ids is None:
            return _text("Bad Request: masterids must be comma-separated integers", 400)
        with self._lock:
            return _json(self.user_session_stats(ids))

    def user_session_stats(self, user_ids: list[int]) -> list[dict[str, Any]]:
        """``UserSessionStats`` of the known ``user_ids`` (its id is the user's id)."""
        if self._last_starts is None:
            self._last_starts = self._generator.table.last_start_by_user(self.now_ms)
        created = self._created
        answer: list[dict[str, Any]] = []
        for user_id in dict.fromkeys(user_ids):
            if user_id not in created:
                continue
            last = self._last_starts.get(user_id)
            answer.append(
                {
                    "id": user_id,
                    "lastSessionTime": iso_ms(last) if last is not None else created[user_id],
                    "failedPasswords": self._failed_passwords[user_id],
                }
            )
        return answer


class _Instrumented:
    """ASGI wrapper around every request: counts path, status, time and requests in flight;
    answers 414 above ``max_url_length``; stamps the API clock as the ``Date`` header."""

    def __init__(self, app: ASGIApp, sim: Simulator) -> None:
        self.inner = app
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        stats = self.sim.stats
        path = str(scope.get("path", ""))
        path = path[len(PREFIX) :] if path.startswith(PREFIX) else path
        stats.total += 1
        stats.by_path[path] += 1
        stats.request_log.append((self.sim.clock(), path))
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                stats.by_status[int(message["status"])] += 1
                headers = [
                    (k, v) for k, v in message.get("headers", []) if bytes(k).lower() != b"date"
                ]
                headers.append((b"date", http_date(self.sim.now_ms).encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        limit = self.sim.config.max_url_length
        try:
            if limit is not None and _target_length(scope) > limit:
                response = _text(f"URI Too Long: the request target exceeds {limit} bytes", 414)
                await response(scope, receive, counting_send)
                return
            await self.inner(scope, receive, counting_send)
        finally:
            stats.in_flight -= 1


def _target_length(scope: Scope) -> int:
    """Bytes of the request target as sent: path (raw, still percent-encoded) + ``?query``."""
    raw = scope.get("raw_path")
    path = bytes(raw) if raw is not None else str(scope.get("path", "")).encode()
    query = bytes(scope.get("query_string", b""))
    return len(path) + (1 + len(query) if query else 0)
