-- Circuit breakers of agents (docs/protocol.md §10): the registry entry
-- says when a breaker opens (`circuit`: {failures, cooldownSeconds}); the
-- breaker's state is one row per (tenant, agent), shared by every worker.
ALTER TABLE agents ADD COLUMN circuit jsonb;

-- `failures`: consecutive AGENT_UNAVAILABLE / STEP_TIMEOUT failures.
-- `open_until`: set while the breaker is open; past it, one trial call may
-- go. `trial_until`: a worker's trial call is in flight until then (its
-- deadline), so no other worker calls meanwhile.
CREATE TABLE agent_circuits (
    tenant      text        NOT NULL,
    agent       text        NOT NULL,
    failures    integer     NOT NULL DEFAULT 0,
    open_until  timestamptz,
    trial_until timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, agent)
);
