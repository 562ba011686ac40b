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

use super::call::SharedCall;
use bytes::Bytes;
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
