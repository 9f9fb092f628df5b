-- Concurrency keys (docs/language.md §1, `concurrency`): a run of a limited
-- workflow keeps its rendered key. Queued runs are `PENDING`; the runs that
-- hold a slot are the key's other unended runs. Both are counted and listed,
-- under the key's advisory lock, through this partial index, so the cost
-- follows the key's runs in flight, not every run ever stored.
ALTER TABLE runs ADD COLUMN concurrency_key text;
CREATE INDEX runs_by_concurrency_key ON runs (tenant, workflow_id, concurrency_key, created_at, id)
    WHERE concurrency_key IS NOT NULL
      AND status IN ('PENDING', 'RUNNING', 'WAITING_APPROVAL', 'WAITING_SIGNAL', 'PAUSED');
