"""Seeded session generation: daily and weekly rhythm, version rollouts, overlaps, open sessions.

The data's present is ``now_ms``; sessions start over the ``span_days`` before it. ``advance``
moves the present forward: open sessions close on schedule (and some stale ones are closed) and
new sessions arrive with ids after the highest so far.
"""

from __future__ import annotations

import math
import random
import time
from itertools import accumulate

from session_audit.simulator.table import NEVER, OPEN, SessionTable
from session_audit.simulator.users import Population, new_ip

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

# Relative activity by UTC hour (futures: US session strongest, nights quiet) and by weekday
# (Monday=0; the market is shut on Saturday and reopens on Sunday evening).
HOUR_WEIGHTS = (
    0.25, 0.2, 0.15, 0.12, 0.12, 0.15, 0.25, 0.45, 0.7, 0.85, 0.9, 0.95,
    1.0, 1.0, 1.0, 1.0, 1.0, 0.95, 0.85, 0.7, 0.55, 0.45, 0.4, 0.3,
)  # fmt: skip
WEEKDAY_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 0.9, 0.12, 0.35)

TRADOVATE_VERSIONS = ("1.9", "1.10", "2.0-beta", "2.0")
# (clientAppId, appId, share of sessions, versioned by the Tradovate rollout?)
APPS = (
    (1, "tradovate_trader", 0.50, True),
    (2, "tradovate_mobile", 0.25, True),
    (8, "TradingView", 0.15, False),
    (12, "NinjaTrader", 0.07, False),
    (30, "CustomApi", 0.03, False),
)
OTHER_VERSIONS = {8: ("1.0", "1.0"), 12: ("8.1.2", "8.1.3"), 30: ("0.3.1", "0.4.0")}

GAP_CHANCE = 0.01  # after this share of ids the next few dozen ids were never used
MAX_GAP = 40
OVERLAP_CHANCE = 0.02  # a session opened while the same user's previous one is still open
STALE_CLOSE_PER_DAY = 0.1  # share of stale open sessions closed per day of advance


def _ramp(x: float) -> float:
    """Adoption of a release ``x`` (fraction of the span) after it shipped: 0 -> 0.97."""
    return 0.0 if x <= 0 else min(x / 0.12, 0.97)


def tradovate_version(progress: float, u: float) -> str:
    """The Tradovate app version of a session at ``progress`` (0..1+) through the span."""
    p20 = _ramp(progress - 0.8)
    pbeta = 0.12 * _ramp(progress - 0.6) * (1.0 - p20)
    p110 = _ramp(progress - 0.3) * (1.0 - p20 - pbeta)
    if u < p20:
        return "2.0"
    if u < p20 + pbeta:
        return "2.0-beta"
    if u < p20 + pbeta + p110:
        return "1.10"
    return "1.9"


def _app_table() -> tuple[list[tuple[int, str, str]], dict[tuple[int, str], int]]:
    table: list[tuple[int, str, str]] = []
    index: dict[tuple[int, str], int] = {}
    for client_app_id, app_id, _share, versioned in APPS:
        versions = TRADOVATE_VERSIONS if versioned else OTHER_VERSIONS[client_app_id]
        for version in dict.fromkeys(versions):
            index[(client_app_id, version)] = len(table)
            table.append((client_app_id, app_id, version))
    return table, index


