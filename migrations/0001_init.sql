-- Junction's first schema: definitions, agents, runs, step attempts, events,
-- outbox, timers and cluster members. Postgres is the only source of truth.

-- Every stored revision of every workflow definition. A put with a changed
-- source adds a revision and archives the previous one; runs pin (workflow, version).
CREATE TABLE definitions (
    tenant             text        NOT NULL,
    workflow_id        text        NOT NULL,
    version            integer     NOT NULL,
    definition_version text,
    name               text,
    source             text        NOT NULL,
    format             text        NOT NULL,
    checksum           text        NOT NULL,
    ir                 jsonb       NOT NULL,
    trigger_signal     text,
    archived           boolean     NOT NULL DEFAULT false,
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, workflow_id, version)
);
CREATE INDEX definitions_by_trigger ON definitions (tenant, trigger_signal) WHERE NOT archived;

-- The agent registry, resolved by name within a tenant.
CREATE TABLE agents (
    tenant        text        NOT NULL,
    name          text        NOT NULL,
    description   text,
    input_schema  jsonb,
    output_schema jsonb,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, name)
);

-- Rows of step_attempts, events and timers belong to a run by run_id. They
-- carry no foreign key on purpose: every insert comes from a statement that
-- has just locked or written that run row, and the per-row referential check
-- was a measurable share of Postgres's work per step.

-- One row per run. `state` is the state machine's snapshot (context included);
-- `last_seq` hands out event sequence numbers under the row lock. Updated on
-- every step, so pages keep room for HOT updates.
CREATE TABLE runs (
    id             text        PRIMARY KEY,
    tenant         text        NOT NULL,
    workflow_id    text        NOT NULL,
    version        integer     NOT NULL,
    status         text        NOT NULL,
    input          jsonb       NOT NULL,
    state          jsonb       NOT NULL,
    error          jsonb,
    causation_id   text,
    correlation_id text        NOT NULL,
    -- `signal:<id>` or `key:<idempotency_key>`: at most one run per (tenant, workflow, key).
    dedupe_key     text,
    last_seq       bigint      NOT NULL DEFAULT 0,
    -- Bumped by every coordinator write: the optimistic concurrency check.
    revision       bigint      NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    ended_at       timestamptz,
    UNIQUE (tenant, workflow_id, dedupe_key)
) WITH (fillfactor = 70);
CREATE INDEX runs_by_tenant ON runs (tenant, id DESC);
CREATE INDEX runs_by_status ON runs (tenant, status);

-- One row per attempt of a step. Workers claim rows here (status, worker_id,
-- lease_until); `completion_seq` points at the event that ended the attempt.
CREATE TABLE step_attempts (
    -- Creation order, so `run.steps` lists attempts as they happened.
    ordinal        bigserial   NOT NULL,
    run_id         text        NOT NULL,
    step_id        text        NOT NULL,
    attempt        integer     NOT NULL,
    state          text        NOT NULL,
    path           text        NOT NULL,
    status         text        NOT NULL,
    inline         boolean     NOT NULL DEFAULT false,
    worker_id      text,
    input          jsonb,
    output         jsonb,
    error          jsonb,
    lease_until    timestamptz,
    claims         integer     NOT NULL DEFAULT 0,
    completion_seq bigint,
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    ended_at       timestamptz,
    PRIMARY KEY (run_id, step_id, attempt)
);

-- The append-only event log: (run_id, seq) is an event's identity.
CREATE TABLE events (
    run_id    text        NOT NULL,
    seq       bigint      NOT NULL,
    type      text        NOT NULL,
    time      timestamptz NOT NULL,
    step_id   text,
    state     text,
    path      text,
    attempt   integer,
    worker_id text,
    data      jsonb,
    PRIMARY KEY (run_id, seq)
);

-- Messages a committed transaction implies, published after commit and
-- deleted once JetStream acknowledged them. The relay re-sends leftovers.
-- A row either carries its payload, or points at a stored event (run_id, seq)
-- whose JSON the relay rebuilds.
CREATE TABLE outbox (
    id         bigserial   PRIMARY KEY,
    subject    text        NOT NULL,
    msg_id     text        NOT NULL,
    payload    bytea,
    run_id     text,
    seq        bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (payload IS NOT NULL OR (run_id IS NOT NULL AND seq IS NOT NULL))
);

-- Durable timers (retry backoff now; timeouts later), fired by coordinators
-- with FOR UPDATE SKIP LOCKED.
CREATE TABLE timers (
    id         bigserial   PRIMARY KEY,
    run_id     text        NOT NULL,
    kind       text        NOT NULL,
    step_id    text,
    attempt    integer,
    fire_at    timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX timers_by_fire_at ON timers (fire_at);

-- Live processes, refreshed by heartbeat; stale rows are ignored after 30 s.
CREATE TABLE cluster_members (
    id           text        PRIMARY KEY,
    role         text        NOT NULL,
    http_addr    text,
    started_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL
);
