"""Benchmarks of session-audit (issue 6): ``python -m benchmarks [--quick]``.

Sections (``--only load,e2e,memory,startup,queries``): the load path against its floor, the
end-to-end ingest over HTTP against a raw fetch and two dlt pipelines, peak memory at 2M
sessions, API economy, start-up, queries over 10M synthetic sessions, and the Prefect flow against
the plain function. Every contender runs in its own process; see docs/performance.md.
"""
