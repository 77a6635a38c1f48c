"""`session-audit verify DIR [--public-key PUB]`: prove an export is unchanged since it was
written (and, with a public key, that it was signed by that key)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from session_audit.cli.app import EXIT_FAILED, app


@app.command("verify")
def verify(
    directory: Annotated[Path, typer.Argument(help="an export directory (holds manifest.json)")],
    public_key: Annotated[
        Path | None,
        typer.Option("--public-key", help="Ed25519 public key: require a good signature by it"),
    ] = None,
) -> None:
    """Re-check every file's sha256 and row count against manifest.json; fail on any change."""
    from session_audit.analysis.manifest import MANIFEST_NAME, sha256_file
    from session_audit.analysis.verify import check_export

    key = None
    if public_key is not None:
        from session_audit.analysis.signing import load_public_key

        key = load_public_key(public_key)
    report = check_export(directory, key)
    if not report.ok:
        typer.echo(
            f"error: export {directory} does not match its manifest "
            f"({len(report.problems)} problem(s)):",
            err=True,
        )
        for problem in report.problems:
            typer.echo(f"  {problem}", err=True)
        raise typer.Exit(EXIT_FAILED)
    signature = {
        "checked": "; signature by the given key is good",
        "unchecked": "; signed, signature not checked (pass --public-key)",
        "none": "; not signed",
    }[report.signature]
    typer.echo(
        f"ok: {len(report.checked)} file(s), {report.rows} row(s) of {report.dataset} match "
        f"{MANIFEST_NAME} (sha256 {sha256_file(Path(directory) / MANIFEST_NAME)}){signature}"
    )
