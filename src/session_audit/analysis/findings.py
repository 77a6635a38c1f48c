"""Detection rules over the stored sessions: evaluate them, keep their findings, acknowledge.

Contract:

* A rule is one file ``sql/rules/<name>.sql`` (header: what it means, why it matters, its
  thresholds as named settings) whose SELECT returns the finding columns ``severity,
  finding_key, user_ids, session_ids, first_seen, last_seen, summary, evidence``. It may use
  the parameters ``$org``, ``$since_id`` (only findings that involve a session with id >= it;
  0 for a full evaluation), ``$full`` and the thresholds of :func:`rule_parameters`; each rule
  receives exactly the parameters its SQL names. It may read the temp view
  ``finding_recent_sessions`` (``user_sessions`` over the evaluation's window: the sessions
  running at or after 00:00 UTC of the day of the earliest new session; all of them for a
  full evaluation) and the variable ``session_audit_findings_window`` (``since``, ``newest``).
  :data:`RULES` lists them with the GeoIP databases they need and the maintained tables they
  read (``ip_geo``, ``ip_user_rollup``).
* :func:`evaluate_findings` refreshes ``ip_geo`` from the configured MMDB files
  (:mod:`.geo`: only addresses not yet looked up), brings ``ip_user_rollup`` up to date when
  a rule that reads it runs (:data:`ROLLUP_RULES`, :mod:`session_audit.db.ip_user_rollup`),
  runs every rule whose databases are
  available and upserts its rows into ``findings`` under a deterministic id (sha256 of rule,
  org and finding_key): re-evaluation never duplicates; a finding keeps ``first_seen``,
  ``detected_at`` and its acknowledgement. The evaluation is set-based: the rules' rows are
  staged, updated and inserted inside DuckDB (``stage`` in ``sql/queries/findings.sql``,
  ``findings_new``, ``findings_upsert``, ``findings_insert``). A full evaluation runs one rule
  at a time (its memory is one rule's rows), the rollup and the findings in one transaction.
  After an ingest the rules run in two lanes side by side, one statement each: on a second
  connection the rollup's refresh (committed on its own) and the rules that read no
  ``ip_geo``; on the caller's connection the ``ip_geo`` refresh and the rules that read it (a
  GeoIP rule for which ``ip_geo`` holds no usable row at all, e.g. no placed address, is left
  out: it finds nothing, and counts 0); then one round of writes in one transaction. Only the
  counts and at most ``new_limit`` of the NEW findings (most severe first) come back to Python
  (:attr:`FindingsSummary.new`; :attr:`FindingsSummary.new_count` counts them all), so
  Python's memory does not grow with the number of findings.
  Rules that need a missing database are skipped and the summary says so in one message
  ("... skipped: no GeoIP database"); nothing fails for lack of files.
* :func:`evaluate_new_findings` is the cheap call after an ingest (only sessions with id >=
  ``since_session_id``); ``session-audit findings evaluate --full`` re-evaluates everything.
* :func:`acknowledge` sets ``acknowledged_at/by/note``; :func:`list_findings` reads them back.

The evaluation writes; listing reads. Times in ``findings`` are data times except
``detected_at``/``acknowledged_at`` (the local clock, never compared with API times).
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import ipaddress
import re
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from session_audit.analysis.geo import GeoDatabases, refresh_ip_geo
from session_audit.analysis.query import QueryResult
from session_audit.db import ip_user_rollup
from session_audit.db.connection import transaction
from session_audit.db.sqlfiles import load_sql, query_sql
from session_audit.errors import ConfigError, StorageError
from session_audit.settings import Settings, allowlist_networks_text

if TYPE_CHECKING:
    import pyarrow as pa

SEVERITIES = ("info", "low", "medium", "high")
ALERT_SEVERITIES = frozenset({"medium", "high"})
NO_GEOIP = "skipped: no GeoIP database"
NEW_LIMIT = 100  # new findings an evaluation hands back to Python (the rest are counted)
# DuckDB's memory_limit while the rules of a full evaluation run, when the database runs with
# DuckDB's default (80% of RAM): beyond it DuckDB spills to the database's temp directory;
# RESET after. A full evaluation of 10M sessions: 2.6 GB peak RSS / 28 s without, 1.2 GB /
# 36 s with.
EVALUATION_MEMORY_LIMIT = "1GB"
# user_sessions rows up to which the lanes of an evaluation after an ingest run on one DuckDB
# thread fewer (two row groups of 122,880 rows: see _one_thread_fewer)
SMALL_HISTORY_ROWS = 2 * 122_880
_CANDIDATES = "FROM finding_candidates"


# the tables the evaluation brings up to date before the rules that read them run
IP_GEO = "ip_geo"
IP_USER_ROLLUP = "ip_user_rollup"


@dataclass(frozen=True)
class Rule:
    """A rule file, the GeoIP database kinds ('city', 'asn') it needs, and which of the tables
    the evaluation maintains (:data:`IP_GEO`, :data:`IP_USER_ROLLUP`) its SQL reads
    (tests/test_findings.py checks each declaration against the rule's file)."""

    name: str
    needs: frozenset[str] = frozenset()
    reads: frozenset[str] = frozenset()


RULES: tuple[Rule, ...] = (
    Rule("impossible_travel", frozenset({"city"}), frozenset({IP_GEO})),
    Rule("new_country", frozenset({"city"}), frozenset({IP_GEO})),
    Rule("new_asn", frozenset({"asn"}), frozenset({IP_GEO})),
    Rule("hosting_asn", frozenset({"asn"}), frozenset({IP_GEO})),
    Rule("concurrent_networks", reads=frozenset({IP_GEO})),
    Rule("shared_ip", reads=frozenset({IP_USER_ROLLUP})),
    Rule("dormant_reactivated"),
    Rule("new_ip_burst", reads=frozenset({IP_USER_ROLLUP})),
    Rule("inactive_user_session"),
    Rule("failed_password_jump"),
    Rule("new_app_version"),
)
RULE_NAMES = tuple(rule.name for rule in RULES)
# the rules that read ip_user_rollup (brought up to date before they run)
ROLLUP_RULES = frozenset(rule.name for rule in RULES if IP_USER_ROLLUP in rule.reads)


@dataclass(frozen=True)
class Finding:
    """One finding as stored (the columns an alert or artifact shows)."""

    id: str
    org: str
    rule: str
    severity: str
    user_ids: tuple[int, ...]
    session_ids: tuple[int, ...]
    first_seen: datetime | None
    last_seen: datetime | None
    summary: str
    evidence: str = "{}"


@dataclass(frozen=True)
class FindingsSummary:
    """What one evaluation did."""

    org: str
    full: bool
    since_session_id: int
    rules_run: tuple[str, ...]
    skipped: tuple[str, ...]
    messages: tuple[str, ...]
    new: tuple[Finding, ...]  # at most new_limit new findings, most severe first
    updated: int
    ip_lookups: int = 0
    seconds: float = 0.0  # wall time of the evaluation
    cpu_seconds: float = 0.0  # CPU time of this process meanwhile (DuckDB's threads included)
    per_rule: dict[str, int] = field(default_factory=dict)  # rows found per rule
    new_counts: dict[tuple[str, str], int] = field(default_factory=dict)  # (rule, severity)

    @property
    def new_count(self) -> int:
        """Every new finding of the evaluation (``new`` holds at most ``new_limit``)."""
        return sum(self.new_counts.values()) if self.new_counts else len(self.new)

    @property
    def alertable(self) -> tuple[Finding, ...]:
        """The new findings of severity medium or high (of those in ``new``)."""
        return tuple(f for f in self.new if f.severity in ALERT_SEVERITIES)

    @property
    def alertable_count(self) -> int:
        """Every new finding of severity medium or high."""
        if not self.new_counts:
            return len(self.alertable)
        return sum(n for (_, sev), n in self.new_counts.items() if sev in ALERT_SEVERITIES)


def rule_parameters(settings: Settings) -> dict[str, Any]:
    """The thresholds the rules may name, from the settings (see each rule's header)."""
    return {
        "travel_speed_kmh": float(settings.findings_travel_speed_kmh),
        "learning_days": float(settings.findings_learning_days),
        "dormant_days": float(settings.findings_dormant_days),
        "burst_ips": int(settings.findings_burst_ips),
        "burst_minutes": float(settings.findings_burst_minutes),
        "new_app_days": float(settings.findings_new_app_days),
        "failed_password_jump": int(settings.findings_failed_password_jump),
    }


_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")
_COMMENT = re.compile(r"--[^\n]*")


def parameter_names(sql: str) -> set[str]:
    """The ``$name`` parameters a statement uses (comments ignored)."""
    return set(_PARAM.findall(_COMMENT.sub("", sql)))


def _bind(sql: str, values: dict[str, Any]) -> dict[str, Any]:
    names = parameter_names(sql)
    unknown = names - set(values)
    if unknown:
        raise StorageError(f"SQL uses unknown parameters: {', '.join(sorted(unknown))}")
    return {name: values[name] for name in names}


def hosting_asns(extra: Path | None) -> list[tuple[int, str, str]]:
    """(asn, name, kind) of the shipped list plus the user's CSV (same columns)."""
    shipped = resources.files("session_audit").joinpath("data/hosting_asns.csv")
    rows = _asn_rows(shipped.read_text(encoding="utf-8"), "the shipped hosting_asns.csv")
    if extra is not None:
        try:
            text = extra.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read the hosting ASN list {extra}: {exc}") from exc
        rows += _asn_rows(text, str(extra))
    merged: dict[int, tuple[int, str, str]] = {}
    for row in rows:
        merged[row[0]] = row  # the user's row wins
    return sorted(merged.values())


def _asn_rows(text: str, source: str) -> list[tuple[int, str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "asn" not in reader.fieldnames:
        raise ConfigError(f"{source}: a CSV with columns asn,name,kind is expected")
    rows: list[tuple[int, str, str]] = []
    for line, record in enumerate(reader, start=2):
        raw = (record.get("asn") or "").strip().upper().removeprefix("AS")
        if not raw:
            continue
        if not raw.isdigit():
            raise ConfigError(f"{source} line {line}: {record.get('asn')!r} is not an ASN")
        kind = (record.get("kind") or "hosting").strip() or "hosting"
        rows.append((int(raw), (record.get("name") or "").strip(), kind))
    return rows


def allowlisted_ips(ips: Iterable[str], allowlist: str) -> list[str]:
    """The addresses of ``ips`` inside one of the allow-listed networks (setting allowlist)."""
    networks = [ipaddress.ip_network(n, strict=False) for n in allowlist_networks_text(allowlist)]
    if not networks:
        return []
    found: list[str] = []
    for text in ips:
        address = ipaddress.ip_address(text)
        if any(address.version == n.version and address in n for n in networks):
            found.append(text)
    return found


def _register_hosting_asns(conn: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    import pyarrow as pa

    asns = hosting_asns(settings.hosting_asns)
    conn.register(
        "finding_hosting_asns",
        pa.table(
            {
                "asn": pa.array([a for a, _, _ in asns], pa.int64()),
                "name": pa.array([n for _, n, _ in asns], pa.string()),
                "kind": pa.array([k for _, _, k in asns], pa.string()),
            }
        ),
    )


def _register_allowlisted_ips(
    conn: duckdb.DuckDBPyConnection, settings: Settings, org: str, since_id: int
) -> None:
    import pyarrow as pa

    allowed: list[str] = []
    if allowlist_networks_text(settings.allowlist):
        ips = conn.execute(
            query_sql("findings", "candidate_ips"), {"org": org, "since_id": since_id}
        ).fetchall()
        allowed = allowlisted_ips((str(r[0]) for r in ips), settings.allowlist)
    conn.register("finding_allowlisted_ips", pa.table({"ip": pa.array(allowed, pa.string())}))


def _unregister(conn: duckdb.DuckDBPyConnection) -> None:
    for name in ("finding_hosting_asns", "finding_allowlisted_ips"):
        with contextlib.suppress(duckdb.Error):  # never registered (an earlier step failed)
            conn.unregister(name)
    with contextlib.suppress(duckdb.Error):
        conn.execute("DROP TABLE IF EXISTS finding_new_ids")
    with contextlib.suppress(duckdb.Error):
        conn.execute("DROP TABLE IF EXISTS finding_staged")


def evaluate_findings(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    *,
    org: str,
    since_session_id: int | None = None,
    rules: Iterable[str] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    new_limit: int = NEW_LIMIT,
) -> FindingsSummary:
    """Run the rules (``rules``: names, default all) over the sessions of ``org`` with id >=
    ``since_session_id`` (None: all, a full evaluation) and upsert their findings; at most
    ``new_limit`` of the new ones are read back (most severe first), all are counted."""
    started = time.monotonic()
    cpu_started = time.process_time()
    full = since_session_id is None
    since_id = 0 if since_session_id is None else int(since_session_id)
    wanted = RULE_NAMES if rules is None else tuple(rules)
    unknown = sorted(set(wanted) - set(RULE_NAMES))
    if unknown:
        raise ConfigError(f"unknown rule(s) {', '.join(unknown)}; rules: {', '.join(RULE_NAMES)}")
    databases = GeoDatabases.from_settings(settings)
    available = databases.available()
    messages: list[str] = list(databases.missing_files())
    selected = [rule for rule in RULES if rule.name in wanted]
    skipped = tuple(rule.name for rule in selected if not rule.needs <= available)
    run = [rule for rule in selected if rule.name not in skipped]
    if skipped:
        messages.append(f"{', '.join(skipped)} {NO_GEOIP}")
    values: dict[str, Any] = {
        "org": org,
        "since_id": since_id,
        "full": full,
        "now": clock(),
        **rule_parameters(settings),
    }
    refresh_geo = bool(available and run)
    # a full evaluation holds every session's working set; after an ingest the window is small
    # and the lower limit only cost time (0.33 -> 0.42 s for 60k new sessions)
    lowered = full and _limit_memory(conn, EVALUATION_MEMORY_LIMIT)
    try:
        evaluate = _evaluate_one_by_one if full else _evaluate_in_two_lanes
        lookups, per_rule, new = evaluate(
            conn, settings, values, run, databases if refresh_geo else None, max(0, new_limit)
        )
        new_counts = _new_counts(conn)
    except duckdb.Error as exc:
        raise StorageError(f"evaluating the findings rules failed: {exc}") from exc
    finally:
        _unregister(conn)
        if lowered:
            with contextlib.suppress(duckdb.Error):
                conn.execute(query_sql("findings", "memory_limit_reset"))
    updated = sum(per_rule.values()) - sum(new_counts.values())
    return FindingsSummary(
        org=org,
        full=full,
        since_session_id=since_id,
        rules_run=tuple(rule.name for rule in run),
        skipped=skipped,
        messages=tuple(messages),
        new=tuple(new),
        updated=updated,
        ip_lookups=lookups,
        seconds=time.monotonic() - started,
        cpu_seconds=time.process_time() - cpu_started,
        per_rule=per_rule,
        new_counts=new_counts,
    )


def _limit_memory(conn: duckdb.DuckDBPyConnection, limit: str) -> bool:
    """Lower DuckDB's memory_limit (a setting of the whole database instance) to ``limit``
    when it is DuckDB's default and higher; True when it was lowered (then RESET after). A
    limit someone set is left alone (its text form is rounded: restoring it would drift)."""
    try:
        row = conn.execute(query_sql("findings", "memory_limit_current")).fetchone()
        current = str(row[0]) if row else None
        if current != _default_memory_limit() or _bytes(str(current)) <= _bytes(limit):
            return False
        conn.execute(query_sql("findings", "memory_limit"), {"limit": limit})
    except duckdb.Error:  # e.g. a locked configuration
        return False
    return True


@functools.cache
def _default_memory_limit() -> str:
    """DuckDB's default memory_limit on this machine, as text (asked once per process)."""
    with duckdb.connect() as fresh:
        row = fresh.execute(query_sql("findings", "memory_limit_current")).fetchone()
    return str(row[0]) if row else ""


_UNITS = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "KIB": 2**10, "MIB": 2**20,
          "GIB": 2**30, "TIB": 2**40}  # fmt: skip


def _bytes(text: str) -> float:
    """'18.8 GiB' / '1GB' as bytes (inf when not understood: never lowered then)."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", text)
    if match is None or match.group(2).upper() not in _UNITS:
        return float("inf")
    return float(match.group(1)) * _UNITS[match.group(2).upper()]


def _window(conn: duckdb.DuckDBPyConnection, values: dict[str, Any]) -> dict[str, Any]:
    """The evaluation's time window ``{since, newest}`` as texts (``window_values``), computed
    once and bound on each connection of the evaluation by :func:`_prepare`."""
    sql = query_sql("findings", "window_values")
    row = conn.execute(sql, _bind(sql, values)).fetchone()
    since, newest = row if row is not None else (None, None)
    return {"since": since, "newest": newest}


def _prepare(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    values: dict[str, Any],
    window: dict[str, Any],
    names: Iterable[str],
    *,
    writes: bool,
) -> None:
    """The temp objects a connection of the evaluation needs to run the rules ``names``: the
    macros, the window (variable session_audit_findings_window, from :func:`_window`), and
    the inputs those rules' SQL reads (the view finding_recent_sessions, the registered
    finding_allowlisted_ips and finding_hosting_asns); the connection that ``writes`` the
    findings also gets finding_hosting_asns (read by ``rule_inputs``) and the empty
    finding_new_ids."""
    sql = "\n".join(_rule_sql(name) for name in names)
    conn.execute(query_sql("findings", "macros"))
    conn.execute(query_sql("findings", "window"), window)
    if "finding_recent_sessions" in sql:
        conn.execute(query_sql("findings", "recent_sessions"))
    if "finding_allowlisted_ips" in sql:
        _register_allowlisted_ips(conn, settings, str(values["org"]), int(values["since_id"]))
    if writes or "finding_hosting_asns" in sql:
        _register_hosting_asns(conn, settings)
    if writes:
        conn.execute(query_sql("findings", "new_ids"))


def _idle_rules(conn: duckdb.DuckDBPyConnection) -> set[str]:
    """The GeoIP rules that cannot find anything because ``ip_geo`` holds no row they use
    (``rule_inputs``: e.g. a City file that places none of the addresses). Leaving them out of
    an incremental evaluation's statement saves their planning (about 10 ms each); a full
    evaluation runs them all."""
    cursor = conn.execute(query_sql("findings", "rule_inputs"))
    row = cursor.fetchone()
    if row is None:  # pragma: no cover - an aggregate always answers one row
        return set()
    names = [str(d[0]) for d in cursor.description or []]
    return {name for name, usable in zip(names, row, strict=True) if not usable}


def _evaluate_one_by_one(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    values: dict[str, Any],
    run: list[Rule],
    databases: GeoDatabases | None,
    new_limit: int,
) -> tuple[int, dict[str, int], list[Finding]]:
    """A full evaluation: ``ip_geo`` refreshed (``databases``: None when no GeoIP file or no
    rule), then in one transaction ``ip_user_rollup`` and one rule at a time, each staged and
    written before the next (the memory is one rule's rows). Returns the addresses looked up,
    the rows found per rule and at most ``new_limit`` of the new findings, most severe first."""
    lookups = 0 if databases is None else refresh_ip_geo(conn, databases).looked_up
    _prepare(conn, settings, values, _window(conn, values), [r.name for r in run], writes=True)
    per_rule = dict.fromkeys((rule.name for rule in run), 0)
    new: list[Finding] = []
    with transaction(conn):
        if any(rule.name in ROLLUP_RULES for rule in run):
            ip_user_rollup.refresh(conn, str(values["org"]))
        for rule in run:
            found = _stage(conn, [rule.name], values)
            if found:
                per_rule[rule.name] = found
                new += _write_staged(conn, values, found, new_limit)
    return lookups, per_rule, sorted(new, key=_most_severe_first)[:new_limit]


def _evaluate_in_two_lanes(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    values: dict[str, Any],
    run: list[Rule],
    databases: GeoDatabases | None,
    new_limit: int,
) -> tuple[int, dict[str, int], list[Finding]]:
    """After an ingest: the rules in two lanes side by side, each one statement.

    * The side lane, on a second connection of the same database (:func:`_side_lane`): brings
      ``ip_user_rollup`` up to date and stages the rules that read no ``ip_geo``.
    * This connection: refreshes ``ip_geo`` (``databases``: None when no GeoIP file or no rule),
      stages the rules that read it (a GeoIP rule for which ``ip_geo`` holds no usable row is
      left out: :func:`_idle_rules`), adds the side lane's rows and writes them all in one
      transaction (one round of writes).

    Each lane is a run of single-threaded statements (planning, small tables) that leaves one
    of the two cores idle, so the lanes overlap on it. Returns the addresses looked up, the rows
    found per rule and at most ``new_limit`` of the new findings, most severe first."""
    side_names = [rule.name for rule in run if IP_GEO not in rule.reads]
    main_names = [rule.name for rule in run if IP_GEO in rule.reads]
    refresh_rollup = any(rule.name in ROLLUP_RULES for rule in run)
    per_rule = dict.fromkeys((rule.name for rule in run), 0)
    lookups = 0
    new: list[Finding] = []
    window: Future[dict[str, Any]] = Future()  # computed here, awaited by the side lane
    # leaving the pool waits for the side lane; then the thread is given back
    with _one_thread_fewer(conn), ThreadPoolExecutor(max_workers=1) as pool:
        side = pool.submit(
            _side_lane, conn.cursor(), settings, values, window, side_names, refresh_rollup
        )
        try:
            with transaction(conn):
                if databases is not None:
                    since_id = int(values["since_id"])
                    lookups = refresh_ip_geo(
                        conn, databases, since_session_id=since_id, own_transaction=False
                    ).looked_up
                window.set_result(_window(conn, values))
                _prepare(conn, settings, values, window.result(), main_names, writes=True)
                idle = _idle_rules(conn) if main_names else set()
                found = _stage(conn, [n for n in main_names if n not in idle], values)
                found += _add_side_rows(conn, side.result(), found)
                if found:
                    counts = conn.execute(query_sql("findings", "staged_counts")).fetchall()
                    per_rule.update((str(rule), int(count)) for rule, count in counts)
                    new = _write_staged(conn, values, found, new_limit)
        except BaseException as exc:
            if not window.done():  # the side lane waits for it: let it stop
                window.set_exception(exc)
            raise
    return lookups, per_rule, new


@contextlib.contextmanager
def _one_thread_fewer(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """DuckDB's ``threads`` (a setting of the database instance: its background workers plus
    the thread that calls a statement) one lower while the lanes of an evaluation run, then
    restored, when ``user_sessions`` is small (at most :data:`SMALL_HISTORY_ROWS`): each
    lane's calling thread works on its own statement, and DuckDB splits a scan by row groups
    (122,880 rows), so over a small table a background worker adds contention, not speed. A
    60k ingest onto 60k on 2 cores: the evaluation took 154 -> 135 ms (CPU 247 -> 233 ms) with
    one thread per lane; the newest 60k of 10M sessions took 1.95 s with DuckDB's threads and
    3.6 s with one per lane, so a larger table keeps them. Left alone at 1, or when the
    configuration is locked."""
    previous: int | None = None
    try:
        row = conn.execute(query_sql("findings", "threads_current")).fetchone()
        current, sessions = (int(row[0]), int(row[1])) if row else (1, 0)
        if current > 1 and sessions <= SMALL_HISTORY_ROWS:
            conn.execute(query_sql("findings", "threads_set"), {"threads": current - 1})
            previous = current
    except duckdb.Error:  # e.g. a locked configuration
        previous = None
    try:
        yield
    finally:
        if previous is not None:
            with contextlib.suppress(duckdb.Error):
                conn.execute(query_sql("findings", "threads_set"), {"threads": previous})


def _add_side_rows(conn: duckdb.DuckDBPyConnection, rows: pa.Table | None, found: int) -> int:
    """Add the side lane's staged ``rows`` to this connection's ``finding_staged`` (made of them
    when this connection ``found`` none); returns how many were added."""
    if rows is None:
        return 0
    conn.register("finding_side_staged", rows)
    try:
        added = query_sql("findings", "staged_add" if found else "staged_from_side")
        return _count(conn.execute(added).fetchone())
    finally:
        conn.unregister("finding_side_staged")


def _side_lane(
    side: duckdb.DuckDBPyConnection,
    settings: Settings,
    values: dict[str, Any],
    window: Future[dict[str, Any]],
    names: list[str],
    refresh_rollup: bool,
) -> pa.Table | None:
    """The side lane of :func:`_evaluate_in_two_lanes`, on the connection ``side`` (closed
    here, with its temp objects): ``ip_user_rollup`` brought up to date when ``refresh_rollup``
    (its own transaction, committed before the rules that read it run; the rollup is derived
    from ``user_sessions`` and checked against it before use, so it needs no transaction with
    the findings: :mod:`session_audit.db.ip_user_rollup`), then the rules ``names`` staged;
    returns their staged rows (None when there are none)."""
    try:
        if refresh_rollup:
            with transaction(side):
                ip_user_rollup.refresh(side, str(values["org"]))
        if not names:
            return None
        _prepare(side, settings, values, window.result(), names, writes=False)
        if not _stage(side, names, values):
            return None
        return side.sql(query_sql("findings", "staged_rows")).to_arrow_table()
    finally:
        side.close()


def _stage(conn: duckdb.DuckDBPyConnection, names: list[str], values: dict[str, Any]) -> int:
    """Stage the rows of the rules ``names`` in the temp table ``finding_staged`` (in DuckDB,
    one statement); returns how many (0, and no table made, when ``names`` is empty)."""
    if not names:
        return 0
    stage_sql = query_sql("findings", "stage")
    if stage_sql.count(_CANDIDATES) != 1:  # pragma: no cover - guards a changed stage file
        raise StorageError("findings.sql: the stage query must read FROM finding_candidates once")
    if any(not re.fullmatch(r"[a-z_]+", name) for name in names):  # pragma: no cover
        raise StorageError(f"not a rule name: {names!r}")  # RULES holds [a-z_] names only
    branches = "\nUNION ALL\n".join(
        f"SELECT '{name}' AS rule, * FROM (\n{_rule_sql(name)}\n)" for name in names
    )
    stage = stage_sql.replace(_CANDIDATES, f"FROM (\n{branches}\n) AS finding_candidates")
    return _count(conn.execute(stage, _bind(stage, values)).fetchone())


def _write_staged(
    conn: duckdb.DuckDBPyConnection, values: dict[str, Any], found: int, new_limit: int
) -> list[Finding]:
    """Note the new ones among the ``found`` staged rows, update the known ones that changed
    and insert the new ones; returns at most ``new_limit`` of the new ones, most severe first
    (read from the staged rows: the same values, without reading ``findings``, which holds
    1.3M rows after a full evaluation of 10M sessions: 8 against 62-70 ms). Statements whose
    work is known to be empty from the counts are not run (each costs its planning)."""
    new = _count(conn.execute(query_sql("findings", "new")).fetchone())  # rows inserted
    if new < found:
        conn.execute(query_sql("findings", "upsert"))
    if not new:
        return []
    insert = query_sql("findings", "insert")
    conn.execute(insert, _bind(insert, values))
    rows = conn.execute(query_sql("findings", "new_rows"), {"limit": new_limit}).fetchall()
    return [_finding(row) for row in rows]


def _new_counts(conn: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], int]:
    """The new findings of the evaluation (temp table ``finding_new_ids``) counted per
    (rule, severity)."""
    return {
        (str(rule), str(severity)): int(count)
        for rule, severity, count in conn.execute(query_sql("findings", "new_counts")).fetchall()
    }


def _most_severe_first(finding: Finding) -> tuple[int, str, str]:
    """The order of ``new_rows`` (sql/queries/findings.sql): most severe first, then by rule
    and id."""
    return (-SEVERITIES.index(finding.severity), finding.rule, finding.id)


@functools.cache
def _rule_sql(name: str) -> str:
    """The SELECT of ``sql/rules/<name>.sql`` without its whole-line comments (the headers are
    for people; DuckDB would parse them again in every evaluation's statement)."""
    text = load_sql(f"rules/{name}").rstrip().rstrip(";")
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))


def _count(row: tuple[Any, ...] | None) -> int:
    """The row count a CREATE TABLE AS or INSERT statement answers."""
    return int(row[0]) if row else 0


def _finding(row: tuple[Any, ...]) -> Finding:
    fid, org, rule, severity, users, sessions, first, last, summary, evidence = row
    return Finding(
        id=str(fid),
        org=str(org),
        rule=str(rule),
        severity=str(severity),
        user_ids=tuple(int(u) for u in users or ()),
        session_ids=tuple(int(s) for s in sessions or ()),
        first_seen=first,
        last_seen=last,
        summary=str(summary),
        evidence=str(evidence),
    )


def evaluate_new_findings(
    conn: duckdb.DuckDBPyConnection,
    org: str,
    since_session_id: int,
    *,
    settings: Settings,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> FindingsSummary:
    """After an ingest: the rules over the sessions with id >= ``since_session_id`` (the first
    session id the run stored) of ``org``; cheap, history is read only for those users/IPs."""
    return evaluate_findings(
        conn, settings, org=org, since_session_id=since_session_id, clock=clock
    )


def acknowledge(
    conn: duckdb.DuckDBPyConnection,
    finding_id: str,
    *,
    by: str,
    note: str = "",
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> str:
    """Acknowledge the finding ``finding_id`` (the full id or a unique prefix of 6+
    characters); returns the full id. ConfigError when none or several match."""
    wanted = finding_id.strip().lower()
    if len(wanted) < 6 or not re.fullmatch(r"[0-9a-f]+", wanted):
        raise ConfigError(f"{finding_id!r} is not a finding id (24 hex digits, or 6+ of them)")
    if not by.strip():
        raise ConfigError("--by NAME is required: who acknowledges the finding")
    try:
        matches = [
            str(r[0])
            for r in conn.execute(query_sql("findings", "match_id"), {"id": wanted}).fetchall()
        ]
        if not matches:
            raise ConfigError(f"no finding {finding_id!r}")
        if len(matches) > 1:
            raise ConfigError(f"{finding_id!r} matches several findings: give more of the id")
        conn.execute(
            query_sql("findings", "ack"),
            {"at": clock(), "by": by.strip(), "note": note, "id": matches[0]},
        )
    except duckdb.Error as exc:
        raise StorageError(f"cannot acknowledge the finding: {exc}") from exc
    return matches[0]


def has_findings_table(conn: duckdb.DuckDBPyConnection) -> bool:
    """Whether the database is at schema version 5 or later (it has ``findings``)."""
    row = conn.execute(query_sql("findings", "table_exists")).fetchone()
    return bool(row and row[0])


def list_findings(
    conn: duckdb.DuckDBPyConnection,
    *,
    org: str | None = None,
    since: datetime | None = None,
    severity: str | None = None,
    rule: str | None = None,
    user: int | None = None,
    limit: int = 100_000,
) -> QueryResult:
    """Findings, open ones first, then by severity (``severity``: at least this one)."""
    if severity is not None and severity not in SEVERITIES:
        raise ConfigError(f"--severity {severity!r}: use one of {', '.join(SEVERITIES)}")
    if rule is not None and rule not in RULE_NAMES:
        raise ConfigError(f"--rule {rule!r}: use one of {', '.join(RULE_NAMES)}")
    if not has_findings_table(conn):
        return QueryResult((), (), [])
    params = {
        "org": org,
        "since": since,
        "min_rank": SEVERITIES.index(severity) if severity is not None else None,
        "rule": rule,
        "user": user,
        "limit": limit,
    }
    try:
        cursor = conn.execute(query_sql("findings", "list"), params)
        description = cursor.description or []
        return QueryResult(
            tuple(d[0] for d in description),
            tuple(str(d[1]) for d in description),
            cursor.fetchall(),
        )
    except duckdb.Error as exc:
        raise StorageError(f"cannot read the findings: {exc}") from exc


def evaluate_database(settings: Settings) -> FindingsSummary:
    """Open ``settings.db`` for writing, migrate it, and evaluate every rule over all of
    ``settings.org``'s sessions (a full evaluation: the demo's and scripts' one call)."""
    from session_audit.db.connection import connect
    from session_audit.db.migrations import migrate

    with connect(settings.db, lock_timeout=settings.lock_timeout) as conn:
        migrate(conn)
        return evaluate_findings(conn, settings, org=settings.org)
