"""Simulator id space and visibility: a global, sparse id sequence with weekend stretches, the
API user's own sessions (scheduled runs, one per login), hidden users, URL limits and the
API clock in the ``Date`` header."""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from itertools import pairwise
from typing import Any

import httpx
import pytest

from session_audit.cli import run_app
from session_audit.simulator import (
    Fault,
    Simulator,
    SimulatorConfig,
    start_background_server,
)
from session_audit.simulator.app import http_date
from session_audit.simulator.generator import WEEK_MS, next_saturday_ms

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)  # a Sunday
T0 = 1_800_000_000.0  # the auth clock (2027-01-15): deliberately not the API clock
HOUR = 3600


class FakeClock:
    def __init__(self, start: float = T0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def make(**changes: Any) -> Simulator:
    config: dict[str, Any] = {"users": 40, "sessions": 400, "seed": 3, "now": NOW}
    clock = FakeClock()
    return Simulator(SimulatorConfig(**{**config, **changes}), clock=clock, sleep=clock.sleep)


def client(sim: Simulator) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=sim.transport(), base_url=sim.base_url)


def login_body(sim: Simulator, **changes: Any) -> dict[str, Any]:
    creds = sim.credentials
    body: dict[str, Any] = {
        "name": creds.username,
        "password": creds.password,
        "appId": "session-audit",
        "appVersion": "9.9.9",
        "cid": creds.cid,
        "sec": creds.sec,
        "deviceId": "tests",
    }
    body.update(changes)
    return body


async def login(http: httpx.AsyncClient, sim: Simulator, **changes: Any) -> httpx.Response:
    response = await http.post("/auth/accesstokenrequest", json=login_body(sim, **changes))
    assert response.status_code == 200 and "accessToken" in response.json()
    return response


def bearer(response: httpx.Response) -> dict[str, str]:
    return {"Authorization": f"Bearer {response.json()['accessToken']}"}


def date_of(response: httpx.Response) -> datetime:
    dates = response.headers.get_list("date")
    assert len(dates) == 1, dates
    return parsedate_to_datetime(dates[0])


def iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def api_clock(sim: Simulator) -> datetime:
    return datetime.fromtimestamp(sim.now_ms / 1000, UTC)


def by_id(sim: Simulator, session_id: int) -> dict[str, Any]:
    return next(s for s in sim.all_sessions() if s["id"] == session_id)


# -- the id sequence ---------------------------------------------------------------------------


@pytest.mark.parametrize("share", [0.5, 0.9, 0.95, 0.98])
def test_measured_foreign_share_matches_the_config(share: float) -> None:
    sim = Simulator(
        SimulatorConfig(
            users=300, sessions=20_000, seed=5, now=NOW, foreign_share=share, quiet_ids=0
        )
    )
    ids = [s["id"] for s in sim.truth_sessions()]
    assert len(ids) >= 20_000
    measured = 1 - len(ids) / (ids[-1] - ids[0] + 1)
    assert measured == pytest.approx(share, abs=0.005)


def test_dense_ids_when_no_other_firm_uses_the_sequence() -> None:
    sim = make(sessions=3000, foreign_share=0.0)  # quiet_ids left at its default: ignored
    ids = [s["id"] for s in sim.truth_sessions()]
    assert max(b - a for a, b in pairwise(ids)) <= 41
    assert 1 - len(ids) / (ids[-1] - ids[0] + 1) < 0.25  # ~1% of ids are followed by ~20 unused


@pytest.mark.parametrize("quiet_ids", [50_000, 120_000, 0])
def test_quiet_stretch_after_every_saturday_boundary(quiet_ids: int) -> None:
    sim = make(sessions=3000, span_days=35, quiet_ids=quiet_ids)
    table = sim.table
    ids, starts = list(table.ids), list(table.starts)
    boundaries = []
    saturday = next_saturday_ms(starts[0])
    while saturday <= starts[-1]:
        boundaries.append(saturday)
        saturday += WEEK_MS
    assert len(boundaries) == 5
    for boundary in boundaries:
        after = bisect_left(starts, boundary)  # the first session at or after Saturday 00:00
        empty = ids[after] - ids[after - 1] - 1  # consecutive ids with no session of ours
        if quiet_ids:
            assert empty >= quiet_ids
        else:
            assert empty < 1000
    stretches = sum(b - a - 1 >= max(quiet_ids, 1000) for a, b in pairwise(ids))
    assert stretches == (len(boundaries) if quiet_ids else 0)


