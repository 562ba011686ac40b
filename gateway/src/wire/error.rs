//! [`ApiError`]: the errors the gateway itself answers with, and [`ApiError::body`], the one
//! place their body is written: `{"error": "CODE", "message": "…"}` by default, or the shape
//! of one vendor's SDK (`server.error_shape`).

use crate::config::ErrorShape;
use bytes::Bytes;
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// Extra response headers (`Retry-After`, `x-ratelimit-*`, `PAYMENT-REQUIRED`).
    pub headers: Vec<(&'static str, http::HeaderValue)>,
    /// x402's 402 body (`x402Version`, `accepts`): x402 clients read it, so it is the body in
    /// every shape, with `error` = the code and `message` added.
    pub x402: Option<Box<Value>>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
            x402: None,
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

    /// The body in `shape` (the status and headers are the same in every shape).
    pub fn body(&self, shape: ErrorShape) -> Bytes {
        let v = match (&self.x402, shape) {
            (Some(x402), _) => {
                let mut v = (**x402).clone();
                v["error"] = json!(self.code);
                v["message"] = json!(self.message);
                v
            }
            (None, ErrorShape::Tollgate) => json!({ "error": self.code, "message": self.message }),
            (None, ErrorShape::OpenAi) => json!({ "error": {
                "message": self.message,
                "type": openai_type(self.status),
                "code": self.code,
                "param": null,
            }}),
            (None, ErrorShape::Anthropic) => json!({
                "type": "error",
                "error": { "type": anthropic_type(self.status), "message": self.message },
            }),
        };
        Bytes::from(v.to_string())
    }
}

/// OpenAI's `error.type` for a status (its SDKs pick the exception class by status; `type`
/// is what callers match on). The table is in the README ("Error shapes").
pub fn openai_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "insufficient_quota",
        403 => "permission_error",
        404 => "not_found_error",
        409 => "conflict_error",
        429 => "rate_limit_error",
        500..=599 => "server_error",
        _ => "invalid_request_error",
    }
}

/// Anthropic's `error.type` for a status (the types its API documents).
pub fn anthropic_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 => "overloaded_error",
        504 => "timeout_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(e: &ApiError, shape: ErrorShape) -> Value {
        serde_json::from_slice(&e.body(shape)).unwrap()
    }

    #[test]
    fn each_shape_writes_its_body() {
        let e = ApiError::insufficient_balance();
        let message = "Insufficient balance. Top up at POST /v1/topup";
        assert_eq!(
            body(&e, ErrorShape::Tollgate),
            json!({"error": "INSUFFICIENT_BALANCE", "message": message})
        );
        assert_eq!(
            body(&e, ErrorShape::OpenAi),
            json!({"error": {"message": message, "type": "insufficient_quota", "code": "INSUFFICIENT_BALANCE", "param": null}})
        );
        assert_eq!(
            body(&e, ErrorShape::Anthropic),
            json!({"type": "error", "error": {"type": "billing_error", "message": message}})
        );
    }

    #[test]
    fn an_x402_refusal_keeps_its_body_in_every_shape() {
        let mut e = ApiError::new(402, "invalid_exact_evm_payload_signature", "bad signature");
        e.x402 = Some(Box::new(json!({"x402Version": 1, "accepts": [{"scheme": "exact"}], "error": "x"})));
        for shape in [ErrorShape::Tollgate, ErrorShape::OpenAi, ErrorShape::Anthropic] {
            assert_eq!(
                body(&e, shape),
                json!({"x402Version": 1, "accepts": [{"scheme": "exact"}],
                       "error": "invalid_exact_evm_payload_signature", "message": "bad signature"})
            );
        }
    }

    #[test]
    fn every_status_has_a_type_in_both_sdk_shapes() {
        for (status, openai, anthropic) in [
            (400, "invalid_request_error", "invalid_request_error"),
            (401, "authentication_error", "authentication_error"),
            (403, "permission_error", "permission_error"),
            (404, "not_found_error", "not_found_error"),
            (413, "invalid_request_error", "request_too_large"),
            (429, "rate_limit_error", "rate_limit_error"),
            (502, "server_error", "api_error"),
            (503, "server_error", "overloaded_error"),
            (504, "server_error", "timeout_error"),
        ] {
            assert_eq!((openai_type(status), anthropic_type(status)), (openai, anthropic));
        }
    }
}
