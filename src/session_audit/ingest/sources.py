"""Where session ids come from besides the range scan: an ids file.

``read_ids_file(path)`` reads

* text (any other suffix): one id per line; blank lines and ``#`` comments are ignored;
* CSV (``.csv``): the column named ``id`` or ``session_id`` (case-insensitive), else the first
  column; a first row that is not a number is the header;
* Parquet (``.parquet``/``.pq``): the column named ``id``/``session_id``, else the first column,
  of an integer type;
* ``-``: standard input, as text.

Ids must be positive integers. Bad content raises :class:`ConfigError` naming the file and the
line (row). The result is sorted with repeats removed. The range scan itself (from the stored
cursor or ``--start-id``) is driven by ``session_audit.ingest.runner``.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from session_audit.errors import ConfigError

ID_COLUMNS = ("id", "session_id")
_PARQUET = (".parquet", ".pq")
_MAX_ID = 2**63 - 1


def read_ids_file(path: str, *, stdin: TextIO | None = None) -> list[int]:
    """Sorted unique session ids from a text, CSV or Parquet file, or ``-`` for stdin."""
    if path == "-":
        return _sorted_unique(_text_ids((stdin or sys.stdin), "<stdin>"))
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"ids file {path} does not exist or is not a file")
    suffix = file.suffix.lower()
    try:
        if suffix in _PARQUET:
            return _sorted_unique(_parquet_ids(file))
        with file.open(encoding="utf-8", newline="") as handle:
            if suffix == ".csv":
                return _sorted_unique(_csv_ids(handle, path))
            return _sorted_unique(_text_ids(handle, path))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"ids file {path} is not UTF-8 text: {exc.reason}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read ids file {path}: {exc.strerror or exc}") from exc


def _sorted_unique(ids: Iterable[int]) -> list[int]:
    return sorted(set(ids))


def _parse_id(text: str, where: str) -> int:
    value = text.strip()
    try:
        number = int(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: not a session id: {value!r}") from exc
    if not 0 < number <= _MAX_ID:
        raise ConfigError(f"{where}: session ids are positive 64-bit integers, got {value}")
    return number


def _text_ids(lines: Iterable[str], name: str) -> Iterable[int]:
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if text:
            yield _parse_id(text, f"{name}:{number}")


def _csv_ids(handle: TextIO, name: str) -> Iterable[int]:
    reader = csv.reader(handle)
    column: int | None = None
    for row in reader:
        line = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        if column is None:
            lowered = [cell.strip().lower() for cell in row]
            named = [i for i, cell in enumerate(lowered) if cell in ID_COLUMNS]
            column = named[0] if named else 0
            if named or not _is_int(row[column]):
                if not named and not row[column].strip().isidentifier():
                    raise ConfigError(f"{name}:{line}: not a session id: {row[column]!r}")
                continue  # header row
        if column >= len(row) or not row[column].strip():
            raise ConfigError(f"{name}:{line}: no session id in column {column + 1}")
        yield _parse_id(row[column], f"{name}:{line}")


def _is_int(text: str) -> bool:
    try:
        int(text.strip())
    except ValueError:
        return False
    return True


def _parquet_ids(file: Path) -> list[int]:
    import polars as pl

    try:
        schema = pl.read_parquet_schema(file)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise ConfigError(f"{file} is not a readable Parquet file: {exc}") from exc
    if not schema:
        raise ConfigError(f"{file}: the Parquet file has no columns")
    lowered = {name.lower(): name for name in schema}
    column = next((lowered[c] for c in ID_COLUMNS if c in lowered), next(iter(schema)))
    if not schema[column].is_integer():
        raise ConfigError(
            f"{file}: column {column!r} holds {schema[column]}, not integer session ids"
        )
    values = pl.read_parquet(file, columns=[column]).to_series()
    for row, value in enumerate(values.to_list(), 1):
        if value is None or not 0 < value <= _MAX_ID:
            raise ConfigError(f"{file}: row {row}: not a session id: {value!r}")
    return [int(v) for v in values.to_list()]
