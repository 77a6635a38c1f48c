"""The client's CPU shortcuts change nothing observable: the URL of every request is the one
httpx builds from the path string, and a page's row count is the number of elements orjson
reads (errors included)."""

from __future__ import annotations

import httpx
import orjson
import pytest

from session_audit.api.client import TradovateClient, _count_rows
from session_audit.errors import ApiError
from session_audit.settings import Settings

BASES = (
    "http://127.0.0.1:8123/v1",
    "https://demo.tradovateapi.com/v1",
    "http://simulator.invalid/v1",
    "https://example.test:8443/api/v1",
)
PATHS = (
    "/userSession/items?ids=1,2,3",
    "/userSession/items?ids=" + ",".join(str(i) for i in range(10**12, 10**12 + 1000)),
    "/userSessionStats/ldeps?masterids=5,6",
    "/user/list",
    "/auth/accesstokenrequest",
    "/userSession/items?ids=1,%202",
    "/userSession/items?ids=é",
)


@pytest.mark.parametrize("base", BASES)
def test_request_urls_are_what_httpx_builds_from_the_path(base: str) -> None:
    client = TradovateClient(Settings(base_url=base))
    for path in PATHS:
        plain = client._http.build_request("GET", path)
        fast = client._http.build_request("GET", client._url(path))
        assert str(fast.url) == str(plain.url)
        assert fast.url.raw_path == plain.url.raw_path
        assert fast.url == plain.url
        assert dict(fast.headers) == dict(plain.headers)
    assert isinstance(client._url(PATHS[0]), httpx.URL)


@pytest.mark.parametrize(
    "page",
    [
        b"[]",
        b" [ ] ",
        b'[{"id":1},{"id":2}]',
        b'[1, "x", null, [], {"a": {"b": [1, 2]}}]',
        orjson.dumps([{"id": i, "ipAddress": "::1"} for i in range(500)]),
    ],
)
def test_row_count_is_orjsons(page: bytes) -> None:
    assert _count_rows(page) == len(orjson.loads(page))


def test_row_count_of_what_is_not_an_array() -> None:
    assert _count_rows(b'{"id": 1}') == 0
    with pytest.raises(ApiError, match="not valid JSON"):
        _count_rows(b"[1,")
    with pytest.raises(ApiError, match="not valid JSON"):
        _count_rows(b'[{"a": "\\ud800"}]')
