-- A wallet's spend and tokens per model and UTC hour, maintained by each settlement batch (as
-- provider_daily is per provider): the console's spend-per-day and tokens-by-bucket charts
-- (GET /v1/account) read at most days × 24 × models rows instead of a wallet's whole
-- request_log.
CREATE TABLE wallet_daily (
    wallet                TEXT NOT NULL,
    hour                  TIMESTAMPTZ NOT NULL,
    model                 TEXT NOT NULL,
    requests              BIGINT NOT NULL DEFAULT 0,
    input_tokens          BIGINT NOT NULL DEFAULT 0,
    cache_write_5m_tokens BIGINT NOT NULL DEFAULT 0,
    cache_write_1h_tokens BIGINT NOT NULL DEFAULT 0,
    cache_read_tokens     BIGINT NOT NULL DEFAULT 0,
    output_tokens         BIGINT NOT NULL DEFAULT 0,
    spent                 BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (wallet, hour, model)
);

-- What was settled before this table existed (hours on the UTC grid, as settlement writes).
INSERT INTO wallet_daily (wallet, hour, model, requests, input_tokens, cache_write_5m_tokens,
    cache_write_1h_tokens, cache_read_tokens, output_tokens, spent)
SELECT wallet, to_timestamp(floor(extract(epoch FROM created_at) / 3600) * 3600) AS h, model,
       COUNT(*), SUM(input_tokens), SUM(cache_write_5m_tokens), SUM(cache_write_1h_tokens),
       SUM(cache_read_tokens), SUM(output_tokens), SUM(buyer_cost)
FROM request_log
GROUP BY wallet, h, model;
