"""GeoIP and ASN enrichment from MMDB files the user supplies: the ``ip_geo`` table.

Contract:

* The files are the user's (settings ``geoip_city_db`` / ``geoip_asn_db``, env
  ``SESSION_AUDIT_GEOIP_CITY_DB`` / ``SESSION_AUDIT_GEOIP_ASN_DB``): MaxMind GeoLite2/GeoIP2 City
  and ASN, or DB-IP lite, in the MMDB format, read with the ``maxminddb`` package. Nothing is
  ever downloaded.
* :func:`refresh_ip_geo` looks every distinct canonical IP of ``user_sessions`` (column ``ip``)
  up once and stores one ``ip_geo`` row per IP (NULLs when the databases do not know it, so it
  is not looked up again); after an ingest only the new sessions' addresses not yet in
  ``ip_geo`` are looked up. Each file is identified by its sha256 and size (``geoip_sources``):
  when a configured file changes, or a kind is added or removed, every row is looked up again.
  A file at the recorded path, of the recorded size and last modified (2 s margin) before
  ``ip_geo`` was built from it (``loaded_at``; both the local clock) is not hashed again: a
  GeoLite2 City file is about 70 MB, hashing it took longer than evaluating the rules after a
  small ingest.
* A kind whose file is not configured, or configured but missing, is not available: the rules
  that need it are skipped by :mod:`session_audit.analysis.findings` (never an error). A file
  that exists but is not an MMDB database is a :class:`ConfigError` (a user mistake).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from session_audit.db.connection import transaction
from session_audit.db.sqlfiles import query_sql
from session_audit.errors import ConfigError, StorageError
from session_audit.settings import Settings

KINDS = ("city", "asn")
_MTIME_MARGIN = timedelta(seconds=2)
_COLUMNS = (
    "ip",
    "country",
    "subdivision",
    "city",
    "latitude",
    "longitude",
    "accuracy_radius",
    "asn",
    "as_org",
    "city_database",
    "city_database_built",
    "asn_database",
    "asn_database_built",
)


@dataclass(frozen=True)
class GeoDatabases:
    """The configured MMDB files; a kind is available when its file exists."""

    city: Path | None = None
    asn: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> GeoDatabases:
        return cls(city=settings.geoip_city_db, asn=settings.geoip_asn_db)

    def path(self, kind: str) -> Path | None:
        return self.city if kind == "city" else self.asn

    def available(self) -> frozenset[str]:
        """The kinds whose file exists."""
        return frozenset(k for k in KINDS if (p := self.path(k)) is not None and p.is_file())

    def missing_files(self) -> list[str]:
        """One line per configured file that does not exist."""
        return [
            f"GeoIP {kind} database {p} not found"
            for kind in KINDS
            if (p := self.path(kind)) is not None and not p.is_file()
        ]


@dataclass(frozen=True)
class SourceFile:
    """One opened database file: what identifies it and its metadata."""

    kind: str
    path: Path
    sha256: str
    size: int
    database_type: str
    built_at: datetime


@dataclass(frozen=True)
class GeoRefresh:
    """What :func:`refresh_ip_geo` did."""

    available: frozenset[str]
    rebuilt: bool
    looked_up: int


def fingerprint(path: Path) -> tuple[str, int]:
    """(sha256 hex, size) of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
                size += len(block)
    except OSError as exc:
        raise ConfigError(f"cannot read the GeoIP database {path}: {exc}") from exc
    return digest.hexdigest(), size


def open_reader(path: Path) -> Any:
    """A ``maxminddb`` reader of ``path``; ConfigError (one line) when it is not an MMDB file."""
    import maxminddb

    try:
        return maxminddb.open_database(str(path))
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        raise ConfigError(f"{path} is not a readable MMDB database: {exc}") from exc


def _english(names: Any) -> str | None:
    if isinstance(names, Mapping):
        value = names.get("en")
        return str(value) if value is not None else None
    return None


def city_fields(record: Any) -> dict[str, Any]:
    """country, subdivision, city, latitude, longitude, accuracy_radius of a City record."""
    if not isinstance(record, Mapping):
        return {}
    country = record.get("country") or record.get("registered_country") or {}
    subdivisions = record.get("subdivisions") or []
    location = record.get("location") or {}
    first_sub = subdivisions[0] if subdivisions and isinstance(subdivisions, list) else {}
    return {
        "country": country.get("iso_code") if isinstance(country, Mapping) else None,
        "subdivision": _english(first_sub.get("names")) if isinstance(first_sub, Mapping) else None,
        "city": _english((record.get("city") or {}).get("names")),
        "latitude": _float(location.get("latitude")),
        "longitude": _float(location.get("longitude")),
        "accuracy_radius": _int(location.get("accuracy_radius")),
    }


def asn_fields(record: Any) -> dict[str, Any]:
    """asn and as_org of an ASN record."""
    if not isinstance(record, Mapping):
        return {}
    org = record.get("autonomous_system_organization")
    return {
        "asn": _int(record.get("autonomous_system_number")),
        "as_org": str(org) if org is not None else None,
    }


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def lookup_rows(ips: Iterable[str], sources: Mapping[str, SourceFile]) -> list[dict[str, Any]]:
    """One ``ip_geo`` row per address from the open ``sources`` (kind -> file)."""
    readers = {kind: open_reader(source.path) for kind, source in sources.items()}
    try:
        rows: list[dict[str, Any]] = []
        for ip in ips:
            row: dict[str, Any] = dict.fromkeys(_COLUMNS)
            row["ip"] = ip
            for kind, reader in readers.items():
                source = sources[kind]
                try:
                    record = reader.get(ip)
                except ValueError:  # not an address this database can hold
                    record = None
                row.update(city_fields(record) if kind == "city" else asn_fields(record))
                row[f"{kind}_database"] = source.database_type
                row[f"{kind}_database_built"] = source.built_at
            rows.append(row)
        return rows
    finally:
        for reader in readers.values():
            reader.close()


