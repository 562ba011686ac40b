//! The response side of a call: the usage meter reads the provider's own bytes (metering is
//! always on the provider's usage), then the shaper turns them into what the client reads —
//! translated when the provider speaks the other chat format, with the buyer's charge in the
//! final usage object ([`tollgate_filters::shaping`]).

use super::call::LlmCall;
use super::outcome;
use super::Gateway;
use bytes::Bytes;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tollgate_filters::operation::Operation;
use tollgate_filters::shaping::{ResponseShaper, Shaped, ShaperOptions};
use tollgate_filters::usage::{BodyKind, ResponseShape, UsageMeter};

/// The usage shape of what the provider of `route` answers for `op`.
fn provider_shape(op: Operation, provider_kind: tollgate_filters::usage::ApiFormat) -> ResponseShape {
    match op {
        Operation::ChatCompletions | Operation::Messages => provider_kind.into(),
        Operation::Responses => ResponseShape::OpenAiResponses,
        Operation::Embeddings | Operation::CountTokens => ResponseShape::OpenAiChat,
    }
}

/// The usage shape the client of `op` reads.
fn client_shape(op: Operation) -> ResponseShape {
    match op {
        Operation::ChatCompletions | Operation::Embeddings => ResponseShape::OpenAiChat,
        Operation::Messages | Operation::CountTokens => ResponseShape::Anthropic,
        Operation::Responses => ResponseShape::OpenAiResponses,
    }
}

impl Gateway {
    /// At the provider's response head (not a 5xx, which fails over): a 2xx of a billed call
    /// starts the meter; the shaper is set up for whatever the client's bytes need.
    pub(super) fn start_response(&self, call: &mut LlmCall, status: u16, event_stream: bool) {
        let Some(route) = call.current else {
            return;
        };
        let ok = (200..300).contains(&status);
        let framing = if event_stream {
            BodyKind::EventStream
        } else {
            BodyKind::Json
        };
        let kind = call.listings.provider(route).kind;
        if ok && call.op.is_billed() {
            call.meter = Some(UsageMeter::new(provider_shape(call.op, kind), framing));
        }
        let opts = ShaperOptions {
            client: client_shape(call.op),
            framing,
            ok,
            status,
            translate: call.translation(route),
            stamp: (self.config.server.usage_cost && call.op.is_billed() && ok)
                .then(|| call.request_id.clone()),
            capture_response_id: call.op == Operation::Responses && ok,
            created_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        };
        let shaper = ResponseShaper::new(opts);
        call.shaper = shaper.changes_body().then_some(shaper);
    }

    /// One chunk of the provider's body: metered as it came, then shaped for the client.
    pub(super) fn shape_chunk(
        &self,
        call: &mut LlmCall,
        body: &mut Option<Bytes>,
        end: bool,
        started: Instant,
    ) {
        if let Some(chunk) = body.as_ref() {
            call.feed_meter(chunk, started);
        }
        let Some(mut shaper) = call.shaper.take() else {
            return;
        };
        let chunk = body.take().unwrap_or_default();
        let config = &self.config;
        let shaped = {
            let call: &LlmCall = call;
            shaper.feed(&chunk, end, &mut || outcome::quote(config, call))
        };
        *body = match shaped {
            Shaped::Unchanged => (!chunk.is_empty()).then_some(chunk),
            Shaped::Replace(b) => Some(b),
            Shaped::Hold => None,
        };
        if call.response_id.is_none() {
            call.response_id = shaper.response_id().map(str::to_string);
        }
        call.shaper = Some(shaper);
    }
}
