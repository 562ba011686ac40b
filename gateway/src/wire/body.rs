//! Bounded reads of request bodies, for the data plane (LLM calls) and the control plane.

use super::ApiError;
use bytes::{Bytes, BytesMut};
use pingora::proxy::Session;
use pingora::Error;
use std::time::Duration;

/// Control-plane requests carry small JSON bodies; anything bigger is refused unread.
pub const MAX_CONTROL_BODY: usize = 64 * 1024;

#[derive(Debug)]
pub enum ReadBodyError {
    TooLarge,
    Io(Box<Error>),
}

impl ReadBodyError {
    /// The error to answer with, and whether to close the connection (the rest of the body
    /// is unread).
    pub fn into_api_error(self, limit: usize) -> (ApiError, bool) {
        match self {
            ReadBodyError::TooLarge => (ApiError::payload_too_large(limit), true),
            ReadBodyError::Io(e) => (
                ApiError::validation(format!("could not read the request body: {e}")),
                true,
            ),
        }
    }
}

/// Read the whole request body (with Pingora's retry buffer on, so small bodies can be
/// replayed), refusing more than `limit` bytes — by `Content-Length` before reading when the
/// client declares it.
pub async fn read_body(
    session: &mut Session,
    limit: usize,
) -> std::result::Result<Bytes, ReadBodyError> {
    let declared = session
        .req_header()
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ReadBodyError::TooLarge);
    }
    session.as_downstream_mut().enable_retry_buffering();
    let mut buf = BytesMut::with_capacity(declared.unwrap_or(8 * 1024).min(limit));
    while let Some(chunk) = session
        .read_request_body()
        .await
        .map_err(ReadBodyError::Io)?
    {
        if buf.len() + chunk.len() > limit {
            return Err(ReadBodyError::TooLarge);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// After refusing a body early (413), read and drop what the client is still sending, for
/// a bounded time, before the connection closes — nginx's "lingering close". Closing with
/// unread bytes makes the kernel reset the connection, and the client would lose the 413.
pub async fn discard_rest_of_body(session: &mut Session) {
    const LINGER: Duration = Duration::from_secs(5);
    let _ = tokio::time::timeout(LINGER, async {
        while let Ok(Some(_)) = session.read_request_body().await {}
    })
    .await;
}

/// Read a small JSON body (400 when it is not a JSON object, 413 when too large).
pub async fn read_json(session: &mut Session) -> Result<serde_json::Value, ApiError> {
    let body = read_body(session, MAX_CONTROL_BODY)
        .await
        .map_err(|e| e.into_api_error(MAX_CONTROL_BODY).0)?;
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(v @ serde_json::Value::Object(_)) => Ok(v),
        _ => Err(ApiError::validation("request body must be a JSON object")),
    }
}

/// A non-negative whole number of a JSON body, also when written `100.0` (an integer to JSON
/// Schema, and what Python's `json` writes for a float).
pub fn whole_number(v: &serde_json::Value) -> Option<u64> {
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(f))
            .map(|f| f as u64)
    })
}
