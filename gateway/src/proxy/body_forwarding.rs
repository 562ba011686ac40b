//! Getting the rewritten body to the upstream, whatever its size.
//!
//! The route depends on `model`, which is in the body, but Pingora 0.9.1 asks for the peer
//! (`upstream_peer`) before it reads the body, and after `request_filter` has consumed the
//! body it can only replay its retry buffer, capped at 64 KiB. Two paths:
//!
//! - [`BodyPath::RetryBuffer`] (body ≤ 64 KiB, almost every request): the body is read into
//!   the retry buffer in `request_filter`; when Pingora replays it, `request_body_filter`
//!   swaps in the rewritten bytes. Near bare-Pingora speed.
//! - [`BodyPath::Subrequest`] (larger bodies): the outer request pipes a Pingora subrequest
//!   whose body is preset to the rewritten bytes (`pipe_subrequest` with
//!   `InputBodyType::Preset`). The subrequest runs the normal phases; it shares the call
//!   through the subrequest context. Failover is a new subrequest per attempt, because the
//!   inner request cannot replay a body it does not buffer.
//!
//! `docs/design.md` has the measurements behind this split.

use crate::api_error::ApiError;
use crate::llm_call::SharedCall;
use bytes::{Bytes, BytesMut};
use pingora::proxy::subrequest::pipe::{pipe_subrequest, InputBody, InputBodyType};
use pingora::proxy::subrequest::{BodyMode, Ctx as SubrequestCtx};
use pingora::proxy::Session;
use pingora::{Error, ErrorType, Result};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyPath {
    RetryBuffer,
    Subrequest,
}

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

/// Which path the body that was just read must take.
pub fn path_for(session: &Session) -> BodyPath {
    if session.as_downstream().retry_buffer_truncated() {
        BodyPath::Subrequest
    } else {
        BodyPath::RetryBuffer
    }
}

/// The call shared with this request, when it is the inner subrequest of a piped call.
pub fn inner_call(session: &Session) -> Option<Arc<SharedCall>> {
    session
        .subrequest_ctx
        .as_ref()?
        .user_ctx()?
        .downcast_ref::<Arc<SharedCall>>()
        .cloned()
}

/// The inner request inherits the client's headers; its body is the preset one, so its
/// framing must say so before anything reads it.
pub fn prepare_inner_request(session: &mut Session, body_len: usize) -> Result<()> {
    let req = session.req_header_mut();
    req.remove_header("transfer-encoding");
    req.insert_header("content-length", body_len.to_string())?;
    Ok(())
}

/// One attempt of a piped call: spawn a subrequest that carries `chunks` as its body and
/// pipe its response to the client. Returns once the subrequest has finished with the call.
pub async fn pipe_attempt(
    session: &mut Session,
    shared: &Arc<SharedCall>,
    chunks: [Bytes; 2],
    wait_limit: Duration,
) -> Result<()> {
    let spawner = session
        .subrequest_spawner
        .as_ref()
        .ok_or_else(|| Error::explain(ErrorType::InternalError, "subrequests not enabled"))?;
    let sub_ctx = SubrequestCtx::builder()
        .body_mode(BodyMode::ExpectBody)
        .user_ctx(Box::new(shared.clone()))
        .build();
    let (subrequest, handle) = spawner.create_subrequest(session.as_downstream(), sub_ctx);
    let result = pipe_subrequest(
        session,
        subrequest,
        handle,
        |task| Ok(Some(task)),
        InputBodyType::Preset(InputBody::Bytes(chunks.to_vec())),
    )
    .await;
    match result {
        Ok(mut state) => {
            if let Some(join) = state.join_handle.take() {
                let _ = join.await;
            }
            // Consume the inner request's done-signal so the next attempt starts clean.
            shared.wait_inner_done(Duration::ZERO).await;
        }
        Err(e) => {
            let client_gone = !e.from_subreq;
            // Dropping the error drops the pipe's receiver: an inner request still streaming
            // to a client that is gone then fails fast and finishes its phases.
            drop(e);
            if !shared.wait_inner_done(wait_limit).await {
                log::warn!("piped subrequest did not finish within {wait_limit:?}");
            }
            if client_gone {
                shared.lock().transfer_error = true;
            }
        }
    }
    Ok(())
}
