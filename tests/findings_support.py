"""Helpers of the findings and GeoIP tests: tiny MMDB files, settings, findings as tuples.

The MMDB files are written with ``scripts/make_geoip_demo.py``'s :func:`write_mmdb` (dev
dependency mmdb-writer); nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb

from session_audit.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_geoip_demo", ROOT / "scripts" / "make_geoip_demo.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKE = _script()

# network -> (country, city, latitude, longitude, accuracy radius km, asn, as_org)
PLACES: dict[str, tuple[str, str, float, float, int, int, str]] = {
    "10.1.1.0/24": ("GB", "London", 51.5074, -0.1278, 1, 2856, "BT"),
    "10.2.2.0/24": ("FR", "Paris", 48.8566, 2.3522, 1, 3215, "Orange"),
    "10.3.3.0/24": ("US", "New York", 40.7128, -74.0060, 1, 7922, "Comcast"),
    "10.4.4.0/24": ("FR", "Paris", 48.8566, 2.3522, 100, 3215, "Orange"),
    "10.5.5.0/24": ("GB", "London", 51.5074, -0.1278, 100, 2856, "BT"),
    "10.6.6.0/24": ("DE", "Frankfurt", 50.1109, 8.6821, 50, 14061, "DigitalOcean"),
    "10.7.7.0/24": ("NL", "Amsterdam", 52.3676, 4.9041, 50, 64500, "Example VPN"),
    "10.8.8.0/24": ("NL", "Amsterdam", 52.3676, 4.9041, 50, 64501, "Example ISP"),
}


def write_geo(
    directory: Path, places: dict[str, tuple[str, str, float, float, int, int, str]] = PLACES
) -> tuple[Path, Path]:
    """(city.mmdb, asn.mmdb) in ``directory`` for ``places``."""
    city = [
        (net, MAKE.city_record(c, c, "-", city, lat, lon, radius))
        for net, (c, city, lat, lon, radius, _, _) in places.items()
    ]
    asn = [(net, MAKE.asn_record(a, org)) for net, (*_, a, org) in places.items()]
    return (
        MAKE.write_mmdb(directory / "city.mmdb", "Test-City", city),
        MAKE.write_mmdb(directory / "asn.mmdb", "Test-ASN", asn),
    )


def geo_settings(directory: Path, **extra: Any) -> Settings:
    """Settings with the test GeoIP files of :func:`write_geo` (written on first use)."""
    city, asn = directory / "city.mmdb", directory / "asn.mmdb"
    if not city.exists():
        write_geo(directory)
    return Settings.model_validate({"geoip_city_db": city, "geoip_asn_db": asn, **extra})


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (mean Earth radius), written independently of the SQL macro."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


def found(
    conn: duckdb.DuckDBPyConnection, rule: str | None = None
) -> set[tuple[str, str, tuple[int, ...], tuple[int, ...]]]:
    """The stored findings as {(rule, severity, user_ids, session_ids)}."""
    rows = conn.execute(
        "SELECT rule, severity, user_ids, session_ids FROM findings"
        " WHERE $rule IS NULL OR rule = $rule",
        {"rule": rule},
    ).fetchall()
    return {(r, s, tuple(u), tuple(x)) for r, s, u, x in rows}
