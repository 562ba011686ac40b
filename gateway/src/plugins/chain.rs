//! A route's plugins, grouped by phase in list order ([`Chain`]), and every route's chain
//! ([`Chains`]), built once at start-up (and by `tollgate validate`).

use super::{
    BodyView, BuildError, OnBody, OnChunk, OnOutcome, OnRequest, OnResponse, OnUpstreamPeer,
    OnUpstreamRequest, OnUpstreamResponse, PluginRegistry, RequestView,
};
use crate::config::{Config, ConfigError, PluginEntry};
use crate::wire::ApiError;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::HttpPeer;
use std::collections::HashMap;
use std::sync::Arc;
use tollgate_billing::Outcome;
use tollgate_filters::operation::Operation;

/// Today's optional steps: the list of a route when `routes:` says nothing about it.
pub const DEFAULT_LIST: [&str; 3] = ["thinking", "default_max_tokens", "response_headers"];

/// One route's plugins per phase. An empty phase costs one length check.
#[derive(Default)]
pub struct Chain {
    before_auth: Vec<Arc<dyn OnRequest>>,
    after_auth: Vec<Arc<dyn OnRequest>>,
    body: Vec<Arc<dyn OnBody>>,
    upstream_peer: Vec<Arc<dyn OnUpstreamPeer>>,
    upstream_request: Vec<Arc<dyn OnUpstreamRequest>>,
    upstream_response: Vec<Arc<dyn OnUpstreamResponse>>,
    response: Vec<Arc<dyn OnResponse>>,
    chunk: Vec<Arc<dyn OnChunk>>,
    outcome: Vec<Arc<dyn OnOutcome>>,
}

// === impl Chain: one walk per phase ===

impl Chain {
    pub fn before_auth(&self, req: &RequestView<'_>) -> Result<(), ApiError> {
        self.before_auth.iter().try_for_each(|p| p.on_request(req))
    }
    pub fn after_auth(&self, req: &RequestView<'_>) -> Result<(), ApiError> {
        self.after_auth.iter().try_for_each(|p| p.on_request(req))
    }
    pub fn has_after_auth(&self) -> bool {
        !self.after_auth.is_empty()
    }
    pub fn body(&self, body: &mut BodyView<'_, '_>) -> Result<(), ApiError> {
        self.body.iter().try_for_each(|p| p.on_body(body))
    }
    pub fn upstream_peer(&self, peer: &mut HttpPeer, provider: &str) {
        for p in &self.upstream_peer {
            p.on_upstream_peer(peer, provider);
        }
    }
    pub fn upstream_request(&self, req: &mut RequestHeader, provider: &str) -> pingora::Result<()> {
        self.upstream_request
            .iter()
            .try_for_each(|p| p.on_upstream_request(req, provider))
    }
    pub fn upstream_response(&self, resp: &mut ResponseHeader, provider: &str) {
        for p in &self.upstream_response {
            p.on_upstream_response(resp, provider);
        }
    }
    pub fn response(
        &self,
        resp: &mut ResponseHeader,
        provider: Option<&str>,
    ) -> pingora::Result<()> {
        self.response
            .iter()
            .try_for_each(|p| p.on_response(resp, provider))
    }
    pub fn has_chunk(&self) -> bool {
        !self.chunk.is_empty()
    }
    pub fn chunk(&self, chunk: &mut Option<Bytes>, end_of_stream: bool) {
        for p in &self.chunk {
            p.on_chunk(chunk, end_of_stream);
        }
    }
    pub fn outcome(&self, o: &Outcome) {
        for p in &self.outcome {
            p.on_outcome(o);
        }
    }
}

/// Every route's chain.
pub struct Chains {
    chat_completions: Arc<Chain>,
    messages: Arc<Chain>,
    responses: Arc<Chain>,
    embeddings: Arc<Chain>,
    count_tokens: Arc<Chain>,
    aliases: HashMap<String, Arc<Chain>>,
    control: Arc<Chain>,
}

