"""The export manifest (``manifest.json``) and the file facts it records.

A manifest names every file of an export with its row count and sha256, so
:mod:`session_audit.analysis.verify` can prove later that nothing changed. ``period`` records
the export's --since/--until and how they applied (``applied``: the view computed over the
period's sessions, or a row filter on the time column; None for all data), see
:mod:`session_audit.analysis.period`. Row counts are taken
from the files themselves with the same functions verify uses.

``manifest.json`` is written in its canonical form (sorted keys, two-space indent, UTF-8, no
trailing newline): :func:`manifest_bytes`. A signature (``session_audit.analysis.signing``)
covers exactly these bytes.

:func:`load_manifest` is the one reader of a manifest someone else may have written: it checks
the shape (a session-audit manifest, known version and format, each file a plain name with an
integer row count and a sha256) and raises a one-line :class:`VerificationError` on anything
else, never a traceback. Verify and ``export --force`` both trust only what it returns.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

import orjson

from session_audit.errors import ExportError, VerificationError

MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.json.sig"  # written by session_audit.analysis.signing
MANIFEST_VERSION = 1
TOOL_NAME = "session-audit"
MANIFEST_FORMATS = ("csv", "parquet")
_CHUNK = 1 << 20
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


@dataclass(frozen=True)
class ManifestFile:
    """One file entry of a manifest, with its types checked."""

    path: str
    rows: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """A manifest whose shape was checked; ``data`` is the whole parsed JSON object."""

    data: dict[str, Any]
    dataset: str
    fmt: str
    row_count: int
    files: tuple[ManifestFile, ...]

    @property
    def names(self) -> frozenset[str]:
        return frozenset(f.path for f in self.files)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def count_rows(path: Path, fmt: str) -> int:
    """Data rows in an export file: CSV records after the header, or Parquet rows.

    VerificationError when the file cannot be read as ``fmt``."""
    if fmt == "csv":
        try:
            with path.open(newline="", encoding="utf-8") as handle:
                reader = csv.reader(handle)
                return max(sum(1 for _ in reader) - 1, 0)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise VerificationError(f"{path.name} is not a readable CSV file: {exc}") from exc
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


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """The canonical bytes of a manifest: what ``manifest.json`` holds and a signature covers."""
    return orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)


def write_manifest(directory: Path, manifest: dict[str, Any]) -> Path:
    """Write ``manifest.json`` (canonical form) into ``directory``."""
    target = directory / MANIFEST_NAME
    target.write_bytes(manifest_bytes(manifest))
    return target


def read_manifest(directory: Path) -> dict[str, Any]:
    """The parsed manifest of an export directory (shape checked, see :func:`load_manifest`)."""
    return load_manifest(directory).data


def load_manifest(directory: Path) -> Manifest:
    """The manifest of an export directory; one-line VerificationError when it is absent,
    unreadable, not JSON, or not shaped like a session-audit manifest."""
    target = directory / MANIFEST_NAME
    try:
        raw = target.read_bytes()
    except FileNotFoundError as exc:
        raise VerificationError(f"no {MANIFEST_NAME} in {directory}") from exc
    except OSError as exc:
        raise VerificationError(f"{target} cannot be read: {exc.strerror or exc}") from exc
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise VerificationError(f"{target} is not JSON: {exc}") from exc
    return parse_manifest(data, str(target))


def parse_manifest(data: Any, where: str = MANIFEST_NAME) -> Manifest:
    """Check the shape of a parsed manifest; VerificationError naming the first problem."""

    def bad(problem: str) -> VerificationError:
        return VerificationError(f"{where} is not a session-audit export manifest: {problem}")

    if not isinstance(data, dict):
        raise bad(f"a JSON {type(data).__name__}, not an object")
    tool = data.get("tool")
    if not isinstance(tool, dict) or tool.get("name") != TOOL_NAME:
        raise bad(f"tool.name is not {TOOL_NAME!r}")
    version = data.get("manifest_version")
    if not _is_int(version) or not 1 <= version <= MANIFEST_VERSION:
        raise bad(
            f"manifest_version {version!r} is not one this version reads (1..{MANIFEST_VERSION})"
        )
    dataset = data.get("dataset")
    if not isinstance(dataset, str) or not dataset:
        raise bad("dataset is not a name")
    fmt = data.get("format")
    if fmt not in MANIFEST_FORMATS:
        raise bad(f"format {fmt!r} is not one of {', '.join(MANIFEST_FORMATS)}")
    row_count = data.get("row_count")
    if not _is_int(row_count) or row_count < 0:
        raise bad(f"row_count {row_count!r} is not a non-negative integer")
    entries = data.get("files")
    if not isinstance(entries, list):
        raise bad("files is not a list")
    files: list[ManifestFile] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        files.append(_file(entry, index, seen, bad))
    return Manifest(data, dataset, str(fmt), int(row_count), tuple(files))


def _file(entry: Any, index: int, seen: set[str], bad: Any) -> ManifestFile:
    if not isinstance(entry, dict):
        raise bad(f"files[{index}] is a JSON {type(entry).__name__}, not an object")
    path, rows, digest = entry.get("path"), entry.get("rows"), entry.get("sha256")
    if (
        not isinstance(path, str)
        or not _PLAIN_NAME.match(path)
        or path in (MANIFEST_NAME, SIGNATURE_NAME)
    ):
        raise bad(f"files[{index}].path {path!r} is not a plain file name")
    if path in seen:
        raise bad(f"files[{index}].path {path!r} is listed twice")
    if not _is_int(rows) or rows < 0:
        raise bad(f"files[{index}].rows {rows!r} is not a non-negative integer")
    if not isinstance(digest, str) or not _SHA256.match(digest):
        raise bad(f"files[{index}].sha256 is not a hex sha256")
    seen.add(path)
    return ManifestFile(path, int(rows), digest)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
