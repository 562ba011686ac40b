//! Tollgate gateway: a Pingora proxy for the OpenAI and Anthropic APIs that meters every
//! token. `main.rs` wires these modules into a Pingora server; `proxy` holds the phases.

pub mod account_api;
pub mod admin;
pub mod api_error;
pub mod auth;
pub mod body_forwarding;
pub mod catalog;
pub mod config;
pub mod control;
pub mod endpoint;
pub mod key_api;
pub mod lifecycle;
pub mod llm_call;
pub mod metrics;
pub mod nonce_store;
pub mod ops;
pub mod outcome;
pub mod provider_pool;
pub mod proxy;
pub mod rate_limit;
pub mod redis_client;
pub mod siwe;
pub mod upstream_addrs;
pub mod upstream_request;
