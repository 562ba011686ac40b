//! `headers`: set or remove request headers (what the provider receives) and response headers
//! (what the buyer receives), for every provider of the route or only some.
//!
//! ```yaml
//! - headers:
//!     providers: [acme]                  # optional: only attempts to these providers
//!     request:  { set: { x-team: research }, remove: [x-debug] }
//!     response: { set: { x-served-by: tollgate } }
//! ```
//! Headers the gateway owns cannot be touched: the provider's credentials, `host`,
//! `accept-encoding` (the meter reads the provider's bytes as sent) and the hop-by-hop and
//! framing headers upstream; the framing headers, `content-encoding`, `x-request-id` and
//! `x-ratelimit-*` downstream (a `validate` error says which).

use crate::plugins::{BuildError, Hooks, OnResponse, OnUpstreamRequest, Options};
use http::{HeaderName, HeaderValue};
use pingora::http::{RequestHeader, ResponseHeader};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

const GATEWAY_REQUEST: &[&str] = &[
    "host",
    "authorization",
    "x-api-key",
    "proxy-authorization",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "expect",
    // Forced to `identity`: the meter must read the provider's body as sent.
    "accept-encoding",
];
const GATEWAY_RESPONSE: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "content-encoding",
    "connection",
    "keep-alive",
    "trailer",
    "upgrade",
    "x-request-id",
];

/// A header of the request the provider receives that only the gateway sets.
pub(super) fn gateway_owns_request(name: &str) -> bool {
    GATEWAY_REQUEST.contains(&name)
}

/// A header of the response the buyer receives that only the gateway sets.
pub(super) fn gateway_owns_response(name: &str) -> bool {
    GATEWAY_RESPONSE.contains(&name) || name.starts_with("x-ratelimit-")
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    providers: Vec<String>,
    #[serde(default)]
    request: Side,
    #[serde(default)]
    response: Side,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Side {
    #[serde(default)]
    set: BTreeMap<String, String>,
    #[serde(default)]
    remove: Vec<String>,
}

#[derive(Default)]
struct Edits {
    set: Vec<(HeaderName, HeaderValue)>,
    remove: Vec<HeaderName>,
}

struct Headers {
    /// `None`: every provider.
    providers: Option<Vec<String>>,
    request: Edits,
    response: Edits,
}

impl Headers {
    fn applies_to(&self, provider: Option<&str>) -> bool {
        match (&self.providers, provider) {
            (None, _) => true,
            (Some(list), Some(p)) => list.iter().any(|l| l == p),
            (Some(_), None) => false,
        }
    }
}

pub fn build(o: &Options<'_>) -> Result<Hooks, BuildError> {
    let c: Config = o.parse()?;
    let mut errors = BuildError::default();
    for (i, p) in c.providers.iter().enumerate() {
        if !o.config.providers.iter().any(|cp| &cp.id == p) {
            errors.push(o.error(&format!("providers[{i}]"), format!("no provider {p:?}")));
        }
    }
    let request = edits(o, "request", c.request, gateway_owns_request, &mut errors);
    let response = edits(
        o,
        "response",
        c.response,
        gateway_owns_response,
        &mut errors,
    );
    let plugin = Arc::new(Headers {
        providers: (!c.providers.is_empty()).then_some(c.providers),
        request,
        response,
    });
    let upstream = !plugin.request.set.is_empty() || !plugin.request.remove.is_empty();
    let downstream = !plugin.response.set.is_empty() || !plugin.response.remove.is_empty();
    errors.or_ok(Hooks {
        on_upstream_request: upstream.then(|| plugin.clone() as Arc<dyn OnUpstreamRequest>),
        on_response: downstream.then_some(plugin as Arc<dyn OnResponse>),
        ..Hooks::default()
    })
}

fn edits(
    o: &Options<'_>,
    side: &str,
    raw: Side,
    owned: fn(&str) -> bool,
    errors: &mut BuildError,
) -> Edits {
    let mut out = Edits::default();
    let name = |field: String, text: &str, errors: &mut BuildError| {
        let Ok(n) = HeaderName::from_bytes(text.as_bytes()) else {
            errors.push(o.error(&field, format!("{text:?} is not a header name")));
            return None;
        };
        if owned(n.as_str()) {
            errors.push(o.error(
                &field,
                format!("`{n}` is set by the gateway and cannot be changed by a plugin"),
            ));
            return None;
        }
        Some(n)
    };
    for (k, v) in raw.set {
        let field = format!("{side}.set.{k}");
        let Some(n) = name(field.clone(), &k, errors) else {
            continue;
        };
        match HeaderValue::from_str(&v) {
            Ok(v) => out.set.push((n, v)),
            Err(_) => errors.push(o.error(&field, "is not a valid header value")),
        }
    }
    for (i, k) in raw.remove.iter().enumerate() {
        if let Some(n) = name(format!("{side}.remove[{i}]"), k, errors) {
            out.remove.push(n);
        }
    }
    out
}

impl OnUpstreamRequest for Headers {
    fn on_upstream_request(&self, req: &mut RequestHeader, provider: &str) -> pingora::Result<()> {
        if !self.applies_to(Some(provider)) {
            return Ok(());
        }
        for n in &self.request.remove {
            req.remove_header(n);
        }
        for (n, v) in &self.request.set {
            req.insert_header(n.clone(), v.clone())?;
        }
        Ok(())
    }
}

impl OnResponse for Headers {
    fn on_response(
        &self,
        resp: &mut ResponseHeader,
        provider: Option<&str>,
    ) -> pingora::Result<()> {
        if !self.applies_to(provider) {
            return Ok(());
        }
        for n in &self.response.remove {
            resp.remove_header(n);
        }
        for (n, v) in &self.response.set {
            resp.insert_header(n.clone(), v.clone())?;
        }
        Ok(())
    }
}
