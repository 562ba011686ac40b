//! Answers that need no provider, written before anything is admitted or billed: the control
//! plane (after its request-head plugins), CORS preflights, and refusals (404, 405).

use super::admit::admit_control;
use super::route::Endpoint;
use super::{Gateway, RequestCtx};
use crate::control::Route;
use crate::wire::{cors, respond_error, ApiError};
use pingora::proxy::Session;

impl Gateway {
    /// Answer `endpoint` (anything but an LLM call) and end the request.
    pub(super) async fn answer_locally(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        endpoint: Endpoint,
    ) -> pingora::Result<()> {
        match endpoint {
            Endpoint::Control(route) => {
                // Orchestrators' probes are answered whatever the control list says.
                let checked = match route {
                    Route::Health | Route::Ready => Ok(()),
                    _ => admit_control(self.chains.control(), session),
                };
                match checked {
                    Ok(()) => self.control.serve(session, route).await,
                    Err(e) => refuse(session, ctx, e).await,
                }
            }
            Endpoint::Preflight(methods) => cors::preflight(session, methods.header()).await,
            Endpoint::Refused(e) => refuse(session, ctx, e).await,
            Endpoint::Llm { .. } => unreachable!("LLM calls are admitted, not answered here"),
        }
    }
}

async fn refuse(session: &mut Session, ctx: &mut RequestCtx, e: ApiError) -> pingora::Result<()> {
    ctx.rejected = Some(e.code);
    let close = !session.as_mut().is_body_empty();
    respond_error(session, &e, None, close).await
}
