//! [`ApiError`]: the errors the gateway itself answers with, `{"error": "CODE", "message": "…"}`.

use bytes::Bytes;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// Extra response headers (`Retry-After`, `x-ratelimit-*`, `PAYMENT-REQUIRED`).
    pub headers: Vec<(&'static str, http::HeaderValue)>,
    /// A body of its own instead of `{"error","message"}` (x402's 402 carries its offers).
    pub body: Option<Bytes>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
            body: None,
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
    pub fn rate_limiter_unavailable() -> Self {
        Self::new(
            503,
            "RATE_LIMITER_UNAVAILABLE",
            "Rate limiting is temporarily unavailable; retry shortly",
        )
    }

    pub fn body(&self) -> Bytes {
        if let Some(b) = &self.body {
            return b.clone();
        }
        let v = serde_json::json!({ "error": self.code, "message": self.message });
        Bytes::from(v.to_string())
    }
}
