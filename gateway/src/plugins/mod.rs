//! Plugins: the request path as an ordered list of small steps per route (`routes:` in the
//! config), in the spirit of River's per-phase filter traits. Each plugin is built once from
//! its YAML options and implements one trait per phase it takes part in; a route's
//! [`Chain`] holds, for each phase, the plugins that act there in the order the file lists them.
//!
//! | trait | phase (Pingora hook) | may |
//! | --- | --- | --- |
//! | [`OnRequest`] | request head, before the body is read (`request_filter`) | refuse |
//! | [`OnBody`] | the parsed body and its resolved model, before the reservation (`request_filter`) | change the body, refuse |
//! | [`OnUpstreamPeer`] | the provider connection of an attempt (`upstream_peer`) | set timeouts |
//! | [`OnUpstreamRequest`] | the request head a provider receives (`upstream_request_filter`) | change headers |
//! | [`OnUpstreamResponse`] | the provider's response head, as received (`upstream_response_filter`) | drop or change headers |
//! | [`OnResponse`] | the response head the buyer receives (`response_filter`) | change headers |
//! | [`OnChunk`] | each response body chunk, after metering (`response_body_filter`) | change the chunk |
//! | [`OnOutcome`] | the finished call, after settlement is handed off (`logging`) | observe |
//!
//! The money spine (`config::SPINE`: authenticate, rate_limit, reserve, meter, settle) is not
//! made of plugins: it is the fixed code of the phases, and a list can only place plugins
//! around it. Body plugins therefore always run before `reserve` (the reservation bounds the
//! body as changed) and chunk plugins after `meter` (usage is read from the provider's bytes).
//! [`chain`] checks this when it builds a list; [`registry`] maps names to builders.

pub mod builtin;
pub mod chain;
pub mod registry;

pub use chain::{Chain, Chains};
pub use registry::{BuildError, Options, PluginRegistry};

use crate::identity::Principal;
use crate::wire::ApiError;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::HttpPeer;
use std::net::IpAddr;
use std::sync::Arc;
use tollgate_billing::Outcome;
use tollgate_filters::chat_request::ChatRequest;
use tollgate_filters::usage::ApiFormat;

/// What a request-head plugin sees.
pub struct RequestView<'a> {
    pub header: &'a RequestHeader,
    /// The TCP peer (`None` on a Unix socket).
    pub peer_ip: Option<IpAddr>,
    /// Set for plugins placed after `authenticate`.
    pub principal: Option<&'a Principal>,
}

/// What a body plugin sees: the parsed request (after the spine removed pass-through fields)
/// and who pays for it.
pub struct BodyView<'r, 'b> {
    pub request: &'r mut ChatRequest<'b>,
    pub principal: &'r Principal,
    pub api: ApiFormat,
    /// Bytes of the client's body.
    pub body_len: usize,
    /// The model that will be served and billed (after aliases and fallbacks): its public id,
    /// or `provider/model` when the client pinned a provider.
    pub model: &'r str,
}

pub trait OnRequest: Send + Sync {
    fn on_request(&self, req: &RequestView<'_>) -> Result<(), ApiError>;
}

pub trait OnBody: Send + Sync {
    fn on_body(&self, body: &mut BodyView<'_, '_>) -> Result<(), ApiError>;
}

pub trait OnUpstreamPeer: Send + Sync {
    /// `provider` is the provider's `id`.
    fn on_upstream_peer(&self, peer: &mut HttpPeer, provider: &str);
}

pub trait OnUpstreamRequest: Send + Sync {
    fn on_upstream_request(&self, req: &mut RequestHeader, provider: &str) -> pingora::Result<()>;
}

pub trait OnUpstreamResponse: Send + Sync {
    fn on_upstream_response(&self, resp: &mut ResponseHeader, provider: &str);
}

pub trait OnResponse: Send + Sync {
    /// `provider` is `None` when no provider answered.
    fn on_response(&self, resp: &mut ResponseHeader, provider: Option<&str>)
        -> pingora::Result<()>;
}

pub trait OnChunk: Send + Sync {
    fn on_chunk(&self, chunk: &mut Option<Bytes>, end_of_stream: bool);
}

pub trait OnOutcome: Send + Sync {
    fn on_outcome(&self, outcome: &Outcome);
}

/// A built plugin: the phases it acts in. A builder fills the ones it implements.
#[derive(Default, Clone)]
pub struct Hooks {
    pub on_request: Option<Arc<dyn OnRequest>>,
    pub on_body: Option<Arc<dyn OnBody>>,
    pub on_upstream_peer: Option<Arc<dyn OnUpstreamPeer>>,
    pub on_upstream_request: Option<Arc<dyn OnUpstreamRequest>>,
    pub on_upstream_response: Option<Arc<dyn OnUpstreamResponse>>,
    pub on_response: Option<Arc<dyn OnResponse>>,
    pub on_chunk: Option<Arc<dyn OnChunk>>,
    pub on_outcome: Option<Arc<dyn OnOutcome>>,
}
