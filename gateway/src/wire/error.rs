//! Errors the gateway itself answers with: `{"error": "CODE", "message": "…"}`.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// Extra response headers (`Retry-After`, `x-ratelimit-*`).
    pub headers: Vec<(&'static str, http::HeaderValue)>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(400, "VALIDATION_ERROR", message)
    }
    pub fn unauthorized() -> Self {
        Self::new(
            401,
            "UNAUTHORIZED",
            "Missing or invalid API key (send Authorization: Bearer sk-… or x-api-key: sk-…)",
        )
    }
    pub fn not_found(path: &str) -> Self {
        Self::new(404, "NOT_FOUND", format!("No route for {path}"))
    }
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            405,
            "METHOD_NOT_ALLOWED",
            format!("{method} is not allowed on {path}"),
        )
    }
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            413,
            "PAYLOAD_TOO_LARGE",
            format!("Request body exceeds the limit of {limit} bytes"),
        )
    }
    pub fn upstream_error() -> Self {
        Self::new(
            502,
            "UPSTREAM_ERROR",
            "No upstream provider could serve the request",
        )
    }
    pub fn upstream_timeout() -> Self {
        Self::new(
            504,
            "UPSTREAM_TIMEOUT",
            "The upstream provider did not answer in time",
        )
    }
    pub fn insufficient_balance() -> Self {
        Self::new(
            402,
            "INSUFFICIENT_BALANCE",
            "Insufficient balance. Top up at POST /v1/topup",
        )
    }
    pub fn billing_unavailable() -> Self {
        Self::new(
            503,
            "BILLING_UNAVAILABLE",
            "Billing is temporarily unavailable; retry shortly",
        )
    }
    /// 429 from a rate-limit window: `Retry-After` (whole seconds, rounded up), its
    /// millisecond form `retry-after-ms` (which the OpenAI SDKs prefer) and the
    /// `x-ratelimit-*` headers of the window that refused.
    pub fn rate_limited(verdict: &crate::rate_limit::Verdict, retry_after_ms: u64) -> Self {
        let mut e = Self::new(429, "RATE_LIMITED", "Rate limit exceeded");
        e.headers
            .push(("retry-after", retry_after_ms.div_ceil(1000).max(1).into()));
        e.headers.push(("retry-after-ms", retry_after_ms.into()));
        e.headers.extend(crate::rate_limit::headers(verdict));
        e
    }
    /// 429 from the per-key in-flight cap.
    pub fn too_many_in_flight(cap: u32) -> Self {
        let mut e = Self::new(
            429,
            "RATE_LIMITED",
            format!("Rate limit exceeded: at most {cap} concurrent requests per API key"),
        );
        e.headers.push(("retry-after", 1u32.into()));
        e
    }
    pub fn rate_limiter_unavailable() -> Self {
        Self::new(
            503,
            "RATE_LIMITER_UNAVAILABLE",
            "Rate limiting is temporarily unavailable; retry shortly",
        )
    }

    pub fn body(&self) -> Bytes {
        let v = serde_json::json!({ "error": self.code, "message": self.message });
        Bytes::from(v.to_string())
    }
}

/// Write a complete JSON response.
///
/// `close` drops keep-alive: used when the request body was not read (e.g. 413), so the
/// connection is not left holding unread bytes.
pub async fn respond_json(
    session: &mut Session,
    status: u16,
    body: Bytes,
    request_id: Option<&str>,
    close: bool,
) -> pingora::Result<()> {
    respond_json_with(session, status, body, request_id, close, &[]).await
}

pub async fn respond_json_with(
    session: &mut Session,
    status: u16,
    body: Bytes,
    request_id: Option<&str>,
    close: bool,
    extra: &[(&'static str, http::HeaderValue)],
) -> pingora::Result<()> {
    let mut h = ResponseHeader::build(status, Some(4 + extra.len()))?;
    for (name, value) in extra {
        h.insert_header(*name, value)?;
    }
    h.insert_header(http::header::CONTENT_TYPE, "application/json")?;
    h.insert_header(http::header::CONTENT_LENGTH, body.len().to_string())?;
    if let Some(id) = request_id {
        h.insert_header("x-request-id", id)?;
    }
    if close {
        session.set_keepalive(None);
    }
    session.write_response_header(Box::new(h), false).await?;
    session.write_response_body(Some(body), true).await
}

pub async fn respond_error(
    session: &mut Session,
    e: &ApiError,
    request_id: Option<&str>,
    close: bool,
) -> pingora::Result<()> {
    respond_json_with(session, e.status, e.body(), request_id, close, &e.headers).await
}
