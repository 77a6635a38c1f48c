"""Property: normalize_pages' fast path (strict msgspec decoding, vectorised derived columns, the
Z-format time parse with the general parse for the texts it misses) gives exactly the batch of
the per-value reference path (``_normalize_checked``: orjson, each value's type checked in
Python, ``_sessions_frame``) over random pages: well-typed ones (the fast path) and malformed ones
(wrong JSON types, missing or unknown fields, huge integers, non-objects), with odd and
unparseable times, IP texts of every kind, long and odd strings, repeated ids."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import orjson
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal, assert_series_equal

from session_audit.ingest import normalize
from session_audit.ingest.normalize import NormalizedBatch, normalize_pages

TIMES = [
    "2024-05-01T08:30:00Z",
    "2024-05-01T08:30:00.123Z",
    "2024-05-01T08:30:00.1Z",
    "2024-05-01T08:30:00.123456789Z",
    "2024-05-01T08:30:00.123z",
    "2024-05-01T10:30:00.5+02:00",
    "2024-05-01T08:30:00.123+00:00",
    "2024-05-01T08:30:00",
    "2024-05-01 08:30:00.123Z",
    "2024-05-01T08:30Z",
    "2024-02-29T23:59:59.999Z",
    "2023-02-29T08:30:00Z",
    "2024-05-01T24:00:00Z",
    "2024-5-1T8:30:00Z",
    " 2024-05-01T08:30:00Z",
    "2024-05-01T08:30:00ZZ",
    "2024-05-01",
    "yesterday",
    "",
]
IPS = [
    "192.168.0.1",
    "10.0.0.255",
    "2001:DB8::7",
    "2001:db8:0:0:1::1",
    "::ffff:1.2.3.4",
    "fe80::1%eth0",
    "::1",
    "010.1.2.3",
    "1.2.3.4 ",
    "1.2.3",
    "unknown",
    "",
    "x" * 70,
]

time_texts = st.one_of(
    st.sampled_from(TIMES),
    st.builds(
        "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}{}{}".format,
        st.integers(1, 9999),
        st.integers(0, 13),
        st.integers(0, 32),
        st.integers(0, 25),
        st.integers(0, 61),
        st.integers(0, 61),
        st.sampled_from(["", ".", ".1", ".12", ".123", ".123456", ".1234567"]),
        st.sampled_from(["Z", "z", "+00:00", "-05:30", "+14:00", "", "+0100", " Z"]),
    ),
    st.text(max_size=30),
)
strings = st.one_of(st.text(max_size=70), st.sampled_from(["", "x" * 64, "ü" * 65, 'a "q"\n']))
ints = st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(-5, 40))

# Well-typed values: every page of these decodes strictly (the fast path).
typed = {
    "id": st.integers(1, 30),
    "userId": ints,
    "startTime": time_texts,
}
typed_optional = {
    "endTime": st.one_of(st.none(), time_texts),
    "clientAppId": st.one_of(st.none(), ints),
    "ipAddress": st.one_of(st.none(), st.sampled_from(IPS), strings),
    "appId": st.one_of(st.none(), strings),
    "appVersion": st.one_of(st.none(), strings),
}
well_typed = st.fixed_dictionaries(typed, optional=typed_optional)

wrong = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(2**63, 2**70),
    st.integers(-(2**70), -(2**63) - 1),
    st.text(max_size=5),
    st.just([1]),
    st.just({"a": 1}),
)
malformed_object = st.fixed_dictionaries(
    {},
    optional={
        **{k: st.one_of(v, wrong) for k, v in typed.items()},
        **{k: st.one_of(v, wrong) for k, v in typed_optional.items()},
        "extra": st.integers(),
    },
)
any_item: st.SearchStrategy[Any] = st.one_of(
    well_typed, well_typed, malformed_object, st.sampled_from([1, None, "s", [], 2.5])
)


def _same(a: NormalizedBatch, b: NormalizedBatch) -> None:
    assert_frame_equal(a.sessions, b.sessions)
    assert_frame_equal(a.rejected, b.rejected)
    assert (a.max_id, a.fetched, a.duplicates, a.org) == (b.max_id, b.fetched, b.duplicates, b.org)


def _dump(page: list[Any]) -> bytes:
    """A page as the API would write it (integers beyond 64 bits included)."""
    return json.dumps(page, ensure_ascii=False, separators=(",", ":")).encode()


def _strict(pages: list[bytes]) -> bool:
    try:
        for page in pages:
            normalize._STRICT_PAGE.decode(page)
    except msgspec.DecodeError:
        return False
    return True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(well_typed, max_size=12), max_size=4))
def test_well_typed_pages_take_the_fast_path_and_match_the_reference(
    objs: list[list[dict[str, Any]]],
) -> None:
    pages = [orjson.dumps(p) for p in objs]
    assert _strict(pages)
    _same(normalize_pages(pages, org="o"), normalize._normalize_checked(pages, org="o"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(any_item, max_size=8), max_size=4))
def test_any_pages_match_the_reference(objs: list[list[Any]]) -> None:
    pages = [_dump(p) for p in objs]
    _same(normalize_pages(pages, org="o"), normalize._normalize_checked(pages, org="o"))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), time_texts), max_size=20))
def test_the_split_time_parse_equals_the_general_parse(texts: list[str | None]) -> None:
    """Texts the Z format reads keep its value, the rest take the general path: the same as the
    general path over every text (what a column holding one such text used to get)."""
    column = pl.Series(texts, dtype=pl.String)
    assert_series_equal(normalize._parse_times(column), normalize._parse_general(column))


api_shaped_times = st.builds(
    "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:03d}Z".format,
    st.one_of(st.integers(0, 9999), st.sampled_from([1900, 1970, 2000, 2023, 2024, 2100])),
    st.integers(0, 13),
    st.integers(0, 32),
    st.integers(0, 25),
    st.integers(0, 61),
    st.integers(0, 61),
    st.integers(0, 999),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), api_shaped_times, time_texts), max_size=20))
def test_the_api_spelling_fast_parse_equals_the_general_parse(texts: list[str | None]) -> None:
    """Texts in the API's own spelling (any field out of range included: month 13, Feb 30,
    hour 24, second 60, year 0) read by the fast path are what the general path reads."""
    column = pl.Series(texts, dtype=pl.String)
    assert_series_equal(normalize._parse_times(column), normalize._parse_general(column))


octet_texts = st.one_of(
    st.integers(0, 300).map(str),
    st.sampled_from(["", "00", "01", "007", "0x1", "+1", " 1", "1 ", "\u0661", "255", "256"]),
    st.text(alphabet="0123456789", min_size=1, max_size=4),
)
ip_texts = st.one_of(
    st.lists(octet_texts, min_size=1, max_size=5).map(".".join),
    st.builds(
        "{}{}".format,
        st.lists(octet_texts, min_size=4, max_size=4).map(".".join),
        st.sampled_from(["", "\n", " ", "/24", "%1", ".", "x"]),
    ),
    st.sampled_from(IPS),
    st.text(alphabet="0123456789.:abcdefABCDEF%", max_size=20),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(ip_texts, max_size=20, unique=True))
def test_the_vectorised_ipv4_path_equals_canonical_ip(texts: list[str]) -> None:
    """Dotted quads take the Rust path (IPV4_PATTERN), the rest canonical_ip (and a few distinct
    texts all take canonical_ip): every text gets exactly what canonical_ip gives it."""
    series = pl.Series(texts, dtype=pl.String)
    expected = [normalize.canonical_ip(t) or (None, None, None) for t in texts]
    for python_max in (0, normalize.PYTHON_DISTINCT_MAX):  # the Rust path, then the Python one
        columns = normalize._canonical_distinct(series, python_max=python_max)
        got = list(zip(*(c.to_list() for c in columns), strict=True))
        assert got == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), ip_texts), min_size=1, max_size=20))
def test_the_gathered_ip_columns_equal_the_per_row_reference(texts: list[str | None]) -> None:
    """More rows than PYTHON_DISTINCT_MAX take the gather by each row's distinct address; the
    result is the per-row reference's (NULLs and repeats included)."""
    repeat = normalize.PYTHON_DISTINCT_MAX // len(texts) + 1
    rows = pl.Series("ip_address", texts * repeat, dtype=pl.String)
    assert rows.len() > normalize.PYTHON_DISTINCT_MAX
    got = normalize._canonical_gather(rows)
    want = normalize._canonical_columns(rows)
    assert [c.to_list() for c in got] == [c.to_list() for c in want]


