"""The benchmarks' own SQL, one statement per file under ``benchmarks/sql/``, loaded by name."""

from __future__ import annotations

from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parent / "sql"


@cache
def bench_sql(name: str) -> str:
    """The text of ``benchmarks/sql/<name>.sql``."""
    path = SQL_DIR / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"no benchmark SQL named {name!r} ({path})")
    return path.read_text(encoding="utf-8")
