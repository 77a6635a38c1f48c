"""Re-check an export directory against its ``manifest.json`` (and its signature).

Every listed file must exist with the recorded sha256 and row count, the row counts must add
up to ``row_count``, and nothing else may sit beside them but the manifest and its signature
file. Any difference is reported (all of them, not just the first).

A manifest that is not JSON or not shaped like a session-audit manifest raises a one-line
:class:`VerificationError` (:func:`session_audit.analysis.manifest.load_manifest`). With a
public key the export must carry a good signature by that key
(:func:`session_audit.analysis.signing.signature_problems`); without one an unsigned export
verifies on its hashes alone, and a signed one is reported as signed but not checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from session_audit.analysis.manifest import (
    MANIFEST_NAME,
    SIGNATURE_NAME,
    count_rows,
    load_manifest,
    sha256_file,
)
from session_audit.errors import VerificationError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of a verification: checked files and the problems found (empty = intact).

    ``signature`` is 'checked' (good signature by the given key), 'unchecked' (signed, no key
    given) or 'none' (unsigned)."""

    directory: Path
    dataset: str
    checked: tuple[str, ...]
    rows: int
    problems: tuple[str, ...] = field(default=())
    signature: str = "none"

    @property
    def ok(self) -> bool:
        return not self.problems


def check_export(directory: Path, public_key: Ed25519PublicKey | None = None) -> VerifyReport:
    """Compare every file of the export in ``directory`` with its manifest entry and, with
    ``public_key``, check the signature."""
    directory = Path(directory)
    if not directory.is_dir():
        raise VerificationError(f"{directory} is not a directory")
    manifest = load_manifest(directory)
    problems: list[str] = []
    rows = 0
    for entry in manifest.files:
        path = directory / entry.path
        if not path.is_file():
            problems.append(f"{entry.path}: missing")
            continue
        try:
            digest = sha256_file(path)
        except OSError as exc:
            problems.append(f"{entry.path}: cannot be read ({exc.strerror or exc})")
            continue
        if digest != entry.sha256:
            problems.append(f"{entry.path}: sha256 changed ({entry.sha256} -> {digest})")
        try:
            counted = count_rows(path, manifest.fmt)
        except (VerificationError, OSError) as exc:
            problems.append(f"{entry.path}: rows cannot be counted ({exc})")
        else:
            rows += counted
            if counted != entry.rows:
                problems.append(f"{entry.path}: {counted} rows, manifest says {entry.rows}")
    if sum(e.rows for e in manifest.files) != manifest.row_count:
        problems.append(
            f"{MANIFEST_NAME}: row_count {manifest.row_count} is not the sum of its files"
        )
    allowed = manifest.names | {MANIFEST_NAME, SIGNATURE_NAME}
    try:
        present = sorted(p.name for p in directory.iterdir())
    except OSError as exc:
        raise VerificationError(f"{directory} cannot be listed: {exc.strerror or exc}") from exc
    for extra in present:
        if extra not in allowed:
            problems.append(f"{extra}: extra file not in the manifest")
    signed = (directory / SIGNATURE_NAME).exists() or (directory / SIGNATURE_NAME).is_symlink()
    if signed or public_key is not None:
        from session_audit.analysis.signing import signature_problems

        problems.extend(signature_problems(directory, public_key))
    state = "none" if not signed else ("checked" if public_key is not None else "unchecked")
    return VerifyReport(
        directory,
        manifest.dataset,
        tuple(sorted(manifest.names)),
        rows,
        tuple(problems),
        state,
    )


def verify_export(directory: Path, public_key: Ed25519PublicKey | None = None) -> VerifyReport:
    """Like :func:`check_export`, but raise VerificationError listing every problem."""
    report = check_export(directory, public_key)
    if not report.ok:
        raise VerificationError(
            f"export {directory} does not match its manifest: " + "; ".join(report.problems)
        )
    return report
