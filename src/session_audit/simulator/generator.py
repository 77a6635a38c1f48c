"""Seeded session generation: daily and weekly rhythm, version rollouts, overlaps, open sessions.

The data's present is ``now_ms``; sessions start over the ``span_days`` before it. ``advance``
moves the present forward: open sessions close on schedule (and some stale ones are closed) and
new sessions arrive with ids after the highest so far.

Ids come from the platform's one global sequence (:meth:`SessionGenerator.take_id`): after each
of our sessions it skips the ids other firms used (geometric, mean share / (1 - share); dense with
rare small gaps at share 0), and ``quiet_ids`` more each time our sessions cross a Saturday
00:00 UTC. Ids therefore grow with start time. The API user (``users[0]``) also gets the sessions
of this tool's earlier scheduled runs, one every ~6 hours, and each login through the simulated
API opens one more (:meth:`SessionGenerator.open_login`).
"""

from __future__ import annotations

import math
import random
import time
from itertools import accumulate

from session_audit.simulator.table import NEVER, OPEN, App, SessionTable
from session_audit.simulator.users import Population, new_ip

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
FIRST_SATURDAY_MS = 2 * DAY_MS  # 1970-01-03T00:00Z, the first Saturday of the epoch
FIRST_ID = 100_001

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
API_RUN_EVERY_MS = 6 * HOUR_MS  # earlier scheduled runs of this tool: one login per 6 hours ...
API_RUN_JITTER_MS = 20 * 60_000  # ... starting up to 20 minutes late ...
API_RUN_MINUTES = (1, 15)  # ... and lasting 1 to 15 minutes


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


def _app_table() -> tuple[list[App], dict[tuple[int, str], int]]:
    table: list[App] = []
    index: dict[tuple[int, str], int] = {}
    for client_app_id, app_id, _share, versioned in APPS:
        versions = TRADOVATE_VERSIONS if versioned else OTHER_VERSIONS[client_app_id]
        for version in dict.fromkeys(versions):
            index[(client_app_id, version)] = len(table)
            table.append((client_app_id, app_id, version))
    return table, index


