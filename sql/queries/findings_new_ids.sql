-- findings_new_ids: (re)create the empty temp table finding_new_ids (id, rule, severity) that
-- collects the ids of the findings one evaluation writes for the first time.
CREATE OR REPLACE TEMP TABLE finding_new_ids (id VARCHAR, rule VARCHAR, severity VARCHAR)