impl Chains {
    /// Builds every list of `config.routes` (or the default list) with `registry`; every
    /// problem of every list is reported, with its path.
    pub fn build(config: &Config, registry: &PluginRegistry) -> Result<Chains, Vec<ConfigError>> {
        let mut errors = BuildError::default();
        let r = &config.routes;
        let builtin: Vec<PluginEntry> = DEFAULT_LIST
            .iter()
            .enumerate()
            .map(|(i, name)| PluginEntry {
                name: name.to_string(),
                options: serde_yaml_ng::Value::Null,
                path: format!("routes.default[{i}] (built-in default)"),
            })
            .collect();
        let mut llm =
            |list: &[PluginEntry]| Arc::new(build_list(list, false, config, registry, &mut errors));
        let default = llm(r.default.as_deref().unwrap_or(&builtin));
        let mut or_default = |list: &Option<Vec<PluginEntry>>| match list {
            Some(l) => llm(l),
            None => default.clone(),
        };
        let chat_completions = or_default(&r.chat_completions);
        let messages = or_default(&r.messages);
        let responses = or_default(&r.responses);
        let embeddings = or_default(&r.embeddings);
        let count_tokens = or_default(&r.count_tokens);
        let aliases = r
            .aliases
            .iter()
            .map(|(name, list)| (name.clone(), llm(list)))
            .collect();
        let control = Arc::new(match &r.control {
            Some(l) => build_list(l, true, config, registry, &mut errors),
            None => Chain::default(),
        });
        errors
            .or_ok(Chains {
                chat_completions,
                messages,
                responses,
                embeddings,
                count_tokens,
                aliases,
                control,
            })
            .map_err(|e| e.0)
    }

    /// The chain of `POST /v1/chat/completions`, `/v1/messages` or `/<alias>/v1/messages`.
    pub fn for_llm(&self, op: Operation, alias: Option<&str>) -> &Arc<Chain> {
        match (op, alias) {
            // An alias is a Messages endpoint: without a list of its own it runs `messages`'s,
            // so guards put there are not skipped by calling the same models through it.
            (_, Some(a)) => self.aliases.get(a).unwrap_or(&self.messages),
            (Operation::ChatCompletions, None) => &self.chat_completions,
            (Operation::Messages, None) => &self.messages,
            (Operation::Responses, None) => &self.responses,
            (Operation::Embeddings, None) => &self.embeddings,
            (Operation::CountTokens, None) => &self.count_tokens,
        }
    }

    pub fn control(&self) -> &Chain {
        &self.control
    }
}

/// Places each plugin of `list` in its phases, relative to the spine steps the list names
/// (or to their fixed places when it names none).
fn build_list(
    list: &[PluginEntry],
    control: bool,
    config: &Config,
    registry: &PluginRegistry,
    errors: &mut BuildError,
) -> Chain {
    let spine_listed = list.iter().any(PluginEntry::is_spine);
    let (mut after_auth, mut after_reserve, mut after_meter) = (false, false, !spine_listed);
    let mut chain = Chain::default();
    for e in list {
        match e.name.as_str() {
            "authenticate" => after_auth = true,
            "reserve" => after_reserve = true,
            "meter" => after_meter = true,
            _ => {}
        }
        if e.is_spine() {
            continue;
        }
        let hooks = match registry.build(e, config) {
            Ok(h) => h,
            Err(err) => {
                errors.push(err);
                continue;
            }
        };
        let mut refuse = |why: String| errors.push(BuildError::at(&e.path, why));
        if control {
            let acts_later = hooks.on_body.is_some()
                || hooks.on_upstream_peer.is_some()
                || hooks.on_upstream_request.is_some()
                || hooks.on_upstream_response.is_some()
                || hooks.on_response.is_some()
                || hooks.on_chunk.is_some()
                || hooks.on_outcome.is_some();
            if acts_later || hooks.on_request.is_none() {
                refuse(format!(
                    "`{}` acts on LLM calls; control-plane routes run request-head plugins only",
                    e.name
                ));
                continue;
            }
        }
        if let Some(h) = hooks.on_request {
            if after_auth {
                chain.after_auth.push(h);
            } else {
                chain.before_auth.push(h);
            }
        }
        if let Some(h) = hooks.on_body {
            if after_reserve {
                refuse(format!(
                    "`{}` reads or changes the request body, so it must come before `reserve`: the reservation is the bound of what the body it reserves for can cost",
                    e.name
                ));
            } else {
                chain.body.push(h);
            }
        }
        if let Some(h) = hooks.on_chunk {
            if !after_meter {
                refuse(format!(
                    "`{}` changes response chunks, so it must come after `meter`: usage is read from the provider's own bytes",
                    e.name
                ));
            } else {
                chain.chunk.push(h);
            }
        }
        chain.upstream_peer.extend(hooks.on_upstream_peer);
        chain.upstream_request.extend(hooks.on_upstream_request);
        chain.upstream_response.extend(hooks.on_upstream_response);
        chain.response.extend(hooks.on_response);
        chain.outcome.extend(hooks.on_outcome);
    }
    chain
}
