//! Writing the gateway's own answers (errors, JSON and documents). Every error the public port
//! writes goes through [`respond_error`], in the session's error shape ([`Answering`]).

use super::policy::Answering;
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
    write(session, h, body, request_id, close).await
}

/// A document (`/openapi.yaml`, `/llms.txt`) of the given type.
pub async fn respond_document(
    session: &mut Session,
    content_type: &'static str,
    body: Bytes,
) -> pingora::Result<()> {
    let mut h = ResponseHeader::build(200, Some(3))?;
    h.insert_header(http::header::CONTENT_TYPE, content_type)?;
    write(session, h, body, None, false).await
}

async fn write(
    session: &mut Session,
    mut h: ResponseHeader,
    body: Bytes,
    request_id: Option<&str>,
    close: bool,
) -> pingora::Result<()> {
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

/// Write an error: its status, headers and body in this session's shape.
pub async fn respond_error(
    session: &mut Session,
    e: &ApiError,
    request_id: Option<&str>,
    close: bool,
) -> pingora::Result<()> {
    let body = e.body(Answering::shape_of(session));
    respond_json_with(session, e.status, body, request_id, close, &e.headers).await
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
