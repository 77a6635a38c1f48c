"""Write the tiny demo GeoIP databases bundled with session-audit (a few KB each).

    .venv/bin/python scripts/make_geoip_demo.py [OUT_DIR]

writes ``geoip-demo-city.mmdb`` and ``geoip-demo-asn.mmdb`` (default OUT_DIR:
``src/session_audit/data``) from :data:`session_audit.simulator.planted.GEO_NETWORKS`: the
/24s of the simulator's planted findings, laid out like MaxMind's GeoLite2 City and ASN records.
They know nothing else: they are test data, not a geolocation database. The output is
byte-for-byte reproducible (fixed build_epoch). Needs the dev dependency ``mmdb-writer``;
tests call :func:`write_mmdb` for their own tiny databases.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BUILD_EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z


def write_mmdb(
    path: Path,
    database_type: str,
    records: Sequence[tuple[str, dict[str, Any]]],
    *,
    build_epoch: int = BUILD_EPOCH,
) -> Path:
    """An MMDB file at ``path`` mapping each network (CIDR) to its record (IPv6 tree, IPv4
    addresses mapped in, as MaxMind's databases do)."""
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet  # type: ignore[import-untyped]

    class _Writer(MMDBWriter):
        def _build_meta(self) -> dict[str, Any]:
            meta: dict[str, Any] = super()._build_meta()
            meta["build_epoch"] = build_epoch
            return meta

    writer = _Writer(
        ip_version=6,
        ipv4_compatible=True,
        database_type=database_type,
        languages=["en"],
        description={"en": f"session-audit test data: {database_type}"},
        int_type="u32",
    )
    for network, record in records:
        writer.insert_network(IPSet([network]), record)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer.to_db_file(str(path))
    return path


def city_record(
    country: str,
    country_name: str,
    subdivision: str,
    city: str,
    latitude: float,
    longitude: float,
    accuracy_radius: int,
) -> dict[str, Any]:
    """A record shaped like GeoLite2 City's."""
    return {
        "city": {"names": {"en": city}},
        "country": {"iso_code": country, "names": {"en": country_name}},
        "subdivisions": [{"names": {"en": subdivision}}],
        "location": {
            "latitude": float(latitude),
            "longitude": float(longitude),
            "accuracy_radius": int(accuracy_radius),
        },
    }


def asn_record(asn: int, as_org: str) -> dict[str, Any]:
    """A record shaped like GeoLite2 ASN's."""
    return {"autonomous_system_number": int(asn), "autonomous_system_organization": as_org}


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "src"))
    from session_audit.simulator.planted import GEO_NETWORKS

    out = Path(argv[0]) if argv else root / "src" / "session_audit" / "data"
    city = [
        (
            n.network,
            city_record(
                n.country, n.country_name, n.subdivision, n.city,
                n.latitude, n.longitude, n.accuracy_radius,
            ),
        )
        for n in GEO_NETWORKS
    ]  # fmt: skip
    asn = [(n.network, asn_record(n.asn, n.as_org)) for n in GEO_NETWORKS]
    for path in (
        write_mmdb(out / "geoip-demo-city.mmdb", "session-audit-demo-City", city),
        write_mmdb(out / "geoip-demo-asn.mmdb", "session-audit-demo-ASN", asn),
    ):
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
