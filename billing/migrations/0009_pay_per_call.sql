-- Pay per call (issue 18, x402 `upto`): an LLM call paid by a signed maximum and settled on
-- chain after it was served. The row is written at admission, before any upstream is
-- contacted, and its id names the payer's Permit2 nonce, so one payment pays for one call. The
-- ledger moves money only when the settling transfer is confirmed (external → the provider's
-- earnings and the platform's fees, for what moved), so nothing is credited that did not
-- arrive; between serving and settling the call is here, `unsettled`, and nowhere in the books.
CREATE TABLE paid_calls (
    -- 'upto:<chain>:<payer>:<nonce as 32 bytes>' (Permit2 nonces are per owner per chain)
    id             TEXT PRIMARY KEY,
    request_id     TEXT   NOT NULL UNIQUE,
    payer          TEXT   NOT NULL,
    chain_id       BIGINT NOT NULL,
    asset          TEXT   NOT NULL,
    -- The signed maximum (µUSD) and, once served, what the call cost (0: nothing to send).
    max_amount     BIGINT NOT NULL CHECK (max_amount > 0),
    amount         BIGINT CHECK (amount >= 0 AND amount <= max_amount),
    provider       TEXT,
    provider_cost  BIGINT,
    platform_fee   BIGINT,
    model          TEXT,
    started_at_ms  BIGINT,
    -- What settles it: the payer's signed authorization and signature (x402 wire JSON).
    payment        JSONB  NOT NULL,
    deadline       TIMESTAMPTZ NOT NULL,
    -- serving: admitted, not served yet (its risk is max_amount); unsettled: served, to be
    -- (or being) sent, an error kept from a failed attempt; settled: moved and booked; free:
    -- cost 0, nothing sent; failed: the chain refused until the deadline passed (the payer's
    -- default); lost: never reported by its node before the deadline (not charged); expired:
    -- served, but the deadline came before a settlement of ours was sent or mined while the
    -- payer could still pay (our delay, not the payer's default: not charged, not refused).
    status         TEXT   NOT NULL CHECK (status IN ('serving', 'unsettled', 'settled', 'free', 'failed', 'lost', 'expired')),
    attempts       INT    NOT NULL DEFAULT 0,
    -- A node settling it holds it until then (one sender for the fleet).
    claimed_until  TIMESTAMPTZ,
    tx_hash        TEXT,
    error          TEXT,
    transfer_id    BIGINT REFERENCES transfers (id),
    -- The TreasuryVault counted the payment into its pool (recordTopUp, batched).
    vault_batch    TEXT,
    vault_recorded BOOLEAN NOT NULL DEFAULT false,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- A payer's open calls and defaults; also summed over all payers for the fleet's money at risk.
CREATE INDEX paid_calls_open ON paid_calls (payer) WHERE status IN ('serving', 'unsettled', 'failed');
-- The losses of the last day, summed with open calls into the fleet's money at risk.
CREATE INDEX paid_calls_losses ON paid_calls (updated_at) WHERE status IN ('failed', 'expired', 'lost');
CREATE INDEX paid_calls_work ON paid_calls (updated_at)
    WHERE status IN ('serving', 'unsettled') OR (status = 'settled' AND NOT vault_recorded);

-- The request log names the payment of a paid call; its transfer_id is set when it settles.
ALTER TABLE request_log ADD COLUMN paid_call TEXT REFERENCES paid_calls (id);
