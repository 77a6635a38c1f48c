"""Re-check an export directory against its ``manifest.json``.

Every listed file must exist with the recorded sha256 and row count, and no other file may sit
beside them. Any difference is reported (all of them, not just the first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from session_audit.analysis.manifest import MANIFEST_NAME, count_rows, read_manifest, sha256_file
from session_audit.errors import VerificationError


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of a verification: checked files and the problems found (empty = intact)."""

    directory: Path
    dataset: str
    checked: tuple[str, ...]
    rows: int
    problems: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems


def check_export(directory: Path) -> VerifyReport:
    """Compare every file of the export in ``directory`` with its manifest entry."""
    directory = Path(directory)
    if not directory.is_dir():
        raise VerificationError(f"{directory} is not a directory")
    manifest = read_manifest(directory)
    fmt = str(manifest.get("format", ""))
    problems: list[str] = []
    listed: set[str] = set()
    rows = 0
    for entry in manifest["files"]:
        name = str(entry.get("path", ""))
        listed.add(name)
        path = directory / name
        if Path(name).name != name or not name:
            problems.append(f"{name!r}: manifest entry does not name a file in the directory")
            continue
        if not path.is_file():
            problems.append(f"{name}: missing")
            continue
        digest = sha256_file(path)
        if digest != entry.get("sha256"):
            problems.append(f"{name}: sha256 changed ({entry.get('sha256')} -> {digest})")
        try:
            counted = count_rows(path, fmt)
        except (VerificationError, UnicodeDecodeError, OSError) as exc:
            problems.append(f"{name}: rows cannot be counted ({exc})")
        else:
            rows += counted
            if counted != entry.get("rows"):
                problems.append(f"{name}: {counted} rows, manifest says {entry.get('rows')}")
    total = manifest.get("row_count")
    if sum(int(e.get("rows", 0)) for e in manifest["files"]) != total:
        problems.append(f"{MANIFEST_NAME}: row_count {total} is not the sum of its files")
    for extra in sorted(p.name for p in directory.iterdir()):
        if extra != MANIFEST_NAME and extra not in listed:
            problems.append(f"{extra}: extra file not in the manifest")
    return VerifyReport(
        directory, str(manifest.get("dataset")), tuple(sorted(listed)), rows, tuple(problems)
    )


def verify_export(directory: Path) -> VerifyReport:
    """Like :func:`check_export`, but raise VerificationError listing every problem."""
    report = check_export(directory)
    if not report.ok:
        raise VerificationError(
            f"export {directory} does not match its manifest: " + "; ".join(report.problems)
        )
    return report
