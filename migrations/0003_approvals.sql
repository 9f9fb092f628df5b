-- Approvals of `human.approval` steps (PROTOCOL §4 `approval`). The run's
-- snapshot decides; this table is what operators list and decide on. A
-- decision updates its row and queues an `approval_decided` timer for the
-- run in one statement, so no decision is lost between the two.
CREATE TABLE approvals (
    id           text        PRIMARY KEY,
    tenant       text        NOT NULL,
    run_id       text        NOT NULL,
    step_id      text        NOT NULL,
    attempt      integer     NOT NULL,
    state        text        NOT NULL,
    status       text        NOT NULL DEFAULT 'PENDING',
    message      text,
    summary      jsonb,
    approvers    jsonb       NOT NULL DEFAULT '[]',
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    decided_at   timestamptz,
    actor        text,
    comment      text
);
CREATE INDEX approvals_by_tenant ON approvals (tenant, status, created_at DESC);
CREATE INDEX approvals_by_run ON approvals (run_id);
