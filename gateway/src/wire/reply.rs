//! Writing the gateway's own JSON answers (errors and control-plane replies).

use super::ApiError;
use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

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

/// A control-plane answer: `status` with the JSON value, or the error.
pub async fn reply(
    session: &mut Session,
    status: u16,
    result: Result<serde_json::Value, ApiError>,
) -> pingora::Result<()> {
    match result {
        Ok(v) => respond_json(session, status, Bytes::from(v.to_string()), None, false).await,
        // 413: the body was left unread, so the connection cannot be reused.
        Err(e) => respond_error(session, &e, None, e.status == 413).await,
    }
}
