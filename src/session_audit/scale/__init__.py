"""Scale past one process: chunks extracted in parallel (threads or Dask), Parquet staging,
one loader into DuckDB, and an optional Parquet lake partitioned by org and month (issue 7).
Workers borrow the driver's single login (``TradovateClient.lend_token`` / ``token_lease=``).

* ``scale.executors``: where chunks run (``threads`` or ``dask``), as one Executor interface;
* ``scale.worker``: :func:`extract_chunk`, what a worker runs (fetch, normalize, stage);
* ``scale.staging``: the Parquet hand-off between workers and the loader;
* ``scale.driver``: the staged loop and :func:`run_ingest_staged` (the CLI's entry);
* ``scale.lake``: the Parquet lake (``--lake``) and the DuckDB relation that reads it.

Nothing here is imported by the plain ingest path.
"""