def next_saturday_ms(epoch_ms: int) -> int:
    """The first Saturday 00:00 UTC strictly after ``epoch_ms``."""
    return FIRST_SATURDAY_MS + ((epoch_ms - FIRST_SATURDAY_MS) // WEEK_MS + 1) * WEEK_MS


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
        foreign_share: float = 0.0,
        quiet_ids: int = 0,
        tool_app: App = (None, "session-audit", "0.1.0"),
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
        self._tool_app = self.table.app_row(tool_app)
        self._rate_per_weight = 0.0  # sessions per (weighted hour), set by ``initial``
        # the global id sequence
        self.next_id = FIRST_ID  # the next id the platform hands out (to anyone)
        self.quiet_ids = quiet_ids
        self._log_share = math.log(foreign_share) if foreign_share > 0 else 0.0
        self._next_saturday = next_saturday_ms(self.span_start_ms)
        self._login_ips: dict[str, int] = {}

    # -- ids ---------------------------------------------------------------------------------
    def take_id(self, start_ms: int) -> int:
        """The id of our next session (starting at ``start_ms``, never before the previous one).

        Quiet stretches first (``quiet_ids`` per Saturday 00:00 UTC crossed since the previous
        session), then the id itself, then the foreign ids handed out before our next session.
        """
        if start_ms >= self._next_saturday:
            crossed = (start_ms - self._next_saturday) // WEEK_MS + 1
            self.next_id += crossed * self.quiet_ids
            self._next_saturday += crossed * WEEK_MS
        session_id = self.next_id
        rand = self.rng.random
        if self._log_share:
            skip = int(math.log(1.0 - rand()) / self._log_share)  # geometric, mean f / (1 - f)
        else:
            skip = 0 if rand() >= GAP_CHANCE else self.rng.randint(1, MAX_GAP)
        self.next_id = session_id + 1 + skip
        return session_id

    def skip_foreign(self, n_ids: int) -> None:
        """Other firms take the next ``n_ids`` ids of the sequence now."""
        self.next_id += n_ids

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
        runs: list[int] = []
        rand = self.rng.random
        slot = self.span_start_ms
        while True:
            start = slot + int(rand() * API_RUN_JITTER_MS)
            if start >= self.now_ms:
                break
            runs.append(start)
            slot += API_RUN_EVERY_MS
        starts = self._start_times(count, self.span_start_ms, self.now_ms)
        self._add(starts, stale=True, api_runs=runs)

    # -- logins through the simulated API ----------------------------------------------------
    def open_login(self, ip: str, app: App, expires_ms: int) -> int:
        """A session of the API user opened now by a login; its row (open until closed)."""
        ip_index = self._login_ips.get(ip)
        if ip_index is None:
            ip_index = self._login_ips[ip] = len(self.population.ips)
            self.population.ips.append(ip)
        table = self.table
        row = len(table)
        table.append(
            self.take_id(self.now_ms),
            self.population.user_ids[0],
            self.now_ms,
            OPEN,
            max(expires_ms, self.now_ms),
            ip_index,
            table.app_row(app),
            False,
        )
        return row

    def extend_login(self, row: int, expires_ms: int) -> None:
        """A renewal: the login's session now lasts until ``expires_ms`` (data time)."""
        table = self.table
        if row in table.open_rows:
            table.planned[row] = max(table.planned[row], expires_ms)

    def close_login(self, row: int) -> None:
        """The login's user session was revoked: its session ends now."""
        table = self.table
        if row in table.open_rows:
            table.close(row, max(self.now_ms, table.starts[row]))

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

    def _add(self, starts: list[int], *, stale: bool, api_runs: list[int] | None = None) -> None:
        """Sessions at ``starts`` (ascending) of random users, merged in start order with the
        API user's scheduled runs at ``api_runs`` (ascending)."""
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
        runs = api_runs or []
        run_k = 0
        next_run = runs[0] if runs else None
        # take_id, inlined for the hot loop (same rules; the state goes back before each run)
        log = math.log
        log_share = self._log_share
        quiet = self.quiet_ids
        next_id = self.next_id
        next_saturday = self._next_saturday
        for k, start in enumerate(starts):
            if next_run is not None and next_run <= start:
                self.next_id, self._next_saturday = next_id, next_saturday
                while next_run is not None and next_run <= start:
                    self._add_api_run(next_run)
                    run_k += 1
                    next_run = runs[run_k] if run_k < len(runs) else None
                next_id, next_saturday = self.next_id, self._next_saturday
                prev_user = -1
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
            if start >= next_saturday:
                crossed = (start - next_saturday) // WEEK_MS + 1
                next_id += crossed * quiet
                next_saturday += crossed * WEEK_MS
            session_id = next_id
            if log_share:
                next_id += 1 + int(log(1.0 - rand()) / log_share)
            elif rand() < GAP_CHANCE:
                next_id += 1 + rng.randint(1, MAX_GAP)
            else:
                next_id += 1
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
        self.next_id, self._next_saturday = next_id, next_saturday
        for run in runs[run_k:]:
            self._add_api_run(run)

    def _add_api_run(self, start: int) -> None:
        """One earlier scheduled run of this tool: a short session of the API user."""
        rand = self.rng.random
        low, high = API_RUN_MINUTES
        planned_end = start + int((low + rand() * (high - low)) * 60_000)
        end, planned = (OPEN, planned_end) if planned_end > self.now_ms else (planned_end, NEVER)
        self.table.append(
            self.take_id(start),
            self.population.user_ids[0],
            start,
            end,
            planned,
            self.population.user_ips[0][0],
            self._tool_app,
            False,
        )

    def _overlap_previous(self, start: int) -> None:
        """Make the previous session still open when the next one (same user) starts."""
        table = self.table
        row = len(table) - 1
        end = table.ends[row]
        if end != OPEN and end <= start:
            new_end = min(start + 60_000 + int(self.rng.random() * HOUR_MS), self.now_ms)
            if new_end > start:
                table.ends[row] = new_end
