"""Scale past one process: chunks extracted in parallel (threads or Dask), Parquet staging,
one loader into DuckDB, and an optional Parquet lake partitioned by org and month (issue 7).
Workers borrow the driver's single login (``TradovateClient.lend_token`` / ``token_lease=``).

* ``scale.executors``: the run's :class:`ExecutionPlan` (``inline``, ``threads`` or ``dask``,
  validated once) and where chunks run, as one Executor interface; the one Dask cluster builder;
* ``scale.worker``: :func:`extract_chunk`, what a worker runs (fetch, normalize, stage);
* ``scale.staging``: the Parquet hand-off between workers and the loader;
* ``scale.driver``: the staged loop and :func:`run_ingest_staged` (the CLI's entry);
* ``scale.lake``: the Parquet lake (``--lake``) and the DuckDB relation that reads it.

The plain ingest path imports only ``scale.executors`` (its plan; no distributed, no prefect).
"""
