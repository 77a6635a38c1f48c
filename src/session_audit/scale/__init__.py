"""Scale past one process: chunks extracted in parallel (threads or Dask), Parquet staging,
one loader into DuckDB (issue 7; the ``--lake`` export of the same issue is ``analysis.lake``).
Workers borrow the driver's single login (``TradovateClient.lend_token`` / ``token_lease=``).

* ``scale.executors``: the run's :class:`ExecutionPlan` (``inline``, ``threads`` or ``dask``,
  validated once) and where chunks run, as one ``ChunkPool``; the one Dask cluster builder;
* ``scale.worker``: :func:`extract_chunk`, what a worker runs (fetch, normalize, stage);
* ``scale.staging``: the Parquet hand-off between workers and the loader;
* ``scale.driver``: the staged loop and :func:`run_ingest_staged` (the CLI's entry).

The plain ingest path imports only ``scale.executors`` (its plan; no distributed, no prefect).
"""
