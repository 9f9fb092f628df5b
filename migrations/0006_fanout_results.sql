-- The values of ended parallel branches and foreach items, one row each,
-- written once by the transition that ended the child and read back with
-- the run while its fan-out runs. The run snapshot (`runs.state`) keeps only
-- each child's status, run-length encoded, so what a result writes is
-- proportional to that result, not to how many siblings ended before it.
-- `step_id` is the fan-out state's step id (unique per visit of the state).
CREATE TABLE fanout_results (
    run_id  text    NOT NULL,
    step_id text    NOT NULL,
    child   integer NOT NULL,
    value   jsonb   NOT NULL,
    PRIMARY KEY (run_id, step_id, child)
);
