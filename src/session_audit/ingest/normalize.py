"""Raw ``userSession/items`` pages -> typed polars frames, values kept exactly as sent.

:func:`normalize_pages` parses each page (a JSON array of UserSession objects) and splits the
objects into

* ``sessions``: the user_sessions columns minus lineage, with an explicit schema. Strings are
  kept byte for byte (no trimming, no truncation); timestamps become UTC ``Datetime("us")``
  (milliseconds and microseconds kept; digits below a microsecond are dropped).
  ``endTime`` absent and ``endTime: null`` both mean "still open" (NULL).
  Odd but valid rows are kept and flagged in ``anomalies``:
  ``end_before_start``, ``string_over_64`` (ipAddress/appId/appVersion over the spec's 64
  characters), ``ip_not_parseable`` (ipAddress is not an IPv4/IPv6 address),
  ``missing_client_app_id``.
  Beside the raw ``ip_address`` (untouched) each row carries its canonical form, computed once
  per distinct address as Python's :mod:`ipaddress` gives it (see :func:`canonical_ip`; in a
  batch of many distinct addresses a plain IPv4 dotted quad is computed in Rust with the same
  result): ``ip``
  (lower-case compressed IPv6; an IPv4-mapped IPv6 address as its IPv4; a scoped address without
  its ``%zone``), ``ip_family`` ('v4'/'v6') and ``ip_network`` (the /24 or /64 holding ``ip``,
  e.g. '1.2.3.0/24', '2001:db8::/64'). All three are NULL when ``ip_address`` is NULL or not an IP
  address (then ``ip_not_parseable`` is set), so text that is not an IP never counts as one.
* ``rejected``: objects that cannot be a user_sessions row, with ``raw_json`` (the object as
  received, re-serialised by orjson) and every ``reason`` that applies, joined by "; ":
  not an object, no id, id not an integer, no userId, userId not an integer, no startTime, an
  unparseable startTime or endTime, or a field of the wrong JSON type.

Repeats of one id within a batch: the LAST valid occurrence in page order wins (pages in the
order given, objects in the order of each page); every rejected object is kept. ``max_id`` is the
highest integer id seen, valid or rejected; ``fetched`` the number of objects received.

Pages whose every object is a well-typed UserSession with only the documented fields (nearly all)
are decoded strictly by msgspec, which checks the JSON types in C; any other page is read by
orjson and each of its values' type checked in Python (the other pages of its batch keep their
strict decoding). On the strict path the only possible reject is a time that does not parse, so
the rows without one skip the checks and the reject frame. The derived columns are gathered
rather than built per row (the canonical IP columns by the index of each row's distinct address,
``anomalies`` from a lookup of every flag combination by a bit mask). The result is that of the
per-value path over the whole batch (``_normalize_checked`` with ``_sessions_frame``, kept as the
reference): ``tests/test_normalize_paths.py``, and ``tests/test_normalize_property.py`` over
random valid and malformed pages.

Every column, type, required/optional field, reject reason for a wrong type and the
``string_over_64`` / ``missing_<column>`` flags derive from the field table
(:data:`session_audit.session_row.SESSION_ROW`; ``row=`` takes another, e.g. a test's table with
an added field). The derived columns this module computes are ``anomalies``, ``ip``,
``ip_family`` and ``ip_network``.

Timestamps are parsed vectorised: the API's exact spelling (``2026-08-01T19:39:01.730Z``) by
a chrono-free seconds format plus its milliseconds, other ``...Z`` texts by ``%.fZ``, the texts
those miss by ``%Y-%m-%dT%H:%M:%S%.f%#z``, and the rare values that fail all of them through
:meth:`datetime.fromisoformat` one by one (naive values are read as UTC); every step reads a text
as the general path would (tested).
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
import json
import operator
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

import msgspec
import orjson
import polars as pl

from session_audit.errors import ApiError
from session_audit.session_row import INT64_MAX as _INT64_MAX
from session_audit.session_row import INT64_MIN as _INT64_MIN
from session_audit.session_row import SESSION_ROW, TS, Field, Int64, Kind, SessionRow

TS_FORMAT = "%Y-%m-%dT%H:%M:%S%.f%#z"
Z_FORMAT = "%Y-%m-%dT%H:%M:%S%.fZ"  # TS_FORMAT's values that end in Z (the API's own)
MAX_STRING = 64
_DTYPES: dict[type, pl.DataType] = {int: pl.Int64(), str: pl.String()}  # JSON type -> column

SESSION_SCHEMA: dict[str, pl.DataType] = SESSION_ROW.frame_schema
REJECTED_SCHEMA: dict[str, pl.DataType] = {
    "org": pl.String(),
    "session_id": pl.Int64(),
    "raw_json": pl.String(),
    "reason": pl.String(),
}

ANOMALY_CODES = ("end_before_start", "string_over_64", "ip_not_parseable", "missing_client_app_id")
# The derived columns this module computes (the field table's ``derived`` kind).
DERIVED = ("anomalies", "ip", "ip_family", "ip_network")
_MAX_FLAGS = 12  # anomaly flags a field table may produce (a lookup of 2**flags lists)


@dataclass(frozen=True)
class _Plan:
    """What normalising pages into the rows of one field table needs, built once per table."""

    row: SessionRow
    schema: dict[str, pl.DataType]
    decoder: msgspec.json.Decoder[list[Any]]
    fields: tuple[tuple[str, str, type], ...]  # (API name, frame column, JSON type)
    times: tuple[Field, ...]  # timestamp fields: parsed from the text column "_<column>"
    long_strings: tuple[str, ...]  # columns flagged string_over_64
    flag_missing: tuple[str, ...]  # columns flagged missing_<column>
    anomaly_lists: pl.Series  # List(String): the flags of every bit pattern (see _anomalies)


@functools.cache
def _plan(row: SessionRow) -> _Plan:
    context = {f.column for f in row.fields if f.kind is Kind.CONTEXT}
    if context != {"org"} or set(row.derived) != set(DERIVED):
        raise ValueError(
            f"normalize fills org and computes {', '.join(DERIVED)}; the field table declares "
            f"context {sorted(context)} and derived {list(row.derived)}"
        )
    fields = tuple(
        (f.api, f"_{f.column}" if f.is_time else f.column, f.json_type)
        for f in row.api_fields
        if f.api is not None
    )
    flag_missing = tuple(f.column for f in row.api_fields if f.flag_missing)
    codes = (*ANOMALY_CODES[:3], *(f"missing_{col}" for col in flag_missing))
    if len(codes) > _MAX_FLAGS:
        raise ValueError(f"normalize flags at most {_MAX_FLAGS} anomalies; the table has {codes}")
    return _Plan(
        row=row,
        schema=row.frame_schema,
        decoder=msgspec.json.Decoder(types.GenericAlias(list, (row.strict_struct(),))),
        fields=fields,
        times=tuple(f for f in row.api_fields if f.is_time),
        long_strings=tuple(f.column for f in row.api_fields if f.spec_max_64),
        flag_missing=flag_missing,
        anomaly_lists=pl.Series(
            [
                [c for bit, c in enumerate(codes) if mask >> bit & 1]
                for mask in range(1 << len(codes))
            ],
            dtype=pl.List(pl.String),
        ),
    )


@dataclass(frozen=True)
class NormalizedBatch:
    """One checkpoint's worth of sessions, ready for :class:`SessionStore`."""

    org: str
    sessions: pl.DataFrame
    rejected: pl.DataFrame
    max_id: int | None
    fetched: int
    duplicates: int = 0  # valid repeats of an id dropped by the last-wins rule


