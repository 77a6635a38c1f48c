"""Planted findings: known users whose sessions show each pattern the detection rules look for.

With ``SimulatorConfig(plant_findings=True)`` the simulator adds the users of :data:`ROLES`
(after the generated ones, never picked for random sessions, status Active, not linked) and
their sessions, at fixed offsets before the data's present, merged into the id sequence in
start order (later ids shift up by the number of planted rows before them; malformed rows keep
their kind). Tests and the demo read :attr:`Planted.users` and :attr:`Planted.sessions` to
assert exactly which findings fire.

The addresses come from documentation and benchmark ranges (192.0.2.0/24, 198.51.100.0/24,
198.18.0.0/15) that the generator never produces; :data:`GEO_NETWORKS` says where each
/24 is and which network (ASN) it belongs to, and ``scripts/make_geoip_demo.py`` writes the
bundled tiny MMDB files (``session_audit/data/geoip-demo-*.mmdb``) from it.

Patterns (times relative to the present, UTC):

* ``traveller``: London sessions from day -30, then London at day -2 12:00 and New York 40
  minutes later: impossible travel (~5,570 km in 40 min) and a new country (US).
* ``commuter``: the near miss: London from day -30, then London at day -1 09:00 and Paris an
  hour later (~340 km/h, under 900): no travel finding, only a new country (FR).
* ``cloud``: Chicago from day -40, then one session from a DigitalOcean datacenter in Frankfurt
  at day -1: hosting ASN, new ASN, new country (DE).
* ``sleeper``: Chicago sessions days -110..-100, then Dallas (same ASN, another network) at
  day -3: dormant account reactivated from a new network.
* ``burst``: Chicago from day -30, then five new addresses within 40 minutes at day -1.
* ``household_a/b/c``: three unlinked accounts logging in from one home address.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

from session_audit.simulator.generator import SessionGenerator
from session_audit.simulator.table import NEVER
from session_audit.simulator.timefmt import iso_ms
from session_audit.simulator.users import Population

DAY_MS = 86_400_000
MINUTE_MS = 60_000
PLANTED_APP = (1, "tradovate_trader", "2.0")


@dataclass(frozen=True)
class GeoNetwork:
    """One /24 of the bundled demo GeoIP databases."""

    network: str
    country: str
    country_name: str
    subdivision: str
    city: str
    latitude: float
    longitude: float
    accuracy_radius: int
    asn: int
    as_org: str


GEO_NETWORKS: tuple[GeoNetwork, ...] = (
    GeoNetwork("198.51.100.0/24", "GB", "United Kingdom", "England", "London",
               51.5074, -0.1278, 20, 2856, "British Telecommunications PLC"),
    GeoNetwork("198.18.50.0/24", "FR", "France", "Île-de-France", "Paris",
               48.8566, 2.3522, 20, 3215, "Orange S.A."),
    GeoNetwork("192.0.2.0/24", "US", "United States", "New York", "New York",
               40.7128, -74.0060, 20, 7922, "Comcast Cable Communications, LLC"),
    GeoNetwork("198.18.10.0/24", "US", "United States", "Illinois", "Chicago",
               41.8781, -87.6298, 20, 7922, "Comcast Cable Communications, LLC"),
    GeoNetwork("198.18.20.0/24", "US", "United States", "Texas", "Dallas",
               32.7767, -96.7970, 20, 7922, "Comcast Cable Communications, LLC"),
    GeoNetwork("198.18.30.0/24", "DE", "Germany", "Hesse", "Frankfurt am Main",
               50.1109, 8.6821, 50, 14061, "DigitalOcean, LLC"),
)  # fmt: skip

LONDON, LONDON_2 = "198.51.100.10", "198.51.100.11"
PARIS = "198.18.50.20"
NEW_YORK = "192.0.2.30"
CHICAGO_CLOUD, CHICAGO_SLEEPER, CHICAGO_BURST = "198.18.10.40", "198.18.10.41", "198.18.10.42"
DALLAS = "198.18.20.50"
FRANKFURT_DC = "198.18.30.60"
BURST_IPS = tuple(f"198.18.40.{n}" for n in range(1, 6))
HOME = "198.18.10.200"

ROLES = (
    "traveller",
    "commuter",
    "cloud",
    "sleeper",
    "burst",
    "household_a",
    "household_b",
    "household_c",
)


@dataclass(frozen=True)
class PlantedSession:
    role: str
    tag: str  # what the session is in its pattern ("history", "jump", "wake", ...)
    start_ms: int
    minutes: int
    ip: str


@dataclass
class Planted:
    """What was planted: user id per role; session ids per role and per (role, tag)."""

    users: dict[str, int] = field(default_factory=dict)
    sessions: dict[str, list[int]] = field(default_factory=dict)
    tagged: dict[tuple[str, str], list[int]] = field(default_factory=dict)


def plan(now_ms: int) -> list[PlantedSession]:
    """The planted sessions, in start order."""
    day = DAY_MS
    base = now_ms - now_ms % day  # 00:00 UTC of the present's day
    sessions: list[PlantedSession] = []

    def add(role: str, tag: str, start: int, ip: str, minutes: int = 10) -> None:
        sessions.append(PlantedSession(role, tag, start, minutes, ip))

    for n in range(30, 4, -5):  # days -30, -25, ..., -5 at 08:00
        add("traveller", "history", base - n * day + 8 * 60 * MINUTE_MS, LONDON)
        add("commuter", "history", base - n * day + 7 * 60 * MINUTE_MS, LONDON_2)
        add("burst", "history", base - n * day + 15 * 60 * MINUTE_MS, CHICAGO_BURST)
    add("traveller", "from", base - 2 * day + 12 * 60 * MINUTE_MS, LONDON)
    add("traveller", "to", base - 2 * day + (12 * 60 + 40) * MINUTE_MS, NEW_YORK)
    add("commuter", "from", base - day + 9 * 60 * MINUTE_MS, LONDON_2)
    add("commuter", "to", base - day + 10 * 60 * MINUTE_MS, PARIS)
    for n in range(40, 1, -6):  # days -40, -34, ..., -4
        add("cloud", "history", base - n * day + 14 * 60 * MINUTE_MS, CHICAGO_CLOUD)
    add("cloud", "datacenter", base - day + 3 * 60 * MINUTE_MS, FRANKFURT_DC)
    for n in (110, 105, 100):
        add("sleeper", "history", base - n * day + 18 * 60 * MINUTE_MS, CHICAGO_SLEEPER)
    add("sleeper", "wake", base - 3 * day + 18 * 60 * MINUTE_MS, DALLAS)
    for k, ip in enumerate(BURST_IPS):
        add("burst", "burst", base - day + (20 * 60 + 10 * k) * MINUTE_MS, ip, minutes=5)
    for k, role in enumerate(("household_a", "household_b", "household_c")):
        for n in (20, 10, 2):
            add(role, "home", base - n * day + (19 * 60 + 20 * k) * MINUTE_MS, HOME)
    sessions.sort(key=lambda s: (s.start_ms, ROLES.index(s.role)))
    return [s for s in sessions if s.start_ms + s.minutes * MINUTE_MS < now_ms]


def _add_users(population: Population, created_ms: int) -> dict[str, int]:
    users: dict[str, int] = {}
    next_id = max(population.user_ids) + 1
    last_weight = population.cum_activity[-1] if population.cum_activity else 0.0
    for role in ROLES:
        name = f"planted_{role}"
        population.users.append(
            {
                "id": next_id,
                "name": name,
                "timestamp": iso_ms(created_ms),
                "email": f"{name}@example.com",
                "status": "Active",
                "professional": False,
                "organizationId": 11,
            }
        )
        population.user_ids.append(next_id)
        population.cum_activity.append(last_weight)  # weight 0: never a random session
        population.user_ips.append([])
        users[role] = next_id
        next_id += 1
    return users


def plant_findings(
    population: Population, generator: SessionGenerator, malformed_ids: dict[str, list[int]]
) -> Planted:
    """Add the planted users and sessions to the generated data (see the module docstring).

    Call once, right after generation and the malformed rows, before anything is served."""
    table = generator.table
    now_ms = generator.now_ms
    planted = Planted(users=_add_users(population, now_ms - 400 * DAY_MS))
    ip_rows: dict[str, int] = {}
    app = table.app_row(PLANTED_APP)
    new_rows: list[tuple[int, PlantedSession]] = []
    for session in plan(now_ms):
        if session.ip not in ip_rows:
            ip_rows[session.ip] = len(population.ips)
            population.ips.append(session.ip)
        user_index = population.user_ids.index(planted.users[session.role])
        if ip_rows[session.ip] not in population.user_ips[user_index]:
            population.user_ips[user_index].append(ip_rows[session.ip])
        new_rows.append((bisect_right(table.starts, session.start_ms), session))
    old_to_new = _merge(table, new_rows, ip_rows, app, planted)
    for kind, ids in malformed_ids.items():
        malformed_ids[kind] = [old_to_new[i] for i in ids]
    generator.next_id += len(new_rows)
    return planted


def _merge(
    table: Any,
    new_rows: list[tuple[int, PlantedSession]],
    ip_rows: dict[str, int],
    app: int,
    planted: Planted,
) -> dict[int, int]:
    """Rebuild the table's arrays with the planted rows inserted at their positions; ids of
    later rows shift up so that ids stay ascending. Returns old id -> new id."""
    columns = ("ids", "user_ids", "starts", "ends", "planned", "ip_index", "app_index")
    old = {name: getattr(table, name) for name in columns}
    old_end_null = table.end_null
    fresh = {name: array(old[name].typecode) for name in columns}
    end_null = bytearray()
    overrides: dict[int, dict[str, Any]] = {}
    open_rows: set[int] = set()
    old_to_new: dict[int, int] = {}
    previous = (old["ids"][0] - 1) if len(old["ids"]) else 100_000
    offset = 0
    k = 0

    def put_old(row: int) -> None:
        nonlocal previous
        new_id = old["ids"][row] + offset
        old_to_new[old["ids"][row]] = new_id
        position = len(fresh["ids"])
        for name in columns:
            fresh[name].append(new_id if name == "ids" else old[name][row])
        end_null.append(old_end_null[row])
        if row in table.overrides:
            overrides[position] = table.overrides[row]
        if row in table.open_rows:
            open_rows.add(position)
        previous = new_id

    for row in range(len(old["ids"]) + 1):
        while k < len(new_rows) and new_rows[k][0] == row:
            session = new_rows[k][1]
            previous += 1
            offset += 1
            user_id = planted.users[session.role]
            values = (
                previous,
                user_id,
                session.start_ms,
                session.start_ms + session.minutes * MINUTE_MS,
                NEVER,
                ip_rows[session.ip],
                app,
            )
            for name, value in zip(columns, values, strict=True):
                fresh[name].append(value)
            end_null.append(0)
            planted.sessions.setdefault(session.role, []).append(previous)
            planted.tagged.setdefault((session.role, session.tag), []).append(previous)
            k += 1
        if row < len(old["ids"]):
            put_old(row)
    for name in columns:
        setattr(table, name, fresh[name])
    table.end_null = end_null
    table.overrides = overrides
    table.open_rows = open_rows
    table.rebind()  # as_dict must read the new arrays, not the old ones
    return old_to_new
