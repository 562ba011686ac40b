-- Money paths under attack (issue 9): what the ledger needs to prove its bounds and keep
-- fleet-wide state without Redis.

-- A charge above its reservation is capped (the buyer's lease holds only the reservation);
-- what was above it stays visible here, and `ledger check` reports every such row.
ALTER TABLE request_log ADD COLUMN overrun_usdc BIGINT NOT NULL DEFAULT 0 CHECK (overrun_usdc >= 0);
CREATE INDEX request_log_overruns ON request_log (request_id) WHERE overrun_usdc > 0;

-- Spent SIWE nonces, shared by the fleet when it has no Redis: a signed message is accepted
-- once across every node, not once per node.
CREATE TABLE siwe_nonces (
    key        TEXT PRIMARY KEY CHECK (length(key) <= 160),
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX siwe_nonces_expiry ON siwe_nonces (expires_at);