def rhythm_weight(epoch_ms: int) -> float:
    tm = time.gmtime(epoch_ms // 1000)
    return WEEKDAY_WEIGHTS[tm.tm_wday] * HOUR_WEIGHTS[tm.tm_hour]


class SessionGenerator:
    """Creates the initial sessions and, on ``advance``, the sessions of the next interval."""

    def __init__(
        self,
        rng: random.Random,
        population: Population,
        *,
        now_ms: int,
        span_days: int,
        open_fraction: float,
    ) -> None:
        self.rng = rng
        self.population = population
        self.now_ms = now_ms
        self.span_start_ms = now_ms - span_days * DAY_MS
        self._span_ms = span_days * DAY_MS
        self.open_fraction = open_fraction
        apps, self._app_index = _app_table()
        self.table = SessionTable(population.ips, apps)
        self._app_cum = list(accumulate(share for _, _, share, _ in APPS))
        self._next_id = 100_001
        self._rate_per_weight = 0.0  # sessions per (weighted hour), set by ``initial``

    # -- time --------------------------------------------------------------------------------
    def _slots(self, begin_ms: int, end_ms: int) -> tuple[list[int], list[int], list[float]]:
        """Hour slots covering [begin, end): starts, lengths, cumulative rhythm weights."""
        starts: list[int] = []
        lengths: list[int] = []
        weights: list[float] = []
        slot = begin_ms
        while slot < end_ms:
            nxt = min((slot // HOUR_MS + 1) * HOUR_MS, end_ms)
            starts.append(slot)
            lengths.append(nxt - slot)
            weights.append(rhythm_weight(slot) * (nxt - slot) / HOUR_MS)
            slot = nxt
        return starts, lengths, list(accumulate(weights))

    def _start_times(self, count: int, begin_ms: int, end_ms: int) -> list[int]:
        starts, lengths, cum = self._slots(begin_ms, end_ms)
        if count == 0 or not starts:
            return []
        rand = self.rng.random
        picks = self.rng.choices(range(len(starts)), cum_weights=cum, k=count)
        result = [starts[p] + int(rand() * lengths[p]) for p in picks]
        result.sort()
        return result

    # -- sessions ----------------------------------------------------------------------------
    def initial(self, count: int) -> None:
        _, _, cum = self._slots(self.span_start_ms, self.now_ms)
        self._rate_per_weight = count / cum[-1] if cum and cum[-1] > 0 else 0.0
        self._add(self._start_times(count, self.span_start_ms, self.now_ms), stale=True)

    def advance(self, seconds: float) -> None:
        """Move the present forward: close sessions that ended, add sessions that began."""
        if seconds <= 0:
            return
        old = self.now_ms
        new = old + round(seconds * 1000)
        self.now_ms = new
        table = self.table
        rand = self.rng.random
        stale_close = min(1.0, STALE_CLOSE_PER_DAY * seconds / 86_400)
        for row in sorted(table.open_rows):
            planned = table.planned[row]
            if planned != NEVER:
                if planned <= new:
                    table.close(row, planned)
            elif rand() < stale_close:
                table.close(row, max(old, table.starts[row]) + int(rand() * (new - old)))
        _, _, cum = self._slots(old, new)
        expected = self._rate_per_weight * (cum[-1] if cum else 0.0)
        count = int(expected) + (1 if rand() < expected - int(expected) else 0)
        self._add(self._start_times(count, old, new), stale=False)

    def _add(self, starts: list[int], *, stale: bool) -> None:
        pop = self.population
        table = self.table
        rng = self.rng
        rand = rng.random
        now = self.now_ms
        span = self._span_ms
        user_picks = rng.choices(
            range(len(pop.user_ids)), cum_weights=pop.cum_activity, k=len(starts)
        )
        app_cum = self._app_cum
        app_index = self._app_index
        user_ids = pop.user_ids
        user_ips = pop.user_ips
        mu, sigma = math.log(45 * 60), 1.1
        lognorm = rng.lognormvariate
        open_fraction = self.open_fraction if stale else 0.0
        prev_user = -1
        prev_ip = -1
        for k, start in enumerate(starts):
            user = user_picks[k]
            overlap = prev_user >= 0 and rand() < OVERLAP_CHANCE
            if overlap:
                user = prev_user
            ips = user_ips[user]
            r = rand()
            if len(ips) == 1 or r < 0.6:
                ip = ips[0]
            else:
                ip = ips[1 + int((r - 0.6) / 0.4 * (len(ips) - 1))]
            if overlap:
                if ip == prev_ip:
                    ip = next((i for i in ips if i != prev_ip), -1)
                if ip < 0:  # a second device on another network
                    ip = len(pop.ips)
                    pop.ips.append(new_ip(rng))
                    ips.append(ip)
                self._overlap_previous(start)
            # app and version
            r = rand()
            kind = 0
            while kind < len(app_cum) - 1 and r * app_cum[-1] > app_cum[kind]:
                kind += 1
            client_app_id, _app_id, _share, versioned = APPS[kind]
            progress = (start - self.span_start_ms) / span
            if versioned:
                version = tradovate_version(progress, rand())
            else:
                old_v, new_v = OTHER_VERSIONS[client_app_id]
                version = new_v if rand() < _ramp(progress - 0.5) else old_v
            app = app_index[(client_app_id, version)]
            # duration and state
            duration = min(int(lognorm(mu, sigma) * 1000), 20 * HOUR_MS) + 5_000
            planned_end = start + duration
            if planned_end > now:
                end, planned = OPEN, planned_end
            elif open_fraction and rand() < open_fraction:
                end, planned = OPEN, NEVER
            else:
                end, planned = planned_end, NEVER
            session_id = self._next_id
            self._next_id += 1 if rand() >= GAP_CHANCE else 1 + rng.randint(1, MAX_GAP)
            table.append(
                session_id,
                user_ids[user],
                start,
                end,
                planned,
                ip,
                app,
                end == OPEN and rand() < 0.5,
            )
            prev_user, prev_ip = user, ip

    def _overlap_previous(self, start: int) -> None:
        """Make the previous session still open when the next one (same user) starts."""
        table = self.table
        row = len(table) - 1
        end = table.ends[row]
        if end != OPEN and end <= start:
            new_end = min(start + 60_000 + int(self.rng.random() * HOUR_MS), self.now_ms)
            if new_end > start:
                table.ends[row] = new_end
