-- Tollgate ledger: double-entry accounts, wallets with locked (leased) balance, API keys,
-- providers, per-node balance leases and the request log.
--
-- Money is BIGINT micro-USDC everywhere. accounts.balance is a cache of SUM(entries.amount)
-- for that account; `tollgate ledger check` verifies it, and that every transfer sums to 0.

CREATE TABLE accounts (
    id       BIGSERIAL PRIMARY KEY,
    -- wallet: a buyer (ref = lower-case 0x address); provider: earnings owed (ref = provider id);
    -- platform: fees kept (ref = 'fees'); external: money outside the ledger (ref = 'usdc').
    kind     TEXT   NOT NULL CHECK (kind IN ('wallet', 'provider', 'platform', 'external')),
    ref      TEXT   NOT NULL,
    balance  BIGINT NOT NULL DEFAULT 0,
    UNIQUE (kind, ref)
);

INSERT INTO accounts (kind, ref) VALUES ('platform', 'fees'), ('external', 'usdc');

CREATE TABLE wallets (
    address    TEXT PRIMARY KEY CHECK (address ~ '^0x[0-9a-f]{40}$'),
    account_id BIGINT NOT NULL UNIQUE REFERENCES accounts (id),
    -- Sum of the leases gateway nodes hold on this wallet (see `leases`).
    locked     BIGINT NOT NULL DEFAULT 0 CHECK (locked >= 0),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE transfers (
    id              BIGSERIAL PRIMARY KEY,
    -- credit (ops CLI), usage (a settlement batch), topup, deposit, payout, withdrawal …
    kind            TEXT NOT NULL,
    -- Request id, top-up id, batch id …: a money movement happens at most once.
    idempotency_key TEXT NOT NULL UNIQUE,
    memo            TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE entries (
    transfer_id BIGINT NOT NULL REFERENCES transfers (id),
    account_id  BIGINT NOT NULL REFERENCES accounts (id),
    amount      BIGINT NOT NULL,
    PRIMARY KEY (transfer_id, account_id)
);
CREATE INDEX entries_by_account ON entries (account_id);

CREATE TABLE providers (
    id         TEXT PRIMARY KEY,
    account_id BIGINT NOT NULL UNIQUE REFERENCES accounts (id),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    wallet     TEXT NOT NULL REFERENCES wallets (address),
    -- SHA-256 of the key. Keys are 256-bit random: a slow hash would buy nothing.
    key_hash   BYTEA NOT NULL UNIQUE,
    label      TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at TIMESTAMPTZ
);
CREATE INDEX api_keys_by_wallet ON api_keys (wallet);

-- Balance leased to one gateway node: reserved against in memory, so that a request costs
-- no database round trip. wallets.locked = SUM(amount) over a wallet's leases.
CREATE TABLE leases (
    node_id    TEXT   NOT NULL,
    wallet     TEXT   NOT NULL REFERENCES wallets (address),
    amount     BIGINT NOT NULL CHECK (amount >= 0),
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (node_id, wallet)
);
CREATE INDEX leases_by_expiry ON leases (expires_at);

-- One row per billed request. Never prompt or completion content.
CREATE TABLE request_log (
    request_id            TEXT PRIMARY KEY,
    -- When the request arrived at the gateway; settled_at: when its record was written.
    created_at            TIMESTAMPTZ NOT NULL,
    settled_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    wallet                TEXT NOT NULL,
    key_id                TEXT NOT NULL,
    provider              TEXT NOT NULL,
    model                 TEXT NOT NULL,
    upstream_model        TEXT NOT NULL,
    api                   TEXT NOT NULL,
    stream                BOOLEAN NOT NULL,
    status                TEXT NOT NULL,
    http_status           SMALLINT NOT NULL,
    input_tokens          BIGINT NOT NULL,
    cache_write_5m_tokens BIGINT NOT NULL,
    cache_write_1h_tokens BIGINT NOT NULL,
    cache_read_tokens     BIGINT NOT NULL,
    output_tokens         BIGINT NOT NULL,
    usage_missing         BOOLEAN NOT NULL,
    stream_cut            BOOLEAN NOT NULL,
    provider_cost         BIGINT NOT NULL,
    buyer_cost            BIGINT NOT NULL,
    platform_fee          BIGINT NOT NULL,
    reserved              BIGINT NOT NULL,
    attempts              SMALLINT NOT NULL,
    latency_ms            INTEGER NOT NULL,
    ttfb_ms               INTEGER,
    error_code            TEXT,
    -- The usage transfer that moved this request's money (NULL when nothing was charged).
    transfer_id           BIGINT REFERENCES transfers (id)
);
-- Per-wallet history, newest first, keyset-paginated on (created_at, request_id): stays an
-- index range scan at any table size (no OFFSET, no COUNT(*)).
CREATE INDEX request_log_by_wallet ON request_log (wallet, created_at DESC, request_id DESC);
-- No per-key index: per-key totals come from api_key_usage, and every index is paid on each
-- of the (many) inserts.

-- Per-key running totals behind GET /v1/usage, maintained by each settlement batch. Summing
-- request_log instead reads every row of a wallet (620 ms for a 1M-request wallet in the
-- 10M-row benchmark); this is one row per key.
CREATE TABLE api_key_usage (
    key_id            TEXT PRIMARY KEY,
    wallet            TEXT NOT NULL,
    request_count     BIGINT NOT NULL DEFAULT 0,
    prompt_tokens     BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    charged           BIGINT NOT NULL DEFAULT 0
);

-- Provider earnings: pending = the provider account's balance (credited per usage batch,
-- debited by payouts); paid = what payout transfers moved out.
CREATE VIEW provider_earnings AS
SELECT p.id AS provider,
       a.balance AS pending,
       COALESCE((SELECT -SUM(e.amount) FROM entries e JOIN transfers t ON t.id = e.transfer_id
                 WHERE e.account_id = a.id AND t.kind = 'payout'), 0) AS paid
FROM providers p JOIN accounts a ON a.id = p.account_id;
