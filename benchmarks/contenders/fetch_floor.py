"""The fetch floor: log in once, then fetch every page of an id range with async httpx at the
same concurrency and batch size as the ingest, doing nothing with the bytes.

``python -m benchmarks.contenders.fetch_floor --first A --last B --batch 100 --concurrency 8``
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx
import orjson

from benchmarks.contenders.common import access_token, id_batches, login_body
from session_audit.settings import Settings, load_settings


async def fetch_range(
    settings: Settings, first: int, last: int, batch: int, concurrency: int
) -> dict[str, int]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    requests = 0
    received = 0
    async with httpx.AsyncClient(base_url=settings.base_url, timeout=60, limits=limits) as http:
        answer = await http.post("/auth/accesstokenrequest", json=login_body(settings))
        headers = {"Authorization": f"Bearer {access_token(answer.json())}"}
        queue: asyncio.Queue[str] = asyncio.Queue()
        for ids in id_batches(first, last, batch):
            queue.put_nowait(ids)

        async def worker() -> None:
            nonlocal requests, received
            while not queue.empty():
                ids = queue.get_nowait()
                page = await http.get("/userSession/items", params={"ids": ids}, headers=headers)
                page.raise_for_status()
                requests += 1
                received += len(page.content)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {"requests": requests, "bytes": received}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.contenders.fetch_floor")
    parser.add_argument("--first", type=int, required=True)
    parser.add_argument("--last", type=int, required=True)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    settings = load_settings()
    started = time.perf_counter()
    result = asyncio.run(fetch_range(settings, args.first, args.last, args.batch, args.concurrency))
    result_line = {**result, "inner_seconds": round(time.perf_counter() - started, 3)}
    print(orjson.dumps(result_line).decode())


if __name__ == "__main__":
    main()
