//! Tollgate's integration tests: one test binary (Pingora and alloy are linked once), one
//! module per topic, fixtures in [`common`]. Each test starts real processes on loopback: the
//! `tollgate` binary, the mock upstream, and, where a topic needs them, Postgres
//! (`TOLLGATE_TEST_PG`), Redis (`TOLLGATE_TEST_REDIS`) and anvil.
//!
//! | module | what it drives |
//! | --- | --- |
//! | [`adversarial`] | the money paths tried as an attacker would (one test per finding) |
//! | [`proxy`] | the request path: routing, bodies, streaming, failover, timeouts, metrics |
//! | [`billing`] | the Postgres ledger: reservations, settlement, crashes, shutdown |
//! | [`money`] | on chain: top-ups, deposits, payouts, withdrawals |
//! | [`keys`] | API keys over SIWE, revocation on every node |
//! | [`console`] | the web console's assets and policy, and the endpoints it signs for |
//! | [`ecosystem`] | the API contract (spec ↔ route table, served documents), CORS, SDK error shapes, readiness and draining |
//! | [`health`] | fleet-shared provider health: probes, the feed between nodes, the half-open trial |
//! | [`market`] | the marketplace: listings over the API, two nodes, SSRF, plausibility, preferences |
//! | [`rate_limits`] | per-wallet windows in process and on Redis; the in-flight cap |
//! | [`tls`] | https upstreams |
//! | [`ops`] | the access log, traces (OTLP), dashboards and alerts (promtool, Prometheus), zero-downtime upgrade, the command line, the systemd unit |
//! | [`layering`] | the gateway's module layers (a source check, no processes) |

mod common;

mod adversarial;
mod billing;
mod console;
mod ecosystem;
mod health;
mod keys;
mod layering;
mod market;
mod money;
mod ops;
mod proxy;
mod rate_limits;
mod tls;