user_values = {
    "id": st.one_of(ints, st.integers(1, 9)),
    "name": st.one_of(st.none(), strings),
    "email": st.one_of(st.none(), strings),
    "status": st.one_of(st.none(), st.sampled_from(["Active", "Closed"])),
    "professional": st.one_of(st.none(), st.booleans()),
    "organizationId": st.one_of(st.none(), ints),
    "linkedUserId": st.one_of(st.none(), ints),
    "foreignIntroducingBrokerId": st.one_of(st.none(), ints),
    "timestamp": st.one_of(st.none(), time_texts),
    "marginAccountType": st.text(max_size=3),  # a field the table does not store
}
well_typed_user = st.fixed_dictionaries(
    {"id": user_values["id"]}, optional={k: v for k, v in user_values.items() if k != "id"}
)
any_user: st.SearchStrategy[Any] = st.one_of(
    well_typed_user,
    well_typed_user,
    st.fixed_dictionaries({}, optional={k: st.one_of(v, wrong) for k, v in user_values.items()}),
    st.sampled_from([1, None, "s", []]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.lists(well_typed_user, max_size=10), st.lists(any_user, max_size=10)))
def test_users_match_the_value_by_value_path(users: list[Any]) -> None:
    users = json.loads(json.dumps(users))  # as parsed from the API's JSON
    reference = normalize._users_frame(normalize._user_values_checked(users), "o")
    assert_frame_equal(normalize.normalize_users(users, org="o"), reference)
