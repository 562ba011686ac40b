-- Several chains and assets (issue 18): every row of money that crossed the chain names the
-- chain and the token it moved. Amounts stay micro-USD; the token amount is the amount times
-- 10^(decimals - 6) of that asset (only assets with at least 6 decimals are accepted).
-- NULL in rows written before this migration: they moved USDC on the first configured chain.
ALTER TABLE chain_credits ADD COLUMN chain_id BIGINT, ADD COLUMN asset TEXT;
ALTER TABLE payouts ADD COLUMN chain_id BIGINT, ADD COLUMN asset TEXT;
ALTER TABLE withdrawals ADD COLUMN chain_id BIGINT, ADD COLUMN asset TEXT;
