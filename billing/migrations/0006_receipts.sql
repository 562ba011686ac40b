-- Receipts and Responses routing (issue 14).
--
-- The prices a request was charged at, as the provider's micro-USDC per 1M tokens per bucket
-- and the provider's share in basis points: a receipt shows what was applied even after a
-- price changes (a config file's prices have no market_prices row to point at).
ALTER TABLE request_log
    ADD COLUMN price_input          BIGINT,
    ADD COLUMN price_cache_write_5m BIGINT,
    ADD COLUMN price_cache_write_1h BIGINT,
    ADD COLUMN price_cache_read     BIGINT,
    ADD COLUMN price_output         BIGINT,
    ADD COLUMN share_bps            INTEGER,
    -- The OpenAI Responses object a request produced: a later call that continues it
    -- (`previous_response_id`) must reach the same provider, and only for the same wallet.
    ADD COLUMN response_id          TEXT;
CREATE INDEX request_log_by_response ON request_log (response_id) WHERE response_id IS NOT NULL;
