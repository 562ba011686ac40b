//! Per-call telemetry, one call from each phase that needs it: the call's span starts at
//! admission, each upstream attempt gets a child span whose `traceparent` the provider sees,
//! and at `logging` the spans end and the access line is written. With neither `tracing:`
//! nor `log.access` configured every hook is one branch on a `None`.

use super::call::LlmCall;
use super::{Gateway, RequestCtx};
use crate::telemetry::access_log::RequestLine;
use crate::telemetry::traces::{AttemptStart, CallStart, CallTrace};
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use tollgate_billing::Outcome;
use tollgate_filters::usage::ApiFormat;

fn api_name(api: ApiFormat) -> &'static str {
    match api {
        ApiFormat::OpenAi => "openai",
        ApiFormat::Anthropic => "anthropic",
    }
}

/// The call's span, at admission (`None` unless tracing runs).
pub(super) fn start_trace(
    gw: &Gateway,
    session: &Session,
    ctx: &RequestCtx,
    c: (ApiFormat, &str, u64, bool),
) -> Option<Box<CallTrace>> {
    let traces = gw.observe.traces.as_ref()?;
    let (api, model, max_tokens, stream) = c;
    traces.start_call(
        &session.req_header().headers,
        CallStart {
            api: api_name(api),
            model,
            request_id: ctx.request_id.as_deref().unwrap_or(""),
            max_tokens,
            stream,
            started_unix_ms: ctx.started_unix_ms,
        },
    )
}

/// `upstream_peer` chose `call.current`: its attempt span.
pub(super) fn attempt_started(call: &mut LlmCall) {
    let (Some(trace), Some(route)) = (call.trace.as_mut(), call.current) else {
        return;
    };
    let provider = call.listings.provider(route);
    trace.start_attempt(AttemptStart {
        provider: &provider.id,
        kind: api_name(provider.kind),
        upstream_model: &provider.models[route.model].upstream_model,
        host: &provider.upstream.host,
        port: provider.upstream.port,
        number: call.attempts,
    });
}

/// The provider's request names the attempt span (`traceparent`).
pub(super) fn trace_upstream(call: &LlmCall, upstream: &mut RequestHeader) {
    if let Some(trace) = &call.trace {
        trace.inject(upstream);
    }
}

/// An attempt failed (`failover`); `why` is the failover reason's label.
pub(super) fn attempt_failed(call: &mut LlmCall, why: &'static str) {
    let status = call.upstream_status;
    if let Some(trace) = call.trace.as_mut() {
        trace.end_attempt(status, Some(why));
    }
}

fn request_line(session: &Session) -> RequestLine<'_> {
    let h = session.req_header();
    RequestLine {
        method: h.method.as_str(),
        path: h.uri.path(),
        client: super::admit::peer_ip(session),
    }
}

impl Gateway {
    /// `logging` of an admitted call: its spans end, its access line is written.
    pub(super) fn observe_call(
        &self,
        session: &Session,
        trace: Option<Box<CallTrace>>,
        o: &Outcome,
    ) {
        if let Some(t) = trace {
            t.finish(o);
        }
        if let Some(log) = &self.observe.access_log {
            log.call(&request_line(session), o);
        }
    }

    /// `logging` of any other request (control plane, refused before admission).
    pub(super) fn observe_other(&self, session: &Session, ctx: &RequestCtx) {
        let Some(log) = &self.observe.access_log else {
            return;
        };
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        log.other(
            &request_line(session),
            ctx.request_id.as_deref(),
            status,
            ctx.rejected,
            ctx.started_unix_ms,
            ctx.started.elapsed().as_millis() as u64,
        );
    }
}
