"""session-audit: Tradovate login-session records into DuckDB for compliance and risk staff."""

import sys
from importlib.metadata import PackageNotFoundError, version

# httpx imports its own command-line client (click, rich and pygments: about 60 ms of CPU per
# process) whenever those are installed, and typer installs them. Nothing here runs httpx's CLI:
# marked absent before httpx is first imported, httpx defines a stub ``httpx.main`` instead.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

try:
    __version__ = version("session-audit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
