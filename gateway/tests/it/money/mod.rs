//! Money on chain against a real anvil running the repo's contracts: x402 top-ups and
//! deposits, provider payouts, buyer withdrawals. Needs anvil (`bash scripts/contracts.sh
//! install`) and Postgres (`scripts/pg.sh`).

mod multichain;
mod pay_per_call;
mod payouts;
mod stack;
mod topup;
mod withdrawals;
