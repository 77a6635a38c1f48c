"""ip_geo enrichment from tiny MMDB files: each IP looked up once, NULL rows for unknown
addresses, rebuilt when a database file changes, one-line errors for files that are not MMDB."""

from __future__ import annotations

from pathlib import Path

import pytest

from findings_support import PLACES, write_geo
from session_audit.analysis.geo import GeoDatabases, bundled_demo_databases, refresh_ip_geo
from session_audit.errors import ConfigError
from session_audit.simulator.planted import GEO_NETWORKS, LONDON
from test_views_data import T0, add_sessions, make_db


def _sessions(ips: list[str], first_id: int = 1) -> list[dict[str, object]]:
    return [{"id": first_id + k, "user_id": 1, "start": T0, "ip": ip} for k, ip in enumerate(ips)]


def test_each_ip_looked_up_once_and_unknown_ones_kept_as_nulls(tmp_path: Path) -> None:
    city, asn = write_geo(tmp_path)
    dbs = GeoDatabases(city=city, asn=asn)
    conn = make_db()
    # two spellings of one address count once; 'unknown' is not an address
    add_sessions(conn, _sessions(["10.1.1.1", "::ffff:10.1.1.1", "10.3.3.3", "8.8.8.8", "unknown"]))
    first = refresh_ip_geo(conn, dbs)
    assert (first.rebuilt, first.looked_up, first.available) == (
        True,
        3,
        frozenset({"city", "asn"}),
    )
    rows = conn.execute(
        "SELECT ip, country, city, accuracy_radius, asn, as_org, city_database, asn_database"
        " FROM ip_geo ORDER BY ip"
    ).fetchall()
    assert rows == [
        ("10.1.1.1", "GB", "London", 1, 2856, "BT", "Test-City", "Test-ASN"),
        ("10.3.3.3", "US", "New York", 1, 7922, "Comcast", "Test-City", "Test-ASN"),
        ("8.8.8.8", None, None, None, None, None, "Test-City", "Test-ASN"),
    ]
    again = refresh_ip_geo(conn, dbs)
    assert (again.rebuilt, again.looked_up) == (False, 0)
    add_sessions(conn, _sessions(["10.2.2.2", "10.1.1.1"], first_id=10))
    assert refresh_ip_geo(conn, dbs, since_session_id=10).looked_up == 1


def test_a_changed_database_file_rebuilds_every_row(tmp_path: Path) -> None:
    city, asn = write_geo(tmp_path)
    conn = make_db()
    add_sessions(conn, _sessions(["10.1.1.1"]))
    refresh_ip_geo(conn, GeoDatabases(city=city, asn=asn))
    moved = dict(PLACES)
    moved["10.1.1.0/24"] = ("IE", "Dublin", 53.35, -6.26, 5, 5466, "Eir")
    write_geo(tmp_path, moved)
    refreshed = refresh_ip_geo(conn, GeoDatabases(city=city, asn=asn))
    assert (refreshed.rebuilt, refreshed.looked_up) == (True, 1)
    assert conn.execute("SELECT country, city, asn FROM ip_geo").fetchall() == [
        ("IE", "Dublin", 5466)
    ]
    # dropping the ASN database is a change too: its columns empty out
    refreshed = refresh_ip_geo(conn, GeoDatabases(city=city))
    assert refreshed.rebuilt and refreshed.available == frozenset({"city"})
    assert conn.execute("SELECT country, asn, asn_database FROM ip_geo").fetchall() == [
        ("IE", None, None)
    ]


def test_an_unchanged_file_is_not_hashed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from session_audit.analysis import geo

    city, asn = write_geo(tmp_path)
    dbs = GeoDatabases(city=city, asn=asn)
    conn = make_db()
    add_sessions(conn, _sessions(["10.1.1.1"]))
    refresh_ip_geo(conn, dbs)
    hashed: list[Path] = []
    real = geo.fingerprint

    def counted(path: Path) -> tuple[str, int]:
        hashed.append(path)
        return real(path)

    monkeypatch.setattr(geo, "fingerprint", counted)
    old, future = 946_684_800, 4_102_444_800  # 2000-01-01 and 2100-01-01, UTC
    for path in (city, asn):
        os.utime(path, (old, old))  # before ip_geo was built: taken as the recorded file
    add_sessions(conn, _sessions(["10.3.3.3"], first_id=2))
    again = refresh_ip_geo(conn, dbs, since_session_id=2)
    assert (again.rebuilt, again.looked_up, hashed) == (False, 1, [])
    os.utime(city, (future, future))  # modified since: hashed, and the same content
    again = refresh_ip_geo(conn, dbs)
    assert (again.rebuilt, again.looked_up, hashed) == (False, 0, [city])


def test_files_that_are_not_mmdb_or_missing(tmp_path: Path) -> None:
    bogus = tmp_path / "city.mmdb"
    bogus.write_bytes(b"not a database")
    conn = make_db()
    add_sessions(conn, _sessions(["10.1.1.1"]))
    with pytest.raises(ConfigError, match="not a readable MMDB database"):
        refresh_ip_geo(conn, GeoDatabases(city=bogus))
    missing = GeoDatabases(city=tmp_path / "absent.mmdb")
    assert missing.available() == frozenset()
    assert missing.missing_files() == [f"GeoIP city database {tmp_path / 'absent.mmdb'} not found"]
    assert refresh_ip_geo(conn, missing).looked_up == 0


def test_bundled_demo_databases_place_the_planted_networks() -> None:
    dbs = bundled_demo_databases()
    assert dbs.available() == frozenset({"city", "asn"})
    conn = make_db()
    add_sessions(conn, _sessions([LONDON, "8.8.4.4"]))
    refresh_ip_geo(conn, dbs)
    london = next(n for n in GEO_NETWORKS if n.city == "London")
    assert conn.execute("SELECT ip, country, city, asn FROM ip_geo ORDER BY ip").fetchall() == [
        ("198.51.100.10", london.country, london.city, london.asn),
        ("8.8.4.4", None, None, None),
    ]
