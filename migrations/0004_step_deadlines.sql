-- The coordinator's backstop for step timeouts: each claim stores a
-- `step_deadline` timer (claim time + timeoutSeconds + a grace period) and
-- the attempt's result deletes it, both by (run, step, attempt).
CREATE INDEX timers_by_step ON timers (run_id, step_id, attempt);
