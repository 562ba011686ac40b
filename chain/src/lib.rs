//! On-chain settlement for Tollgate: x402 / EIP-3009 top-ups, TreasuryVault deposits and
//! PayoutVault payouts, all through alloy. Empty until the settlement issue lands; the
//! gateway does not depend on it yet.