def empty_batch(org: str, row: SessionRow = SESSION_ROW) -> NormalizedBatch:
    return NormalizedBatch(
        org=org,
        sessions=pl.DataFrame(schema=row.frame_schema),
        rejected=pl.DataFrame(schema=REJECTED_SCHEMA),
        max_id=None,
        fetched=0,
    )


_PLAN = _plan(SESSION_ROW)
# Strict decoding of a page of the field table's rows (msgspec; see SessionRow.strict_struct).
_STRICT_PAGE = _PLAN.decoder


def normalize_pages(
    pages: Sequence[bytes], *, org: str, row: SessionRow = SESSION_ROW
) -> NormalizedBatch:
    """Parse raw JSON pages into a :class:`NormalizedBatch` (see the module docstring).

    Fast path: every page decodes strictly into the field table's struct (msgspec checks each
    value's JSON type in C). A page that does not (a wrong type, a missing field, an unknown
    field, not JSON at all) is read by orjson and its values checked one by one
    (:func:`_normalize_mixed`), the other pages keep their strict decoding; reasons, flags and
    errors are those of the per-value path (:func:`_normalize_checked`, tested equal)."""
    plan = _plan(row)
    decoded: list[list[Any] | None] = []
    for page in pages:
        try:
            decoded.append(plan.decoder.decode(page))
        except msgspec.DecodeError:  # ValidationError included
            decoded.append(None)
    strict = [d for d in decoded if d is not None]
    if len(strict) == len(decoded):
        return _normalize_strict(pages, strict, org, plan)
    return _normalize_mixed(pages, decoded, org, plan)


