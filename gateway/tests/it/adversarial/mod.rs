//! The money paths tried as an attacker would: raw HTTP, hand-signed EIP-3009 authorizations
//! and SIWE messages, against the real gateway, Postgres and anvil. Each test names the
//! finding it proves fixed (issue "Money paths under attack"); `docs/design.md` ("Threat
//! model") lists every money path, what an attacker controls there and the test that proves
//! the defence.
//!
//! To see a test fail on an older build, point `TOLLGATE_BIN` at that build's binary.
//!
//! | module | findings |
//! | --- | --- |
//! | [`topup`] | 1: a top-up credits what moved on chain (a reused nonce, a front-run authorization) |
//! | [`cut_streams`] | 5: a stream cut before its usage is billed on a real count of its prompt |
//! | [`deposits`] | 6: a deposit is credited once across reorgs, never before the chain's depth |
//! | [`dos`] | 9: never-read streams, long nonces, junk keys, slow providers |
//! | [`leaks`] | 10: no provider identity in response headers; no silent in-memory billing |
//! | [`leases`] | 7: a lease swept during a partition is dropped, not spent again |
//! | [`permit2`] | issue 18: every bad Permit2 payment refused (recipient, amount, token, deadline, spender, signature, balance, allowance → 412), a reused nonce credited what moved, a front-run credited once |
//! | [`secrets`] | 8: no secret in a response, a log line or a metric |
//! | [`reservations`] | 3, 4: the reservation bounds the charge (content by reference, overruns, output limits) |

mod cut_streams;
mod deposits;
mod dos;
mod leaks;
mod leases;
mod permit2;
mod reservations;
mod secrets;
mod topup;
