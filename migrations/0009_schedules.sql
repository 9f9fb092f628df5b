-- Schedules (docs/language.md, "Schedules"): one row per workflow whose
-- latest revision has an enabled schedule (`trigger.schedule` or a
-- `type: cron` start state), holding the tick that fires next. A put of a
-- new revision replaces the row (or removes it when the schedule is gone
-- or disabled) and notifies `junction_schedules`; deleting the workflow's
-- revisions removes it. Any coordinator fires a due row under
-- `FOR UPDATE SKIP LOCKED` and advances it in the same transaction; the
-- run a tick starts is deduplicated by `cron:<tick>`, so a tick fired
-- twice (after a crash in between) still starts one run.
CREATE TABLE schedules (
    tenant       text        NOT NULL,
    workflow_id  text        NOT NULL,
    version      integer     NOT NULL,
    next_fire_at timestamptz NOT NULL,
    PRIMARY KEY (tenant, workflow_id),
    FOREIGN KEY (tenant, workflow_id, version)
        REFERENCES definitions (tenant, workflow_id, version) ON DELETE CASCADE
);
CREATE INDEX schedules_by_next_fire ON schedules (next_fire_at);
