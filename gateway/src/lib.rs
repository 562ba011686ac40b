//! Tollgate gateway: a Pingora proxy for the OpenAI and Anthropic APIs that meters every
//! token. `main.rs` wires these modules into a Pingora server; `proxy` holds the phases.

pub mod account_api;
pub mod admin;
pub mod api_error;
pub mod auth;
pub mod body_forwarding;
pub mod catalog;
pub mod chain_cli;
pub mod config;
pub mod control;
pub mod credit_reconciler;
pub mod deposit_watcher;
pub mod endpoint;
pub mod key_api;
pub mod lifecycle;
pub mod llm_call;
pub mod metrics;
pub mod nonce_store;
pub mod onchain;
pub mod ops;
pub mod outcome;
pub mod payout_run;
pub mod provider_pool;
pub mod proxy;
pub mod rate_limit;
pub mod redis_client;
pub mod siwe;
pub mod topup_api;
pub mod upstream_addrs;
pub mod upstream_request;
pub mod withdraw_api;
