"""An "ordinary" web server in front of the simulator: what a typical framework app costs.

The simulator's own ``userSession/items`` route is lean (orjson, one Starlette route). Issue 14
asks for a stand-in that costs what an ordinary server does, so that the client's CPU shows in
the wall time as it would against a real service. :func:`ordinary_app` wraps a
:class:`~session_audit.simulator.Simulator`:

* ``GET /v1/userSession/items`` is served by a plain Starlette app of its own: a
  ``BaseHTTPMiddleware`` (the usual request-timing middleware, adding ``X-Process-Time``), an
  ``async`` endpoint that checks the bearer token with the simulator's auth, builds every session
  object afresh for the request (``SessionTable.lookup``, a new dict per row) and answers with
  Starlette's ``JSONResponse`` (the standard library's ``json.dumps``). Nothing is pre-encoded or
  cached between requests. The request is counted in the simulator's stats like any other.
* Every other path (login with its ``Date`` header, renewal, user list, stats) goes to the
  simulator's own app unchanged, so logins still open the API user's session and the scan's end
  rule works exactly as against the simulator.

Same data, same answers (byte-for-byte the same JSON values; only the spelling of the JSON text
differs: stdlib ``json`` instead of orjson).
"""

from __future__ import annotations

import time
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

ITEMS = "/userSession/items"


class ProcessTime(BaseHTTPMiddleware):
    """The middleware most apps carry: time each request, report it in a header."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        response.headers["X-Process-Time"] = f"{time.perf_counter() - started:.6f}"
        return response


def ordinary_app(sim: Any, prefix: str = "/v1") -> Any:
    """An ASGI app: ``prefix + ITEMS`` through the ordinary Starlette app, the rest to
    ``sim.app``."""
    stats = sim.stats

    async def items(request: Request) -> Response:
        stats.total += 1
        stats.by_path[ITEMS] += 1
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or sim.auth.check(token.strip()) is None:
            stats.by_status[401] += 1
            return PlainTextResponse("Access is denied", status_code=401)
        raw = request.query_params.get("ids", "")
        try:
            ids = [int(part) for part in raw.split(",") if part.strip()]
        except ValueError:
            stats.by_status[400] += 1
            return PlainTextResponse("Bad Request: ids must be integers", status_code=400)
        rows = [dict(row) for row in sim.table.lookup(ids)]
        stats.by_status[200] += 1
        return JSONResponse(rows)

    framework = Starlette(
        routes=[Route(prefix + ITEMS, items, methods=["GET"])],
        middleware=[Middleware(ProcessTime)],
    )
    inner = sim.app
    path = prefix + ITEMS

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("path") == path:
            await framework(scope, receive, send)
        else:
            await inner(scope, receive, send)

    return app
