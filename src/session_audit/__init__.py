"""session-audit: Tradovate login-session records into DuckDB for compliance and risk staff."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("session-audit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
