-- Provider health a fleet shares (issue 13).

-- One row per (provider, model) the fleet probes. A node claims the rows that are due
-- (`next_due <= now()`, FOR UPDATE SKIP LOCKED) and moves `next_due` one interval ahead in
-- the same statement, so a slot is probed once per interval by the whole fleet.
CREATE TABLE probe_slots (
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    next_due TIMESTAMPTZ NOT NULL DEFAULT now(),
    claimed_by TEXT,
    PRIMARY KEY (provider, model)
);
CREATE INDEX probe_slots_due ON probe_slots (next_due);

-- Every probe's result; never a key (errors are a status and a fixed reason).
CREATE TABLE probe_results (
    id BIGSERIAL PRIMARY KEY,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL DEFAULT now(),
    result TEXT NOT NULL CHECK (result IN ('ok', 'fail', 'timeout')),
    latency_ms INT NOT NULL CHECK (latency_ms >= 0),
    ttfb_ms INT CHECK (ttfb_ms >= 0),
    status INT,
    error TEXT,
    usage_seen BOOLEAN NOT NULL,
    input_tokens INT8 NOT NULL DEFAULT 0,
    output_tokens INT8 NOT NULL DEFAULT 0,
    node TEXT NOT NULL
);
-- History of one (provider, model), newest first, by keyset on id; and the per-window
-- aggregates of /v1/health/providers (a range on `at` within one pair).
CREATE INDEX probe_results_pair ON probe_results (provider, model, id DESC);
CREATE INDEX probe_results_pair_at ON probe_results (provider, model, at) INCLUDE (result, latency_ms);
-- Retention deletes the oldest rows.
CREATE INDEX probe_results_at ON probe_results (at);

-- The fleet's current view of each provider: the last transition any node learned.
-- Written with the NOTIFY that carries it, so a node that was not listening reads it here.
CREATE TABLE provider_health (
    provider TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('healthy', 'unhealthy')),
    changed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    node TEXT NOT NULL,
    reason TEXT NOT NULL
);

-- Probes per (provider, model, UTC hour), written with each result: uptime over 7 days is
-- a sum over at most 168 rows per pair, however many probes the history holds.
CREATE TABLE probe_hourly (
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    hour TIMESTAMPTZ NOT NULL,
    probes BIGINT NOT NULL DEFAULT 0,
    ok BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (provider, model, hour)
);
