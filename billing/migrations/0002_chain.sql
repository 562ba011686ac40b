-- On-chain money paths: what entered (x402 top-ups, TreasuryVault deposits) and what left
-- (provider payouts, buyer withdrawals). Each row is written BEFORE anything is sent on chain,
-- keyed by an id the chain also knows (authorization nonce, tx hash + log index, batchId,
-- withdrawalId), so a crash at any point is reconciled against the chain on restart: never
-- credited twice, never paid twice, never forgotten.

-- Money in. id: 'x402:<chain>:<token>:<payer>:<nonce>' or 'deposit:<chain>:<tx>:<log index>'.
CREATE TABLE chain_credits (
    id          TEXT PRIMARY KEY,
    kind        TEXT   NOT NULL CHECK (kind IN ('x402', 'deposit')),
    wallet      TEXT   NOT NULL REFERENCES wallets (address),
    amount      BIGINT NOT NULL CHECK (amount > 0),
    -- pending: x402 transfer sent or about to be; credited: in the wallet's balance;
    -- failed: the chain refused it (nothing moved).
    status      TEXT   NOT NULL CHECK (status IN ('pending', 'credited', 'failed')),
    tx_hash     TEXT,
    error       TEXT,
    transfer_id BIGINT REFERENCES transfers (id),
    -- x402 only: the TreasuryVault has counted the transfer into its pool (recordTopUp).
    vault_recorded BOOLEAN NOT NULL DEFAULT false,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX chain_credits_by_wallet ON chain_credits (wallet, created_at DESC);
CREATE INDEX chain_credits_unfinished ON chain_credits (status)
    WHERE status = 'pending' OR (kind = 'x402' AND status = 'credited' AND NOT vault_recorded);

-- Money out to providers. batch_id is the PayoutVault batchId (0x + 64 hex), derived from
-- (provider, seq) so a re-run recomputes the same id.
CREATE TABLE payouts (
    batch_id    TEXT PRIMARY KEY,
    provider    TEXT   NOT NULL REFERENCES providers (id),
    seq         BIGINT NOT NULL,
    to_address  TEXT   NOT NULL,
    amount      BIGINT NOT NULL CHECK (amount > 0),
    -- pending: earnings moved out of the provider's account, not yet confirmed on chain;
    -- paid: executed on chain; failed: given up, earnings moved back.
    status      TEXT   NOT NULL CHECK (status IN ('pending', 'paid', 'failed')),
    tx_hash     TEXT,
    error       TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (provider, seq)
);
CREATE INDEX payouts_unfinished ON payouts (status) WHERE status = 'pending';

-- Money out to buyers. withdrawal_id is the TreasuryVault withdrawalId (0x + 64 hex).
CREATE TABLE withdrawals (
    withdrawal_id TEXT PRIMARY KEY,
    wallet        TEXT   NOT NULL REFERENCES wallets (address),
    amount        BIGINT NOT NULL CHECK (amount > 0),
    -- pending: debited from the balance, not yet confirmed on chain; paid: executed on chain;
    -- failed: the chain refused it and the amount was credited back.
    status        TEXT   NOT NULL CHECK (status IN ('pending', 'paid', 'failed')),
    tx_hash       TEXT,
    error         TEXT,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX withdrawals_by_wallet ON withdrawals (wallet, created_at DESC);
CREATE INDEX withdrawals_unfinished ON withdrawals (status) WHERE status = 'pending';

-- Provider earnings: pending = the provider account's balance (credited per usage batch,
-- debited when a payout row is written); in_flight / paid from the payouts table.
DROP VIEW provider_earnings;
CREATE VIEW provider_earnings AS
SELECT p.id AS provider,
       a.balance AS pending,
       COALESCE((SELECT SUM(amount) FROM payouts o WHERE o.provider = p.id AND o.status = 'pending'), 0)::BIGINT AS in_flight,
       COALESCE((SELECT SUM(amount) FROM payouts o WHERE o.provider = p.id AND o.status = 'paid'), 0)::BIGINT AS paid,
       (SELECT MAX(created_at) FROM payouts o WHERE o.provider = p.id AND o.status <> 'failed') AS last_payout_at
FROM providers p JOIN accounts a ON a.id = p.account_id;
