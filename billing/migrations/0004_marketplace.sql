-- The marketplace (issue 12): providers who join through the API, their upstreams, their
-- listed models and every price they ever listed at.

-- Keys a provider's wallet creates with SIWE: `pk-` + 64 hex, stored as SHA-256. Never valid
-- on the LLM endpoints (a different table from api_keys, so a lookup cannot confuse them).
CREATE TABLE provider_keys (
    id         TEXT PRIMARY KEY,
    wallet     TEXT NOT NULL CHECK (wallet ~ '^0x[0-9a-f]{40}$'),
    key_hash   BYTEA NOT NULL UNIQUE,
    label      TEXT NOT NULL,
    scopes     TEXT[] NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at TIMESTAMPTZ
);
CREATE INDEX provider_keys_by_wallet ON provider_keys (wallet);

-- One upstream = one provider id in the catalog (YAML ids are refused by the gateway, which
-- knows them). The owner is the payout wallet. A deleted upstream keeps its row (disabled, key
-- erased): its id, earnings account and payouts stay its owner's, never another wallet's.
CREATE TABLE market_upstreams (
    id               TEXT PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    owner            TEXT NOT NULL CHECK (owner ~ '^0x[0-9a-f]{40}$'),
    kind             TEXT NOT NULL CHECK (kind IN ('openai', 'anthropic')),
    base_url         TEXT NOT NULL,
    priority         INTEGER NOT NULL CHECK (priority >= 0),
    -- AES-256-GCM: 12-byte nonce || ciphertext || tag, under the master key named here.
    key_sealed       BYTEA,
    key_master_id    TEXT,
    key_last4        TEXT,
    enabled          BOOLEAN NOT NULL DEFAULT true,
    -- Set when the gateway suspended the upstream (implausible or missing usage).
    suspended_reason TEXT,
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX market_upstreams_by_owner ON market_upstreams (owner);

-- Append-only: a request-log row names the price row it was billed at, so a bill can be
-- re-derived after any number of price changes. Per-token prices are micro-USD per 1M tokens
-- (as in the YAML); `request` is micro-USD per successful request.
CREATE TABLE market_prices (
    id             BIGSERIAL PRIMARY KEY,
    upstream_id    TEXT NOT NULL,
    model          TEXT NOT NULL,
    -- At most $1,000,000 per 1M tokens (and per request / image): far above any real price,
    -- and low enough that no charge can overflow (billing/src/cost.rs).
    prompt         BIGINT NOT NULL CHECK (prompt BETWEEN 0 AND 1000000000000),
    completion     BIGINT NOT NULL CHECK (completion BETWEEN 0 AND 1000000000000),
    cache_read     BIGINT NOT NULL CHECK (cache_read BETWEEN 0 AND 1000000000000),
    cache_write_5m BIGINT NOT NULL CHECK (cache_write_5m BETWEEN 0 AND 1000000000000),
    cache_write_1h BIGINT NOT NULL CHECK (cache_write_1h BETWEEN 0 AND 1000000000000),
    image          BIGINT CHECK (image BETWEEN 0 AND 1000000000000),
    request        BIGINT NOT NULL DEFAULT 0 CHECK (request BETWEEN 0 AND 1000000000000),
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE market_models (
    upstream_id       TEXT NOT NULL REFERENCES market_upstreams (id) ON DELETE CASCADE,
    id                TEXT NOT NULL CHECK (id ~ '^[^\s@]{1,128}$'),
    upstream_model    TEXT NOT NULL,
    display_name      TEXT NOT NULL,
    context_length    BIGINT NOT NULL CHECK (context_length >= 0),
    input_modalities  TEXT[] NOT NULL,
    output_modalities TEXT[] NOT NULL,
    price_id          BIGINT NOT NULL REFERENCES market_prices (id),
    enabled           BOOLEAN NOT NULL DEFAULT true,
    -- Listed only after a probe succeeded and reported usage; `status` says why not.
    live              BOOLEAN NOT NULL DEFAULT false,
    status            TEXT NOT NULL DEFAULT 'unprobed',
    -- Bumped by every change to the model or its upstream: a probe's verdict is recorded only
    -- for the revision it probed.
    revision          BIGINT NOT NULL DEFAULT 0,
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (upstream_id, id)
);

-- The prices a request was billed at (NULL: a YAML provider, priced by the config file).
ALTER TABLE request_log ADD COLUMN price_id BIGINT;

-- Per provider, model and UTC hour, maintained by each settlement batch (as api_key_usage is
-- per key): earnings by model and day and the last 24 h of the marketplace view without
-- scanning request_log, and the inputs of automatic suspension (usage the gateway disproved,
-- 2xx answers without usage). `latency_ms_sum` / `ttfb_ms_sum` over `succeeded` are means.
CREATE TABLE provider_daily (
    provider              TEXT NOT NULL,
    model                 TEXT NOT NULL,
    hour                  TIMESTAMPTZ NOT NULL,
    requests              BIGINT NOT NULL DEFAULT 0,
    succeeded             BIGINT NOT NULL DEFAULT 0,
    latency_ms_sum        BIGINT NOT NULL DEFAULT 0,
    ttfb_ms_sum           BIGINT NOT NULL DEFAULT 0,
    input_tokens          BIGINT NOT NULL DEFAULT 0,
    cache_write_5m_tokens BIGINT NOT NULL DEFAULT 0,
    cache_write_1h_tokens BIGINT NOT NULL DEFAULT 0,
    cache_read_tokens     BIGINT NOT NULL DEFAULT 0,
    output_tokens         BIGINT NOT NULL DEFAULT 0,
    earned                BIGINT NOT NULL DEFAULT 0,
    usage_missing         BIGINT NOT NULL DEFAULT 0,
    usage_disproved       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (provider, hour, model)
);
