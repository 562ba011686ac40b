//! `response_headers`: which upstream response headers reach the buyer, an allowlist.
//!
//! ```yaml
//! - response_headers                                  # the list below
//! - response_headers: { forward: [x-model-version] }  # the list below and these
//! ```
//!
//! Providers identify themselves in their headers (`openai-organization`,
//! `anthropic-organization-id`, `request-id`, `cf-ray`, `server`, their own
//! `x-ratelimit-*`) and some set cookies. A buyer learns nothing about the provider
//! that served them from Tollgate, so only the headers that describe the body, and the
//! retry hints the official SDKs obey, pass; Tollgate adds its own request id and
//! rate-limit headers afterwards. A route without this plugin forwards the provider's
//! headers as they are (an internal route, say).

use crate::plugins::{BuildError, Hooks, OnUpstreamResponse, Options};
use pingora::http::ResponseHeader;
use serde::Deserialize;
use std::sync::Arc;

/// Upstream headers forwarded to the client (lower case; everything else is dropped).
const FORWARDED: &[&str] = &[
    "content-type",
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "cache-control",
    "retry-after",
    "retry-after-ms",
    "x-should-retry",
];

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    forward: Vec<String>,
}

struct ResponseHeaders {
    /// Beyond [`FORWARDED`], lower case.
    extra: Vec<String>,
}

pub fn build(o: &Options<'_>) -> Result<Hooks, BuildError> {
    let c: Config = o.parse()?;
    let mut errors = BuildError::default();
    for (i, name) in c.forward.iter().enumerate() {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            errors.push(o.error(
                &format!("forward[{i}]"),
                format!("{name:?} is not a header name"),
            ));
        }
    }
    let extra = c.forward.iter().map(|n| n.to_ascii_lowercase()).collect();
    errors.or_ok(Hooks {
        on_upstream_response: Some(Arc::new(ResponseHeaders { extra })),
        ..Hooks::default()
    })
}

impl OnUpstreamResponse for ResponseHeaders {
    fn on_upstream_response(&self, resp: &mut ResponseHeader, _provider: &str) {
        keep_forwardable(resp, &self.extra);
    }
}

fn keep_forwardable(resp: &mut ResponseHeader, extra: &[String]) {
    let dropped: Vec<http::HeaderName> = resp
        .headers
        .keys()
        .filter(|name| {
            !FORWARDED.contains(&name.as_str()) && !extra.iter().any(|e| e == name.as_str())
        })
        .cloned()
        .collect();
    for name in dropped {
        resp.remove_header(&name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_headers_are_dropped_and_body_headers_kept() {
        let mut resp = ResponseHeader::build(200, None).unwrap();
        for (k, v) in [
            ("Content-Type", "text/event-stream"),
            ("Transfer-Encoding", "chunked"),
            ("openai-organization", "org-secret"),
            ("openai-project", "proj_x"),
            ("anthropic-organization-id", "abc"),
            ("Set-Cookie", "__cf_bm=1"),
            ("request-id", "req_upstream"),
            ("x-request-id", "upstream"),
            ("x-ratelimit-remaining-tokens", "5"),
            ("cf-ray", "8a"),
            ("server", "cloudflare"),
            ("retry-after", "3"),
        ] {
            resp.append_header(k, v).unwrap();
        }
        keep_forwardable(&mut resp, &["cf-ray".to_string()]);
        let mut kept: Vec<&str> = resp.headers.keys().map(|k| k.as_str()).collect();
        kept.sort();
        assert_eq!(
            kept,
            ["cf-ray", "content-type", "retry-after", "transfer-encoding"]
        );
    }
}
