//! Browsers (`server.cors`): the headers an answer to an allowed origin carries, and the
//! answer to a preflight. Credentials travel as headers (`Authorization`, `x-api-key`, x402
//! payments), never cookies, so `Access-Control-Allow-Credentials` is never sent.

use super::policy::Answering;
use super::{respond_error, ApiError};
use crate::config::{CorsConfig, Origins};
use http::HeaderValue;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

/// The headers a browser page may read: the request id, rate limits, retry hints and x402.
pub const EXPOSE_HEADERS: &str = "x-request-id, x-ratelimit-limit-requests, \
x-ratelimit-remaining-requests, x-ratelimit-reset-requests, x-ratelimit-limit-tokens, \
x-ratelimit-remaining-tokens, x-ratelimit-reset-tokens, retry-after, retry-after-ms, \
x-should-retry, payment-required, payment-response, x-payment-response";

/// The request headers the SDKs send (besides the CORS-safelisted ones); `x-stainless-*`
/// (the OpenAI and Anthropic SDKs' telemetry) by prefix.
pub const ALLOW_HEADERS: &[&str] = &[
    "authorization",
    "x-api-key",
    "content-type",
    "anthropic-version",
    "anthropic-beta",
    "anthropic-dangerous-direct-browser-access",
    "x-payment",
    "payment-signature",
];

fn allowed_header(name: &str) -> bool {
    ALLOW_HEADERS.contains(&name) || name.starts_with("x-stainless-")
}

/// CORS headers of an answer to a request that sent `Origin` (`origin`: it is allowed).
pub fn add_headers(
    resp: &mut ResponseHeader,
    origin: Option<&HeaderValue>,
    c: &CorsConfig,
) -> pingora::Result<()> {
    let any = c.origins == Origins::Any;
    if !any {
        resp.append_header(http::header::VARY, "origin")?;
    }
    let Some(origin) = origin else {
        return Ok(());
    };
    if any {
        resp.insert_header(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")?;
    } else {
        resp.insert_header(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone())?;
    }
    resp.insert_header(http::header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSE_HEADERS)
}

/// Answer a preflight (`OPTIONS` with `Access-Control-Request-Method`) for a path that takes
/// `methods`: 204 with what may be sent, or 403 for an origin that is not allowed.
pub async fn preflight(session: &mut Session, methods: HeaderValue) -> pingora::Result<()> {
    let Some(c) = Answering::allowed(session) else {
        let origin = session
            .req_header()
            .headers
            .get(http::header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .unwrap_or("(none)");
        let e = ApiError::new(
            403,
            "FORBIDDEN",
            format!("Origin {origin} may not call this gateway from a browser (server.cors)"),
        );
        return respond_error(session, &e, None, false).await;
    };
    let max_age = c.max_age.as_secs().to_string();
    // The requested headers this gateway takes; a browser refuses the call if one is missing.
    let asked = session
        .req_header()
        .headers
        .get(http::header::ACCESS_CONTROL_REQUEST_HEADERS)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let headers: Vec<String> = asked
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty() && allowed_header(h))
        .collect();
    let mut h = ResponseHeader::build(204, Some(6))?;
    h.insert_header(http::header::ACCESS_CONTROL_ALLOW_METHODS, methods)?;
    if !headers.is_empty() {
        h.insert_header(
            http::header::ACCESS_CONTROL_ALLOW_HEADERS,
            headers.join(", "),
        )?;
    }
    h.insert_header(http::header::ACCESS_CONTROL_MAX_AGE, max_age)?;
    session.write_response_header(Box::new(h), false).await?;
    session.write_response_body(None, true).await
}
