//! Money on chain: x402 top-ups, deposits, payouts and withdrawals against a real anvil.

mod payouts;
mod topup;