def open_sources(
    databases: GeoDatabases, known: Mapping[str, tuple[str, int, str, datetime]] | None = None
) -> dict[str, SourceFile]:
    """The available files with their fingerprint and metadata. ``known``: kind -> (sha256,
    size, path, loaded_at) as recorded in ``geoip_sources``; a file with that path and size
    modified before ``loaded_at`` keeps the recorded sha256 (not hashed again)."""
    sources: dict[str, SourceFile] = {}
    for kind in sorted(databases.available()):
        path = databases.path(kind)
        assert path is not None
        recorded = (known or {}).get(kind)
        if recorded is not None and _unchanged(path, recorded):
            sha, size = recorded[0], recorded[1]
        else:
            sha, size = fingerprint(path)
        reader = open_reader(path)
        try:
            meta = reader.metadata()
            built = datetime.fromtimestamp(int(meta.build_epoch), UTC)
            sources[kind] = SourceFile(kind, path, sha, size, str(meta.database_type), built)
        finally:
            reader.close()
    return sources


def _unchanged(path: Path, recorded: tuple[str, int, str, datetime]) -> bool:
    """Whether ``path`` is the recorded file: same path and size, not modified since it was
    loaded."""
    _, size, recorded_path, loaded_at = recorded
    try:
        stat = path.stat()
    except OSError:
        return False
    if str(path) != recorded_path or stat.st_size != size or loaded_at is None:
        return False
    # a margin for coarse file-system timestamps: a file written just after the load must not
    # look older than it
    return datetime.fromtimestamp(stat.st_mtime, UTC) < loaded_at - _MTIME_MARGIN


def refresh_ip_geo(
    conn: duckdb.DuckDBPyConnection,
    databases: GeoDatabases,
    *,
    since_session_id: int | None = None,
    own_transaction: bool = True,
) -> GeoRefresh:
    """Bring ``ip_geo`` up to date with the available files (one transaction; with
    ``own_transaction=False`` in the caller's, which it opened).

    Rebuilds every row when the files differ from ``geoip_sources``; then looks up the canonical
    IPs not yet in ``ip_geo`` (of sessions with id >= ``since_session_id``; None: all)."""
    try:
        recorded = {
            str(kind): (str(sha), int(size), str(path), loaded_at)
            for kind, sha, size, path, loaded_at in conn.execute(
                query_sql("geo", "sources")
            ).fetchall()
        }
    except duckdb.Error as exc:
        raise StorageError(f"cannot read geoip_sources: {exc}") from exc
    sources = open_sources(databases, recorded)
    try:
        stored = {kind: (sha, size) for kind, (sha, size, _, _) in recorded.items()}
        wanted = {kind: (s.sha256, s.size) for kind, s in sources.items()}
        rebuilt = stored != wanted
        with transaction(conn) if own_transaction else contextlib.nullcontext(conn):
            if rebuilt:
                conn.execute(query_sql("geo", "clear"))
                for source in sources.values():
                    conn.execute(
                        query_sql("geo", "source_insert"),
                        {
                            "kind": source.kind,
                            "path": str(source.path),
                            "database_type": source.database_type,
                            "built_at": source.built_at,
                            "sha256": source.sha256,
                            "size": source.size,
                        },
                    )
            looked_up = 0
            if sources:
                since = None if rebuilt else since_session_id
                ips = [
                    str(r[0])
                    for r in conn.execute(
                        query_sql("geo", "unknown_ips"), {"since_id": since}
                    ).fetchall()
                ]
                looked_up = _store(conn, lookup_rows(ips, sources))
    except duckdb.Error as exc:
        raise StorageError(f"cannot update ip_geo: {exc}") from exc
    return GeoRefresh(frozenset(sources), rebuilt, looked_up)


def _store(conn: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    import pyarrow as pa

    schema = pa.schema(
        [
            ("ip", pa.string()),
            ("country", pa.string()),
            ("subdivision", pa.string()),
            ("city", pa.string()),
            ("latitude", pa.float64()),
            ("longitude", pa.float64()),
            ("accuracy_radius", pa.int32()),
            ("asn", pa.int64()),
            ("as_org", pa.string()),
            ("city_database", pa.string()),
            ("city_database_built", pa.timestamp("us", tz="UTC")),
            ("asn_database", pa.string()),
            ("asn_database_built", pa.timestamp("us", tz="UTC")),
        ]
    )
    # column by column (from_pylist converts each row's dict: ~3x slower for a few hundred rows)
    frame = pa.table([[row[name] for row in rows] for name in schema.names], schema=schema)
    conn.register("geo_staged", frame)
    try:
        conn.execute(query_sql("geo", "insert"))
    finally:
        conn.unregister("geo_staged")
    return len(rows)


def bundled_demo_databases() -> GeoDatabases:
    """The tiny test databases shipped in ``session_audit/data`` (written by
    ``scripts/make_geoip_demo.py``): they place only the simulator's planted addresses. For the
    demo and tests, never for real data."""
    from importlib import resources

    data = Path(str(resources.files("session_audit").joinpath("data")))
    return GeoDatabases(city=data / "geoip-demo-city.mmdb", asn=data / "geoip-demo-asn.mmdb")
