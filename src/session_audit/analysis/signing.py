"""Ed25519 signatures over export manifests (``cryptography``).

* :func:`generate_keypair` writes ``session-audit-signing.key`` (PKCS#8 PEM, unencrypted, mode
  0600) and ``session-audit-signing.pub`` (SubjectPublicKeyInfo PEM) into a folder; it never
  overwrites a key.
* :func:`sign_export` signs the exact bytes of ``manifest.json`` (its canonical form, see
  :func:`session_audit.analysis.manifest.manifest_bytes`), prefixed with :data:`CONTEXT`, and
  writes ``manifest.json.sig`` beside it: a JSON object ``{"algorithm": "Ed25519", "key_id",
  "manifest_sha256", "signature"}`` (signature in base64, key_id = the first 16 hex digits of
  the sha256 of the raw public key). The manifest lists every data file with its sha256, so the
  signature covers the data as well.
* :func:`signature_problems` re-checks a signature with a public key: any change to the
  manifest (a re-hashed one included), a missing or malformed signature file or another key
  gives a problem line; an empty list means the signature is good.

Key files that cannot be read or are not Ed25519 keys raise a one-line :class:`ConfigError`.
The private key is never printed, logged or written anywhere but its own file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from session_audit.analysis.manifest import MANIFEST_NAME, SIGNATURE_NAME
from session_audit.errors import ConfigError

ALGORITHM = "Ed25519"
CONTEXT = b"session-audit export manifest v1\n"
PRIVATE_KEY_NAME = "session-audit-signing.key"
PUBLIC_KEY_NAME = "session-audit-signing.pub"


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short fingerprint of a public key: 16 hex digits of the sha256 of its raw bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_keypair(directory: Path) -> tuple[Path, Path, str]:
    """Write a new key pair into ``directory``; return (private path, public path, key id)."""
    private_path, public_path = directory / PRIVATE_KEY_NAME, directory / PUBLIC_KEY_NAME
    for existing in (private_path, public_path):
        if existing.exists() or existing.is_symlink():
            raise ConfigError(
                f"{existing} exists; a key is never overwritten: choose another --out"
            )
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _write_new(private_path, private_pem, 0o600)
        try:
            _write_new(public_path, public_pem, 0o644)
        except BaseException:
            private_path.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigError(f"cannot write a key pair into {directory}: {_reason(exc)}") from exc
    return private_path, public_path, key_id(key.public_key())


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in a PEM file; ConfigError when it is anything else."""
    data = _read_key_file(path, "--sign-key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ConfigError(
            f"--sign-key {path} is not an unencrypted PEM private key ({_reason(exc)})"
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"--sign-key {path} is not an Ed25519 key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """The Ed25519 public key in a PEM file; ConfigError when it is anything else."""
    data = _read_key_file(path, "--public-key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ConfigError(f"--public-key {path} is not a PEM public key ({_reason(exc)})") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"--public-key {path} is not an Ed25519 key")
    return key


def sign_export(directory: Path, private_key: Ed25519PrivateKey) -> Path:
    """Sign ``directory/manifest.json`` as it is on disk; write and return the signature file."""
    manifest = (directory / MANIFEST_NAME).read_bytes()
    record = {
        "algorithm": ALGORITHM,
        "key_id": key_id(private_key.public_key()),
        "manifest_sha256": hashlib.sha256(manifest).hexdigest(),
        "signature": base64.b64encode(private_key.sign(CONTEXT + manifest)).decode("ascii"),
    }
    target = directory / SIGNATURE_NAME
    target.write_bytes(orjson.dumps(record, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    return target


def read_signature(directory: Path) -> dict[str, Any] | None:
    """The parsed signature file of an export, None when there is none.

    Raises ValueError (one line) when the file exists but is not a signature record."""
    target = directory / SIGNATURE_NAME
    if not (target.exists() or target.is_symlink()):
        return None
    try:
        data = orjson.loads(target.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ValueError(f"{SIGNATURE_NAME} cannot be read as JSON ({_reason(exc)})") from exc
    if not isinstance(data, dict) or data.get("algorithm") != ALGORITHM:
        raise ValueError(f"{SIGNATURE_NAME} is not an {ALGORITHM} signature record")
    for field in ("key_id", "manifest_sha256", "signature"):
        if not isinstance(data.get(field), str):
            raise ValueError(f"{SIGNATURE_NAME}: {field} is missing or not text")
    return data


def signature_problems(directory: Path, public_key: Ed25519PublicKey | None) -> list[str]:
    """Problems with the signature of the export in ``directory`` (empty: good or unsigned
    without a key). With ``public_key`` a missing signature is a problem."""
    try:
        record = read_signature(directory)
    except ValueError as exc:
        return [str(exc)]
    if record is None:
        return [f"{SIGNATURE_NAME}: missing (the export is not signed)"] if public_key else []
    try:
        manifest = (directory / MANIFEST_NAME).read_bytes()
    except OSError as exc:
        return [f"{MANIFEST_NAME} cannot be read: {_reason(exc)}"]
    problems = []
    if hashlib.sha256(manifest).hexdigest() != record["manifest_sha256"]:
        problems.append(f"{MANIFEST_NAME}: changed since it was signed")
    if public_key is None:
        return problems
    if record["key_id"] != key_id(public_key):
        problems.append(
            f"{SIGNATURE_NAME}: signed by key {record['key_id']}, not by the given public key "
            f"{key_id(public_key)}"
        )
        return problems
    try:
        signature = base64.b64decode(record["signature"], validate=True)
        public_key.verify(signature, CONTEXT + manifest)
    except (binascii.Error, ValueError, InvalidSignature):
        problems.append(f"{SIGNATURE_NAME}: the signature does not match {MANIFEST_NAME}")
    return problems


def _read_key_file(path: Path, flag: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{flag} {path} cannot be read: {_reason(exc)}") from exc


def _write_new(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