def _normalize_mixed(
    pages: Sequence[bytes], decoded: list[list[Any] | None], org: str, plan: _Plan
) -> NormalizedBatch:
    """Pages some of which strict decoding refused (``None`` in ``decoded``): those are parsed
    by orjson (an :class:`ApiError` for the first that is not a JSON array, as on the per-value
    path: a page msgspec decodes is valid JSON to orjson too) and their values checked one by
    one; the values of the strictly decoded pages need no check."""
    objs: list[list[Any] | None] = [
        _parse_page(page, number) if d is None else None
        for number, (page, d) in enumerate(zip(pages, decoded, strict=True), 1)
    ]
    starts: list[int] = []
    n = 0
    for d, o in zip(decoded, objs, strict=True):
        starts.append(n)
        n += len(d if d is not None else o or ())
    if n == 0:
        return empty_batch(org, plan.row)
    not_object: list[bool] = []
    for d, o in zip(decoded, objs, strict=True):
        if d is not None:
            not_object.extend([False] * len(d))
        else:
            not_object.extend(type(x) is not dict for x in o or ())
    columns: dict[str, pl.Series] = {}
    for key, col, kind in plan.fields:
        values: list[Any] = []
        for d, o in zip(decoded, objs, strict=True):
            if d is not None:
                values.extend(map(attrgetter(key), d))
            else:
                values.extend(x.get(key) if type(x) is dict else None for x in o or ())
        columns[col], columns[f"_has_{key}"] = _column(values, kind)

    def raw_json(index: int) -> str:
        page = bisect.bisect_right(starts, index) - 1
        parsed = objs[page]
        if parsed is None:
            parsed = _parse_page(pages[page], page + 1)
        return _raw_json(parsed, index - starts[page], [pages[page]], [0])

    not_objects = pl.Series(not_object, dtype=pl.Boolean)
    return _finish(org, n, not_objects, columns, raw_json, plan, fast=True)


def _normalize_strict(
    pages: Sequence[bytes], strict: list[list[Any]], org: str, plan: _Plan
) -> NormalizedBatch:
    starts: list[int] = []
    rows: list[Any] = []
    for decoded in strict:
        starts.append(len(rows))
        rows.extend(decoded)
    if not rows:
        return empty_batch(org, plan.row)
    values = {
        col: pl.Series(col, list(map(attrgetter(key), rows)), dtype=_DTYPES[kind])
        for key, col, kind in plan.fields
    }
    n = len(rows)
    # Strict decoding leaves one way to reject a row: a time that does not parse. The rows with
    # none are stored without the checks; the others (few) go through them for their reasons.
    texts = pl.DataFrame([values[f"_{f.column}"] for f in plan.times])
    times = _parse_time_columns(texts, plan.times)
    frame = pl.DataFrame([*values.values(), *times])
    # A parsed time is NULL where its text is (and where the text does not parse): a column
    # with more NULLs than its text has an unparsed time. Null counts cost no pass.
    if all(t.null_count() == values[f"_{t.name}"].null_count() for t in times):
        return _batch(org, n, frame, _empty_rejected(), plan, fast=True)
    unparsed = [t.is_null() & frame[f"_{t.name}"].is_not_null() for t in times]
    bad = functools.reduce(operator.or_, unparsed)
    bad_rows = bad.arg_true().to_list()
    sub = frame.filter(bad)

    def raw_json(index: int) -> str:
        row = bad_rows[index]
        page = bisect.bisect_right(starts, row) - 1
        return _raw_json(_parse_page(pages[page], page + 1), row - starts[page], [pages[page]], [0])

    columns: dict[str, pl.Series] = {}
    for key, col, _kind in plan.fields:
        columns[col] = sub[col]
        columns[f"_has_{key}"] = sub[col].is_not_null()
    not_object = pl.repeat(False, sub.height, eager=True)
    rejects = _finish(
        org,
        sub.height,
        not_object,
        columns,
        raw_json,
        plan,
        times=[sub[f.column] for f in plan.times],
    )
    assert rejects.rejected.height == sub.height  # every row here fails a check
    return _batch(
        org, n, frame.filter(~bad), rejects.rejected, plan, fast=True, max_id=frame["id"].max()
    )


def _normalize_checked(pages: Sequence[bytes], org: str, plan: _Plan = _PLAN) -> NormalizedBatch:
    """The exact per-value path (orjson, then every value's JSON type checked in Python)."""
    objs: list[Any] = []
    starts: list[int] = []  # index in objs of each page's first object
    for number, page in enumerate(pages, 1):
        starts.append(len(objs))
        objs.extend(_parse_page(page, number))
    if not objs:
        return empty_batch(org, plan.row)
    n = len(objs)
    if set(map(type, objs)) != {dict}:
        rows: list[dict[str, Any]] = [o if type(o) is dict else {} for o in objs]
        not_object = pl.Series([type(o) is not dict for o in objs], dtype=pl.Boolean)
    else:
        rows = objs
        not_object = pl.repeat(False, n, eager=True)
    return _finish(
        org,
        n,
        not_object,
        _columns_checked(rows, plan),
        lambda index: _raw_json(objs, index, pages, starts),
        plan,
    )


