-- Runs not yet ended, by status: `junction_runs_active{status}` counts them
-- at every scrape (store/src/metrics.rs), reading only this partial index,
-- so the cost follows the runs in flight, not the runs ever stored. The
-- predicate lists every non-terminal status (PROTOCOL §8.1), word for word
-- as the query's.
CREATE INDEX runs_active_by_status ON runs (status)
    WHERE status IN ('PENDING', 'RUNNING', 'WAITING_APPROVAL', 'WAITING_SIGNAL', 'PAUSED');
