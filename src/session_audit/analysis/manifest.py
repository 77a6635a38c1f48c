"""The export manifest (``manifest.json``) and the file facts it records.

A manifest names every file of an export with its row count and sha256, so
:mod:`session_audit.analysis.verify` can prove later that nothing changed. Row counts are taken
from the files themselves with the same functions verify uses.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path
from typing import Any

import orjson

from session_audit.errors import ExportError, VerificationError

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def count_rows(path: Path, fmt: str) -> int:
    """Data rows in an export file: CSV records after the header, or Parquet rows."""
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            return max(sum(1 for _ in reader) - 1, 0)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            return int(pq.ParquetFile(path).metadata.num_rows)
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise VerificationError(f"{path.name} is not a readable Parquet file: {exc}") from exc
    raise ExportError(f"unknown export format {fmt!r}")


def file_entry(path: Path, fmt: str, partition: str | None) -> dict[str, Any]:
    """The manifest entry of one written file."""
    return {
        "path": path.name,
        "partition": partition,
        "rows": count_rows(path, fmt),
        "bytes": path.stat().st_size,
        "sha256": sha256_file(path),
    }


def write_manifest(directory: Path, manifest: dict[str, Any]) -> Path:
    """Write ``manifest.json`` (sorted keys, indented) into ``directory``."""
    target = directory / MANIFEST_NAME
    target.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    return target


def read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of an export directory; VerificationError when absent or unreadable."""
    target = directory / MANIFEST_NAME
    try:
        data = orjson.loads(target.read_bytes())
    except FileNotFoundError as exc:
        raise VerificationError(f"no {MANIFEST_NAME} in {directory}") from exc
    except (OSError, orjson.JSONDecodeError) as exc:
        raise VerificationError(f"{target} is not a readable manifest: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        raise VerificationError(f"{target} is not a session-audit export manifest")
    return data
