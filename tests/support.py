"""Shared test helpers: point settings at a simulator and compare the database with its truth."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from session_audit.api.client import TradovateClient
from session_audit.db.connection import connect
from session_audit.settings import Settings
from session_audit.simulator import Simulator, SimulatorConfig

# Malformed kinds the ingest must reject (no userId, startTime that is not a time); every other
# kind is kept, exactly as sent, and flagged.
REJECTED_KINDS = ("missing_user_id", "unparseable_start_time", "start_time_not_a_date")

# The simulator's present in every test: its data ends here and its API clock reads this, so no
# test depends on today's date or weekday (a Wednesday afternoon, UTC: trading is in full swing).
PINNED_NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)


# A dense id space (every id ours, small gaps): for tests about something else than the id space,
# whose request counts would otherwise grow twentyfold. The id-space tests (tests/test_id_space.py)
# use the simulator's faithful default: a sparse share of a global sequence, quiet weekends.
DENSE = {"foreign_share": 0.0, "quiet_ids": 0}


def sim_config(*, sparse: bool = False, **config: Any) -> SimulatorConfig:
    """A :class:`SimulatorConfig` with its present pinned to :data:`PINNED_NOW` (unless given),
    in a dense id space unless ``sparse``."""
    return SimulatorConfig(**{"now": PINNED_NOW, **({} if sparse else DENSE), **config})


def make_sim(*, sparse: bool = False, **config: Any) -> Simulator:
    """A simulator with its present pinned (see :func:`sim_config`)."""
    return Simulator(sim_config(sparse=sparse, **config))


# The simulator's budget; the batch size as each test sets it (tests/test_id_space.py turns
# discovery back on, as it is by default).
FAST = {
    "batch_discovery": False,
    "requests_per_hour": 1_000_000,
    "requests_per_second": 100_000,
    "backoff_base": 0.01,
    "backoff_cap": 0.05,
}


class FakeTime:
    """A clock that only moves when someone sleeps (inject ``clock`` and ``sleep``)."""

    def __init__(self, start: float = 1_772_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


def fake_time_sim(time: FakeTime, **config: Any) -> Simulator:
    """A pinned simulator whose tokens and limits run on ``time`` (see :func:`sim_config`)."""
    return Simulator(sim_config(**config), clock=time.clock, sleep=time.sleep)


def fake_time_client(
    sim: Simulator,
    time: FakeTime,
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    start_batch: int | None = None,
    **settings: Any,
) -> TradovateClient:
    """A client of ``sim`` on ``time`` (its sleeps advance it): the simulator's credentials,
    then ``settings``; ``start_batch`` is the client's starting ids per call (a remembered
    size; None: ``settings.batch_size``)."""
    return TradovateClient(
        Settings(**{**sim.settings_overrides(), **settings}),
        transport=transport or sim.transport(),
        sleep=time.sleep,
        clock=time.clock,
        batch_size=start_batch,
    )


def sim_settings(
    sim: Simulator, db: Path, *, base_url: str | None = None, **extra: Any
) -> Settings:
    """Settings that reach ``sim`` with a budget the simulator allows."""
    return Settings.model_validate({**sim.settings_overrides(base_url), "db": db, **FAST, **extra})


def sim_env(sim: Simulator, base_url: str, db: Path, **extra: Any) -> dict[str, str]:
    """The same, as SESSION_AUDIT_* environment variables for a subprocess."""
    values: dict[str, Any] = {**sim.settings_overrides(base_url), "db": db, **FAST, **extra}
    return {f"SESSION_AUDIT_{k.upper()}": str(v) for k, v in values.items()}


def ts(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def rejected_ids(sim: Simulator) -> set[int]:
    return {i for kind in REJECTED_KINDS for i in sim.malformed_ids.get(kind, [])}


def assert_db_equals_truth(sim: Simulator, db: Path) -> None:
    """``user_sessions`` equals the simulator's sessions field for field; every malformed row
    the ingest must reject is in ``rejected_sessions``; no id is stored twice.

    Sessions above the stored cursor are left for the next run, and only one kind may be there:
    sessions of the API user opened by a login after the scan had passed (a re-login mid-run, or
    the stats call of a run that skipped its scan). Likewise an API user's session stored open
    may have been closed since by a later login."""
    bad = rejected_ids(sim)
    truth = {s["id"]: s for s in sim.truth_sessions() if s["id"] not in bad}
    with connect(db, read_only=True) as conn:
        cursor = conn.execute("SELECT max(next_id) FROM ingest_state").fetchone()
    if cursor is not None and cursor[0] is not None:
        later = {sid: s for sid, s in truth.items() if sid >= cursor[0]}
        strangers = sorted(sid for sid, s in later.items() if s.get("userId") != sim.api_user_id)
        assert not strangers, f"sessions above the cursor {cursor[0]}: {strangers[:10]}"
        truth = {sid: s for sid, s in truth.items() if sid not in later}
    with connect(db, read_only=True) as conn:
        rows = conn.execute(
            "SELECT id, user_id, start_time, end_time, client_app_id, ip_address, app_id,"
            " app_version FROM user_sessions ORDER BY id"
        ).fetchall()
        rejected = [
            r[0] for r in conn.execute("SELECT session_id FROM rejected_sessions").fetchall()
        ]
    ids = [r[0] for r in rows]
    assert len(ids) == len(set(ids)), "a session id is stored twice"
    missing = sorted(set(truth) - set(ids))
    extra = sorted(set(ids) - set(truth))
    assert not missing and not extra, f"missing {missing[:10]}, extra {extra[:10]}"
    assert set(rejected) == bad
    for sid, user_id, start, end, client_app_id, ip, app_id, version in rows:
        want = truth[sid]
        assert user_id == want["userId"], sid
        assert start == ts(want["startTime"]), sid
        # A login of this run (a re-login, the next run's) may close an earlier login's session
        # of the API user after it was stored open: the next run's open re-fetch brings its end.
        closed_since = end is None and user_id == sim.api_user_id
        assert end == ts(want.get("endTime")) or closed_since, sid
        assert client_app_id == want.get("clientAppId"), sid
        assert (ip, app_id, version) == (
            want.get("ipAddress"),
            want.get("appId"),
            want.get("appVersion"),
        ), sid


@contextmanager
def served(*sims: Simulator) -> Iterator[list[str]]:
    """The simulators over HTTP on 127.0.0.1, for code that reads its base URL from settings or
    the environment (the CLI, deployment flows, Dask workers): their base URLs, in order."""
    from session_audit.simulator.server import start_background_server

    started = [start_background_server(sim) for sim in sims]
    try:
        yield [url for url, _stop in started]
    finally:
        for _url, stop in started:
            stop()
