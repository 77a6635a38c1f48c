"""dlt pipelines loading the same sessions into DuckDB (merge on id): the comparison users make.

``python -m benchmarks.contenders.dlt_pipeline --mode naive|tuned --db F --pipelines-dir D ...``

* ``naive``: as most users write it: a resource that logs in, then requests one page after
  another (``dlt.sources.helpers.requests``) and yields each page, stopping after ``--gap``
  consecutive empty pages (the ingest's own stop rule); every setting at its default.
* ``tuned``: as dlt's performance guide advises: ``parallelized=True`` with each page a
  ``@dlt.defer``-red call (evaluated in the extract thread pool, ``EXTRACT__WORKERS`` set by the
  parent to the ingest's concurrency), and parquet loader files. A deferred resource cannot see
  its pages, so it is given the exact id range the ingest scanned (a head start it would not have
  in real life).

Both log in once (same auth as the ingest) and use the same batch size. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from benchmarks.contenders.common import id_batches, login_sync
from benchmarks.sqlfiles import bench_sql
from session_audit.settings import load_settings

TABLE = "user_sessions"
DATASET = "sessions"


def build_resource(mode: str, args: argparse.Namespace) -> Any:
    import dlt
    from dlt.sources.helpers import requests

    settings = load_settings()
    url = f"{settings.base_url}/userSession/items"

    if mode == "naive":

        @dlt.resource(name=TABLE, write_disposition="merge", primary_key="id")
        def sessions_naive() -> Iterator[list[dict[str, Any]]]:
            headers = {"Authorization": f"Bearer {login_sync(settings)}"}
            position, empty = args.first, 0
            while empty < args.gap:
                ids = ",".join(map(str, range(position, position + args.batch)))
                page = requests.get(url, params={"ids": ids}, headers=headers).json()
                position += args.batch
                if page:
                    empty = 0
                    yield page
                else:
                    empty += 1

        return sessions_naive()

    token: dict[str, str] = {}

    @dlt.defer
    def get_page(ids: str) -> list[dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token['value']}"}
        page: list[dict[str, Any]] = requests.get(url, params={"ids": ids}, headers=headers).json()
        return page

    @dlt.resource(name=TABLE, write_disposition="merge", primary_key="id", parallelized=True)
    def sessions_tuned() -> Iterator[Callable[[], list[dict[str, Any]]]]:
        token["value"] = login_sync(settings)
        for ids in id_batches(args.first, args.last, args.batch):
            yield get_page(ids)

    return sessions_tuned()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.contenders.dlt_pipeline")
    parser.add_argument("--mode", choices=("naive", "tuned"), required=True)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--pipelines-dir", type=Path, required=True)
    parser.add_argument("--first", type=int, required=True)
    parser.add_argument("--last", type=int, required=True)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--gap", type=int, default=20)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    import dlt

    pipeline = dlt.pipeline(
        pipeline_name=f"bench_{args.mode}",
        destination=dlt.destinations.duckdb(str(args.db)),
        dataset_name=DATASET,
        pipelines_dir=str(args.pipelines_dir),
    )
    resource = build_resource(args.mode, args)
    if args.mode == "tuned":
        pipeline.run(resource, loader_file_format="parquet")
    else:
        pipeline.run(resource)
    inner = time.perf_counter() - started

    import duckdb

    with duckdb.connect(str(args.db), read_only=True) as conn:
        row = conn.execute(bench_sql("dlt_row_count")).fetchone()
    print(
        orjson.dumps({"rows": int(row[0]) if row else 0, "inner_seconds": round(inner, 3)}).decode()
    )


if __name__ == "__main__":
    main()
