-- One writer per run row. Event sequence numbers move from `runs.last_seq`
-- to a small counter row per run, so workers (claims and results) lock only
-- that counter and never the run row, which only coordinators write. Lock
-- order everywhere: run row (coordinators only) → counter → attempt rows.
CREATE TABLE run_counters (
    run_id   text   PRIMARY KEY,
    last_seq bigint NOT NULL
) WITH (fillfactor = 50);
INSERT INTO run_counters (run_id, last_seq) SELECT id, last_seq FROM runs;
ALTER TABLE runs DROP COLUMN last_seq;
