//! A call paid per call ends before its payment does: a settlement after the payment's
//! deadline reverts, so a call still running then would be served free. Each attempt's
//! upstream timeouts shrink to fit and no chunk is forwarded past the cut
//! ([`crate::money::pay_per_call::PaidCall::attempt_window`] says why that bounds the end).

use super::call::LlmCall;
use pingora::prelude::*;
use std::time::Duration;

/// `upstream_peer`: the attempt's timeouts within what is left of the payment; an error when
/// nothing is left.
pub(super) fn fit_attempt(call: &mut LlmCall, peer: &mut HttpPeer, default: Duration) -> Result<()> {
    let Some(paid) = call.paid.as_mut() else {
        return Ok(());
    };
    let configured = peer.options.read_timeout.unwrap_or(default);
    let timeout = paid
        .attempt_window(configured)
        .ok_or_else(|| Error::explain(ErrorType::ReadTimedout, "the call's payment expires"))?;
    peer.options.read_timeout = Some(timeout);
    peer.options.write_timeout = Some(timeout);
    Ok(())
}

/// `upstream_response_filter` and `response_body_filter` (before the chunk is metered): past
/// the cut, the response ends (the chunk is not forwarded, so not charged); a last chunk
/// passes until `ends_by` itself. The client's write timeout shrinks to what is left, so a
/// client that reads slowly cannot hold the call (and its hand-off) past `ends_by` either.
pub(super) fn cut_if_due(
    call: &mut LlmCall,
    session: &mut Session,
    body: &mut Option<bytes::Bytes>,
    end: bool,
    write_timeout: Duration,
) -> Result<()> {
    let Some(paid) = call.paid.as_mut() else {
        return Ok(());
    };
    let left = paid.left();
    if left.is_zero() || (!end && paid.past_cut()) {
        paid.cut = true;
        *body = None;
        return Err(Error::explain(
            ErrorType::ReadTimedout,
            "paid call cut: its payment expires",
        ));
    }
    session
        .as_downstream_mut()
        .set_write_timeout(Some(write_timeout.min(left)));
    Ok(())
}

/// An attempt that ended because the payment's window did (the cut, or a timeout shorter than
/// the provider's own): not the provider's failure, so it is not demoted for it.
pub(super) fn ended_by_window(call: &LlmCall, e: &Error) -> bool {
    call.paid.as_ref().is_some_and(|p| {
        p.cut
            || (p.shrunk
                && matches!(e.etype(), ErrorType::ReadTimedout | ErrorType::WriteTimedout))
    })
}