def test_foreign_activity_skips_ids_now() -> None:
    sim = make(sessions=5000, foreign_share=0.0)
    before = sim.max_session_id
    assert before is not None
    sim.foreign_activity(60_000)
    sim.advance(6 * HOUR)
    new_ids = [s["id"] for s in sim.truth_sessions() if s["id"] > before]
    assert new_ids and new_ids[0] >= before + 60_001
    with pytest.raises(ValueError, match="n_ids"):
        sim.foreign_activity(-1)


def test_same_seed_and_now_give_identical_data() -> None:
    first, second = make(), make()
    assert first.all_sessions() == second.all_sessions()
    assert [s["id"] for s in first.all_sessions()] == list(first.table.ids)
    later = make(now=NOW + timedelta(days=1))
    other_seed = make(seed=4)
    assert later.all_sessions() != first.all_sessions()
    assert other_seed.all_sessions() != first.all_sessions()


async def test_same_seed_same_logins_same_ids() -> None:
    async def run() -> list[dict[str, Any]]:
        sim = make()
        async with client(sim) as http:
            await login(http, sim)
            sim.advance(600)
            await login(http, sim)
        return sim.all_sessions()

    assert await run() == await run()


def test_the_api_user_has_a_session_at_least_every_six_hours() -> None:
    sim = make(sessions=200, span_days=30)
    api_user = sim.api_user_id
    table = sim.table
    starts = [s for u, s in zip(table.user_ids, table.starts, strict=True) if u == api_user]
    assert len(starts) >= 30 * 4 - 1
    span_start = sim.now_ms - 30 * 86_400_000
    edges = [span_start, *starts, sim.now_ms]
    assert max(b - a for a, b in pairwise(edges)) <= 6 * HOUR * 1000 + 20 * 60_000
    served = {s["id"] for s in sim.truth_sessions() if s.get("userId") == api_user}
    assert len(served) >= len(starts) - 2  # visible (a malformed row may lack its userId)


# -- sessions opened by logins -----------------------------------------------------------------


async def test_a_login_opens_a_visible_session_of_the_api_user() -> None:
    sim = make()
    async with client(sim) as http:
        sim.advance(1800)
        earlier = max(s["id"] for s in sim.all_sessions())
        response = await login(http, sim)
        mine = sim.truth_sessions()[-1]
        assert mine["id"] > earlier
        assert iso(mine["startTime"]) == date_of(response) == NOW + timedelta(seconds=1800)
        assert mine["userId"] == sim.api_user_id == response.json()["userId"]
        assert "endTime" not in mine and mine["id"] in sim.truth_open_ids()
        assert mine["appId"] == "session-audit" and mine["appVersion"] == "9.9.9"
        assert mine["clientAppId"] == int(sim.credentials.cid)
        assert mine["ipAddress"] == "127.0.0.1"
        served = await http.get(
            "/userSession/items", params={"ids": str(mine["id"])}, headers=bearer(response)
        )
        assert served.json() == [mine]
        stats = await http.get(
            "/userSessionStats/ldeps",
            params={"masterids": str(sim.api_user_id)},
            headers=bearer(response),
        )
        assert stats.json()[0]["lastSessionTime"] == mine["startTime"]
        # sessions that arrive later get ids after it
        sim.advance(6 * HOUR)
        table = sim.table
        opened_ms = date_of(response).timestamp() * 1000
        later = [i for i, s in zip(table.ids, table.starts, strict=True) if s > opened_ms]
        assert later and min(later) > mine["id"]