def _finish(
    org: str,
    n: int,
    not_object: pl.Series,
    columns: dict[str, pl.Series],
    raw_json: Callable[[int], str],
    plan: _Plan,
    *,
    fast: bool = False,
    times: list[pl.Series] | None = None,
) -> NormalizedBatch:
    """Typed columns and presence flags of ``n`` objects -> the batch (checks, flags, dedup).

    ``fast``: the derived columns by :func:`_derive_fast` (the strict path), else by
    :func:`_sessions_frame`, the reference the fast one is tested against. ``times``: the
    timestamp columns when already parsed (by :func:`_parse_time_columns`)."""
    frame = pl.DataFrame(
        {"_row": pl.int_range(0, n, eager=True), "_not_object": not_object, **columns}
    )
    frame = frame.with_columns(_parse_time_columns(frame, plan.times) if times is None else times)
    checks = _checks(plan)
    bad_mask = frame.select(pl.any_horizontal([cond for cond, _ in checks])).to_series()
    max_id = frame["id"].max()
    if bad_mask.any():
        good = frame.filter(~bad_mask)
        bad = frame.filter(bad_mask).with_columns(_reason_expr(checks).alias("_reason"))
    else:
        good, bad = frame, frame.clear().with_columns(_reason=pl.lit(None, dtype=pl.String))

    rejected = pl.DataFrame(
        {
            "org": [org] * bad.height,
            "session_id": bad["id"],
            "raw_json": [raw_json(i) for i in bad["_row"].to_list()],
            "reason": bad["_reason"],
        },
        schema=REJECTED_SCHEMA,
    )
    return _batch(org, n, good, rejected, plan, fast=fast, max_id=max_id)


def _empty_rejected() -> pl.DataFrame:
    return _EMPTY_REJECTED.clone()  # a copy of a built frame: 0.5 us, building one 34 us


_EMPTY_REJECTED = pl.DataFrame(schema=REJECTED_SCHEMA)


def _batch(
    org: str,
    n: int,
    good: pl.DataFrame,
    rejected: pl.DataFrame,
    plan: _Plan,
    *,
    fast: bool,
    max_id: Any = None,
) -> NormalizedBatch:
    """The batch of ``n`` objects whose storable rows are ``good`` (last repeat of an id wins).
    ``max_id``: the highest id of all ``n`` objects (default: of ``good``, when none is
    rejected)."""
    if max_id is None and rejected.height == 0:
        max_id = good["id"].max()
    sessions = (_derive_fast if fast else _sessions_frame)(good, org, plan)
    if sessions["id"].n_unique() == sessions.height:
        deduped = sessions
    else:
        deduped = sessions.unique(subset=["id"], keep="last", maintain_order=True)
    return NormalizedBatch(
        org=org,
        sessions=deduped,
        rejected=rejected,
        max_id=int(max_id) if isinstance(max_id, int) else None,
        fetched=n,
        duplicates=sessions.height - deduped.height,
    )


def _columns_checked(rows: list[dict[str, Any]], plan: _Plan) -> dict[str, pl.Series]:
    """Typed column and presence flag of every field, value by value (exact for any input)."""
    columns: dict[str, pl.Series] = {}
    for key, col, kind in plan.fields:
        typed, has = _column([o.get(key) for o in rows], kind)
        columns[col] = typed
        columns[f"_has_{key}"] = has
    return columns


def _parse_page(page: bytes, number: int) -> list[Any]:
    try:
        data = orjson.loads(page)
    except orjson.JSONDecodeError as exc:
        raise ApiError(f"page {number} of userSession/items is not valid JSON") from exc
    if not isinstance(data, list):
        raise ApiError(
            f"page {number} of userSession/items is a JSON {type(data).__name__}, not an array"
        )
    return data


def _raw_json(objs: list[Any], index: int, pages: Sequence[bytes], starts: list[int]) -> str:
    """The JSON text of ``objs[index]`` as received. orjson reads integers beyond 64 bits as
    floats; an object with a float is therefore re-read from its page by the stdlib parser,
    which keeps such integers exact."""
    obj = objs[index]
    values = obj.values() if type(obj) is dict else (obj,)
    if any(type(v) is float for v in values):
        page = bisect.bisect_right(starts, index) - 1
        obj = json.loads(pages[page])[index - starts[page]]
    return _dump(obj)


def _dump(obj: Any) -> str:
    try:
        return orjson.dumps(obj).decode()
    except TypeError:  # integers beyond 64 bits
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _column(values: list[Any], kind: type) -> tuple[pl.Series, pl.Series]:
    """(typed values, present) for one field. Values of another JSON type become null in
    ``typed`` while ``present`` stays true, which is how they get rejected. ``bool`` is not
    ``int`` here (``type(True) is bool``)."""
    dtype = pl.Int64 if kind is int else pl.String
    if set(map(type, values)) <= {kind, type(None)}:  # the common case: all of the right type
        try:
            typed = pl.Series(values, dtype=dtype, strict=True)
        except (OverflowError, TypeError, ValueError, pl.exceptions.PolarsError):
            pass  # integers beyond 64 bits: take the slow path
        else:
            return typed, typed.is_not_null()
    present = pl.Series([v is not None for v in values], dtype=pl.Boolean)
    kept: list[Any]
    if kind is int:
        kept = [v if type(v) is int and _INT64_MIN <= v <= _INT64_MAX else None for v in values]
    else:
        kept = [v if type(v) is str else None for v in values]
    return pl.Series(kept, dtype=dtype), present


