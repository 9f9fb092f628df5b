-- Timers that carry work besides a deadline: `start_child` (a workflow.run
-- step's child to create, on the parent's run) and `child_done` (a child's
-- end, delivered to its parent's run). The payload says what to do.
ALTER TABLE timers ADD COLUMN payload jsonb;
