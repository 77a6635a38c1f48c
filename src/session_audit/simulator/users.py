"""Seeded user accounts (spec ``User``) and each account's network habits (its IP addresses)."""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass
from typing import Any

from session_audit.simulator.timefmt import iso_ms

_FIRST = (
    "james",
    "mary",
    "john",
    "patricia",
    "robert",
    "jennifer",
    "michael",
    "linda",
    "william",
    "elizabeth",
    "david",
    "barbara",
    "richard",
    "susan",
    "joseph",
    "jessica",
    "thomas",
    "sarah",
    "charles",
    "karen",
    "chen",
    "wei",
    "li",
    "ana",
    "lucas",
    "sofia",
    "mateo",
    "yuki",
    "hiro",
    "olga",
    "ivan",
    "fatima",
    "omar",
    "priya",
    "arjun",
    "noah",
    "emma",
    "liam",
    "olivia",
)
_LAST = (
    "smith",
    "johnson",
    "williams",
    "brown",
    "jones",
    "garcia",
    "miller",
    "davis",
    "rodriguez",
    "martinez",
    "hernandez",
    "lopez",
    "gonzalez",
    "wilson",
    "anderson",
    "thomas",
    "taylor",
    "moore",
    "jackson",
    "martin",
    "lee",
    "perez",
    "thompson",
    "white",
    "harris",
    "nguyen",
    "kim",
    "patel",
    "singh",
    "muller",
    "rossi",
    "novak",
    "kowalski",
    "tanaka",
    "sato",
    "ivanov",
    "silva",
)
_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "proton.me", "fastmail.com")
_STATUSES = ("Active", "Closed", "Initiated", "TemporaryLocked", "UnconfirmedEmail")
_STATUS_WEIGHTS = (92, 4, 2, 1, 1)
_ORGANIZATIONS = (11, 12, 17, 23, 41)

DAY_MS = 86_400_000


@dataclass(frozen=True)
class Population:
    """The accounts as served by ``/user/list`` plus what session generation needs."""

    users: list[dict[str, Any]]
    user_ids: list[int]
    cum_activity: list[float]  # cumulative activity weights, for random.choices
    user_ips: list[list[int]]  # per user: indexes into ``ips``; the first is the usual one
    ips: list[str]
    shared_ips: list[int]  # indexes of IPs used by several accounts


def _ipv4(rng: random.Random) -> str:
    first = rng.choice((24, 45, 50, 66, 71, 73, 76, 81, 86, 98, 104, 174, 185, 203, 212))
    return f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def _ipv6(rng: random.Random) -> str:
    prefix = rng.choice((0x2001_0DB8, 0x2A02_0810, 0x2600_1700, 0x2607_F8B0, 0x2A01_0E0A))
    value = (
        (prefix << 96)
        | (rng.getrandbits(32) << 64)
        | rng.getrandbits(64 if rng.random() < 0.7 else 16)
    )
    return str(ipaddress.IPv6Address(value))


def new_ip(rng: random.Random, ipv6_share: float = 0.2) -> str:
    return _ipv6(rng) if rng.random() < ipv6_share else _ipv4(rng)


def generate_population(
    rng: random.Random, count: int, *, username: str, created_before_ms: int
) -> Population:
    """``count`` accounts; the first one is the auditing account that logs in (``username``)."""
    ips: list[str] = []
    shared: list[int] = []
    for _ in range(max(3, count // 40)):  # offices, VPN exits, family routers
        shared.append(len(ips))
        ips.append(new_ip(rng, 0.15))

    users: list[dict[str, Any]] = []
    user_ids: list[int] = []
    cum: list[float] = []
    user_ips: list[list[int]] = []
    next_id = 2_400_001
    total = 0.0
    taken: set[str] = set()
    for index in range(count):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        name = username if index == 0 else f"{first[0]}{last}"
        while name in taken:
            name = f"{first[0]}{last}{rng.randint(1, 9999)}"
        taken.add(name)
        created = created_before_ms - rng.randint(1, 3 * 365) * DAY_MS - rng.randint(0, DAY_MS)
        user: dict[str, Any] = {
            "id": next_id,
            "name": name,
            "timestamp": iso_ms(created),
            "email": f"{name}@{rng.choice(_DOMAINS)}",
            "status": rng.choices(_STATUSES, _STATUS_WEIGHTS)[0],
            "professional": rng.random() < 0.08,
        }
        if rng.random() < 0.9:
            user["organizationId"] = rng.choice(_ORGANIZATIONS)
        if rng.random() < 0.3:
            user["linkedUserId"] = 5_000_000 + next_id
        if rng.random() < 0.05:
            user["foreignIntroducingBrokerId"] = rng.randint(100, 140)
        users.append(user)
        user_ids.append(next_id)
        next_id += 1 if rng.random() < 0.9 else rng.randint(2, 6)

        total += min(rng.paretovariate(1.3), 150.0)
        cum.append(total)

        roll = rng.random()
        n_own = (
            rng.randint(1, 2)
            if roll < 0.7
            else rng.randint(3, 6)
            if roll < 0.95
            else rng.randint(10, 40)
        )
        own: list[int] = []
        for _ in range(n_own):
            own.append(len(ips))
            ips.append(new_ip(rng))
        if rng.random() < 0.2:  # also logs in from a shared address
            own.insert(rng.randint(0, len(own)), rng.choice(shared))
        user_ips.append(own)
    return Population(users, user_ids, cum, user_ips, ips, shared)
