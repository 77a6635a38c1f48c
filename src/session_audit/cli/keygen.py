"""`session-audit keygen --out DIR`: an Ed25519 key pair for signing exports.

Writes ``session-audit-signing.key`` (private, mode 0600: keep it secret, give it to
``export --sign-key``) and ``session-audit-signing.pub`` (give it to auditors for
``verify --public-key``). Existing key files are never overwritten.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from session_audit.cli.app import app


@app.command("keygen")
def keygen(
    out: Annotated[Path, typer.Option("--out", help="folder for the key pair (created if absent)")],
) -> None:
    """Make an Ed25519 key pair for `export --sign-key` and `verify --public-key`."""
    from session_audit.analysis.signing import generate_keypair

    private_path, public_path, key_id = generate_keypair(out)
    typer.echo(f"private key {private_path} (keep it secret; export --sign-key)")
    typer.echo(f"public key  {public_path} (for auditors; verify --public-key)")
    typer.echo(f"key id      {key_id}")