# The API's exact spelling: UTC, milliseconds, a literal Z, the time of day within range.
API_TIME_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{3}Z$"
)
_SECONDS_FORMAT = "%Y-%m-%dT%H:%M:%S"  # a format polars parses without chrono (no %.f)


def _parse_times(text: pl.Series) -> pl.Series:
    """UTC timestamps of ISO 8601 texts (NULL where none parses), cheapest spelling first:

    * the API's own (:data:`API_TIME_PATTERN`): its first 19 characters by ``_SECONDS_FORMAT``
      plus its milliseconds as an integer (4x cheaper than ``Z_FORMAT`` on 2M values); a date
      that does not exist (2023-02-29) gives NULL here and goes on;
    * the texts that missed, by ``Z_FORMAT`` (2.5x cheaper than the offset-aware format);
    * what is still missed, by the general path (:func:`_parse_general`).

    Each step reads every text it accepts exactly as the general path does (tested over random
    texts), so the result is the general path's."""
    col = pl.col("text")
    fast = (
        pl.DataFrame({"text": text})
        .select(
            pl.when(col.str.contains(API_TIME_PATTERN))
            .then(
                col.str.slice(0, 19).str.strptime(
                    pl.Datetime("us"), _SECONDS_FORMAT, strict=False, cache=False
                )
                + pl.duration(milliseconds=col.str.slice(20, 3).cast(pl.Int64))
            )
            .dt.replace_time_zone("UTC")
        )
        .to_series()
    )
    if fast.null_count() == text.null_count():
        return fast.alias(text.name)
    missed = (fast.is_null() & text.is_not_null()).arg_true()
    return fast.scatter(missed, _parse_zulu(text.gather(missed))).alias(text.name)


def _parse_zulu(text: pl.Series) -> pl.Series:
    """:func:`_parse_general` with the texts ``Z_FORMAT`` reads read by it (cheaper)."""
    zulu = text.str.strptime(pl.Datetime("us"), Z_FORMAT, strict=False, cache=False)
    zulu = zulu.dt.replace_time_zone("UTC")
    if zulu.null_count() == text.null_count():
        return zulu
    missed = (zulu.is_null() & text.is_not_null()).arg_true()
    return zulu.scatter(missed, _parse_general(text.gather(missed)))


def _parse_general(text: pl.Series) -> pl.Series:
    """UTC timestamps of ISO 8601 texts: ``TS_FORMAT`` (any offset), then
    :meth:`datetime.fromisoformat` one by one for the texts it misses (naive = UTC)."""
    parsed = text.str.to_datetime(
        format=TS_FORMAT, time_unit="us", time_zone="UTC", strict=False, cache=False
    )
    failed = (parsed.is_null() & text.is_not_null()).arg_true()
    if failed.len() == 0:
        return parsed
    idx = failed.to_list()
    values = [_parse_one(text[i]) for i in idx]
    ok = [(i, v) for i, v in zip(idx, values, strict=True) if v is not None]
    if not ok:
        return parsed
    fixed = pl.Series([v for _, v in ok], dtype=TS)
    return parsed.scatter([i for i, _ in ok], fixed)


def _parse_time_columns(frame: pl.DataFrame, fields: Sequence[Field]) -> list[pl.Series]:
    """Every timestamp field of ``frame`` parsed from its text column, in one call."""
    if not fields:
        return []
    texts = pl.concat([frame[f"_{f.column}"] for f in fields])
    parsed = _parse_times(texts)
    n = frame.height
    return [parsed.slice(k * n, n).alias(f.column) for k, f in enumerate(fields)]


