//! Tollgate gateway: a Pingora proxy for the OpenAI and Anthropic APIs that meters every
//! token. The tree reads bottom-up, one layer per row; a module imports only rows above it
//! (`tests/it/layering.rs` enforces this):
//!
//! | layer | modules | job |
//! |---|---|---|
//! | 0 | [`config`] | YAML → the typed [`config::Config`]; imports no runtime module |
//! | 1 | [`wire`], [`metrics`], [`redis`], [`readiness`], [`telemetry`] | what the gateway writes itself (errors in each shape, JSON replies, CORS, bounded body reads); Prometheus (requests; probes and breakers; the process); the node's Redis connection; `/ready`'s named checks and draining flag; the process and access logs, traces |
//! | 2 | [`identity`] | who is calling: API keys and their revocation feed, SIWE, nonces |
//! | 3 | [`rate_limit`], [`plugins`], [`money`], [`market`] | per-wallet windows and their 429s; the per-route plugin chains; ledger ↔ chain operations (top-ups, deposits, withdrawals, payouts), no HTTP; the provider catalog (file + marketplace), its health, addresses and sealed keys |
//! | 4 | [`control`] | the control plane on the public port: turns money outcomes into HTTP answers |
//! | 5 | [`proxy`] | the data plane, in phase order; hands control-plane paths to [`control`] |
//! | 6 | [`jobs`], [`cli`], [`admin`] | background services and the drain on SIGTERM, ops subcommands, the admin listener (metrics, health, readiness) |
//! | 7 | [`app`] | `Config` → Pingora `Server`: every service, wired in order |
//! | 8 | [`binary`] | the command line (`main.rs`, and custom builds with more plugins) |

// `impl ProxyHttp` futures (async_trait inside Pingora inside tokio) nest deeper than the
// default layout query depth allows once the request filter holds a parsed body.
#![recursion_limit = "256"]

pub mod config;

pub mod metrics;
pub mod readiness;
pub mod redis;
pub mod telemetry;
pub mod wire;

pub mod identity;

pub mod market;
pub mod money;
pub mod plugins;
pub mod rate_limit;

pub mod control;

pub mod proxy;

pub mod admin;
pub mod cli;
pub mod jobs;

pub mod app;

pub mod binary;
