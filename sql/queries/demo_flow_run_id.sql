-- demo_flow_run_id: the Prefect flow-run id recorded for one ingest run. $run_id: the run.
SELECT flow_run_id FROM ingest_runs WHERE run_id = $run_id