async def test_a_third_login_closes_the_oldest_login_session() -> None:
    sim = make(token_ttl=4 * HOUR)
    async with client(sim) as http:
        ids = []
        for _ in range(3):
            response = await login(http, sim)
            ids.append(sim.truth_sessions()[-1]["id"])
            third_at = date_of(response)
            sim.advance(600)
    oldest, second, third = (by_id(sim, i) for i in ids)
    assert iso(oldest["endTime"]) == third_at  # closed by the API clock of the third login
    assert "endTime" not in second and "endTime" not in third
    assert sorted(ids[1:]) == [i for i in sim.truth_open_ids() if i in ids]


@pytest.mark.parametrize(
    ("renew_after", "advance_after", "open_after"),
    [
        (None, 600, True),  # within the token's life: still open
        (None, 3600, False),  # past it: closed at the token's expiry (data time)
        (1800, 3600, True),  # a renewal halfway gave it another token's life
        (1800, 1800 + 2400 + 60, False),  # ... and then that one ran out too
    ],
)
async def test_the_data_passing_the_token_expiry_closes_the_login_session(
    renew_after: int | None, advance_after: int, open_after: bool
) -> None:
    sim = make(token_ttl=2400)
    async with client(sim) as http:
        response = await login(http, sim)
        session_id = sim.truth_sessions()[-1]["id"]
        expiry = date_of(response) + timedelta(seconds=2400)
        if renew_after is not None:
            sim.advance(renew_after)
            renewed = await http.get("/auth/renewaccesstoken", headers=bearer(response))
            assert renewed.status_code == 200
            expiry = date_of(renewed) + timedelta(seconds=2400)
            sim.advance(advance_after - renew_after)
        else:
            sim.advance(advance_after)
    session = by_id(sim, session_id)
    assert ("endTime" not in session) is open_after
    if not open_after:
        assert iso(session["endTime"]) == expiry


# -- what the API leaves out -------------------------------------------------------------------


async def _scan(sim: Simulator, http: httpx.AsyncClient, auth: dict[str, str]) -> list[Any]:
    table = sim.table
    got: list[Any] = []
    ids = list(table.ids)
    for k in range(0, len(ids), 200):
        params = {"ids": ",".join(map(str, ids[k : k + 200]))}
        got.extend((await http.get("/userSession/items", params=params, headers=auth)).json())
    return got


@pytest.mark.parametrize("hide_own", [False, True])
async def test_hide_own_sessions(hide_own: bool) -> None:
    sim = make(hide_own_sessions=hide_own)
    api_user = sim.api_user_id
    async with client(sim) as http:
        response = await login(http, sim)
        auth = bearer(response)
        served = await _scan(sim, http, auth)
        stats = await http.get(
            "/userSessionStats/ldeps", params={"masterids": str(api_user)}, headers=auth
        )
    own_all = [s for s in sim.all_sessions() if s.get("userId") == api_user]
    own_served = [s for s in served if s.get("userId") == api_user]
    assert served == sim.truth_sessions()
    assert len(own_all) > 100
    assert own_served == ([] if hide_own else own_all)
    login_session = own_all[-1]
    assert iso(login_session["startTime"]) == date_of(response)
    # the stats still tell the truth, login included
    assert stats.json()[0]["lastSessionTime"] == login_session["startTime"]
    assert (sim.max_session_id == login_session["id"]) is not hide_own


async def test_withheld_users_are_left_out_but_their_stats_are_true() -> None:
    plain = make()
    active = [u for u, _ in Counter(plain.table.user_ids).most_common() if u != plain.api_user_id]
    withheld = (active[0], active[4])
    sim = make(withheld_users=withheld)
    async with client(sim) as http:
        response = await login(http, sim)
        auth = bearer(response)
        served = await _scan(sim, http, auth)
        stats = await http.get(
            "/userSessionStats/ldeps",
            params={"masterids": ",".join(map(str, withheld))},
            headers=auth,
        )
    assert served == sim.truth_sessions()
    assert not any(s.get("userId") in withheld for s in served)
    table = sim.table
    for row in stats.json():
        starts = [s for u, s in zip(table.user_ids, table.starts, strict=True) if u == row["id"]]
        assert starts, "the test needs withheld users that have sessions"
        assert iso(row["lastSessionTime"]).timestamp() * 1000 == max(starts)
    hidden = len(sim.all_sessions()) - len(sim.truth_sessions())
    assert hidden == sum(u in withheld for u in table.user_ids) > 0


