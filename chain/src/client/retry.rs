//! Bounded retries of transient transport errors, and the classification of RPC errors.

use super::ChainConfig;
use crate::error::ChainError;
use alloy::transports::{RpcError, TransportErrorKind, TransportResult};
use std::future::Future;

/// Runs `f` up to `1 + max_retries` times while it fails with a transient transport error,
/// sleeping with exponential back-off (capped at `max_backoff`) in between.
pub(super) async fn retry_rpc<T, F, Fut>(
    cfg: &ChainConfig,
    op: &'static str,
    mut f: F,
) -> Result<T, ChainError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = TransportResult<T>>,
{
    let mut delay = cfg.initial_backoff;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if attempt <= cfg.max_retries && is_transient(&e) => {
                log::warn!(
                    "chain: {op} attempt {attempt} failed ({}); retrying in {delay:?}",
                    super::redact_urls_in(&e.to_string())
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(cfg.max_backoff);
            }
            Err(e) => return Err(classify(op, attempt, e)),
        }
    }
}

/// Transport-level trouble worth retrying: connection/timeout errors, HTTP 429/5xx, provider
/// rate-limit error codes. JSON-RPC errors (reverts, bad params, nonce too low) are not.
pub(super) fn is_transient(e: &RpcError<TransportErrorKind>) -> bool {
    match e {
        RpcError::Transport(kind) => match kind {
            TransportErrorKind::HttpError(h) => h.status == 429 || h.status >= 500,
            TransportErrorKind::HttpErrorWithRetryAfter { .. }
            | TransportErrorKind::MissingBatchResponse(_)
            | TransportErrorKind::BackendGone
            | TransportErrorKind::Custom(_) => true,
            _ => false,
        },
        RpcError::ErrorResp(payload) => payload.is_retry_err(),
        _ => false,
    }
}

pub(super) fn is_nonce_too_low(e: &RpcError<TransportErrorKind>) -> bool {
    e.as_error_resp()
        .is_some_and(|p| p.message.to_ascii_lowercase().contains("nonce too low"))
}

pub(super) fn is_already_known(e: &RpcError<TransportErrorKind>) -> bool {
    e.as_error_resp().is_some_and(|p| {
        let m = p.message.to_ascii_lowercase();
        m.contains("already known")
            || m.contains("known transaction")
            || m.contains("already imported")
    })
}

/// Maps a final RPC error: reverts (revert data, or a "revert" message) become
/// [`ChainError::Reverted`], everything else [`ChainError::Rpc`].
pub(super) fn classify(
    op: &'static str,
    attempts: u32,
    e: RpcError<TransportErrorKind>,
) -> ChainError {
    if let Some(payload) = e.as_error_resp() {
        let data = payload.as_revert_data();
        if data.is_some() || payload.message.to_ascii_lowercase().contains("revert") {
            let reason = data
                .as_ref()
                .and_then(|d| alloy::sol_types::decode_revert_reason(d))
                .unwrap_or_else(|| payload.message.to_string());
            return ChainError::Reverted { reason, data };
        }
    }
    if is_nonce_too_low(&e) {
        return ChainError::StaleNonce { attempts };
    }
    ChainError::rpc(op, attempts, &e)
}
