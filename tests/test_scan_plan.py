"""The scan plans, without a network: fake id spaces as plain lists (ids grow with start time)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from session_audit.ingest.scan_plan import ScanEnd, ScanPlan, StartSearch, WindowOutcome

T0 = datetime(2026, 3, 2, tzinfo=UTC)
API_USER = 1
LOGIN = T0 + timedelta(days=3)  # 259,200 ids after T0 at one id a second


def _space(
    ids: Sequence[int], *, own: Sequence[int] = (), api_user_history: Sequence[int] = ()
) -> dict[int, tuple[int, datetime]]:
    """id -> (user, start): the platform hands out one id a second (so a start is T0 + id
    seconds); ``own`` are sessions of the API user opened by this run's login (at LOGIN),
    ``api_user_history`` earlier ones of that user."""
    space: dict[int, tuple[int, datetime]] = {}
    for k, sid in enumerate(sorted(ids)):
        user = API_USER if sid in api_user_history else 100 + k % 7
        space[sid] = (user, T0 + timedelta(seconds=sid))
    for sid in own:
        space[sid] = (API_USER, LOGIN)
    return space


def _drive(
    plan: ScanPlan, space: dict[int, tuple[int, datetime]], *, ahead: int = 1
) -> list[range]:
    """The ingest loop in miniature: up to ``ahead`` windows in flight, observed in order."""
    flight: list[range] = []
    seen: list[range] = []
    while True:
        while len(flight) < ahead and (w := plan.next_window()) is not None:
            flight.append(w)
        if not flight:
            return seen
        window = flight.pop(0)
        seen.append(window)
        came = [sid for sid in space if sid in window]
        end = plan.end
        ends = [
            sid
            for sid in came
            if end is not None and space[sid][0] == end.user_id and space[sid][1] >= end.not_before
        ]
        oldest = (min(came), space[min(came)][1]) if came else None
        newest = (max(came), space[max(came)][1]) if came else None
        outcome = WindowOutcome(max(came, default=None), min(ends, default=None), oldest, newest)
        plan.observe(window, outcome)


def _end() -> ScanEnd:
    return ScanEnd(API_USER, LOGIN - timedelta(seconds=5))


def test_a_quiet_stretch_far_longer_than_the_gap_limit_is_crossed_up_to_the_own_session() -> None:
    ours = list(range(1000, 1100)) + list(range(200_000, 200_050))  # 199k quiet ids between
    space = _space(ours, own=[259_300])
    plan = ScanPlan(1000, window=500, gap_limit=2_000, end=_end(), tail=300)
    windows = _drive(plan, space, ahead=3)
    assert plan.status == "completed"
    assert plan.end_id == 259_300
    assert plan.cursor == 259_301  # the highest requested id that came back, + 1
    scanned = {i for w in windows for i in w}
    assert set(space) <= scanned
    assert max(scanned) < 259_301 + 300 + 3 * 500  # the tail, and at most the windows in flight


def test_earlier_sessions_of_the_api_user_do_not_end_the_scan() -> None:
    history = [1_010, 5_000, 90_000]
    ours = [*range(1000, 1020), 5_000, 40_000, 90_000, 120_000]
    space = _space(ours, own=[259_250], api_user_history=history)
    plan = ScanPlan(1000, window=1000, gap_limit=2_000, end=_end(), tail=0)
    _drive(plan, space)
    assert plan.status == "completed" and plan.end_id == 259_250


def test_an_api_that_hides_the_own_session_ends_incomplete_naming_the_last_id() -> None:
    space = _space([*range(1000, 1500), *range(259_000, 259_100)])  # our session is hidden
    plan = ScanPlan(1000, window=400, gap_limit=3_000, end=_end(), tail=100)
    _drive(plan, space, ahead=2)
    assert plan.status == "incomplete"
    assert plan.cursor == 259_100
    # past the login time the measured rate allows nothing more than gap_limit
    assert plan.scanned_to is not None and 259_100 + 3000 - 1 <= plan.scanned_to < 259_100 + 3800
    assert plan.reason is not None and f"{plan.scanned_to:,}" in plan.reason


def test_the_allowed_gap_follows_the_measured_id_rate_until_the_login_time() -> None:
    plan = ScanPlan(1, window=1000, gap_limit=5000, end=_end())
    window = plan.next_window()
    assert window is not None
    assert plan.allowed_gap() == 5000  # nothing measured yet
    point = (999, T0 + timedelta(seconds=999))
    plan.observe(window, WindowOutcome(999, None, point, point))
    assert plan.allowed_gap() == 5000  # one point is no rate
    window = plan.next_window()
    assert window is not None
    later = (1999, T0 + timedelta(seconds=1999))
    plan.observe(window, WindowOutcome(1999, None, later, later))
    ahead = (LOGIN - timedelta(seconds=5) - later[1]).total_seconds()
    assert plan.allowed_gap() == int(4.0 * 1.0 * ahead) + 5000


def test_the_rate_of_earlier_runs_lets_a_rerun_cross_a_quiet_stretch_at_once() -> None:
    history = ((1_000, T0 + timedelta(seconds=1_000)), (2_000, T0 + timedelta(seconds=2_000)))
    space = _space([2_500, 259_200], own=[259_300])  # one session, then 256k quiet ids
    plan = ScanPlan(2_001, window=5_000, gap_limit=2_000, end=_end(), tail=0, history=history)
    _drive(plan, space, ahead=2)
    assert (plan.status, plan.end_id) == ("completed", 259_300)


def test_without_an_end_marker_the_gap_limit_ends_the_scan_as_incomplete() -> None:
    plan = ScanPlan(10, window=50, gap_limit=200, end=None)
    _drive(plan, _space(list(range(10, 60))))
    assert plan.status == "incomplete"
    assert plan.cursor == 60
    assert plan.scanned_to == 259  # exactly the gap probe past the last data, no more


@pytest.mark.parametrize(
    ("window", "outcome", "error"),
    [
        (range(1, 11), WindowOutcome(returned_max=11), "outside the window"),  # a stray id
        (range(1, 11), WindowOutcome(end_id=0), "outside the window"),
        (range(11, 21), WindowOutcome(), "out of order"),
    ],
)
def test_the_plan_refuses_ids_nobody_asked_for(
    window: range, outcome: WindowOutcome, error: str
) -> None:
    plan = ScanPlan(1, window=10, gap_limit=100, end=None)
    assert plan.next_window() == range(1, 11)
    assert plan.next_window() == range(11, 21)
    with pytest.raises(ValueError, match=error):
        plan.observe(window, outcome)
    assert plan.cursor is None


def test_the_cursor_is_the_highest_returned_id_plus_one_never_the_window_end() -> None:
    plan = ScanPlan(1, window=10, gap_limit=100, end=None)
    window = plan.next_window()
    assert window == range(1, 11)
    plan.observe(window, WindowOutcome(returned_max=4))
    assert plan.cursor == 5
    window = plan.next_window()
    assert window == range(11, 21)
    plan.observe(window, WindowOutcome())
    assert plan.cursor == 5  # an empty window leaves it


def test_windows_stop_at_the_tail_once_the_end_is_observed() -> None:
    plan = ScanPlan(1, window=100, gap_limit=10_000, end=_end(), tail=30)
    first = plan.next_window()
    assert first == range(1, 101)
    plan.observe(first, WindowOutcome(returned_max=60, end_id=60))
    assert plan.status == "completed"  # 60 + 1 + 30 <= 101: the tail is inside the window
    assert plan.next_window() is None


# --- StartSearch (--since) ---------------------------------------------------------------------


def _search(space: dict[int, datetime], since: datetime, *, probe_ids: int = 100) -> StartSearch:
    search = StartSearch(since, probe_ids=probe_ids)
    while (probe := search.next_probe()) is not None:
        search.observe(probe, [(i, space[i]) for i in probe.window if i in space])
    assert search.done
    return search


def _sparse(n: int, *, seed: int, share: float, quiet: tuple[int, int] | None = None) -> list[int]:
    """n ids of ours in a global sequence where ``share`` of ids are foreign; ``quiet``
    (at, length) inserts that many foreign ids after our ``at``-th session."""
    rng = random.Random(seed)
    ids, at = [], 1_000
    for k in range(n):
        if quiet and k == quiet[0]:
            at += quiet[1]
        at += 1 + int(rng.expovariate(1 - share) * share)
        ids.append(at)
    return ids


def _truth_first(space: dict[int, datetime], since: datetime) -> int:
    return min(i for i, start in space.items() if start >= since)


@pytest.mark.parametrize("probe_ids", [100, 1000])
@pytest.mark.parametrize("share", [0.0, 0.9, 0.97])
@pytest.mark.parametrize("fraction", [0.01, 0.4, 0.999])
def test_since_finds_a_safe_start_close_to_the_first_session(
    share: float, fraction: float, probe_ids: int
) -> None:
    ids = _sparse(20_000, seed=3, share=share)
    space = {sid: T0 + timedelta(minutes=k) for k, sid in enumerate(ids)}
    since = T0 + timedelta(minutes=int(len(ids) * fraction) - 0.5)
    search = _search(space, since, probe_ids=probe_ids)
    first = _truth_first(space, since)
    assert search.start <= first  # nothing at or after `since` is skipped
    before = [i for i in space if search.start <= i < first]
    assert before == []  # and nothing before it (the last probe makes the start exact)
    assert search.probes <= 100


def test_since_landing_inside_a_quiet_stretch_starts_below_it_and_skips_nothing() -> None:
    ids = _sparse(10_000, seed=5, share=0.95, quiet=(6_000, 60_000))
    space = {sid: T0 + timedelta(minutes=k) for k, sid in enumerate(ids)}
    since = space[ids[5_999]] + timedelta(seconds=30)  # after our last session before the quiet
    search = _search(space, since)
    first = _truth_first(space, since)
    assert first == ids[6_000]
    assert search.start <= first
    assert [i for i in space if search.start <= i < first] == []  # lands right after ids[5999]
    assert search.probes <= 100


def test_since_before_all_data_starts_at_the_floor_and_after_all_data_near_the_top() -> None:
    ids = _sparse(5_000, seed=7, share=0.9)
    space = {sid: T0 + timedelta(minutes=k) for k, sid in enumerate(ids)}
    assert _search(space, T0 - timedelta(days=1)).start == 1
    late = _search(space, T0 + timedelta(days=365))
    assert late.start == ids[-1] + 1 and late.hi is None
    assert late.probes <= 100


def test_since_over_an_empty_id_space_says_it_found_nothing() -> None:
    search = _search({}, T0)
    assert (search.start, search.found_data) == (1, False)
    assert search.probes <= 100