def _parse_one(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _checks(plan: _Plan) -> list[tuple[pl.Expr, str]]:
    """(condition that makes a row unstorable, reason text), in reporting order: not an object,
    then per field in table order: missing (required fields), then its value's type (an integer
    beyond 64 bits, not a string, an unparseable time)."""
    obj = ~pl.col("_not_object")
    checks: list[tuple[pl.Expr, str]] = [(pl.col("_not_object"), "not a JSON object")]
    for f in plan.row.api_fields:
        has = pl.col(f"_has_{f.api}")
        wrong = has & pl.col(f.column).is_null()
        if f.required:
            checks.append((obj & ~has, f"missing {f.api}"))
        if f.is_time:
            checks.append((wrong, f"unparseable {f.api}"))
        elif f.json_type is int:
            checks.append((wrong, f"{f.api} is not a 64-bit integer"))
        else:
            checks.append((wrong, f"{f.api} is not a string"))
    return checks


def _reason_expr(checks: list[tuple[pl.Expr, str]]) -> pl.Expr:
    """Every reason that applies, joined by "; "."""
    parts = [pl.when(cond).then(pl.lit(text)) for cond, text in checks]
    return pl.concat_list(parts).list.drop_nulls().list.join("; ")


def _sessions_frame(good: pl.DataFrame, org: str, plan: _Plan) -> pl.DataFrame:
    if good.height == 0:
        return pl.DataFrame(schema=plan.schema)
    ip = good["ip_address"]
    canon, family, network = _canonical_columns(ip)
    ip_bad = ip.is_not_null() & canon.is_null()
    over = pl.any_horizontal(
        [pl.col(col).str.len_chars() > MAX_STRING for col in plan.long_strings]
    ).fill_null(False)
    flags = [
        pl.when(pl.col("end_time") < pl.col("start_time")).then(pl.lit("end_before_start")),
        pl.when(over).then(pl.lit("string_over_64")),
        pl.when(pl.Series(ip_bad)).then(pl.lit("ip_not_parseable")),
        *(
            pl.when(pl.col(col).is_null()).then(pl.lit(f"missing_{col}"))
            for col in plan.flag_missing
        ),
    ]
    computed: dict[str, pl.Expr | pl.Series] = {
        "org": pl.lit(org, dtype=pl.String),
        "anomalies": pl.concat_list(flags).list.drop_nulls(),
        "ip": pl.Series("ip", canon),
        "ip_family": pl.Series("ip_family", family),
        "ip_network": pl.Series("ip_network", network),
    }
    return good.select(
        computed[col].alias(col) if col in computed else pl.col(col) for col in plan.schema
    ).cast(plan.schema)  # type: ignore[arg-type]


def _derive_fast(good: pl.DataFrame, org: str, plan: _Plan) -> pl.DataFrame:
    """:func:`_sessions_frame` with fewer passes: the canonical IP columns gathered from the
    distinct addresses (:func:`_canonical_gather`) and ``anomalies`` gathered from the plan's
    lookup of every flag combination by a bit mask per row (bit k = the k-th flag in
    ``ANOMALY_CODES`` order, then ``missing_<column>`` in table order), so no list is built per
    row. Same values, same order of flags (tested against the reference)."""
    n = good.height
    if n == 0:
        return pl.DataFrame(schema=plan.schema)
    canon, family, network = _canonical_gather(good["ip_address"])
    bits = [
        pl.col("end_time") < pl.col("start_time"),
        pl.any_horizontal([pl.col(col).str.len_chars() > MAX_STRING for col in plan.long_strings]),
        pl.col("ip_address").is_not_null() & pl.lit(canon).is_null(),
        *(pl.col(col).is_null() for col in plan.flag_missing),
    ]
    mask = good.select(
        pl.sum_horizontal(
            [b.fill_null(False).cast(pl.UInt32) * (1 << k) for k, b in enumerate(bits)]
        )
    ).to_series()
    # (each polars call costs ~25 us however small the frame: in a sparse id space a window
    # holds a few hundred rows, and these fixed costs are most of its normalize time)
    computed = {
        "org": pl.Series("org", [org], dtype=pl.String).new_from_index(0, n),
        "anomalies": plan.anomaly_lists[mask],
        "ip": canon,
        "ip_family": family,
        "ip_network": network,
    }
    frame = pl.DataFrame(
        [(computed[col] if col in computed else good[col]).alias(col) for col in plan.schema]
    )
    return frame if frame.schema == plan.schema else frame.cast(plan.schema)  # type: ignore[arg-type]


def _canonical_gather(ip: pl.Series) -> tuple[pl.Series, pl.Series, pl.Series]:
    """:func:`_canonical_columns` without a Python pass over the rows: the distinct addresses
    get their values from :func:`_canonical_distinct`, the rows gather them by the index of
    their address (NULL ``ip_address`` and text that is not an IP address get NULLs).

    At most :data:`PYTHON_DISTINCT_MAX` rows (a window of a sparse id space) take
    :func:`_canonical_columns` itself: its Python pass over so few rows costs less than the
    polars calls here (0.13 against 0.58 ms for ~250 rows, the addresses cached)."""
    if 0 < ip.len() <= PYTHON_DISTINCT_MAX:
        return _canonical_columns(ip)
    distinct = ip.unique().drop_nulls()
    index = ip.cast(pl.Enum(distinct)).to_physical()  # position in ``distinct`` (a hash lookup)
    rows = pl.DataFrame(_canonical_distinct(distinct))[index]  # one gather of the three
    return rows["ip"], rows["ip_family"], rows["ip_network"]


# An IPv4 address exactly as ipaddress.ip_address reads one: four ASCII decimal octets of at
# most 255, no leading zero, nothing around them. Such a text is its own canonical form.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4_PATTERN = rf"^{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}$"
# Distinct addresses of a batch up to which all are canonicalised by canonical_ip (see
# _canonical_distinct): 256 uncached parses cost about what the Rust path's calls cost.
PYTHON_DISTINCT_MAX = 256


def _canonical_distinct(
    distinct: pl.Series, *, python_max: int | None = None
) -> tuple[pl.Series, pl.Series, pl.Series]:
    """(ip, ip_family, ip_network) of distinct non-NULL address texts, in their order.

    A plain IPv4 dotted quad (:data:`IPV4_PATTERN`, nearly every address) is computed in Rust:
    it is its own ``ip``, family 'v4', its /24 the first three octets and '.0/24' (what
    :func:`canonical_ip` gives it: tested over random texts); every other text (IPv6, odd
    spellings, text that is not an address) goes through :func:`canonical_ip`, once.

    At most ``python_max`` texts (default :data:`PYTHON_DISTINCT_MAX`: a window of a sparse id
    space) all go through :func:`canonical_ip` (cached across windows) instead: the Rust path's
    polars calls cost ~1 ms whatever their size, more than that many cached lookups (or,
    uncached, parses)."""
    if distinct.len() <= (PYTHON_DISTINCT_MAX if python_max is None else python_max):
        values = [canonical_ip(t) or _NO_IP for t in distinct.to_list()]
        columns = list(zip(*values, strict=True)) if values else [(), (), ()]
        canon, family, network = (
            pl.Series(name, column, dtype=pl.String)
            for name, column in zip(("ip", "ip_family", "ip_network"), columns, strict=True)
        )
        return canon, family, network
    text = distinct.alias("ip")
    v4 = text.str.contains(IPV4_PATTERN)
    frame = pl.DataFrame({"text": text, "v4": v4}).select(
        pl.when("v4").then("text").alias("ip"),
        pl.when("v4").then(pl.lit("v4")).alias("ip_family"),
        pl.when("v4").then(pl.col("text").str.replace(r"[0-9]+$", "0/24")).alias("ip_network"),
    )
    others = (~v4).arg_true()
    if others.len():
        values = [canonical_ip(t) or _NO_IP for t in text.gather(others).to_list()]
        columns = list(zip(*values, strict=True))
        frame = frame.with_columns(
            frame[name].scatter(others, pl.Series(column, dtype=pl.String))
            for name, column in zip(frame.columns, columns, strict=True)
        )
    return frame["ip"], frame["ip_family"], frame["ip_network"]


def _canonical_columns(ip: pl.Series) -> tuple[pl.Series, pl.Series, pl.Series]:
    """(ip, ip_family, ip_network) of every raw ``ip_address``, computed once per distinct value.

    Users reuse a few addresses, so the distinct values of a batch are a small share of its rows:
    each goes through :func:`canonical_ip` (itself cached across batches), and the rows take
    their values from a dict (NULL ``ip_address`` and text that is not an IP address get NULLs).
    Measured on 4k-row checkpoints: 1.6 ms, against 2.5 ms for a polars join on a lookup frame."""
    texts = ip.to_list()
    known = {text: canonical_ip(text) or _NO_IP for text in set(texts) if text is not None}
    known[None] = _NO_IP
    canon, family, network = zip(*map(known.__getitem__, texts), strict=True)
    return (
        pl.Series("ip", canon, dtype=pl.String),
        pl.Series("ip_family", family, dtype=pl.String),
        pl.Series("ip_network", network, dtype=pl.String),
    )


_NO_IP: tuple[None, None, None] = (None, None, None)


@functools.lru_cache(maxsize=1 << 16)
def canonical_ip(text: str) -> tuple[str, str, str] | None:
    """(ip, family, network) of an IP address text, or None when it is not one.

    Accepts what :func:`ipaddress.ip_address` accepts (so no leading zeros in IPv4 octets, no
    surrounding spaces). ``ip`` is the compressed lower-case text; an IPv4-mapped IPv6 address
    (``::ffff:1.2.3.4``) is the IPv4 address it carries; the ``%zone`` of a scoped IPv6 address
    names the observer's interface, not the address, and is dropped (``fe80::1%eth0`` ->
    ``fe80::1``). ``family`` is 'v4' or 'v6'; ``network`` is the /24 (v4) or /64 (v6) holding
    it, e.g. '1.2.3.0/24', '2001:db8::/64'."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif address.scope_id is not None:
            address = ipaddress.IPv6Address(int(address))
    if isinstance(address, ipaddress.IPv4Address):
        return str(address), "v4", str(ipaddress.IPv4Network((int(address) >> 8 << 8, 24)))
    network = ipaddress.IPv6Network((int(address) >> 64 << 64, 64))
    return str(address), "v6", str(network)


# --- users and their session stats (small lists: one call per run) -------------------------------

# A /user/list object: (API name, column, JSON type), in column order. The one declaration the
# schema, the strict struct and the per-value path derive from; ``timestamp`` is ISO text parsed
# into ``created_at``.
USER_FIELDS: tuple[tuple[str, str, type], ...] = (
    ("id", "id", int),
    ("name", "name", str),
    ("email", "email", str),
    ("status", "status", str),
    ("professional", "professional", bool),
    ("organizationId", "organization_id", int),
    ("linkedUserId", "linked_user_id", int),
    ("foreignIntroducingBrokerId", "foreign_introducing_broker_id", int),
    ("timestamp", "created_at", str),
)
_USER_TIME = "created_at"
_USER_DTYPES: dict[type, pl.DataType] = {int: pl.Int64(), str: pl.String(), bool: pl.Boolean()}
USER_SCHEMA: dict[str, pl.DataType] = {
    "org": pl.String(),
    **{col: TS if col == _USER_TIME else _USER_DTYPES[kind] for _, col, kind in USER_FIELDS},
}
# Only a list of objects that all have an integer id and every other field of its JSON type (or
# null, or absent) converts (msgspec checks the types in C; other fields are ignored).
_STRICT_USERS: Any = types.GenericAlias(
    list,
    (
        msgspec.defstruct(
            "StrictUser",
            [
                (api, Int64)
                if api == "id"
                else (api, (Int64 if kind is int else kind) | None, None)
                for api, _, kind in USER_FIELDS
            ],
            kw_only=True,
            gc=False,
        ),
    ),
)
USER_STATS_SCHEMA: dict[str, pl.DataType] = {
    "org": pl.String(),
    "user_id": pl.Int64(),
    "stats_id": pl.Int64(),
    "last_session_time": TS,
    "failed_passwords": pl.Int32(),
}
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


def _typed(value: Any, kind: type) -> Any:
    """``value`` when it has JSON type ``kind`` (and fits the column), else None."""
    if type(value) is not kind:
        return None
    if isinstance(value, int) and kind is int and not _INT64_MIN <= value <= _INT64_MAX:
        return None
    return value


def normalize_users(users: Sequence[Any], *, org: str) -> pl.DataFrame:
    """``/user/list`` objects -> USER_SCHEMA rows. Objects without an integer id are skipped;
    a field of the wrong JSON type is stored as NULL; repeats of an id: the last wins.

    A list whose every object is well typed (nearly always) is converted by msgspec in C and
    its columns taken attribute by attribute; any other list goes value by value
    (:func:`_user_values_checked`). Both give the same frame (tests/test_normalize_property.py)."""
    return _users_frame(_user_values(users), org)


def _user_values(users: Sequence[Any]) -> dict[str, list[Any]]:
    """Every column's values (``created_at`` as text) of the objects with an integer id."""
    try:
        strict = msgspec.convert(list(users), _STRICT_USERS)
    except msgspec.ValidationError:
        return _user_values_checked(users)
    return {col: list(map(attrgetter(api), strict)) for api, col, _ in USER_FIELDS}


def _user_values_checked(users: Sequence[Any]) -> dict[str, list[Any]]:
    """:func:`_user_values`, value by value (exact for any input)."""
    rows = [u for u in users if type(u) is dict and _typed(u.get("id"), int) is not None]
    return {col: [_typed(u.get(api), kind) for u in rows] for api, col, kind in USER_FIELDS}


def _users_frame(values: dict[str, list[Any]], org: str) -> pl.DataFrame:
    n = len(values["id"])
    frame = pl.DataFrame(
        [
            pl.repeat(org, n, dtype=pl.String, eager=True).alias("org"),
            *(
                pl.Series(col, values[col], dtype=_USER_DTYPES[kind])
                for _, col, kind in USER_FIELDS
            ),
        ]
    )
    frame = frame.with_columns(_parse_times(frame[_USER_TIME]).alias(_USER_TIME))
    return frame.unique(subset=["id"], keep="last", maintain_order=True).select(list(USER_SCHEMA))


def normalize_user_stats(stats: Sequence[Any], *, org: str) -> pl.DataFrame:
    """``/userSessionStats/ldeps`` objects -> USER_STATS_SCHEMA rows, one per object.

    UserSessionStats is a dependent of User: its ``id`` is the user's id (a ``userId`` field,
    if the API ever sends one, takes precedence). Objects with no integer id are skipped."""
    rows = []
    for obj in stats:
        if type(obj) is not dict:
            continue
        stats_id = _typed(obj.get("id"), int)
        user_id = _typed(obj.get("userId"), int)
        user_id = stats_id if user_id is None else user_id
        if user_id is None:
            continue
        failed = _typed(obj.get("failedPasswords"), int)
        if failed is not None and not _INT32_MIN <= failed <= _INT32_MAX:
            failed = None
        rows.append((user_id, stats_id, _typed(obj.get("lastSessionTime"), str), failed))
    frame = pl.DataFrame(
        {
            "org": [org] * len(rows),
            "user_id": [r[0] for r in rows],
            "stats_id": [r[1] for r in rows],
            "_last": pl.Series([r[2] for r in rows], dtype=pl.String),
            "failed_passwords": [r[3] for r in rows],
        },
        schema_overrides={
            "org": pl.String(),
            "user_id": pl.Int64(),
            "stats_id": pl.Int64(),
            "failed_passwords": pl.Int32(),
        },
    )
    frame = frame.with_columns(last_session_time=_parse_times(frame["_last"]))
    return frame.select(list(USER_STATS_SCHEMA))
