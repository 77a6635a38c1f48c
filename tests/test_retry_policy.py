"""The pure retry policy: no network, no clock, no sleeping."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from session_audit.api.retry import (
    Failure,
    FailureKind,
    RetryPolicy,
    decide,
    is_lockout,
    jitter,
    parse_http_date,
    parse_retry_after,
)
from session_audit.settings import Settings

POLICY = RetryPolicy(max_attempts=6, base=1.0, cap=300.0, penalty_floor=1.0)
NOW = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC).timestamp()


def delays(failure: Failure, policy: RetryPolicy = POLICY) -> list[float | None]:
    return [
        decide(failure, attempt, policy=policy) for attempt in range(1, policy.max_attempts + 1)
    ]


def test_other_4xx_stops_at_once() -> None:
    assert decide(Failure(FailureKind.REJECTED, 403), 1, policy=POLICY) is None


@pytest.mark.parametrize("kind", [FailureKind.SERVER, FailureKind.TIMEOUT, FailureKind.CONNECTION])
def test_server_and_transport_failures_back_off_exponentially_then_stop(kind: FailureKind) -> None:
    assert delays(Failure(kind, 500)) == [1.0, 2.0, 4.0, 8.0, 16.0, None]


def test_backoff_is_capped() -> None:
    policy = RetryPolicy(max_attempts=20, base=1.0, cap=30.0)
    got = delays(Failure(FailureKind.SERVER, 503), policy)
    assert max(d for d in got if d is not None) == 30.0
    assert got[-1] is None


def test_429_without_retry_after_is_a_lockout_and_stops_at_once() -> None:
    bare = Failure(FailureKind.RATE_LIMITED, 429)
    assert is_lockout(bare)
    assert delays(bare) == [None] * POLICY.max_attempts
    assert not is_lockout(Failure(FailureKind.RATE_LIMITED, 429, 0.0))
    assert not is_lockout(Failure(FailureKind.SERVER, 503))


def test_429_honours_retry_after_even_above_the_cap() -> None:
    assert decide(Failure(FailureKind.RATE_LIMITED, 429, 120.0), 1, policy=POLICY) == 120.0
    assert decide(Failure(FailureKind.RATE_LIMITED, 429, 1800.0), 2, policy=POLICY) == 1800.0


def test_429_with_absurd_retry_after_stops_instead_of_sleeping_for_hours() -> None:
    assert decide(Failure(FailureKind.RATE_LIMITED, 429, 86_400.0), 1, policy=POLICY) is None


def test_retry_after_zero_does_not_burn_every_attempt() -> None:
    got = delays(Failure(FailureKind.RATE_LIMITED, 429, 0.0))
    # Each retry waits, and the floor grows, so a server repeating "0" is not hammered.
    assert got == [1.0, 2.0, 4.0, 8.0, 16.0, None]


def test_policy_from_settings() -> None:
    settings = Settings(max_attempts=3, backoff_base=2.0, backoff_cap=100.0)
    policy = RetryPolicy.from_settings(settings)
    assert (policy.max_attempts, policy.base, policy.cap) == (3, 2.0, 100.0)
    assert policy.penalty_floor == 2.0
    assert delays(Failure(FailureKind.RATE_LIMITED, 429, 0.0), policy) == [2.0, 4.0, None]


@given(
    kind=st.sampled_from(list(FailureKind)),
    attempt=st.integers(min_value=1, max_value=200),
    retry_after=st.one_of(st.none(), st.floats(min_value=0, max_value=10_000)),
)
def test_decide_is_bounded(kind: FailureKind, attempt: int, retry_after: float | None) -> None:
    delay = decide(Failure(kind, None, retry_after), attempt, policy=POLICY)
    if attempt >= POLICY.max_attempts or kind is FailureKind.REJECTED:
        assert delay is None
    if kind is FailureKind.RATE_LIMITED and retry_after is None:
        assert delay is None
    if delay is not None:
        assert delay > 0
        assert delay <= max(POLICY.cap, retry_after or 0.0)
        if kind is FailureKind.RATE_LIMITED and retry_after is not None:
            assert delay >= retry_after


@given(delay=st.floats(min_value=0, max_value=1e6), seed=st.integers())
def test_jitter_never_shortens_and_stays_within_half_again(delay: float, seed: int) -> None:
    got = jitter(delay, random.Random(seed))
    assert delay <= got <= delay * 1.5


def test_jitter_spreads_concurrent_retries() -> None:
    rng = random.Random(7)
    assert len({jitter(10.0, rng) for _ in range(20)}) == 20


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("120", 120.0),
        (" 5 ", 5.0),
        ("0", 0.0),
        ("-3", 0.0),
        ("1.5", 1.5),
        ("soon", None),
        ("nan", None),
    ],
)
def test_parse_retry_after_seconds(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == expected


def test_parse_retry_after_http_date_against_the_injected_clock() -> None:
    future = format_datetime(datetime.fromtimestamp(NOW + 90, UTC), usegmt=True)
    assert parse_retry_after(future, now=NOW) == pytest.approx(90.0)
    past = format_datetime(datetime.fromtimestamp(NOW - 90, UTC), usegmt=True)
    assert parse_retry_after(past, now=NOW) == 0.0


def test_parse_http_date_gives_aware_utc_or_none() -> None:
    assert parse_http_date("Wed, 04 Mar 2026 15:00:00 GMT") == datetime(
        2026, 3, 4, 15, 0, tzinfo=UTC
    )
    got = parse_http_date("Wed, 04 Mar 2026 16:00:00 +0100")
    assert got == datetime(2026, 3, 4, 15, 0, tzinfo=UTC) and got.tzinfo is UTC
    for bad in (None, "", "yesterday", "Wed, 04 Mar 2026 15:00:00 -0000", "Wed, 99 Foo 2026"):
        assert parse_http_date(bad) is None
