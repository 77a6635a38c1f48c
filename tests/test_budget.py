"""RequestBudget with an injected clock and sleep: trailing hour, per-second pace, AIMD."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from session_audit.api.budget import HOUR, RequestBudget
from support import FakeTime


def max_in_window(stamps: list[float], window: float) -> int:
    stamps = sorted(stamps)
    best = 0
    start = 0
    for end, stamp in enumerate(stamps):
        while stamps[start] <= stamp - window:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_hourly_budget_is_a_trailing_window_under_concurrency() -> None:
    fake = FakeTime(1_700_000_000.0)
    waits: list[int] = []
    budget = RequestBudget(
        requests_per_hour=5,
        requests_per_second=10_000,
        clock=fake.clock,
        sleep=fake.sleep,
        on_wait=lambda: waits.append(1),
    )
    admitted: list[float] = []

    async def one() -> None:
        await budget.acquire()
        admitted.append(fake.clock())

    await asyncio.gather(*(one() for _ in range(17)))
    assert budget.auth_reserve == 1  # ordinary requests get 4 of the 5
    assert len(admitted) == 17
    assert max_in_window(admitted, HOUR) == 4
    assert admitted[4] >= admitted[0] + HOUR
    assert len(waits) >= 13  # every request beyond the first four had to wait
    # the 5th, 9th, 13th and 17th waited for the window to slide (the rest: 0.1 ms pacing)
    assert len([s for s in fake.sleeps if s > 1]) == 4
    assert budget.sent_last_hour <= 4


async def test_auth_calls_use_reserved_slots_and_skip_the_queue() -> None:
    fake = FakeTime(1_700_000_000.0)
    budget = RequestBudget(
        requests_per_hour=8, requests_per_second=10_000, clock=fake.clock, sleep=fake.sleep
    )
    assert budget.auth_reserve == 2
    first = fake.clock()
    for _ in range(6):
        await budget.acquire()
    start = fake.clock()
    await budget.acquire(reserved=True)
    await budget.acquire(reserved=True)
    assert fake.clock() - start <= 2 / 10_000  # the reserve admitted both at once (paced)
    await budget.acquire(reserved=True)  # the hour is full now, even for auth
    assert fake.clock() >= first + HOUR


async def test_a_long_wait_runs_the_chore_when_it_falls_due() -> None:
    fake = FakeTime(1_700_000_000.0)
    t0 = fake.clock()
    chores: list[float] = []
    due = {"at": t0 + 1000.0}

    async def chore() -> None:
        chores.append(fake.clock())
        due["at"] = fake.clock() + 5000.0  # renewed: next due far later
        await budget.acquire(reserved=True)  # the renewal itself goes through the budget

    budget = RequestBudget(
        requests_per_hour=8,
        requests_per_second=10_000,
        clock=fake.clock,
        sleep=fake.sleep,
        chore_at=lambda: due["at"],
        chore=chore,
    )
    for _ in range(7):
        await budget.acquire()  # 6 fit; the 7th waits an hour
    assert chores == [t0 + 1000.0]
    assert fake.clock() >= t0 + HOUR


async def test_no_wait_is_counted_when_the_budget_has_room() -> None:
    # A fresh budget admits the first request at once.
    fake = FakeTime(1_700_000_000.0)
    waits: list[int] = []
    budget = RequestBudget(
        requests_per_hour=100,
        requests_per_second=10_000,
        clock=fake.clock,
        sleep=fake.sleep,
        on_wait=lambda: waits.append(1),
    )
    await budget.acquire()
    assert waits == []
    assert budget.sent_last_hour == 1
    assert fake.sleeps == []


async def test_penalty_gate_holds_every_request_until_it_opens() -> None:
    fake = FakeTime(1_700_000_000.0)
    budget = RequestBudget(
        requests_per_hour=100, requests_per_second=10_000, clock=fake.clock, sleep=fake.sleep
    )
    opens_at = fake.clock() + 300
    budget.pause_until(opens_at)
    budget.pause_until(fake.clock() + 10)  # a shorter pause never shortens the gate
    await budget.acquire()
    assert fake.clock() >= opens_at


async def test_per_second_cap_spaces_requests() -> None:
    loop = asyncio.get_running_loop()
    budget = RequestBudget(requests_per_hour=1000, requests_per_second=50)
    stamps: list[float] = []

    async def one() -> None:
        await budget.acquire()
        stamps.append(loop.time())

    await asyncio.gather(*(one() for _ in range(6)))
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert all(gap >= 1 / 50 - 0.002 for gap in gaps), gaps


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        RequestBudget(requests_per_hour=0, requests_per_second=1)


async def test_requests_of_earlier_runs_count_against_the_trailing_hour() -> None:
    fake = FakeTime(1_700_000_000.0)
    budget = RequestBudget(
        requests_per_hour=12, requests_per_second=10_000, clock=fake.clock, sleep=fake.sleep
    )
    start = fake.now
    # an earlier run sent 10 requests 20 minutes ago, and 5 more over an hour ago (expired)
    budget.preload([(start - 1200, 10), (start - HOUR - 1, 5)])
    assert budget.sent_last_hour == 10
    # ordinary requests may use 10 of the 12 (2 are kept for auth): the next one waits until
    # the earlier run's requests leave the trailing hour, 40 minutes from now
    await budget.acquire()
    assert fake.now == pytest.approx(start + HOUR - 1200)
    assert budget.sent_last_hour == 1


async def test_the_pace_runs_on_the_injected_clock() -> None:
    fake = FakeTime(1_700_000_000.0)
    budget = RequestBudget(
        requests_per_hour=1000, requests_per_second=4, clock=fake.clock, sleep=fake.sleep
    )
    stamps: list[float] = []

    async def one() -> None:
        await budget.acquire()
        stamps.append(fake.clock())

    await asyncio.gather(*(one() for _ in range(9)))
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert gaps == pytest.approx([0.25] * 8)
    assert max_in_window(stamps, 1.0) == 4


async def test_aimd_halves_on_429_and_climbs_back_additively_to_the_cap() -> None:
    fake = FakeTime(1_700_000_000.0)
    budget = RequestBudget(
        requests_per_hour=1000, requests_per_second=5, clock=fake.clock, sleep=fake.sleep
    )
    assert budget.rate == 5
    assert budget.slow_down() is True
    assert budget.rate == 2.5
    # a second 429 of the same episode (requests admitted at the old pace) changes nothing
    fake.now += 0.5
    assert budget.slow_down() is False
    assert budget.rate == 2.5
    fake.now += 1.0
    assert budget.slow_down() is True
    assert budget.rate == 1.25
    assert budget.rate_decreases == 2
    for _ in range(19):
        budget.record_success()
    assert budget.rate == 1.25  # not before a full run of successes
    budget.record_success()
    assert budget.rate == pytest.approx(1.5)  # + 5 % of the configured 5/s
    for _ in range(20 * 3):
        budget.record_success()
    assert budget.rate == pytest.approx(2.25)  # quickly back to 90 % of the last 429's pace
    for _ in range(199):
        budget.record_success()
    assert budget.rate == pytest.approx(2.25)  # going beyond it is a probe: 200 successes
    budget.record_success()
    assert budget.rate == pytest.approx(2.5)
    for _ in range(200 * 20):
        budget.record_success()
    assert budget.rate == 5  # never above the configured rate


async def test_a_failed_probe_near_the_ceiling_makes_the_next_probe_wait_twice_as_long() -> None:
    fake = FakeTime(1_700_000_000.0)
    budget = RequestBudget(
        requests_per_hour=1000, requests_per_second=4, clock=fake.clock, sleep=fake.sleep
    )
    budget.slow_down()  # ceiling 4, pace 2
    for _ in range(20 * 8):
        budget.record_success()
    assert budget.rate == pytest.approx(3.6)  # 90 % of the ceiling, reached without probing
    for _ in range(200):
        budget.record_success()
    assert budget.rate == pytest.approx(3.8)  # a probe
    fake.now += 5
    budget.slow_down()  # failed near the ceiling: ceiling 3.8, pace 1.9, probes every 400
    for _ in range(20 * 7 + 399):
        budget.record_success()
    assert budget.rate == pytest.approx(3.3)  # 1.9 + 7 * 0.2; the next step (3.5) is a probe
    budget.record_success()
    assert budget.rate == pytest.approx(3.5)


async def test_aimd_has_a_floor() -> None:
    fake = FakeTime(1_700_000_000.0)
    budget = RequestBudget(
        requests_per_hour=1000, requests_per_second=5, clock=fake.clock, sleep=fake.sleep
    )
    for _ in range(20):
        fake.now += 2
        budget.slow_down()
    assert budget.rate == pytest.approx(0.2)
    slow = RequestBudget(
        requests_per_hour=1000, requests_per_second=0.1, clock=fake.clock, sleep=fake.sleep
    )
    fake.now += 2
    slow.slow_down()
    assert slow.rate == pytest.approx(0.1)  # a configured rate below the floor stays


async def test_a_slowed_pace_spaces_the_next_requests_wider() -> None:
    fake = FakeTime(1_700_000_000.0)
    budget = RequestBudget(
        requests_per_hour=1000, requests_per_second=4, clock=fake.clock, sleep=fake.sleep
    )
    await budget.acquire()
    budget.slow_down()  # 2/s
    start = fake.clock()
    await budget.acquire()  # the slot reserved at 4/s
    await budget.acquire()
    await budget.acquire()
    assert fake.clock() - start == pytest.approx(0.25 + 0.5 + 0.5)