# -- limits and headers ------------------------------------------------------------------------


async def test_a_request_target_over_max_url_length_gets_414() -> None:
    ids = ",".join(str(100_000 + i) for i in range(40))
    target = f"/v1/userSession/items?ids={ids}"
    sim = make(max_url_length=len(target))
    async with client(sim) as http:
        auth = bearer(await login(http, sim))
        at_limit = await http.get(f"/userSession/items?ids={ids}", headers=auth)
        above = await http.get(f"/userSession/items?ids={ids},1", headers=auth)
        above_no_token = await http.get(f"/userSession/items?ids={ids},1")
    assert at_limit.status_code == 200
    assert above.status_code == 414 == above_no_token.status_code
    assert above.headers["content-type"].startswith("text/plain") and above.text
    assert date_of(above) == NOW
    assert sim.stats.by_status[414] == 2


@pytest.mark.parametrize(
    ("path", "fault", "status"),
    [
        ("/auth/me", None, 200),
        ("/userSession/items?ids=1", None, 200),
        ("/userSession/items?ids=x", None, 400),
        ("/nowhere", None, 404),
        ("/user/list", Fault.SERVER_ERROR, 500),
        ("/user/list", Fault.RATE_LIMITED_NO_RETRY_AFTER, 429),
        ("/auth/me", Fault.TOKEN_EXPIRED, 401),
    ],
)
async def test_every_answer_carries_the_api_clock_as_date(
    path: str, fault: Fault | None, status: int
) -> None:
    sim = make()
    sim.advance(4321)
    async with client(sim) as http:
        logged_in = await login(http, sim)
        if fault is not None:
            sim.inject(fault)
        response = await http.get(path, headers=bearer(logged_in))
    assert response.status_code == status
    expected = NOW + timedelta(seconds=4321)
    assert date_of(response) == date_of(logged_in) == expected == api_clock(sim)
    assert response.headers["date"] == http_date(sim.now_ms)


def test_date_header_over_the_socket_is_the_api_clock() -> None:
    sim = make()
    base_url, stop = start_background_server(sim, port=0)
    try:
        with httpx.Client(base_url=base_url, timeout=10) as http:
            first = http.get("/auth/me")  # 401 without a token: errors carry it too
            sim.advance(90)
            body = login_body(sim)
            second = http.post("/auth/accesstokenrequest", json=body)
    finally:
        stop()
    assert first.status_code == 401 and second.status_code == 200
    assert date_of(first) == NOW  # not the wall clock: the data's present
    assert date_of(second) == NOW + timedelta(seconds=90)
    assert iso(sim.truth_sessions()[-1]["startTime"]) == date_of(second)


def test_simulate_passes_the_id_space_options(monkeypatch: pytest.MonkeyPatch) -> None:
    import signal
    import time

    import session_audit.simulator as simulator

    seen: list[Simulator] = []

    def fake_server(sim: Simulator, port: int = 0) -> tuple[str, Any]:
        seen.append(sim)
        return "http://127.0.0.1:1/v1", lambda: None

    def stop_now(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(simulator, "start_background_server", fake_server)
    monkeypatch.setattr(time, "sleep", stop_now)  # the command's wait: stop at once
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # leave pytest's handlers alone
    argv = ["simulate", "--users", "5", "--sessions", "50", "--foreign-share", "0.5"]
    assert run_app([*argv, "--quiet-ids", "7"]) == 0
    assert run_app(["simulate", "--foreign-share", "1.0"]) == 2
    assert len(seen) == 1
    assert (seen[0].config.foreign_share, seen[0].config.quiet_ids) == (0.5, 7)
